"""The words of appraisal: indicator kinds and roles, grades, outcomes, exit rules, departures.

The words shared with the contracts service (indicator kinds, directions, target roles and
parts, grades) are defined once in `shared/vocabulary.py` and re-exported here.
"""

from __future__ import annotations

from enum import StrEnum

from shared.vocabulary import (
    GRADE_ORDER,
    GRADE_RANK,
    LOWEST_GRADE,
    Direction,
    Grade,
    IndicatorKind,
    TargetPart,
    TargetRole,
)

__all__ = [
    "EXIT_RULE_PRECEDENCE", "GRADE_ORDER", "GRADE_RANK", "LOWEST_GRADE", "BelowBaseRule",
    "DepartureReason", "Direction", "ExitRule", "FailedYearsMode", "Grade", "IndicatorKind",
    "Outcome", "TargetPart", "TargetRole", "TenureOutcome", "VetoMode", "one_grade_down",
]


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
