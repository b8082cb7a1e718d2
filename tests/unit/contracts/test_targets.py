"""Annual targets: weights sum to exactly 100, levels ordered, roles and kinds consistent."""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.contracts import domain as d

R, K, D = d.TargetRole, d.IndicatorKind, d.Direction

LIBRARY = {
    "NET_PROFIT": d.IndicatorDefinition("NET_PROFIT", "Net profit", "10k CNY",
                                        K.QUANTITATIVE, D.HIGHER_IS_BETTER),
    "COST_RATIO": d.IndicatorDefinition("COST_RATIO", "Cost to income", "%",
                                        K.QUANTITATIVE, D.LOWER_IS_BETTER),
    "PARTY": d.IndicatorDefinition("PARTY", "Party building", "", K.QUALITATIVE,
                                   D.HIGHER_IS_BETTER),
    "REFORM": d.IndicatorDefinition("REFORM", "Mixed-ownership reform", "", K.KEY_TASK,
                                    D.HIGHER_IS_BETTER),
    "SAFETY": d.IndicatorDefinition("SAFETY", "Major safety accident", "", K.QUALITATIVE,
                                    D.LOWER_IS_BETTER),
    "INNOVATION": d.IndicatorDefinition("INNOVATION", "Patents", "count", K.QUANTITATIVE,
                                        D.HIGHER_IS_BETTER),
}


def dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def scored(code: str, weight: str | None, base: str | None = None, target: str | None = None,
           challenge: str | None = None, **kw: object) -> d.TargetLine:
    return d.TargetLine(indicator_code=code, role=R.SCORED, weight=dec(weight), base=dec(base),
                        target=dec(target), challenge=dec(challenge), **kw)  # type: ignore[arg-type]


def other(code: str, role: d.TargetRole, **kw: object) -> d.TargetLine:
    return d.TargetLine(indicator_code=code, role=role, weight=None, base=None, target=None,
                        challenge=None, **kw)  # type: ignore[arg-type]


VALID = [
    scored("NET_PROFIT", "40", "1000", "1200", "1500", main=True, part="organisational"),
    scored("COST_RATIO", "30", "70", "65", "60"),
    scored("PARTY", "20"),
    scored("REFORM", "10", milestones=3),
    other("SAFETY", R.VETO),
    other("INNOVATION", R.BONUS, max_points=Decimal("5")),
]


def errors_of(lines: list[d.TargetLine]) -> dict[str, list[str]]:
    with pytest.raises(d.TargetsInvalid) as info:
        d.validate_targets(lines, LIBRARY)
    assert info.value.status == 422
    return info.value.errors


def with_line(i: int, **changes: object) -> list[d.TargetLine]:
    lines = list(VALID)
    lines[i] = replace(lines[i], **changes)  # type: ignore[arg-type]
    return lines


def test_a_complete_set_of_targets_is_valid() -> None:
    assert d.validate_targets(VALID, LIBRARY) is None


# --- weights ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("weight", "total"), [("39.99", "99.99"), ("40.01", "100.01")])
def test_weights_one_cent_off_100_are_refused_with_the_actual_sum(weight: str,
                                                                  total: str) -> None:
    errors = errors_of(with_line(0, weight=Decimal(weight)))
    assert list(errors) == ["indicators"]
    assert total in errors["indicators"][0]


def test_weights_summing_to_100_00_written_with_decimals_are_valid() -> None:
    lines = with_line(0, weight=Decimal("39.50"))
    lines[1] = replace(lines[1], weight=Decimal("30.50"))
    assert d.validate_targets(lines, LIBRARY) is None


def test_a_weight_with_three_decimals_is_refused() -> None:
    lines = with_line(0, weight=Decimal("39.995"))
    lines[1] = replace(lines[1], weight=Decimal("30.005"))
    errors = errors_of(lines)
    assert errors["indicators[0].weight"] == ["at most 2 decimal places"]
    assert "indicators[1].weight" in errors
    assert "indicators" not in errors  # the sum is exactly 100


def test_trailing_zeros_beyond_two_decimals_are_still_two_decimals() -> None:
    assert d.validate_targets(with_line(0, weight=Decimal("40.000")), LIBRARY) is None


