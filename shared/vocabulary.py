"""The words every service uses for a performance contract, defined once.

Layers, enterprise categories, positions, indicator kinds and directions, target roles and
parts, grades and the documents a manager signs. The contracts service writes these values
into its events and the appraisal service reads them back: one definition keeps the two
from drifting apart (a value one accepts and the other refuses is a contract nobody can
appraise). Each service re-exports them from its `domain/vocabulary.py`.
"""

from __future__ import annotations

import re
from enum import StrEnum

# --- layers -----------------------------------------------------------------------------------

#: The group HQ is layer 1; a second-level enterprise 2; a department one more than its unit.
GROUP_LAYER = 1
#: The deepest layer any API accepts: a guard against typos, far deeper than any real group.
MAX_LAYER = 20


# --- categories -------------------------------------------------------------------------------


class Category(StrEnum):
    """Enterprise categories of the state-owned assets reform; groups may add their own."""

    COMMERCIAL_COMPETITIVE = "commercial_competitive"
    COMMERCIAL_SPECIAL_FUNCTION = "commercial_special_function"
    PUBLIC_WELFARE = "public_welfare"


#: A custom category is a slug of 2-48 characters: usable as a report key and a CSV cell.
CATEGORY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,47}$")


# --- positions --------------------------------------------------------------------------------


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


# --- indicators and target lines --------------------------------------------------------------


class IndicatorKind(StrEnum):
    QUANTITATIVE = "quantitative"
    QUALITATIVE = "qualitative"
    KEY_TASK = "key_task"


class Direction(StrEnum):
    """Whether more is better; "higher" and "lower" are accepted as aliases."""

    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"

    @classmethod
    def _missing_(cls, value: object) -> Direction | None:
        return {"higher": cls.HIGHER_IS_BETTER, "lower": cls.LOWER_IS_BETTER}.get(
            value if isinstance(value, str) else "")


class TargetRole(StrEnum):
    """How a line counts: weighted score, a red line (veto), or capped bonus / penalty points."""

    SCORED = "scored"
    VETO = "veto"
    BONUS = "bonus"
    PENALTY = "penalty"


class TargetPart(StrEnum):
    """Whether a line measures the enterprise as a whole or the manager's own duties."""

    ORGANISATIONAL = "organisational"
    INDIVIDUAL = "individual"


# --- documents --------------------------------------------------------------------------------


class DocumentKind(StrEnum):
    """The "two letters and one agreement" a manager signs for one tenure term."""

    APPOINTMENT_AGREEMENT = "appointment_agreement"
    TENURE_PERFORMANCE_CONTRACT = "tenure_performance_contract"
    ANNUAL_PERFORMANCE_CONTRACT = "annual_performance_contract"


#: How people call the two documents that carry targets (messages, docs).
DOCUMENT_NAMES: dict[DocumentKind, str] = {
    DocumentKind.APPOINTMENT_AGREEMENT: "appointment agreement",
    DocumentKind.TENURE_PERFORMANCE_CONTRACT: "tenure performance contract",
    DocumentKind.ANNUAL_PERFORMANCE_CONTRACT: "annual performance contract",
}


# --- grades -----------------------------------------------------------------------------------


class Grade(StrEnum):
    EXCELLENT = "excellent"
    GOOD = "good"
    COMPETENT = "competent"
    BASICALLY_COMPETENT = "basically_competent"
    NOT_COMPETENT = "not_competent"


#: Best first. `GRADE_RANK[g]` is 0 for excellent and 4 for not competent.
GRADE_ORDER: tuple[Grade, ...] = (
    Grade.EXCELLENT, Grade.GOOD, Grade.COMPETENT, Grade.BASICALLY_COMPETENT, Grade.NOT_COMPETENT,
)
GRADE_RANK: dict[Grade, int] = {g: i for i, g in enumerate(GRADE_ORDER)}
LOWEST_GRADE = Grade.NOT_COMPETENT
