"""The words of the tenure system: categories, unit kinds, positions, states and roles."""

from __future__ import annotations

import re
from enum import StrEnum

from services.contracts.domain.errors import InvalidCategory


class Category(StrEnum):
    """Enterprise categories of the state-owned assets reform; groups may add their own."""

    COMMERCIAL_COMPETITIVE = "commercial_competitive"
    COMMERCIAL_SPECIAL_FUNCTION = "commercial_special_function"
    PUBLIC_WELFARE = "public_welfare"


CATEGORY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,47}$")


def validate_category(value: object) -> str:
    """Return the category if it is a well-known one or a custom slug (2-48 chars).

    Groups classify enterprises in their own ways, so the list is open; the slug rule keeps
    the values usable as report keys and CSV cells.
    """
    if isinstance(value, str) and CATEGORY_PATTERN.fullmatch(value):
        return value
    raise InvalidCategory(
        f"Category {value!r} is not a slug of 2-48 lower-case letters, digits or '_' "
        "starting with a letter",
        errors={"category": ["must match ^[a-z][a-z0-9_]{1,47}$"]},
    )


class UnitKind(StrEnum):
    GROUP = "group"
    ENTERPRISE = "enterprise"
    DEPARTMENT = "department"


class Position(StrEnum):
    CHAIR = "chair"
    GENERAL_MANAGER = "general_manager"
    DEPUTY_GENERAL_MANAGER = "deputy_general_manager"
    CHIEF_FINANCIAL_OFFICER = "chief_financial_officer"
    CHIEF_ENGINEER = "chief_engineer"
    BOARD_SECRETARY = "board_secretary"
    MIDDLE_MANAGER = "middle_manager"
    OTHER = "other"


#: The enterprise's leadership team: everyone but middle managers and `other`.
LEADERSHIP_POSITIONS: frozenset[Position] = frozenset({
    Position.CHAIR, Position.GENERAL_MANAGER, Position.DEPUTY_GENERAL_MANAGER,
    Position.CHIEF_FINANCIAL_OFFICER, Position.CHIEF_ENGINEER, Position.BOARD_SECRETARY,
})


class ManagementLevel(StrEnum):
    GROUP_LEADERSHIP = "group_leadership"
    ENTERPRISE_LEADERSHIP = "enterprise_leadership"
    MIDDLE_MANAGEMENT = "middle_management"


def default_level(position: Position | str, layer: int) -> ManagementLevel:
    """The management level a manager gets unless HR sets one.

    Leadership positions at the group HQ (layer 1) are group leadership, elsewhere enterprise
    leadership; middle managers and `other` are middle management everywhere (HR overrides
    the level for the rare `other` who sits in a leadership team).
    """
    if Position(position) in LEADERSHIP_POSITIONS:
        return (ManagementLevel.GROUP_LEADERSHIP if layer == 1
                else ManagementLevel.ENTERPRISE_LEADERSHIP)
    return ManagementLevel.MIDDLE_MANAGEMENT


class ContractState(StrEnum):
    DRAFT = "draft"
    PENDING_SIGNATURE = "pending_signature"
    ACTIVE = "active"
    EXPIRED = "expired"
    TERMINATED = "terminated"
    RENEWED = "renewed"


class ContractAction(StrEnum):
    ISSUE = "issue"
    SIGN = "sign"
    EXPIRE = "expire"
    TERMINATE = "terminate"
    RENEW = "renew"
    WITHDRAW = "withdraw"


class IndicatorKind(StrEnum):
    QUANTITATIVE = "quantitative"
    QUALITATIVE = "qualitative"
    KEY_TASK = "key_task"


class Direction(StrEnum):
    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"


class TargetRole(StrEnum):
    """How a line counts: weighted score, a veto, or capped bonus / penalty points."""

    SCORED = "scored"
    VETO = "veto"
    BONUS = "bonus"
    PENALTY = "penalty"


class TargetPart(StrEnum):
    """Whether a target measures the enterprise as a whole or the manager's own duties."""

    ORGANISATIONAL = "organisational"
    INDIVIDUAL = "individual"


class DocumentKind(StrEnum):
    """The "two letters and one agreement" a manager signs for one tenure term."""

    APPOINTMENT_AGREEMENT = "appointment_agreement"
    TENURE_PERFORMANCE_CONTRACT = "tenure_performance_contract"
    ANNUAL_PERFORMANCE_CONTRACT = "annual_performance_contract"
