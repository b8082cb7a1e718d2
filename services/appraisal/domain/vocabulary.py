"""The words of appraisal: indicator kinds and roles, grades, outcomes, exit rules, departures."""

from __future__ import annotations

from enum import StrEnum


class IndicatorKind(StrEnum):
    QUANTITATIVE = "quantitative"
    QUALITATIVE = "qualitative"
    KEY_TASK = "key_task"


class Direction(StrEnum):
    """Same values as the contracts service; "higher" and "lower" are accepted as aliases."""

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


def one_grade_down(grade: Grade) -> Grade:
    """The next lower grade; the lowest grade stays where it is."""
    return GRADE_ORDER[min(GRADE_RANK[grade] + 1, len(GRADE_ORDER) - 1)]


class BelowBaseRule(StrEnum):
    """What an actual short of the base level earns."""

    PROPORTIONAL = "proportional"
    ZERO = "zero"


class VetoMode(StrEnum):
    """What a red-line (veto) item does to the year's result."""

    LOWEST_GRADE = "lowest_grade"
    CAP_TOTAL = "cap_total"


class FailedYearsMode(StrEnum):
    """Whether failed years must follow each other or may fall anywhere in the term."""

    CONSECUTIVE = "consecutive"
    WITHIN_TERM = "within_term"


class ExitRule(StrEnum):
    """The rigid-exit triggers; each is switched on or off (and parametrised) per scheme."""

    SCORE_BELOW_EXIT_LINE = "score_below_exit_line"
    GRADE_NOT_COMPETENT = "grade_not_competent"
    MAIN_INDICATOR_BELOW_COMPLETION = "main_indicator_below_completion"
    FAILED_YEARS = "failed_years"
    VETO = "veto"
    TENURE_NOT_PASSED = "tenure_not_passed"


#: When a manager has several triggers, statistics count them under the first in this order.
EXIT_RULE_PRECEDENCE: tuple[ExitRule, ...] = (
    ExitRule.VETO, ExitRule.TENURE_NOT_PASSED, ExitRule.GRADE_NOT_COMPETENT,
    ExitRule.SCORE_BELOW_EXIT_LINE, ExitRule.MAIN_INDICATOR_BELOW_COMPLETION,
    ExitRule.FAILED_YEARS,
)


class Outcome(StrEnum):
    """What a year's appraisal means for the manager; the policy keeps the three apart."""

    RETAIN = "retain"
    BOTTOM_GRADE_ADJUSTMENT = "bottom_grade_adjustment"
    INCOMPETENCE_EXIT = "incompetence_exit"


class TenureOutcome(StrEnum):
    RENEW = "renew"
    RENEW_WITH_CONDITIONS = "renew_with_conditions"
    EXIT = "exit"


class DepartureReason(StrEnum):
    """Departures for reasons other than appraisal; never counted as appraisal exits."""

    RETIREMENT = "retirement"
    RESIGNATION = "resignation"
    MISCONDUCT = "misconduct"
    TRANSFER = "transfer"
    OTHER = "other"
