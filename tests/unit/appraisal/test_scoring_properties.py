"""Properties of the scoring rules: monotone in the actual, bounded by 0 and the cap."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from services.appraisal import domain as d

RULES = d.DEFAULT_SCHEME.scoring

amounts = st.decimals(min_value=Decimal("-100000"), max_value=Decimal("100000"), places=2,
                      allow_nan=False, allow_infinity=False)
gaps = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("50000"), places=2)
weights = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100"), places=2)
below_rules = st.sampled_from([RULES, replace(RULES, below_base=d.BelowBaseRule.ZERO)])
share_sets = st.tuples(
    st.decimals(min_value=Decimal("0"), max_value=Decimal("1"), places=2),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1.5"), places=2),
    st.decimals(min_value=Decimal("0"), max_value=Decimal("0.5"), places=2),
).map(lambda t: replace(RULES, base_share=min(t[0], t[1]), target_share=t[1],
                        challenge_share=t[1] + t[2]))


@st.composite
def lines(draw: st.DrawFn, direction: d.Direction) -> d.IndicatorTarget:
    base = draw(amounts)
    g1, g2 = draw(gaps), draw(gaps)
    if direction is d.Direction.HIGHER_IS_BETTER:
        target, challenge = base + g1, base + g1 + g2
    else:
        target, challenge = base - g1, base - g1 - g2
    return d.IndicatorTarget("X", draw(weights), base, target, challenge, direction=direction)


def points(line: d.IndicatorTarget, actual: Decimal, rules: d.ScoringRules) -> Decimal:
    return d.score_indicator(line, d.Actual("X", value=actual), rules).points


@given(lines(d.Direction.HIGHER_IS_BETTER), amounts, amounts, below_rules)
def test_score_never_falls_as_a_higher_is_better_actual_rises(
        line: d.IndicatorTarget, a: Decimal, b: Decimal, rules: d.ScoringRules) -> None:
    low, high = sorted((a, b))
    assert points(line, low, rules) <= points(line, high, rules)


@given(lines(d.Direction.LOWER_IS_BETTER), amounts, amounts, below_rules)
def test_score_never_rises_as_a_lower_is_better_actual_rises(
        line: d.IndicatorTarget, a: Decimal, b: Decimal, rules: d.ScoringRules) -> None:
    low, high = sorted((a, b))
    assert points(line, low, rules) >= points(line, high, rules)


@given(st.sampled_from(list(d.Direction)).flatmap(lines), amounts, share_sets)
def test_score_is_between_zero_and_the_challenge_cap(
        line: d.IndicatorTarget, actual: Decimal, rules: d.ScoringRules) -> None:
    s = d.score_indicator(line, d.Actual("X", value=actual), rules)
    assert Decimal(0) <= s.share <= rules.challenge_share
    assert Decimal(0) <= s.points <= d.score2(line.weight * rules.challenge_share)  # type: ignore[operator]


@given(st.sampled_from(list(d.Direction)).flatmap(lines), amounts, amounts, share_sets)
def test_score_is_monotone_for_any_valid_shares(
        line: d.IndicatorTarget, a: Decimal, b: Decimal, rules: d.ScoringRules) -> None:
    low, high = sorted((a, b))
    if line.direction is d.Direction.LOWER_IS_BETTER:
        low, high = high, low
    assert points(line, low, rules) <= points(line, high, rules)


@given(st.sampled_from(list(d.Direction)).flatmap(lines))
def test_levels_score_exactly_their_shares(line: d.IndicatorTarget) -> None:
    for level, share in ((line.base, "0.6000"), (line.target, "1.0000"),
                         (line.challenge, "1.2000")):
        s = d.score_indicator(line, d.Actual("X", value=level), RULES)
        assert s.share == Decimal(share)
