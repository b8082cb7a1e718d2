"""The bounds every input field of a kind gets (shared/fields.py), at their edges."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import marshmallow as ma
import pytest
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import MultiDict

from shared.fields import DecimalString, StrictSchema, TextValues


class Form(StrictSchema):
    on = ma.fields.Date()
    count = ma.fields.Integer()
    small = ma.fields.Integer(validate=ma.validate.Range(min=1, max=10))
    flag = ma.fields.Boolean()
    weight = DecimalString(places=2)
    days = ma.fields.List(ma.fields.Date())


def errors_of(data: Any) -> dict[str, Any]:
    try:
        Form().load(data)
    except ma.ValidationError as exc:
        return exc.messages  # type: ignore[return-value]
    return {}


@pytest.mark.parametrize("day", ["1949-01-01", "2026-06-30", "2199-12-31"])
def test_dates_within_the_bounds_are_taken(day: str) -> None:
    assert errors_of({"on": day, "days": [day]}) == {}


@pytest.mark.parametrize("day", ["0001-01-01", "1900-01-01", "1948-12-31", "2200-01-01",
                                 "9999-06-01", "9999-12-31"])
def test_dates_outside_the_bounds_are_refused(day: str) -> None:
    assert set(errors_of({"on": day})) == {"on"}
    assert set(errors_of({"days": ["2026-01-01", day]})) == {"days"}


@pytest.mark.parametrize(("value", "ok"), [(2**31 - 1, True), (-(2**31), True), (2**31, False),
                                           (2**64, False), (-(2**31) - 1, False)])
def test_integers_fit_a_database_integer(value: int, ok: bool) -> None:
    assert (errors_of({"count": value}) == {}) is ok


def test_a_tighter_bound_of_the_field_still_applies() -> None:
    assert set(errors_of({"small": 11})) == {"small"}
    assert errors_of({"small": 10}) == {}


@pytest.mark.parametrize("value", [2.5, "5", True, 1e300])
def test_an_integer_in_json_is_a_json_integer(value: Any) -> None:
    assert set(errors_of({"count": value})) == {"count"}


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, "on"])
def test_a_boolean_in_json_is_true_or_false(value: Any) -> None:
    assert set(errors_of({"flag": value})) == {"flag"}
    assert errors_of({"flag": True}) == errors_of({"flag": False}) == {}


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("FALSE", False), ("1", True),
                                                ("0", False)])
def test_a_boolean_in_a_query_string_or_csv_line_may_be_spelled(text: str,
                                                                expected: bool) -> None:
    query = MultiDictProxy(MultiDict({"flag": text, "count": "3"}), Form())
    assert Form().load(query)["flag"] is expected
    assert Form().load(TextValues(flag=text))["flag"] is expected


@pytest.mark.parametrize("text", ["yes", "on", "y", "t"])
def test_loose_booleans_are_refused_in_query_strings_too(text: str) -> None:
    query = MultiDictProxy(MultiDict({"flag": text}), Form())
    assert set(errors_of(query)) == {"flag"}


@pytest.mark.parametrize("value", ["\u0661\u0660\u0660", 100, 87.5, True])
def test_a_decimal_is_a_string_of_ascii_digits(value: Any) -> None:
    assert set(errors_of({"weight": value})) == {"weight"}


def test_a_decimal_string_is_taken() -> None:
    assert Form().load({"weight": "87.50"})["weight"] == Decimal("87.50")


def test_non_ascii_digits_in_a_query_integer_or_date_are_refused() -> None:
    query = MultiDictProxy(MultiDict({"count": "\u0661", "on": "\u0662\u0660\u0662\u0666-01-01"}),
                           Form())
    assert set(errors_of(query)) == {"count", "on"}
