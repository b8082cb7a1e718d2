"""The audit trail keeps values as JSON would (shared/audit.py `jsonable`)."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal

from shared.audit import jsonable


class Colour(enum.StrEnum):
    RED = "red"


def test_decimals_and_dates_nested_in_plain_json_columns_become_strings() -> None:
    value = {"targets": [{"weight": Decimal("40.50"), "main": True, "n": 1, "x": 0.5,
                          "none": None}],
             "signed_on": date(2026, 1, 2), 7: [datetime(2026, 1, 2, 3, 4, tzinfo=UTC)]}
    assert jsonable(value) == {
        "targets": [{"weight": "40.50", "main": True, "n": 1, "x": 0.5, "none": None}],
        "signed_on": "2026-01-02", "7": ["2026-01-02T03:04:00+00:00"]}


def test_an_enum_is_kept_as_its_value_tuples_as_lists_and_plain_values_as_they_are() -> None:
    assert jsonable([Colour.RED, "a", 1, None]) == ["red", "a", 1, None]
    assert jsonable({"k": (1, 2)}) == {"k": [1, 2]}


def test_an_update_recorded_by_its_changes_keeps_only_the_columns_that_differ() -> None:
    from shared.audit import changed_columns

    before = {"id": "a1", "state": "scored", "result": "{...trace...}", "row_version": 2,
              "reviewed_by": None}
    after = {"id": "a1", "state": "reviewed", "result": "{...trace...}", "row_version": 3,
             "reviewed_by": "hr-1"}
    assert changed_columns(before, after) == (
        {"state": "scored", "row_version": 2, "reviewed_by": None},
        {"state": "reviewed", "row_version": 3, "reviewed_by": "hr-1"})
    # A column known on one side only (not loaded before) still shows what it became.
    assert changed_columns({"a": 1}, {"a": 1, "b": 2}) == ({}, {"b": 2})
    # A value changed in place and flagged modified compares equal: the flush still wrote it.
    assert changed_columns({"a": [1], "b": 0}, {"a": [1], "b": 0}, {"a"}) == (
        {"a": [1]}, {"a": [1]})
