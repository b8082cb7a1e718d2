"""The tenure appraisal: annual scores with tenure targets, outcome, deferred pay."""

from __future__ import annotations

import pytest

from services.appraisal import domain as d
from tests.unit.appraisal.helpers import D, quant, scheme, value, veto

G, T, X = d.Grade, d.TenureOutcome, d.ExitRule


def years(*totals: str, start: int = 2024) -> list[d.PastYear]:
    return [d.PastYear(start + i, D(t), d.grade_for(d.DEFAULT_SCHEME.grades, D(t)))
            for i, t in enumerate(totals)]


def test_annual_part_is_the_mean_of_the_years_by_default() -> None:
    r = d.appraise_tenure(d.DEFAULT_SCHEME, years("80", "85", "90"), targets_score=D("90"))
    assert r.annual_score == D("85.00")
    assert r.year_weights is None
    assert r.score == D("87.00")  # 85 x 0.6 + 90 x 0.4


def test_annual_part_can_weigh_later_years_more() -> None:
    s = scheme(tenure={"year_weights": (D("0.20"), D("0.30"), D("0.50"))})
    r = d.appraise_tenure(s, years("70", "80", "90"), targets_score=D("80"))
    assert r.annual_score == D("83.00")
    assert r.score == D("81.80")


def test_year_weights_must_match_the_number_of_years() -> None:
    s = scheme(tenure={"year_weights": (D("0.50"), D("0.50"))})
    with pytest.raises(d.AppraisalInputInvalid):
        d.appraise_tenure(s, years("70", "80", "90"), targets_score=D("80"))


def test_tenure_targets_are_scored_like_annual_targets() -> None:
    targets = [quant("NP3", "60", "3000", "3600", "4000"), quant("ROE3", "40", "8", "10", "12")]
    r = d.appraise_tenure(d.DEFAULT_SCHEME, years("80", "80", "80"), targets,
                          [value("NP3", "3600"), value("ROE3", "9")])
    assert r.targets_score == D("92.00")  # 60 + 32
    assert r.score == D("84.80")
    assert r.outcome is T.RENEW


@pytest.mark.parametrize(("targets_score", "score", "outcome"), [
    ("80.00", "80.00", T.RENEW), ("79.98", "79.99", T.RENEW_WITH_CONDITIONS),
    ("70.00", "76.00", T.RENEW_WITH_CONDITIONS), ("55.00", "70.00", T.RENEW_WITH_CONDITIONS),
    ("54.98", "69.99", T.EXIT),
])
def test_outcome_thresholds_renew_at_80_conditions_at_70(targets_score: str, score: str,
                                                        outcome: d.TenureOutcome) -> None:
    r = d.appraise_tenure(d.DEFAULT_SCHEME, years("80", "80", "80"),
                          targets_score=D(targets_score))
    assert r.score == D(score)
    assert r.outcome is outcome


def test_exit_fires_tenure_not_passed_with_evidence() -> None:
    r = d.appraise_tenure(d.DEFAULT_SCHEME, years("65", "68", "66"), targets_score=D("60"))
    assert r.outcome is T.EXIT
    assert [t.rule for t in r.exit_triggers] == [X.TENURE_NOT_PASSED]
    assert r.exit_triggers[0].evidence["score"] == D("63.80")  # 66.33 x 0.6 + 24
    assert r.is_exit


def test_tenure_not_passed_trigger_can_be_disabled() -> None:
    s = scheme(exits={"tenure_not_passed_enabled": False})
    r = d.appraise_tenure(s, years("65"), targets_score=D("60"))
    assert r.outcome is T.EXIT and r.exit_triggers == ()


def test_a_tenure_veto_means_exit_whatever_the_score() -> None:
    r = d.appraise_tenure(d.DEFAULT_SCHEME, years("95", "95", "95"), [veto("INTEGRITY")],
                          [d.Actual("INTEGRITY", veto_hit=True)], targets_score=D("100"))
    assert r.outcome is T.EXIT
    assert [t.rule for t in r.exit_triggers] == [X.VETO, X.TENURE_NOT_PASSED]


def test_deferred_pay_follows_the_outcome() -> None:
    renew = d.appraise_tenure(d.DEFAULT_SCHEME, years("90"), targets_score=D("90"),
                              deferred_total=D("150000.00"))
    cond = d.appraise_tenure(d.DEFAULT_SCHEME, years("75"), targets_score=D("75"),
                             deferred_total=D("150000.00"))
    out = d.appraise_tenure(d.DEFAULT_SCHEME, years("60"), targets_score=D("60"),
                            deferred_total=D("150000.00"))
    assert renew.deferred is not None and renew.deferred.released == D("150000.00")
    assert cond.deferred is not None and cond.deferred.released == D("75000.00")
    assert out.deferred is not None and (out.deferred.released, out.deferred.withheld) == (
        D("0.00"), D("150000.00"))


def test_tenure_shares_are_configurable() -> None:
    s = scheme(tenure={"annual_share": D("1.00"), "targets_share": D("0.00")})
    r = d.appraise_tenure(s, years("82", "84"))
    assert (r.targets_score, r.score, r.grade) == (None, D("83.00"), G.GOOD)


def test_tenure_thresholds_are_configurable() -> None:
    s = scheme(tenure={"renew_min": D("90.00"), "conditions_min": D("80.00")})
    r = d.appraise_tenure(s, years("85"), targets_score=D("85"))
    assert r.outcome is T.RENEW_WITH_CONDITIONS


def test_targets_are_required_when_they_carry_a_share() -> None:
    with pytest.raises(d.AppraisalInputInvalid) as info:
        d.appraise_tenure(d.DEFAULT_SCHEME, years("80"))
    assert "targets" in info.value.errors


@pytest.mark.parametrize("annual", [[], years("80") + years("80")])
def test_annual_results_must_be_given_once_per_year(annual: list[d.PastYear]) -> None:
    with pytest.raises(d.AppraisalInputInvalid):
        d.appraise_tenure(d.DEFAULT_SCHEME, annual, targets_score=D("80"))


def test_years_outside_the_term_are_refused() -> None:
    with pytest.raises(d.AppraisalInputInvalid):
        d.appraise_tenure(d.DEFAULT_SCHEME, years("80", start=2023), targets_score=D("80"),
                          term=d.Term(2024, 2026))


def test_targets_score_and_scored_targets_are_not_both_given() -> None:
    with pytest.raises(d.AppraisalInputInvalid):
        d.appraise_tenure(d.DEFAULT_SCHEME, years("80"), [quant("A", "100", "1", "2", "3")],
                          [value("A", "2")], targets_score=D("80"))


def test_worked_example_of_rules_md() -> None:
    annual = years("82.00", "86.00", "90.00")
    renew = d.appraise_tenure(d.DEFAULT_SCHEME, annual, targets_score=D("75.00"),
                              deferred_total=D("450000.00"), term=d.Term(2024, 2026))
    assert (renew.annual_score, renew.score, renew.outcome) == (D("86.00"), D("81.60"), T.RENEW)
    assert renew.deferred is not None and renew.deferred.released == D("450000.00")
    cond = d.appraise_tenure(d.DEFAULT_SCHEME, annual, targets_score=D("60.00"),
                             deferred_total=D("450000.00"))
    assert (cond.score, cond.outcome) == (D("75.60"), T.RENEW_WITH_CONDITIONS)
    assert cond.deferred is not None
    assert (cond.deferred.released, cond.deferred.withheld) == (D("225000.00"), D("225000.00"))
