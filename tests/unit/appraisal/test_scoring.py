"""Indicator scoring: piecewise-linear shares, below-base rules, ratings, milestones, items."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.appraisal import domain as d
from tests.unit.appraisal.helpers import D, bonus, penalty, qual, quant, task, veto

RULES = d.DEFAULT_SCHEME.scoring
ZERO_RULES = replace(RULES, below_base=d.BelowBaseRule.ZERO)
R = d.ScoreRule
PROFIT = quant("NP", "20", "800", "1000", "1200")
COST = quant("COST", "20", "70", "65", "60", lower=True)


def score(target: d.IndicatorTarget, actual: str | None,
          rules: d.ScoringRules = RULES) -> d.IndicatorScore:
    a = None if actual is None else d.Actual(target.code, value=D(actual))
    return d.score_indicator(target, a, rules)


# --- higher is better ------------------------------------------------------------------------


def test_score_at_exactly_base_earns_sixty_percent_of_weight() -> None:
    s = score(PROFIT, "800")
    assert (s.share, s.points, s.rule) == (D("0.6000"), D("12.00"), R.BETWEEN_BASE_AND_TARGET)


def test_score_at_exactly_target_earns_the_full_weight() -> None:
    s = score(PROFIT, "1000")
    assert (s.share, s.points, s.rule) == (D("1.0000"), D("20.00"),
                                           R.BETWEEN_TARGET_AND_CHALLENGE)


def test_score_at_exactly_challenge_earns_one_hundred_twenty_percent_unflagged() -> None:
    s = score(PROFIT, "1200")
    assert (s.share, s.points, s.rule, s.flags) == (D("1.2000"), D("24.00"),
                                                    R.AT_OR_BEYOND_CHALLENGE, ())


def test_score_beyond_challenge_is_capped_at_the_challenge_share_and_flagged() -> None:
    s = score(PROFIT, "5000")
    assert (s.share, s.points) == (D("1.2000"), D("24.00"))
    assert s.flags == (d.Flag.CAPPED_AT_CHALLENGE,)


def test_score_halfway_between_base_and_target_is_linear() -> None:
    assert score(PROFIT, "900").share == D("0.8000")


def test_score_halfway_between_target_and_challenge_is_linear() -> None:
    assert score(PROFIT, "1100").share == D("1.1000")


def test_score_one_unit_below_target_stays_below_the_full_share() -> None:
    s = score(PROFIT, "999")
    assert s.share == D("0.9980")
    assert s.rule is R.BETWEEN_BASE_AND_TARGET


def test_below_base_proportional_earns_base_share_times_actual_over_base() -> None:
    s = score(PROFIT, "400")
    assert (s.share, s.points, s.rule) == (D("0.3000"), D("6.00"), R.BELOW_BASE_PROPORTIONAL)


def test_just_below_base_proportional_earns_a_little_less_than_the_base_share() -> None:
    assert score(PROFIT, "799.99").share == D("0.6000")  # 0.59999... rounds to 0.6000
    assert score(PROFIT, "790").share == D("0.5925")


def test_below_base_zero_rule_earns_nothing() -> None:
    s = score(PROFIT, "799.99", ZERO_RULES)
    assert (s.share, s.points, s.rule) == (D("0"), D("0.00"), R.BELOW_BASE_ZERO)


def test_below_base_zero_rule_still_earns_the_base_share_at_exactly_base() -> None:
    assert score(PROFIT, "800", ZERO_RULES).share == D("0.6000")


def test_negative_actual_below_a_positive_base_earns_zero_not_a_negative_share() -> None:
    s = score(PROFIT, "-300")
    assert (s.share, s.points, s.rule) == (D("0"), D("0.00"), R.BELOW_BASE_PROPORTIONAL)


def test_zero_base_makes_the_proportional_rule_not_applicable_so_below_base_earns_zero() -> None:
    t = quant("NP", "20", "0", "100", "200")
    s = score(t, "-1")
    assert (s.share, s.points, s.rule) == (D("0"), D("0.00"), R.BELOW_BASE_NOT_PROPORTIONAL)
    assert s.flags == (d.Flag.PROPORTIONAL_NOT_APPLICABLE,)
    assert score(t, "0").share == D("0.6000")


def test_negative_levels_interpolate_normally_above_base() -> None:
    loss = quant("LOSS", "10", "-100", "-50", "0")  # reduce a loss: -100 base, break even
    assert score(loss, "-75").share == D("0.8000")
    assert score(loss, "-50").share == D("1.0000")
    s = score(loss, "-200")
    assert (s.share, s.rule) == (D("0"), R.BELOW_BASE_NOT_PROPORTIONAL)


# --- lower is better -------------------------------------------------------------------------


def test_lower_is_better_at_exactly_base_earns_sixty_percent() -> None:
    assert score(COST, "70").share == D("0.6000")


def test_lower_is_better_at_target_and_challenge() -> None:
    assert score(COST, "65").share == D("1.0000")
    assert score(COST, "60").share == D("1.2000")
    assert score(COST, "62.5").share == D("1.1000")
    assert score(COST, "67.5").share == D("0.8000")


def test_lower_is_better_better_than_challenge_is_capped_and_flagged() -> None:
    s = score(COST, "10")
    assert (s.share, s.flags) == (D("1.2000"), (d.Flag.CAPPED_AT_CHALLENGE,))


def test_lower_is_better_worse_than_base_proportional_uses_base_over_actual() -> None:
    s = score(COST, "140")  # 0.6 x 70 / 140
    assert (s.share, s.points, s.rule) == (D("0.3000"), D("6.00"), R.BELOW_BASE_PROPORTIONAL)


def test_lower_is_better_worse_than_base_with_zero_rule_earns_nothing() -> None:
    assert score(COST, "70.01", ZERO_RULES).share == D("0")


def test_lower_is_better_with_non_positive_base_earns_zero_below_base() -> None:
    t = quant("T", "10", "0", "-5", "-10", lower=True)
    s = score(t, "1")
    assert (s.share, s.rule, s.flags) == (D("0"), R.BELOW_BASE_NOT_PROPORTIONAL,
                                          (d.Flag.PROPORTIONAL_NOT_APPLICABLE,))


# --- rounding --------------------------------------------------------------------------------


def test_share_is_rounded_half_up_to_four_places_then_points_to_two() -> None:
    t = quant("T", "15", "80", "95", "110")
    s = score(t, "85")  # 0.6 + 0.4 x 5/15 = 0.73333...
    assert s.share == D("0.7333")
    assert s.points == D("11.00")  # 15 x 0.7333 = 10.9995 -> 11.00 (half up)


def test_points_round_half_up_not_half_even() -> None:
    t = quant("T", "0.25", "0", "100", "120")
    rules = replace(RULES, base_share=D("0"))
    s = d.score_indicator(t, d.Actual("T", value=D("10")), rules)  # 0.25 x 0.1 = 0.025
    assert s.points == D("0.03")


# --- missing actuals -------------------------------------------------------------------------


def test_missing_actual_scores_zero_and_is_flagged_never_skipped() -> None:
    s = score(PROFIT, None)
    assert (s.share, s.points, s.rule) == (D("0"), D("0.00"), R.MISSING_ACTUAL)
    assert s.flags == (d.Flag.MISSING_ACTUAL,)
    assert s.weight == D("20")


def test_actual_given_without_the_field_of_its_kind_counts_as_missing() -> None:
    s = d.score_indicator(PROFIT, d.Actual("NP"), RULES)
    assert s.rule is R.MISSING_ACTUAL


def test_actual_with_another_kinds_field_is_refused_naming_the_field() -> None:
    with pytest.raises(d.AppraisalInputInvalid) as info:
        d.score_indicator(PROFIT, d.Actual("NP", rating="A"), RULES)
    assert "actuals[NP].value" in info.value.errors


# --- qualitative and key tasks ---------------------------------------------------------------


@pytest.mark.parametrize(("rating", "share", "pts"), [
    ("A", "1.2000", "12.00"), ("B", "1.0000", "10.00"), ("C", "0.8000", "8.00"),
    ("D", "0.6000", "6.00"), ("E", "0.0000", "0.00"),
])
def test_qualitative_rating_maps_to_its_default_share(rating: str, share: str, pts: str) -> None:
    s = d.score_indicator(qual("PARTY", "10"), d.Actual("PARTY", rating=rating), RULES)
    assert (s.share, s.points, s.rule, s.actual) == (D(share), D(pts), R.RATING, rating)


def test_unknown_rating_is_an_input_error_not_a_zero() -> None:
    with pytest.raises(d.AppraisalInputInvalid) as info:
        d.score_indicator(qual("PARTY", "10"), d.Actual("PARTY", rating="Z"), RULES)
    assert list(info.value.errors) == ["actuals[PARTY].rating"]


def test_missing_rating_scores_zero_flagged() -> None:
    s = d.score_indicator(qual("PARTY", "10"), None, RULES)
    assert (s.points, s.flags) == (D("0.00"), (d.Flag.MISSING_ACTUAL,))


def test_custom_ratings_are_read_from_the_scheme() -> None:
    rules = replace(RULES, ratings={"pass": D("1.00"), "fail": D("0.00")})
    s = d.score_indicator(qual("Q", "10"), d.Actual("Q", rating="pass"), rules)
    assert s.points == D("10.00")


@pytest.mark.parametrize(("met", "share"), [(0, "0.0000"), (1, "0.3333"), (2, "0.6667"),
                                            (3, "1.0000")])
def test_key_task_share_is_milestones_met_over_total(met: int, share: str) -> None:
    s = d.score_indicator(task("REFORM", "15", 3), d.Actual("REFORM", milestones_met=met), RULES)
    assert (s.share, s.rule) == (D(share), R.MILESTONES)


def test_key_task_full_share_is_configurable() -> None:
    rules = replace(RULES, key_task_share=D("1.10"))
    s = d.score_indicator(task("K", "10", 2), d.Actual("K", milestones_met=2), rules)
    assert s.points == D("11.00")


def test_more_milestones_met_than_planned_is_an_input_error() -> None:
    with pytest.raises(d.AppraisalInputInvalid) as info:
        d.score_indicator(task("K", "10", 2), d.Actual("K", milestones_met=3), RULES)
    assert "actuals[K].milestones_met" in info.value.errors


# --- veto, bonus and penalty lines -----------------------------------------------------------


def test_veto_line_hit_and_clear() -> None:
    hit = d.score_indicator(veto("SAFETY"), d.Actual("SAFETY", veto_hit=True), RULES)
    clear = d.score_indicator(veto("SAFETY"), d.Actual("SAFETY", veto_hit=False), RULES)
    assert (hit.rule, clear.rule) == (R.VETO_HIT, R.VETO_CLEAR)
    assert hit.points == clear.points == D("0")


def test_veto_line_without_actual_is_clear_but_flagged_missing() -> None:
    s = d.score_indicator(veto("SAFETY"), None, RULES)
    assert (s.rule, s.flags) == (R.VETO_CLEAR, (d.Flag.MISSING_ACTUAL,))


def test_bonus_line_is_capped_at_its_max_points_and_flagged() -> None:
    s = d.score_indicator(bonus("PATENT", "3"), d.Actual("PATENT", points=D("4.5")), RULES)
    assert (s.points, s.flags, s.actual) == (D("3.00"), (d.Flag.CAPPED_AT_LINE_MAX,), D("4.5"))


def test_penalty_line_without_max_points_is_taken_in_full() -> None:
    s = d.score_indicator(penalty("LATE"), d.Actual("LATE", points=D("7.255")), RULES)
    assert (s.points, s.rule, s.flags) == (D("7.26"), R.PENALTY, ())


# --- completion of main indicators -----------------------------------------------------------


def test_completion_is_actual_over_target_for_higher_is_better() -> None:
    t = quant("NP", "20", "800", "1000", "1200", main=True)
    assert score(t, "699.99").completion == D("0.7000")  # 0.69999 rounds to 0.7000
    assert score(t, "699.94").completion == D("0.6999")


def test_completion_is_target_over_actual_for_lower_is_better() -> None:
    t = quant("COST", "20", "70", "65", "60", lower=True, main=True)
    assert score(t, "92.86").completion == D("0.7000")
    assert score(t, "93").completion == D("0.6989")


def test_completion_of_a_missing_main_actual_is_zero() -> None:
    t = quant("NP", "20", "800", "1000", "1200", main=True)
    assert score(t, None).completion == D("0")


def test_completion_is_not_applicable_with_a_non_positive_target() -> None:
    t = quant("LOSS", "10", "-100", "-50", "0", main=True)
    s = score(t, "-60")
    assert s.completion is None
    assert d.Flag.COMPLETION_NOT_APPLICABLE in s.flags


def test_completion_is_only_computed_for_main_lines() -> None:
    assert score(PROFIT, "900").completion is None


# --- lists of lines --------------------------------------------------------------------------


def test_actual_for_an_unknown_indicator_is_refused() -> None:
    with pytest.raises(d.AppraisalInputInvalid) as info:
        d.score_indicators(d.DEFAULT_SCHEME, [PROFIT], [d.Actual("XX", value=D("1"))])
    assert "actuals[XX]" in info.value.errors


def test_actual_given_twice_is_refused() -> None:
    with pytest.raises(d.AppraisalInputInvalid):
        d.score_indicators(d.DEFAULT_SCHEME, [PROFIT], [d.Actual("NP", value=D("1")),
                                                        d.Actual("NP", value=D("2"))])


def test_target_given_twice_is_refused() -> None:
    with pytest.raises(d.AppraisalInputInvalid) as info:
        d.score_indicators(d.DEFAULT_SCHEME, [PROFIT, PROFIT], [])
    assert "targets[NP]" in info.value.errors


def test_actuals_may_be_given_as_a_mapping_by_code() -> None:
    scores = d.score_indicators(d.DEFAULT_SCHEME, [PROFIT], {"NP": d.Actual("NP", value=D("1000"))})
    assert scores[0].points == D("20.00")
