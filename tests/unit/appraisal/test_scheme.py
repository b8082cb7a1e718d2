"""Schemes: defaults, the dict form and its validation, resolution by specificity and year."""

from __future__ import annotations

import copy
import json
import pickle
from dataclasses import replace
from typing import Any

import pytest

from services.appraisal import domain as d
from tests.unit.appraisal.helpers import D


def invalid(data: dict[str, Any], **kw: Any) -> dict[str, list[str]]:
    with pytest.raises(d.SchemeInvalid) as info:
        d.scheme_from_dict(data, **kw)
    return info.value.errors


def with_(section: str, **values: Any) -> dict[str, Any]:
    return {"code": "x", "version": 1, section: values}


CUSTOM = {
    "code": "l2-competitive", "version": 3, "name": "Layer 2, competitive",
    "layer": 2, "category": "commercial_competitive", "position": None,
    "valid_from_year": 2025,
    "scoring": {"base_share": "0.50", "target_share": "1.00", "challenge_share": "1.30",
                "below_base": "zero", "ratings": {"S": "1.30", "A": "1.10", "C": "0.50"},
                "key_task_share": "1.10"},
    "composition": {"default": {"organisational": "0.40", "individual": "0.60"},
                    "positions": {"general_manager": {"organisational": "0.80",
                                                      "individual": "0.20"}},
                    "difficulty_min": "0.90", "difficulty_max": "1.10",
                    "difficulty_capped": False},
    "items": {"bonus_cap": "3.00", "penalty_cap": "10.00", "veto_mode": "cap_total",
              "veto_cap": "59.99"},
    "grades": {"excellent": "95.00", "good": "85.00", "competent": "75.00",
               "basically_competent": "65.00"},
    "distribution": {"excellent_share": "0.20", "good_or_better_share": "0.60",
                     "ties_keep_grade": True},
    "pay": {"coefficients": {"excellent": "1.50", "good": "1.10", "competent": "0.90",
                             "basically_competent": "0.50", "not_competent": "0.00"},
            "deferred_share": "0.40",
            "release": {"renew": "1.00", "renew_with_conditions": "0.70", "exit": "0.10"}},
    "exits": {"score_below_enabled": False, "exit_line": "65.00",
              "grade_not_competent_enabled": True, "main_indicator_enabled": False,
              "main_completion_min": "0.80", "failed_years_enabled": True,
              "failed_years_count": 3, "failed_years_mode": "within_term",
              "veto_enabled": False, "tenure_not_passed_enabled": False,
              "bottom_grades": ["competent", "basically_competent"],
              "appeal_window_days": 30, "appeal_window_zone": "UTC"},
    "tenure": {"annual_share": "0.70", "targets_share": "0.30",
               "year_weights": ["0.20", "0.30", "0.50"], "renew_min": "85.00",
               "conditions_min": "75.00"},
}


# --- defaults --------------------------------------------------------------------------------


def test_default_scheme_holds_the_documented_defaults() -> None:
    s = d.DEFAULT_SCHEME
    assert (s.scoring.base_share, s.scoring.target_share, s.scoring.challenge_share) == (
        D("0.60"), D("1.00"), D("1.20"))
    assert s.scoring.below_base is d.BelowBaseRule.PROPORTIONAL
    assert s.items.bonus_cap == D("5.00") and s.items.penalty_cap is None
    assert s.veto_cap == D("69.99")
    assert s.grades.floors()[0] == (d.Grade.EXCELLENT, D("90.00"))
    assert s.distribution.excellent_share == D("0.30")
    assert [s.pay.coefficients[g] for g in d.GRADE_ORDER] == [
        D("1.20"), D("1.00"), D("0.80"), D("0.60"), D("0.00")]
    assert s.pay.deferred_share == D("0.50")
    assert s.exits.exit_line == D("70.00") and s.exits.main_completion_min == D("0.70")
    assert s.tenure.annual_share == D("0.60")
    assert s.is_group_default


def test_veto_cap_follows_the_exit_line_unless_set() -> None:
    s = replace(d.DEFAULT_SCHEME, exits=replace(d.DEFAULT_SCHEME.exits, exit_line=D("60.00")))
    assert s.veto_cap == D("59.99")
    s = replace(s, items=replace(s.items, veto_cap=D("50.00")))
    assert s.veto_cap == D("50.00")


