"""Composition: organisational and individual scores in position proportions, difficulty."""

from __future__ import annotations

import pytest

from services.appraisal import domain as d
from tests.unit.appraisal.helpers import D, qual, quant, scheme, value

SCHEME = d.DEFAULT_SCHEME


def test_general_manager_takes_the_organisations_score_only() -> None:
    c = d.compose(SCHEME, D("88.00"), D("60.00"), position="general_manager")
    assert c.proportion == d.Proportion(D("1.00"), D("0.00"))
    assert c.composed == D("88.00")


def test_deputy_takes_half_and_half_by_default() -> None:
    c = d.compose(SCHEME, D("88.00"), D("71.00"), position="deputy_general_manager")
    assert c.composed == D("79.50")


def test_position_specific_proportions_come_from_the_scheme() -> None:
    s = scheme(composition={"positions": {"chief_financial_officer": d.Proportion(
        D("0.30"), D("0.70"))}})
    c = d.compose(s, D("90.00"), D("80.00"), position="chief_financial_officer")
    assert c.composed == D("83.00")


def test_composed_score_rounds_half_up_to_two_places() -> None:
    s = scheme(composition={"default": d.Proportion(D("0.33"), D("0.67"))})
    c = d.compose(s, D("80.01"), D("80.00"))  # 26.4033 + 53.6 = 80.0033
    assert c.composed == D("80.00")
    c = d.compose(s, D("80.05"), D("80.00"))  # 26.4165 + 53.6 = 80.0165
    assert c.composed == D("80.02")


def test_missing_part_with_a_positive_proportion_is_an_input_error() -> None:
    with pytest.raises(d.AppraisalInputInvalid):
        d.compose(SCHEME, None, D("80"), position="deputy_general_manager")
    with pytest.raises(d.AppraisalInputInvalid):
        d.compose(SCHEME, D("80"), None, position="deputy_general_manager")


def test_missing_part_with_zero_proportion_is_fine() -> None:
    assert d.compose(SCHEME, D("80.00"), None, position="general_manager").composed == D("80.00")


def test_difficulty_multiplies_the_organisational_part_only() -> None:
    c = d.compose(SCHEME, D("80.00"), D("80.00"), position="deputy_general_manager",
                  difficulty=D("1.10"))
    assert c.organisational_adjusted == D("88.00")
    assert c.composed == D("84.00")


def test_difficulty_below_one_lowers_the_organisational_part() -> None:
    c = d.compose(SCHEME, D("80.00"), None, position="general_manager", difficulty=D("0.95"))
    assert c.composed == D("76.00")


def test_difficulty_cannot_lift_the_organisational_part_above_the_challenge_cap() -> None:
    c = d.compose(SCHEME, D("115.00"), None, position="general_manager", difficulty=D("1.10"))
    assert (c.organisational_adjusted, c.capped_by_difficulty, c.composed) == (
        D("120.00"), True, D("120.00"))


def test_difficulty_cap_can_be_lifted_by_the_scheme() -> None:
    s = scheme(composition={"difficulty_capped": False})
    c = d.compose(s, D("115.00"), None, position="general_manager", difficulty=D("1.10"))
    assert (c.composed, c.capped_by_difficulty) == (D("126.50"), False)


@pytest.mark.parametrize("difficulty", ["0.79", "1.21"])
def test_difficulty_outside_the_scheme_range_is_refused(difficulty: str) -> None:
    with pytest.raises(d.AppraisalInputInvalid) as info:
        d.compose(SCHEME, D("80"), None, position="general_manager", difficulty=D(difficulty))
    assert "difficulty" in info.value.errors


@pytest.mark.parametrize("difficulty", ["0.80", "1.20"])
def test_difficulty_at_the_range_ends_is_accepted(difficulty: str) -> None:
    c = d.compose(SCHEME, D("50.00"), None, position="general_manager",
                  difficulty=D(difficulty))
    assert c.composed == D("50.00") * D(difficulty)


# --- through appraise: parts out of 100 ------------------------------------------------------

