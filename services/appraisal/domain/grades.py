"""Grades from the scheme's bands; a veto in `lowest_grade` mode overrides the bands."""

from __future__ import annotations

from decimal import Decimal

from services.appraisal.domain.scheme import GradeBands
from services.appraisal.domain.totals import TotalScore
from services.appraisal.domain.vocabulary import LOWEST_GRADE, Grade, VetoMode


def grade_for(bands: GradeBands, total: Decimal) -> Grade:
    """The best grade whose floor the total reaches: floors are inclusive (90.00 is
    excellent, 89.99 good) and anything under the basically-competent floor is not
    competent."""
    if total >= bands.excellent:
        return Grade.EXCELLENT
    if total >= bands.good:
        return Grade.GOOD
    if total >= bands.competent:
        return Grade.COMPETENT
    if total >= bands.basically_competent:
        return Grade.BASICALLY_COMPETENT
    return Grade.NOT_COMPETENT


def decide_grade(bands: GradeBands, totals: TotalScore) -> tuple[Grade, str]:
    """The grade and the sentence that explains it."""
    veto = totals.veto
    if veto is not None and veto.mode is VetoMode.LOWEST_GRADE:
        return LOWEST_GRADE, veto.reason
    grade = grade_for(bands, totals.total)
    floor = {Grade.EXCELLENT: bands.excellent, Grade.GOOD: bands.good,
             Grade.COMPETENT: bands.competent,
             Grade.BASICALLY_COMPETENT: bands.basically_competent}.get(grade)
    if floor is None:
        reason = f"total {totals.total} < {bands.basically_competent}: {grade}"
    else:
        reason = f"total {totals.total} >= {floor}: {grade}"
    if veto is not None:
        reason = f"{veto.reason}; {reason}"
    return grade, reason