@pytest.mark.parametrize("weight", ["0", "-10", "NaN", "Infinity", "100.01", "1E+30"])
def test_a_scored_weight_must_be_a_number_above_0_up_to_100(weight: str) -> None:
    assert "indicators[2].weight" in errors_of(with_line(2, weight=Decimal(weight)))


def test_a_scored_line_needs_a_weight() -> None:
    errors = errors_of(with_line(2, weight=None))
    assert "indicators[2].weight" in errors and "indicators" in errors


def test_no_scored_lines_at_all_sums_to_zero() -> None:
    errors = errors_of([other("SAFETY", R.VETO)])
    assert errors == {"indicators": ["the weights of the scored lines sum to 0, not 100"]}


@given(st.lists(st.integers(min_value=1, max_value=9_000), min_size=1, max_size=6))
def test_any_cents_split_of_100_passes_and_one_cent_more_fails(parts: list[int]) -> None:
    # Scale integer parts to cents summing to exactly 10,000 (100.00).
    total = sum(parts)
    cents = [max(1, p * 10_000 // total) for p in parts]
    cents[0] += 10_000 - sum(cents)
    if cents[0] < 1:
        return
    lines = [scored(f"Q{i}", str(Decimal(c) / 100), "1", "2", "3") for i, c in enumerate(cents)]
    library = {f"Q{i}": replace(LIBRARY["NET_PROFIT"], code=f"Q{i}") for i in range(len(cents))}
    d.validate_targets(lines, library)
    lines[-1] = replace(lines[-1], weight=lines[-1].weight + Decimal("0.01"))  # type: ignore[operator]
    with pytest.raises(d.TargetsInvalid):
        d.validate_targets(lines, library)


# --- roles ------------------------------------------------------------------------------------

def test_a_veto_line_carries_no_weight() -> None:
    errors = errors_of(with_line(4, weight=Decimal("5")))
    assert "indicators[4].weight" in errors


@pytest.mark.parametrize("role", [R.BONUS, R.PENALTY])
def test_bonus_and_penalty_lines_need_a_positive_cap_and_no_weight(role: d.TargetRole) -> None:
    assert d.validate_targets(with_line(5, role=role), LIBRARY) is None
    assert "indicators[5].max_points" in errors_of(with_line(5, role=role, max_points=None))
    assert "indicators[5].max_points" in errors_of(
        with_line(5, role=role, max_points=Decimal("0")))
    assert "indicators[5].weight" in errors_of(with_line(5, role=role, weight=Decimal("1")))


def test_max_points_only_on_bonus_and_penalty_lines() -> None:
    assert "indicators[4].max_points" in errors_of(with_line(4, max_points=Decimal("3")))
    assert "indicators[2].max_points" in errors_of(with_line(2, max_points=Decimal("3")))


def test_part_is_organisational_or_individual() -> None:
    assert "indicators[1].part" in errors_of(with_line(1, part="team"))


def test_an_unknown_role_is_reported() -> None:
    assert "indicators[4].role" in errors_of(with_line(4, role="reward"))


# --- levels -----------------------------------------------------------------------------------

def test_higher_is_better_needs_base_below_target_below_challenge() -> None:
    errors = errors_of(with_line(0, base=Decimal("1300"), challenge=Decimal("1100")))
    assert "indicators[0].target" in errors and "indicators[0].challenge" in errors


def test_lower_is_better_needs_base_above_target_above_challenge() -> None:
    # Ordered as if higher were better: wrong for a cost ratio.
    errors = errors_of(with_line(1, base=Decimal("60"), target=Decimal("65"),
                                 challenge=Decimal("70")))
    assert set(errors) == {"indicators[1].target", "indicators[1].challenge"}
    assert "lower is better" in errors["indicators[1].target"][0]


@pytest.mark.parametrize(("line", "base", "target", "challenge", "field"), [
    (0, "1200", "1200", "1500", "target"),
    (0, "1000", "1500", "1500", "challenge"),
    (1, "65", "65", "60", "target"),
    (1, "70", "60", "60", "challenge"),
])
def test_equal_levels_are_invalid(line: int, base: str, target: str, challenge: str,
                                  field: str) -> None:
    errors = errors_of(with_line(line, base=Decimal(base), target=Decimal(target),
                                 challenge=Decimal(challenge)))
    assert list(errors) == [f"indicators[{line}].{field}"]


def test_a_scored_quantitative_line_needs_all_three_levels() -> None:
    errors = errors_of(with_line(0, target=None, challenge=None))
    assert set(errors) == {"indicators[0].target", "indicators[0].challenge"}


def test_levels_must_be_finite() -> None:
    assert "indicators[0].challenge" in errors_of(with_line(0, challenge=Decimal("Infinity")))


def test_a_quantitative_bonus_line_needs_no_levels() -> None:
    assert d.validate_targets(VALID, LIBRARY) is None  # INNOVATION bonus has none


def test_qualitative_lines_have_no_levels() -> None:
    errors = errors_of(with_line(2, target=Decimal("90")))
    assert list(errors) == ["indicators[2].target"]


def test_a_key_task_needs_at_least_one_milestone() -> None:
    assert "indicators[3].milestones" in errors_of(with_line(3, milestones=0))
    assert "indicators[3].milestones" in errors_of(with_line(3, milestones=None))
    assert d.validate_targets(with_line(3, milestones=1), LIBRARY) is None


def test_only_key_tasks_have_milestones() -> None:
    assert "indicators[0].milestones" in errors_of(with_line(0, milestones=2))


def test_main_only_on_scored_quantitative_lines() -> None:
    assert "indicators[2].main" in errors_of(with_line(2, main=True))   # qualitative
    assert "indicators[5].main" in errors_of(with_line(5, main=True))   # bonus
    assert d.validate_targets(with_line(1, main=True), LIBRARY) is None


# --- codes and reporting ----------------------------------------------------------------------

def test_an_unknown_indicator_is_named_by_its_line() -> None:
    errors = errors_of(with_line(2, indicator_code="NOPE"))
    assert errors == {"indicators[2].indicator_code": ["unknown indicator 'NOPE'"]}


def test_a_duplicate_indicator_is_reported_on_the_later_line() -> None:
    lines = [*VALID, other("SAFETY", R.VETO)]
    assert errors_of(lines) == {"indicators[6].indicator_code": ["duplicate of indicators[4]"]}


def test_all_faults_are_reported_at_once() -> None:
    lines = with_line(0, weight=Decimal("41"), target=Decimal("900"))
    lines[2] = replace(lines[2], indicator_code="NOPE")
    lines[4] = replace(lines[4], weight=Decimal("1"))
    errors = errors_of(lines)
    assert set(errors) == {"indicators", "indicators[0].target",
                           "indicators[2].indicator_code", "indicators[4].weight"}
    with pytest.raises(d.TargetsInvalid) as info:
        d.validate_targets(lines, LIBRARY)
    assert "4 fault(s)" in info.value.detail


# --- locking ----------------------------------------------------------------------------------

def test_targets_are_editable_until_the_annual_contract_is_signed() -> None:
    assert d.check_targets_editable(False) is None


def test_targets_are_locked_once_the_annual_contract_is_signed() -> None:
    with pytest.raises(d.TargetsLocked) as info:
        d.check_targets_editable(True)
    assert info.value.status == 409


# --- robustness -------------------------------------------------------------------------------

ERROR_KEY = re.compile(r"^indicators(\[\d+\]\.[a-z_]+)?$")
maybe_decimal = st.one_of(st.none(), st.decimals(allow_nan=True, allow_infinity=True))
any_line = st.builds(
    d.TargetLine,
    indicator_code=st.sampled_from([*LIBRARY, "NOPE"]), role=st.sampled_from(list(R)),
    weight=maybe_decimal, base=maybe_decimal, target=maybe_decimal, challenge=maybe_decimal,
    main=st.booleans(), part=st.sampled_from(["individual", "organisational", "team"]),
    max_points=maybe_decimal, milestones=st.one_of(st.none(), st.integers(-2, 5)),
)


@given(st.lists(any_line, max_size=8))
def test_any_targets_either_pass_or_fail_with_field_keyed_errors(
        lines: list[d.TargetLine]) -> None:
    try:
        d.validate_targets(lines, LIBRARY)
    except d.TargetsInvalid as exc:
        assert exc.errors and all(ERROR_KEY.match(k) for k in exc.errors)
        assert all(isinstance(m, str) and m for msgs in exc.errors.values() for m in msgs)
