"""Totals (bonus, penalty, veto) and grades at and around every band boundary."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.appraisal import domain as d
from tests.unit.appraisal.helpers import D, appraise_total, bonus, penalty, scheme, veto

SCHEME = d.DEFAULT_SCHEME
CAP_MODE = scheme(items={"veto_mode": d.VetoMode.CAP_TOTAL})
G = d.Grade


# --- bonus and penalty -----------------------------------------------------------------------


def test_bonus_is_capped_at_five_points_by_default() -> None:
    t = d.total_score(SCHEME, D("88.00"), D("7.50"))
    assert (t.bonus_claimed, t.bonus, t.total) == (D("7.50"), D("5.00"), D("93.00"))


def test_bonus_at_exactly_the_cap_is_kept_whole() -> None:
    assert d.total_score(SCHEME, D("80.00"), D("5.00")).total == D("85.00")


def test_bonus_cap_is_configurable_and_can_be_lifted() -> None:
    assert d.total_score(scheme(items={"bonus_cap": D("2.00")}), D("80"), D("3")).bonus == D("2")
    assert d.total_score(scheme(items={"bonus_cap": None}), D("80"), D("9")).bonus == D("9")


def test_penalty_is_not_capped_by_default() -> None:
    t = d.total_score(SCHEME, D("88.00"), penalty_claimed=D("12.00"))
    assert (t.penalty, t.total) == (D("12.00"), D("76.00"))


def test_penalty_cap_limits_the_deduction_when_the_scheme_sets_one() -> None:
    t = d.total_score(scheme(items={"penalty_cap": D("10.00")}), D("88.00"),
                      penalty_claimed=D("12.00"))
    assert (t.penalty_claimed, t.penalty, t.total) == (D("12.00"), D("10.00"), D("78.00"))


def test_total_is_never_below_zero() -> None:
    assert d.total_score(SCHEME, D("3.00"), penalty_claimed=D("10.00")).total == D("0")


def test_items_reach_the_total_through_appraise_with_line_caps() -> None:
    s = scheme(composition={"default": d.Proportion(D("0"), D("1"))})
    targets = [d.IndicatorTarget("Q", D("100"), kind=d.IndicatorKind.QUALITATIVE),
               bonus("B1", "3"), bonus("B2"), penalty("P1")]
    actuals = [d.Actual("Q", rating="C"), d.Actual("B1", points=D("4")),
               d.Actual("B2", points=D("2.5")), d.Actual("P1", points=D("1.25"))]
    r = d.appraise(s, targets, actuals)
    # 80 + min(3 + 2.5, 5) - 1.25
    assert (r.totals.bonus_claimed, r.totals.bonus, r.total) == (D("5.50"), D("5.00"),
                                                                 D("83.75"))


# --- veto ------------------------------------------------------------------------------------


def test_veto_in_lowest_grade_mode_forces_not_competent_whatever_the_score() -> None:
    s = scheme(composition={"default": d.Proportion(D("0"), D("1"))})
    targets = [d.IndicatorTarget("KPI", D("100"), D("0"), D("100"), D("120")), veto("SAFETY")]
    r = d.appraise(s, targets, [d.Actual("KPI", value=D("110")),
                                d.Actual("SAFETY", veto_hit=True)])
    assert r.totals.before_veto == r.total
    assert r.grade is G.NOT_COMPETENT
    assert r.totals.veto is not None and r.totals.veto.codes == ("SAFETY",)
    assert "SAFETY" in r.grade_reason and "not competent" in r.grade_reason


def test_veto_in_cap_mode_caps_a_high_score_at_69_99() -> None:
    s = scheme(items={"veto_mode": d.VetoMode.CAP_TOTAL},
               composition={"default": d.Proportion(D("0"), D("1"))})
    targets = [d.IndicatorTarget("KPI", D("100"), D("0"), D("100"), D("120")), veto("SAFETY")]
    r = d.appraise(s, targets, [d.Actual("KPI", value=D("110")),
                                d.Actual("SAFETY", veto_hit=True)])
    assert r.totals.before_veto == D("110.00")
    assert r.total == D("69.99")
    assert r.grade is G.BASICALLY_COMPETENT
    assert "capped at 69.99" in r.grade_reason


def test_veto_in_cap_mode_leaves_a_score_already_below_the_cap() -> None:
    t = d.total_score(CAP_MODE, D("50.00"), vetoes_hit=["S"])
    assert t.total == D("50.00") and t.veto is not None


def test_veto_cap_is_configurable() -> None:
    s = scheme(items={"veto_mode": d.VetoMode.CAP_TOTAL, "veto_cap": D("59.99")})
    t = d.total_score(s, D("95.00"), vetoes_hit=["S"])
    assert t.total == D("59.99")
    assert d.decide_grade(s.grades, t)[0] is G.NOT_COMPETENT


def test_organisational_veto_applies_to_the_whole_team() -> None:
    org = [d.IndicatorTarget("NP", D("100"), D("0"), D("100"), D("120"),
                             part=d.TargetPart.ORGANISATIONAL),
           veto("ENV", part="organisational")]
    org_score = d.score_organisation(SCHEME, org, [d.Actual("NP", value=D("100")),
                                                   d.Actual("ENV", veto_hit=True)])
    r = d.appraise(SCHEME, [], [], organisation=org_score, position="general_manager")
    assert r.grade is G.NOT_COMPETENT
    assert r.totals.veto is not None and r.totals.veto.codes == ("ENV",)


@given(st.decimals(min_value=Decimal("0"), max_value=Decimal("125"), places=2),
       st.decimals(min_value=Decimal("0"), max_value=Decimal("20"), places=2),
       st.decimals(min_value=Decimal("0"), max_value=Decimal("20"), places=2))
def test_total_is_never_above_the_veto_cap_when_a_veto_is_hit(
        composed: Decimal, bonus_points: Decimal, penalty_points: Decimal) -> None:
    t = d.total_score(CAP_MODE, composed, bonus_points, penalty_points, ["S"])
    assert t.total <= CAP_MODE.veto_cap
    assert t.total <= t.before_veto


@given(st.decimals(min_value=Decimal("0"), max_value=Decimal("125"), places=2))
def test_lowest_grade_veto_always_grades_not_competent(composed: Decimal) -> None:
    t = d.total_score(SCHEME, composed, vetoes_hit=["S"])
    assert d.decide_grade(SCHEME.grades, t)[0] is G.NOT_COMPETENT


# --- grades ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("total", "grade"), [
    ("120.00", G.EXCELLENT), ("90.00", G.EXCELLENT), ("89.99", G.GOOD), ("80.00", G.GOOD),
    ("79.99", G.COMPETENT), ("70.00", G.COMPETENT), ("69.99", G.BASICALLY_COMPETENT),
    ("60.00", G.BASICALLY_COMPETENT), ("59.99", G.NOT_COMPETENT), ("0.00", G.NOT_COMPETENT),
])
def test_grade_band_floors_are_inclusive(total: str, grade: d.Grade) -> None:
    assert d.grade_for(SCHEME.grades, D(total)) is grade


@pytest.mark.parametrize(("total", "grade"), [
    ("90.00", G.EXCELLENT), ("89.99", G.GOOD), ("70.00", G.COMPETENT),
    ("69.99", G.BASICALLY_COMPETENT), ("60.00", G.BASICALLY_COMPETENT),
    ("59.99", G.NOT_COMPETENT),
])
def test_appraised_totals_on_the_boundaries_get_the_right_grade(total: str,
                                                               grade: d.Grade) -> None:
    r = appraise_total(total)
    assert r.total == D(total)
    assert r.grade is grade


def test_bands_are_configurable() -> None:
    bands = d.GradeBands(D("95.00"), D("85.00"), D("75.00"), D("65.00"))
    assert d.grade_for(bands, D("94.99")) is G.GOOD
    assert d.grade_for(bands, D("64.99")) is G.NOT_COMPETENT


def test_grade_reason_cites_the_floor() -> None:
    grade, reason = d.decide_grade(SCHEME.grades, d.total_score(SCHEME, D("85.50")))
    assert grade is G.GOOD
    assert reason == "total 85.50 >= 80.00: good"
    _, reason = d.decide_grade(SCHEME.grades, d.total_score(SCHEME, D("55.00")))
    assert reason == "total 55.00 < 60.00: not_competent"
