"""Performance pay: a coefficient by grade on the base figure, part of it deferred to tenure."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from services.appraisal.domain.errors import AppraisalInputInvalid, fail
from services.appraisal.domain.numbers import ZERO, is_finite_decimal, money2
from services.appraisal.domain.scheme import PayRules
from services.appraisal.domain.vocabulary import Grade, TenureOutcome


@dataclass(frozen=True, slots=True)
class PerformancePay:
    """amount = base_figure x coefficient(grade), to 0.01; deferred = amount x deferred
    share, to 0.01; paid_now = amount - deferred (so the two always add up to the amount)."""

    base_figure: Decimal
    grade: Grade
    coefficient: Decimal
    amount: Decimal
    paid_now: Decimal
    deferred: Decimal


def performance_pay(rules: PayRules, grade: Grade, base_figure: Decimal) -> PerformancePay:
    """The year's performance pay for a grade; the base figure is money (>= 0)."""
    if not is_finite_decimal(base_figure) or base_figure < ZERO:
        raise fail(AppraisalInputInvalid, "base_pay", "must be a finite Decimal >= 0")
    coefficient = rules.coefficients[grade]
    amount = money2(base_figure * coefficient)
    deferred = money2(amount * rules.deferred_share)
    return PerformancePay(base_figure, grade, coefficient, amount, amount - deferred, deferred)


@dataclass(frozen=True, slots=True)
class DeferredRelease:
    """What happens to the pay deferred over a term once the tenure appraisal concludes:
    released = deferred x release share(outcome), to 0.01; withheld = the rest."""

    deferred: Decimal
    outcome: TenureOutcome
    share: Decimal
    released: Decimal
    withheld: Decimal


def release_deferred(rules: PayRules, deferred: Decimal,
                     outcome: TenureOutcome) -> DeferredRelease:
    """Release, reduce or withhold the deferred pay by the tenure outcome (default: renew
    100 %, renew with conditions 50 %, exit 0 %)."""
    if not is_finite_decimal(deferred) or deferred < ZERO:
        raise fail(AppraisalInputInvalid, "deferred_total", "must be a finite Decimal >= 0")
    share = rules.release[outcome]
    released = money2(deferred * share)
    return DeferredRelease(deferred, outcome, share, released, deferred - released)
