"""Targets and actuals are checked when built; faults name the field."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.appraisal import domain as d
from tests.unit.appraisal.helpers import D


def faults(**kw: object) -> dict[str, list[str]]:
    with pytest.raises(d.AppraisalInputInvalid) as info:
        d.IndicatorTarget(**kw)  # type: ignore[arg-type]
    return info.value.errors


def test_higher_is_better_levels_must_rise_strictly() -> None:
    errors = faults(code="NP", weight=D("10"), base=D("100"), target=D("100"),
                    challenge=D("90"))
    assert set(errors) == {"targets[NP].target", "targets[NP].challenge"}


def test_lower_is_better_levels_must_fall_strictly() -> None:
    errors = faults(code="C", weight=D("10"), base=D("60"), target=D("65"), challenge=D("70"),
                    direction="lower_is_better")
    assert set(errors) == {"targets[C].target", "targets[C].challenge"}


def test_scored_quantitative_line_needs_all_three_levels() -> None:
    errors = faults(code="NP", weight=D("10"), base=D("1"))
    assert set(errors) == {"targets[NP].target", "targets[NP].challenge"}


def test_scored_line_needs_a_positive_weight() -> None:
    assert "targets[Q].weight" in faults(code="Q", weight=D("0"), kind="qualitative")


def test_veto_line_carries_no_weight() -> None:
    assert "targets[V].weight" in faults(code="V", weight=D("5"), role="veto")


def test_key_task_needs_milestones() -> None:
    assert "targets[K].milestones" in faults(code="K", weight=D("5"), kind="key_task")


def test_only_a_scored_quantitative_line_can_be_main() -> None:
    assert "targets[Q].main" in faults(code="Q", weight=D("5"), kind="qualitative", main=True)


def test_max_points_only_on_bonus_and_penalty_lines() -> None:
    assert "targets[V].max_points" in faults(code="V", role="veto", max_points=D("1"))


def test_floats_are_refused_as_levels() -> None:
    assert "targets[NP].base" in faults(code="NP", weight=D("10"), base=0.5, target=D("1"),
                                        challenge=D("2"))


def test_unknown_enum_value_is_named() -> None:
    assert "targets[NP].direction" in faults(code="NP", weight=D("1"), direction="sideways")


def test_direction_accepts_short_aliases() -> None:
    t = d.IndicatorTarget("C", D("10"), D("70"), D("65"), D("60"), direction="lower")  # type: ignore[arg-type]
    assert t.direction is d.Direction.LOWER_IS_BETTER


def test_enum_strings_are_normalised_to_enums() -> None:
    t = d.IndicatorTarget("Q", D("10"), kind="qualitative", part="organisational")  # type: ignore[arg-type]
    assert t.kind is d.IndicatorKind.QUALITATIVE
    assert t.part is d.TargetPart.ORGANISATIONAL


@pytest.mark.parametrize(("kw", "field"), [
    ({"value": 1.5}, "value"), ({"milestones_met": -1}, "milestones_met"),
    ({"points": D("-1")}, "points"), ({"veto_hit": "yes"}, "veto_hit"),
    ({"rating": ""}, "rating"), ({"value": Decimal("NaN")}, "value"),
])
def test_actual_faults_name_the_field(kw: dict[str, object], field: str) -> None:
    with pytest.raises(d.AppraisalInputInvalid) as info:
        d.Actual("X", **kw)  # type: ignore[arg-type]
    assert f"actuals[X].{field}" in info.value.errors


def test_targets_from_the_contracts_services_stored_form() -> None:
    stored = [{"indicator_code": "NP", "name": "Net profit", "unit": "10k CNY",
               "kind": "quantitative", "direction": "higher_is_better", "role": "scored",
               "weight": "40", "base": "1000", "target": "1200", "challenge": "1500",
               "main": True, "part": "organisational", "max_points": None,
               "milestones": None, "description": ""},
              {"indicator_code": "SAFE", "kind": "qualitative", "role": "veto",
               "weight": None}]
    targets = d.targets_from_dicts(stored)
    assert targets[0] == d.IndicatorTarget(
        "NP", D("40"), D("1000"), D("1200"), D("1500"), name="Net profit", main=True,
        part=d.TargetPart.ORGANISATIONAL)
    assert targets[1].role is d.TargetRole.VETO


def test_targets_from_dicts_name_the_line_index_in_parse_faults() -> None:
    with pytest.raises(d.AppraisalInputInvalid) as info:
        d.targets_from_dicts([{"code": "A", "weight": "10", "kind": "qualitative"},
                              {"code": "B", "weight": "ten", "kind": "qualitative"}])
    assert "targets[1].weight" in info.value.errors


def test_actuals_from_dicts() -> None:
    actuals = d.actuals_from_dicts([{"code": "NP", "value": "1234.5"},
                                    {"code": "P", "rating": "B"},
                                    {"code": "K", "milestones_met": 2},
                                    {"code": "S", "veto_hit": False},
                                    {"code": "B", "points": "1.5"}])
    assert actuals[0].value == D("1234.5")
    assert (actuals[1].rating, actuals[2].milestones_met, actuals[3].veto_hit,
            actuals[4].points) == ("B", 2, False, D("1.5"))


def test_actuals_from_dicts_refuses_a_non_number() -> None:
    with pytest.raises(d.AppraisalInputInvalid) as info:
        d.actuals_from_dicts([{"code": "NP", "value": "lots"}])
    assert "actuals[0].value" in info.value.errors


def test_term_must_not_end_before_it_starts() -> None:
    with pytest.raises(d.AppraisalInputInvalid):
        d.Term(2026, 2024)
    assert 2025 in d.Term(2024, 2026)
    assert 2027 not in d.Term(2024, 2026)


def test_past_year_accepts_grade_strings() -> None:
    assert d.PastYear(2023, D("65"), "not_competent").grade is d.Grade.NOT_COMPETENT  # type: ignore[arg-type]
    with pytest.raises(d.AppraisalInputInvalid):
        d.PastYear(2023, D("65"), "awful")  # type: ignore[arg-type]