def test_scheme_mappings_are_read_only() -> None:
    with pytest.raises(TypeError):
        d.DEFAULT_SCHEME.scoring.ratings["A"] = D("9")  # type: ignore[index]
    with pytest.raises(TypeError):
        d.DEFAULT_SCHEME.pay.coefficients.update({})  # type: ignore[attr-defined]


def test_schemes_pickle_and_deep_copy_to_equal_schemes() -> None:
    scheme = d.scheme_from_dict(CUSTOM)
    assert pickle.loads(pickle.dumps(scheme)) == scheme
    copied = copy.deepcopy(scheme)
    assert copied == scheme and copied.veto_cap == D("59.99")
    with pytest.raises(TypeError):
        copied.scoring.ratings["S"] = D("0")  # type: ignore[index]


# --- the dict form ---------------------------------------------------------------------------


def test_default_scheme_round_trips_through_json() -> None:
    data = json.loads(json.dumps(d.scheme_to_dict(d.DEFAULT_SCHEME)))
    assert d.scheme_from_dict(data) == d.DEFAULT_SCHEME


def test_custom_scheme_round_trips_exactly() -> None:
    s = d.scheme_from_dict(CUSTOM)
    assert d.scheme_to_dict(s) == CUSTOM
    assert s.scoring.ratings["S"] == D("1.30")
    assert s.composition.for_position("general_manager") == d.Proportion(D("0.80"), D("0.20"))
    assert s.exits.bottom_grades == {d.Grade.COMPETENT, d.Grade.BASICALLY_COMPETENT}
    assert s.tenure.year_weights == (D("0.20"), D("0.30"), D("0.50"))


def test_decimals_are_strings_in_the_dict_form() -> None:
    data = d.scheme_to_dict(d.DEFAULT_SCHEME)
    assert data["grades"]["excellent"] == "90.00"
    assert data["pay"]["coefficients"]["excellent"] == "1.20"


def test_partial_dict_takes_missing_rules_from_the_base_scheme() -> None:
    group = d.scheme_from_dict({"code": "group", "version": 1,
                                "items": {"bonus_cap": "3.00"}})
    override = d.scheme_from_dict({"code": "l3", "version": 1, "layer": 3,
                                   "grades": {"excellent": "92.00"}}, base=group)
    assert override.items.bonus_cap == D("3.00")
    assert override.grades.excellent == D("92.00")
    assert override.grades.good == D("80.00")
    assert override.layer == 3


def test_identity_is_never_inherited_from_the_base() -> None:
    base = d.scheme_from_dict({"code": "a", "version": 1, "layer": 2})
    assert d.scheme_from_dict({"code": "b", "version": 1}, base=base).layer is None


def test_code_and_version_are_required() -> None:
    assert set(invalid({})) == {"code", "version"}


def test_unknown_fields_are_refused_by_path() -> None:
    errors = invalid({"code": "x", "version": 1, "colour": "red",
                      "grades": {"superb": "99"}})
    assert set(errors) == {"colour", "grades.superb"}


def test_non_decimal_is_named() -> None:
    assert "scoring.base_share" in invalid(with_("scoring", base_share="sixty"))


def test_json_numbers_are_tolerated_for_decimals() -> None:
    s = d.scheme_from_dict({"code": "x", "version": 1, "scoring": {"base_share": 0.55}})
    assert s.scoring.base_share == D("0.55")


