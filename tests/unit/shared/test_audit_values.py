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
