"""Coverage: signing rate, enterprises in force, overdue signatures, CSV and JSON shapes."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.contracts import domain as d

S = d.ContractState
TODAY = date(2026, 6, 15)


def row(i: int, state: d.ContractState | None, *, enterprise: str = "sub-a", layer: int = 2,
        category: str = "commercial_competitive", position: str = "general_manager",
        deadline: date | None = None, manager_id: str | None = None) -> d.CoverageInput:
    return d.CoverageInput(
        manager_id=manager_id or f"m-{i}", employee_no=f"E{i:03d}", name=f"Manager {i}",
        enterprise_id=enterprise, layer=layer, category=category, position=position,
        contract_state=state, issued_on=date(2026, 5, 1) if state else None,
        signing_deadline=deadline,
    )


def test_no_managers_means_no_rate_not_a_division_by_zero() -> None:
    report = d.compute_coverage([], TODAY)
    assert report.totals.managers == 0 and report.totals.signing_rate is None
    assert report.totals.enterprise_share is None
    assert report.groups == () and report.overdue == ()
    assert d.coverage_as_dict(report)["totals"]["signing_rate"] is None


def test_signing_rate_is_active_managers_over_managers_in_percent_half_up() -> None:
    rows = [row(1, S.ACTIVE), row(2, S.PENDING_SIGNATURE), row(3, None)]
    totals = d.compute_coverage(rows, TODAY).totals
    assert (totals.managers, totals.active) == (3, 1)
    assert totals.signing_rate == Decimal("33.33")
    rows.append(row(4, S.ACTIVE))
    rows.append(row(5, S.ACTIVE))
    assert d.compute_coverage(rows, TODAY).totals.signing_rate == Decimal("60.00")


def test_two_thirds_rounds_half_up_to_66_67() -> None:
    rows = [row(1, S.ACTIVE), row(2, S.ACTIVE), row(3, S.DRAFT)]
    assert d.compute_coverage(rows, TODAY).totals.signing_rate == Decimal("66.67")


def test_percent_rounds_exact_halves_up() -> None:
    assert d.percent(1, 8) == Decimal("12.50")
    assert d.percent(1, 16) == Decimal("6.25")
    assert d.percent(1, 3200) == Decimal("0.03")  # 0.03125
    assert d.percent(1, 400) == Decimal("0.25")
    assert d.percent(1, 800) == Decimal("0.13")   # 0.125 -> half up
    assert d.percent(0, 0) is None


@pytest.mark.parametrize("state", [S.DRAFT, S.PENDING_SIGNATURE, S.EXPIRED, S.TERMINATED,
                                   S.RENEWED, None])
def test_only_an_active_contract_counts_as_signed(state: d.ContractState | None) -> None:
    assert d.compute_coverage([row(1, state)], TODAY).totals.active == 0


def test_an_enterprise_is_in_force_only_when_all_its_managers_are_active() -> None:
    rows = [row(1, S.ACTIVE, enterprise="a"), row(2, S.ACTIVE, enterprise="a"),
            row(3, S.ACTIVE, enterprise="b"), row(4, S.DRAFT, enterprise="b"),
            row(5, None, enterprise="c")]
    totals = d.compute_coverage(rows, TODAY).totals
    assert (totals.enterprises, totals.enterprises_in_force) == (3, 1)
    assert totals.enterprise_share == Decimal("33.33")


def test_groups_by_layer_category_and_position_in_a_stable_order() -> None:
    rows = [row(1, S.ACTIVE, layer=3), row(2, None, layer=2, position="chair"),
            row(3, S.ACTIVE, layer=2), row(4, None, layer=2)]
    report = d.compute_coverage(rows, TODAY)
    keys = [g.key for g in report.groups]
    assert keys == [
        {"layer": 2, "category": "commercial_competitive", "position": "chair"},
        {"layer": 2, "category": "commercial_competitive", "position": "general_manager"},
        {"layer": 3, "category": "commercial_competitive", "position": "general_manager"},
    ]
    assert [g.signing_rate for g in report.groups] == [
        Decimal("0.00"), Decimal("50.00"), Decimal("100.00")]
    assert sum(g.managers for g in report.groups) == report.totals.managers


def test_layers_sort_as_numbers_not_text() -> None:
    rows = [row(1, None, layer=10), row(2, None, layer=9)]
    report = d.compute_coverage(rows, TODAY, ("layer",))
    assert [g.key["layer"] for g in report.groups] == [9, 10]


def test_an_enterprise_can_be_in_force_in_one_group_and_not_in_another() -> None:
    rows = [row(1, S.ACTIVE, enterprise="a", position="chair"),
            row(2, None, enterprise="a", position="general_manager")]
    report = d.compute_coverage(rows, TODAY, ("position",))
    by_position = {g.key["position"]: g for g in report.groups}
    assert by_position["chair"].enterprises_in_force == 1
    assert by_position["general_manager"].enterprises_in_force == 0
    assert report.totals.enterprises_in_force == 0


def test_a_manager_in_several_rows_counts_once_and_is_active_if_any_row_is() -> None:
    rows = [row(1, S.DRAFT, manager_id="m-x"), row(2, S.ACTIVE, manager_id="m-x")]
    totals = d.compute_coverage(rows, TODAY).totals
    assert (totals.managers, totals.active, totals.enterprises_in_force) == (1, 1, 1)


def test_unknown_or_repeated_group_by_fields_are_a_bug() -> None:
    with pytest.raises(ValueError):
        d.compute_coverage([], TODAY, ("grade",))
    with pytest.raises(ValueError):
        d.compute_coverage([], TODAY, ("layer", "layer"))


def test_no_group_by_gives_one_group_equal_to_the_totals() -> None:
    report = d.compute_coverage([row(1, S.ACTIVE), row(2, None)], TODAY, ())
    assert [g.key for g in report.groups] == [{}]
    assert report.groups[0] == report.totals


# --- overdue ----------------------------------------------------------------------------------

def test_a_signature_due_today_is_not_overdue() -> None:
    report = d.compute_coverage([row(1, S.PENDING_SIGNATURE, deadline=TODAY)], TODAY)
    assert report.overdue == ()


def test_a_signature_is_overdue_the_day_after_its_deadline() -> None:
    report = d.compute_coverage(
        [row(1, S.PENDING_SIGNATURE, deadline=TODAY - timedelta(days=1))], TODAY)
    [late] = report.overdue
    assert (late.employee_no, late.days_overdue) == ("E001", 1)
    assert late.signing_deadline == TODAY - timedelta(days=1)


def test_only_pending_signatures_can_be_overdue_and_most_overdue_come_first() -> None:
    past = TODAY - timedelta(days=3)
    rows = [row(1, S.DRAFT, deadline=past), row(2, S.ACTIVE, deadline=past),
            row(3, S.PENDING_SIGNATURE, deadline=past),
            row(4, S.PENDING_SIGNATURE, deadline=TODAY - timedelta(days=10)),
            row(5, S.PENDING_SIGNATURE, deadline=None)]
    report = d.compute_coverage(rows, TODAY)
    assert [(o.employee_no, o.days_overdue) for o in report.overdue] == [("E004", 10),
                                                                         ("E003", 3)]


# --- output shapes ----------------------------------------------------------------------------

def sample() -> d.CoverageReport:
    return d.compute_coverage([
        row(1, S.ACTIVE, layer=2), row(2, S.PENDING_SIGNATURE, layer=2,
                                       deadline=TODAY - timedelta(days=2)),
        row(3, None, layer=3, enterprise="third"),
    ], TODAY, ("layer",))


def test_csv_has_a_header_then_one_row_per_group_in_order() -> None:
    text = d.coverage_rows_csv(sample())
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed == [
        ["layer", "managers", "active", "signing_rate", "enterprises", "enterprises_in_force",
         "enterprise_share"],
        ["2", "2", "1", "50.00", "1", "0", "0.00"],
        ["3", "1", "0", "0.00", "1", "0", "0.00"],
    ]


def test_csv_of_an_empty_report_is_only_the_header() -> None:
    text = d.coverage_rows_csv(d.compute_coverage([], TODAY))
    assert text.splitlines() == ["layer,category,position,managers,active,signing_rate,"
                                 "enterprises,enterprises_in_force,enterprise_share"]


def test_json_shape_has_decimal_strings_and_iso_dates() -> None:
    data = d.coverage_as_dict(sample())
    assert json.loads(json.dumps(data)) == data
    assert data["as_of"] == "2026-06-15" and data["group_by"] == ["layer"]
    assert data["totals"] == {"key": {}, "managers": 3, "active": 1, "signing_rate": "33.33",
                              "enterprises": 2, "enterprises_in_force": 0,
                              "enterprise_share": "0.00"}
    assert data["groups"][0]["key"] == {"layer": 2}
    assert data["overdue"] == [{
        "manager_id": "m-2", "employee_no": "E002", "name": "Manager 2",
        "enterprise_id": "sub-a", "position": "general_manager", "issued_on": "2026-05-01",
        "signing_deadline": "2026-06-13", "days_overdue": 2,
    }]


@given(st.lists(st.tuples(st.integers(0, 30), st.sampled_from([None, *S]),
                          st.integers(1, 4), st.sampled_from(["a", "b", "c", "d"])),
                max_size=60))
def test_coverage_counts_are_consistent(spec: list[tuple[int, S | None, int, str]]) -> None:
    rows = [row(i, state, layer=layer, enterprise=ent, manager_id=f"m-{i}")
            for i, state, layer, ent in spec]
    report = d.compute_coverage(rows, TODAY)
    t = report.totals
    assert 0 <= t.active <= t.managers == len({r.manager_id for r in rows})
    assert sum(g.managers for g in report.groups) == t.managers
    assert sum(g.active for g in report.groups) == t.active
    assert t.enterprises_in_force <= t.enterprises
    for g in [t, *report.groups]:
        if g.managers:
            assert g.signing_rate is not None and Decimal(0) <= g.signing_rate <= 100
            assert g.signing_rate == g.signing_rate.quantize(Decimal("0.01"))
        else:
            assert g.signing_rate is None
