"""Performance pay: coefficient by grade, money to 0.01, deferral and its release."""

from __future__ import annotations

import pytest

from services.appraisal import domain as d
from tests.unit.appraisal.helpers import D, appraise_total, scheme

PAY = d.DEFAULT_SCHEME.pay
G, T = d.Grade, d.TenureOutcome


@pytest.mark.parametrize(("grade", "amount"), [
    (G.EXCELLENT, "360000.00"), (G.GOOD, "300000.00"), (G.COMPETENT, "240000.00"),
    (G.BASICALLY_COMPETENT, "180000.00"), (G.NOT_COMPETENT, "0.00"),
])
def test_pay_is_base_figure_times_the_grade_coefficient(grade: d.Grade, amount: str) -> None:
    assert d.performance_pay(PAY, grade, D("300000")).amount == D(amount)


def test_half_of_the_pay_is_deferred_by_default_and_the_parts_add_up() -> None:
    p = d.performance_pay(PAY, G.EXCELLENT, D("123456.79"))
    assert p.amount == D("148148.15")  # 148148.148 -> .15
    assert p.deferred == D("74074.08")  # 74074.075 -> .08 (half up)
    assert p.paid_now == D("74074.07")
    assert p.paid_now + p.deferred == p.amount


def test_deferred_share_is_configurable() -> None:
    s = scheme(pay={"deferred_share": D("0.40")})
    p = d.performance_pay(s.pay, G.GOOD, D("1000.00"))
    assert (p.paid_now, p.deferred) == (D("600.00"), D("400.00"))


def test_negative_base_figure_is_refused() -> None:
    with pytest.raises(d.AppraisalInputInvalid):
        d.performance_pay(PAY, G.GOOD, D("-1"))


@pytest.mark.parametrize(("outcome", "released", "withheld"), [
    (T.RENEW, "90000.00", "0.00"), (T.RENEW_WITH_CONDITIONS, "45000.00", "45000.00"),
    (T.EXIT, "0.00", "90000.00"),
])
def test_deferred_pay_is_released_by_the_tenure_outcome(outcome: d.TenureOutcome,
                                                        released: str, withheld: str) -> None:
    r = d.release_deferred(PAY, D("90000.00"), outcome)
    assert (r.released, r.withheld) == (D(released), D(withheld))


def test_conditional_release_share_is_configurable_and_rounds_half_up() -> None:
    s = scheme(pay={"release": {T.RENEW: D("1"), T.RENEW_WITH_CONDITIONS: D("0.70"),
                                T.EXIT: D("0")}})
    r = d.release_deferred(s.pay, D("100.05"), T.RENEW_WITH_CONDITIONS)
    assert (r.released, r.withheld) == (D("70.04"), D("30.01"))  # 70.035 -> 70.04


def test_appraise_pays_at_the_provisional_grade() -> None:
    r = appraise_total("89.99", base_pay=D("200000"))
    assert r.pay is not None
    assert (r.pay.grade, r.pay.coefficient, r.pay.amount) == (G.GOOD, D("1.00"),
                                                              D("200000.00"))
    assert appraise_total("89.99").pay is None