@pytest.mark.parametrize(("section", "values", "path"), [
    ("scoring", {"base_share": "1.10"}, "scoring.base_share"),
    ("scoring", {"challenge_share": "0.90"}, "scoring.challenge_share"),
    ("scoring", {"challenge_share": "12"}, "scoring.challenge_share"),
    ("scoring", {"base_share": "0.12345"}, "scoring.base_share"),
    ("scoring", {"ratings": {"A": "1.50"}}, "scoring.ratings.A"),
    ("scoring", {"ratings": {}}, "scoring.ratings"),
    ("scoring", {"below_base": "half"}, "scoring.below_base"),
    ("scoring", {"key_task_share": "0"}, "scoring.key_task_share"),
    ("composition", {"default": {"organisational": "0.60", "individual": "0.50"}},
     "composition.default"),
    ("composition", {"positions": {"deputy_general_manager": {"organisational": "1"}}},
     "composition.positions.deputy_general_manager.individual"),
    ("composition", {"positions": {"Deputy GM": {"organisational": "1",
                                                 "individual": "0"}}},
     "composition.positions.Deputy GM"),
    ("composition", {"difficulty_min": "0"}, "composition.difficulty_min"),
    ("composition", {"difficulty_max": "0.95"}, "composition.difficulty_max"),
    ("items", {"bonus_cap": "-1"}, "items.bonus_cap"),
    ("items", {"penalty_cap": "1.005"}, "items.penalty_cap"),
    ("items", {"veto_cap": "70.00"}, "items.veto_cap"),
    ("items", {"veto_mode": "ignore"}, "items.veto_mode"),
    ("grades", {"good": "90.00"}, "grades.excellent"),
    ("grades", {"basically_competent": "-1"}, "grades.basically_competent"),
    ("distribution", {"excellent_share": "1.5"}, "distribution.excellent_share"),
    ("distribution", {"good_or_better_share": "0.20"}, "distribution.good_or_better_share"),
    ("distribution", {"ties_keep_grade": "yes"}, "distribution.ties_keep_grade"),
    ("pay", {"coefficients": {"excellent": "1.2"}}, "pay.coefficients.good"),
    ("pay", {"coefficients": {"excellent": "0.9", "good": "1.0", "competent": "0.8",
                              "basically_competent": "0.6", "not_competent": "0"}},
     "pay.coefficients.good"),
    ("pay", {"coefficients": {"superb": "2"}}, "pay.coefficients.superb"),
    ("pay", {"deferred_share": "1.01"}, "pay.deferred_share"),
    ("pay", {"release": {"renew": "0.5", "renew_with_conditions": "0.6", "exit": "0"}},
     "pay.release.renew_with_conditions"),
    ("exits", {"exit_line": "x"}, "exits.exit_line"),
    ("exits", {"failed_years_count": 0}, "exits.failed_years_count"),
    ("exits", {"failed_years_count": "2"}, "exits.failed_years_count"),
    ("exits", {"failed_years_mode": "ever"}, "exits.failed_years_mode"),
    ("exits", {"bottom_grades": ["excellent"]}, "exits.bottom_grades"),
    ("exits", {"bottom_grades": ["meh"]}, "exits.bottom_grades[0]"),
    ("exits", {"veto_enabled": 1}, "exits.veto_enabled"),
    ("exits", {"main_completion_min": "0"}, "exits.main_completion_min"),
    ("tenure", {"annual_share": "0.50"}, "tenure.targets_share"),
    ("tenure", {"year_weights": ["0.50", "0.40"]}, "tenure.year_weights"),
    ("tenure", {"year_weights": []}, "tenure.year_weights"),
    ("tenure", {"renew_min": "60.00"}, "tenure.conditions_min"),
])
def test_validation_names_the_faulty_field(section: str, values: dict[str, Any],
                                           path: str) -> None:
    assert path in invalid(with_(section, **values))


def test_every_fault_is_reported_at_once() -> None:
    errors = invalid({"code": "x", "version": 0, "layer": 0,
                      "grades": {"excellent": "50.00"},
                      "distribution": {"excellent_share": "2"}})
    assert {"version", "layer", "grades.excellent",
            "distribution.excellent_share"} <= set(errors)


@pytest.mark.parametrize(("field", "value"), [
    ("code", "has space"), ("version", True), ("layer", -1), ("category", "Public"),
    ("position", "GM!"), ("valid_from_year", 20), ("name", 5),
])
def test_identity_fields_are_validated(field: str, value: Any) -> None:
    assert field in invalid({"code": "x", "version": 1, field: value})


def test_building_an_invalid_scheme_in_code_raises_too() -> None:
    with pytest.raises(d.SchemeInvalid) as info:
        replace(d.DEFAULT_SCHEME, grades=d.GradeBands(excellent=D("10")))
    assert "grades.excellent" in info.value.errors


def test_not_an_object_is_refused() -> None:
    with pytest.raises(d.SchemeInvalid):
        d.scheme_from_dict([])  # type: ignore[arg-type]


# --- resolution ------------------------------------------------------------------------------


def s(code: str, version: int = 1, **identity: Any) -> d.Scheme:
    return replace(d.DEFAULT_SCHEME, code=code, version=version, **identity)


BOOK = d.SchemeBook([
    s("group"),
    s("l2", layer=2),
    s("competitive", category="commercial_competitive"),
    s("l2-competitive", layer=2, category="commercial_competitive"),
    s("l2-competitive-gm", layer=2, category="commercial_competitive",
      position="general_manager"),
    s("board-secretaries", position="board_secretary"),
])