ORG = [quant("NP", "60", "800", "1000", "1200", part="organisational"),
       qual("PARTY", "40", part="organisational")]
OWN = [quant("SALES", "100", "80", "100", "120")]
ACTUALS = [value("NP", "1000"), d.Actual("PARTY", rating="C"), value("SALES", "90")]


def test_each_part_is_scored_out_of_100_by_its_own_weights() -> None:
    r = d.appraise(SCHEME, ORG + OWN, ACTUALS, position="deputy_general_manager")
    assert r.organisational is not None and r.individual is not None
    assert (r.organisational.points, r.organisational.weight, r.organisational.score) == (
        D("92.00"), D("100"), D("92.00"))
    assert r.individual.score == D("80.00")
    assert r.composition.composed == D("86.00")


def test_parts_sharing_one_hundred_weight_are_normalised() -> None:
    org = [quant("NP", "50", "800", "1000", "1200", part="organisational")]
    own = [quant("SALES", "50", "80", "100", "120")]
    r = d.appraise(SCHEME, org + own, [value("NP", "1000"), value("SALES", "90")],
                   position="deputy_general_manager")
    assert r.organisational.score == D("100.00")  # type: ignore[union-attr]
    assert r.individual.score == D("80.00")  # type: ignore[union-attr]
    assert r.total == D("90.00")


def test_part_score_rounds_when_weights_do_not_sum_to_100() -> None:
    own = [quant("A", "30", "0", "100", "120"), quant("B", "30", "0", "100", "120")]
    s = scheme(scoring={"base_share": D("0")},
               composition={"default": d.Proportion(D("0"), D("1"))})
    r = d.appraise(s, own, [value("A", "100"), value("B", "33.33")])
    # points 30.00 + 10.00 (30 x 0.3333 = 9.999) over 60 -> 66.666.. -> 66.67
    assert r.individual.score == D("66.67")  # type: ignore[union-attr]


def test_general_manager_individual_lines_are_scored_but_flagged_not_counted() -> None:
    r = d.appraise(SCHEME, ORG + OWN, ACTUALS, position="general_manager")
    assert r.total == D("92.00")
    assert "part_not_counted:individual" in r.flags


def test_shared_organisation_score_is_used_for_each_team_member() -> None:
    org_score = d.score_organisation(SCHEME, ORG, ACTUALS[:2])
    assert org_score.score == D("92.00")
    deputy = d.appraise(SCHEME, OWN, [value("SALES", "100")], organisation=org_score,
                        position="deputy_general_manager")
    gm = d.appraise(SCHEME, [], [], organisation=org_score, position="general_manager")
    assert (deputy.total, gm.total) == (D("96.00"), D("92.00"))
    assert [s.code for s in deputy.indicators] == ["NP", "PARTY", "SALES"]


def test_shared_organisation_score_excludes_own_organisational_lines() -> None:
    org_score = d.score_organisation(SCHEME, ORG, ACTUALS[:2])
    with pytest.raises(d.AppraisalInputInvalid):
        d.appraise(SCHEME, ORG, ACTUALS[:2], organisation=org_score,
                   position="general_manager")


def test_shared_organisation_score_codes_must_not_repeat_the_managers() -> None:
    org_score = d.score_organisation(SCHEME, ORG, ACTUALS[:2])
    with pytest.raises(d.AppraisalInputInvalid):
        d.appraise(SCHEME, [quant("NP", "100", "1", "2", "3")], [], organisation=org_score,
                   position="deputy_general_manager")


def test_organisation_score_takes_organisational_scored_and_veto_lines_only() -> None:
    with pytest.raises(d.AppraisalInputInvalid):
        d.score_organisation(SCHEME, OWN, [])
    with pytest.raises(d.AppraisalInputInvalid):
        d.score_organisation(SCHEME, [d.IndicatorTarget(
            "B", role=d.TargetRole.BONUS, part=d.TargetPart.ORGANISATIONAL)], [])
    with pytest.raises(d.AppraisalInputInvalid):
        d.score_organisation(SCHEME, [], [])
