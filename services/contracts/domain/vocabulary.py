"""The words of the tenure system: categories, unit kinds, positions, states and roles.

The words a performance contract shares with the appraisal service (categories, positions,
indicator kinds, directions, target roles and parts, documents) are defined once in
`shared/vocabulary.py` and re-exported here.
"""

from __future__ import annotations

from enum import StrEnum

from services.contracts.domain.errors import InvalidCategory
from shared.vocabulary import (
    CATEGORY_PATTERN,
    LEADERSHIP_POSITIONS,
    Category,
    Direction,
    DocumentKind,
    IndicatorKind,
    Position,
    TargetPart,
    TargetRole,
)

__all__ = [
    "CATEGORY_PATTERN", "LEADERSHIP_POSITIONS", "Category", "ContractAction", "ContractState",
    "Direction", "DocumentKind", "IndicatorKind", "ManagementLevel", "Position", "TargetPart",
    "TargetRole", "UnitKind", "default_level", "validate_category",
]


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