@pytest.mark.parametrize(("layer", "category", "position", "code"), [
    (2, "commercial_competitive", "general_manager", "l2-competitive-gm"),
    (2, "commercial_competitive", "deputy_general_manager", "l2-competitive"),
    (2, "public_welfare", None, "l2"),
    (3, "commercial_competitive", None, "competitive"),
    (3, "public_welfare", "chief_engineer", "group"),
    (3, "public_welfare", "board_secretary", "board-secretaries"),
    # two fields matched beat one, even when the one is the position
    (2, "commercial_competitive", "board_secretary", "l2-competitive"),
])
def test_the_most_specific_scheme_wins_and_falls_back_to_the_group_default(
        layer: int, category: str, position: str | None, code: str) -> None:
    scheme, version = BOOK.resolve(layer, category, position)
    assert (scheme.code, version) == (code, 1)


def test_on_equal_specificity_category_beats_layer() -> None:
    scheme, _ = BOOK.resolve(2, "commercial_competitive", "chief_engineer")
    assert scheme.code == "l2-competitive"
    book = d.SchemeBook([s("group"), s("l2", layer=2), s("competitive",
                                                         category="commercial_competitive")])
    assert book.resolve(2, "commercial_competitive")[0].code == "competitive"


def test_no_match_and_no_group_default_is_not_found() -> None:
    book = d.SchemeBook([s("l2", layer=2)])
    with pytest.raises(d.SchemeNotFound):
        book.resolve(3, "public_welfare")


def test_the_latest_version_applies_and_is_returned() -> None:
    book = d.SchemeBook([s("group", 1), s("group", 3), s("group", 2)])
    scheme, version = book.resolve(2, "x_y")
    assert version == 3 == scheme.version
    assert book.versions("group") == (1, 2, 3)


def test_a_version_applies_from_its_valid_from_year() -> None:
    book = d.SchemeBook([s("group", 1), s("group", 2, valid_from_year=2026),
                         s("l2", 1, layer=2, valid_from_year=2026)])
    assert book.resolve(2, "abc", year=2025)[0].code == "group"
    assert book.resolve(2, "abc", year=2025)[1] == 1
    assert book.resolve(2, "abc", year=2026)[0].code == "l2"
    assert book.resolve(3, "abc", year=2026)[1] == 2
    assert book.resolve(3, "abc")[1] == 2


def test_get_returns_a_recorded_version_to_re_score_an_old_appraisal() -> None:
    book = d.SchemeBook([s("group", 1), s("group", 2)])
    assert book.get("group", 1).version == 1
    assert book.get("group").version == 2
    with pytest.raises(d.SchemeNotFound):
        book.get("group", 7)
    with pytest.raises(d.SchemeNotFound):
        book.get("nope")


def test_a_version_cannot_be_reused_with_other_rules() -> None:
    book = d.SchemeBook([s("group", 1)])
    book.add(s("group", 1))  # the same scheme again is harmless
    changed = replace(s("group", 1), grades=replace(d.DEFAULT_SCHEME.grades,
                                                    excellent=D("95.00")))
    with pytest.raises(d.SchemeConflict):
        book.add(changed)


def test_two_codes_cannot_claim_the_same_key() -> None:
    with pytest.raises(d.SchemeConflict):
        d.SchemeBook([s("a", layer=2), s("b", layer=2)])


def test_a_new_version_cannot_move_the_scheme_to_another_key() -> None:
    with pytest.raises(d.SchemeConflict):
        d.SchemeBook([s("a", 1, layer=2), s("a", 2, layer=3)])


def test_resolution_is_cached_and_refreshed_when_a_scheme_is_added() -> None:
    book = d.SchemeBook([s("group", 1)])
    assert book.resolve(2, "abc")[1] == 1
    book.add(s("group", 2))
    assert book.resolve(2, "abc")[1] == 2
    assert len(book) == 2
    assert [x.version for x in book] == [1, 2]


def test_the_documented_order_of_specificity() -> None:
    keys = [(2, "competitive", "general_manager"), (None, "competitive", "general_manager"),
            (2, None, "general_manager"), (2, "competitive", None),
            (None, None, "general_manager"), (None, "competitive", None), (2, None, None),
            (None, None, None)]
    schemes = [s(f"k{i}", layer=k[0], category=k[1], position=k[2])
               for i, k in enumerate(keys)]
    for i in range(len(keys)):
        book = d.SchemeBook(schemes[i:])
        assert book.resolve(2, "competitive", "general_manager")[0].key == keys[i]
