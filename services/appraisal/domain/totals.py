"""The year's total: composed score plus capped bonus, minus (capped) penalty, and vetoes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from services.appraisal.domain.numbers import ZERO
from services.appraisal.domain.scheme import Scheme
from services.appraisal.domain.vocabulary import VetoMode


@dataclass(frozen=True, slots=True)
class Veto:
    """A red line was crossed: which items, what the scheme did, and why, in words."""

    codes: tuple[str, ...]
    mode: VetoMode
    total_before: Decimal
    cap: Decimal | None
    reason: str


@dataclass(frozen=True, slots=True)
class TotalScore:
    """total = max(0, composed + bonus - penalty), then the veto (if any).

    `bonus` is the sum of the bonus items (each already at most its line's max_points)
    capped at the scheme's bonus cap (default 5.00); `penalty` likewise with the penalty cap
    (default none). Every value has two places, so no rounding happens here.
    """

    composed: Decimal
    bonus_claimed: Decimal
    bonus: Decimal
    penalty_claimed: Decimal
    penalty: Decimal
    before_veto: Decimal
    total: Decimal
    veto: Veto | None = None


def total_score(scheme: Scheme, composed: Decimal, bonus_claimed: Decimal = ZERO,
                penalty_claimed: Decimal = ZERO, vetoes_hit: Sequence[str] = ()) -> TotalScore:
    """Add the capped bonus, take the (capped) penalty, floor at 0, apply any veto.

    Veto modes: `lowest_grade` keeps the total as it is (the grade is forced to not
    competent by the grading rule); `cap_total` caps the total at the scheme's veto cap
    (default 69.99, one hundredth below the exit line) whatever the score.
    """
    items = scheme.items
    bonus = bonus_claimed if items.bonus_cap is None else min(bonus_claimed, items.bonus_cap)
    penalty = penalty_claimed if items.penalty_cap is None else min(penalty_claimed,
                                                                    items.penalty_cap)
    before = composed + bonus - penalty
    if before < ZERO:
        before = ZERO
    if not vetoes_hit:
        return TotalScore(composed, bonus_claimed, bonus, penalty_claimed, penalty, before,
                          before)
    codes = tuple(vetoes_hit)
    if items.veto_mode is VetoMode.CAP_TOTAL:
        cap = scheme.veto_cap
        total = min(before, cap)
        reason = (f"veto item(s) {', '.join(codes)} hit: the total is capped at {cap}, "
                  f"below the exit line, whatever the score ({before})")
        return TotalScore(composed, bonus_claimed, bonus, penalty_claimed, penalty, before,
                          total, Veto(codes, VetoMode.CAP_TOTAL, before, cap, reason))
    reason = (f"veto item(s) {', '.join(codes)} hit: the grade is not competent whatever "
              f"the score ({before})")
    return TotalScore(composed, bonus_claimed, bonus, penalty_claimed, penalty, before, before,
                      Veto(codes, VetoMode.LOWEST_GRADE, before, None, reason))
