"""Marshmallow fields and schemas shared by every service's API."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import marshmallow as ma

TWO_PLACES = Decimal("0.01")
# Every date an API takes lies in these bounds (docs/input-limits.md): wide enough for any
# manager's career and any term, narrow enough that no date arithmetic leaves the calendar.
EARLIEST_DATE = date(1949, 1, 1)
LATEST_DATE = date(2199, 12, 31)
# An integer field with no tighter bound of its own: what a database integer column holds.
SMALLEST_INTEGER = -(2**31)
LARGEST_INTEGER = 2**31 - 1
_TEXT_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
ASCII_ONLY = "digits, signs and separators in ASCII only"
STRICT_BOOLEAN = "true or false"
STRICT_INTEGER = "an integer"
DECIMAL_STRING = 'a decimal number written as a string, such as "87.50"'
# Text no database stores: NUL (PostgreSQL refuses it) and lone UTF-16 surrogates (no UTF-8).
BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
BAD_TEXT_MESSAGE = "must not contain NUL characters or unpaired UTF-16 surrogates"


class DecimalString(ma.fields.Decimal):
    """A Decimal carried as a JSON string ("87.50"), so no float ever touches a score."""

    def __init__(self, places: int | None = 2, **kwargs: Any) -> None:
        kwargs.setdefault("as_string", True)
        kwargs.setdefault("allow_nan", False)
        kwargs.setdefault("metadata", {})
        kwargs["metadata"].setdefault("type", "string")
        kwargs["metadata"].setdefault("format", "decimal")
        kwargs["metadata"].setdefault("example", "87.50")
        quantum = Decimal(1).scaleb(-places) if places is not None else None
        super().__init__(places=None, rounding=ROUND_HALF_UP, **kwargs)
        self._quantum = quantum

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if not isinstance(value, str | Decimal):
            # A float has already lost digits, and a JSON number may be read as one on the
            # way: money, weights and scores travel as strings, as the document says.
            raise ma.ValidationError(DECIMAL_STRING)
        if isinstance(value, str) and not value.isascii():
            raise ma.ValidationError(ASCII_ONLY)
        result = super()._deserialize(value, attr, data, **kwargs)
        try:
            if self._quantum is not None and result != result.quantize(self._quantum):
                raise ma.ValidationError(
                    f"At most {-self._quantum.as_tuple().exponent} decimal places."
                )
        except InvalidOperation as exc:
            raise self.make_error("invalid") from exc
        return result

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        dec = Decimal(value)
        if self._quantum is not None:
            dec = dec.quantize(self._quantum, rounding=ROUND_HALF_UP)
        return str(dec)


class UtcDateTime(ma.fields.DateTime):
    """Every timestamp leaves in UTC: SQLite hands them back without their zone, and a
    PostgreSQL session in another time zone hands them back in that zone."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if isinstance(value, datetime):
            value = (value.replace(tzinfo=UTC) if value.tzinfo is None
                     else value.astimezone(UTC))
        return super()._serialize(value, attr, obj, **kwargs)


_DATABASE_INTEGER = ma.validate.Range(min=SMALLEST_INTEGER, max=LARGEST_INTEGER)


def within_date_bounds(value: date) -> bool:
    day = value.date() if isinstance(value, datetime) else value
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ma.ValidationError(f"a date from {EARLIEST_DATE} to {LATEST_DATE}")
    return True


def harden_field(field: ma.fields.Field) -> None:
    """Bounds every input field of a kind gets, whoever declares it: dates within the
    documented years, integers within a database integer. Tighter bounds of the field's own
    still apply (both validators run)."""
    if isinstance(field, ma.fields.List):
        harden_field(field.inner)
    elif isinstance(field, ma.fields.Date | ma.fields.DateTime):
        field.validators = [*field.validators, within_date_bounds]
    elif isinstance(field, ma.fields.Integer):
        field.validators = [*field.validators, _DATABASE_INTEGER]


def loose_value(field: ma.fields.Field, raw: Any, from_text: bool) -> str | None:
    """Why a raw value is refused before marshmallow's lenient parsing sees it, or None.

    Text holds no NUL and no lone surrogate; booleans are JSON true/false (in a query string:
    true, false, 1, 0), never "yes" or "on"; integers are JSON integers; numbers and dates
    are ASCII (Python's own parsers read any script's digits)."""
    if raw is None:
        return None
    if isinstance(raw, str) and BAD_TEXT.search(raw):
        return BAD_TEXT_MESSAGE  # what a CSV line or a form carries past the request guard
    if isinstance(field, ma.fields.List) and isinstance(raw, list):
        faults = (loose_value(field.inner, item, from_text) for item in raw)
        return next((fault for fault in faults if fault), None)
    if isinstance(field, ma.fields.Boolean):
        if from_text:
            ok = isinstance(raw, str) and raw.strip().lower() in _TEXT_BOOLEANS
        else:
            ok = isinstance(raw, bool)
        return None if ok else STRICT_BOOLEAN
    if isinstance(field, ma.fields.Integer) and not from_text and (
            not isinstance(raw, int) or isinstance(raw, bool)):
        return STRICT_INTEGER  # not 2.5 (marshmallow would cut it to 2), not "5"
    if (isinstance(field, ma.fields.Number | ma.fields.Date | ma.fields.DateTime)
            and isinstance(raw, str) and not raw.isascii()):
        return ASCII_ONLY
    return None


class TextValues(dict):  # type: ignore[type-arg]
    """A row whose values are all text, as a CSV line's are: its booleans may be spelled
    true, false, 1 or 0, as in a query string."""


class StrictSchema(ma.Schema):
    """Unknown fields are an error, so a typo never silently drops a value; every field is
    hardened (harden_field) and loose values are refused (loose_value)."""

    class Meta:
        unknown = ma.RAISE
        ordered = True

    def on_bind_field(self, field_name: str, field_obj: ma.fields.Field) -> None:
        harden_field(field_obj)

    @ma.pre_load
    def _refuse_loose_values(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        # A JSON body arrives as a dict; query strings and forms as webargs' MultiDictProxy.
        from_text = isinstance(data, TextValues) or not isinstance(data, dict)
        errors: dict[str, list[str]] = {}
        for name, field in self.load_fields.items():
            key = field.data_key or name
            if key in data:
                fault = loose_value(field, data[key], from_text)
                if fault:
                    errors[key] = [fault]
        if errors:
            raise ma.ValidationError(errors)
        return data


class PageQuery(StrictSchema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=1_000_000))
    page_size = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))


class PageInfo(ma.Schema):
    page = ma.fields.Integer()
    page_size = ma.fields.Integer()
    total = ma.fields.Integer()
    pages = ma.fields.Integer()


def page_info(page: int, page_size: int, total: int) -> dict[str, int]:
    return {"page": page, "page_size": page_size, "total": total,
            "pages": (total + page_size - 1) // page_size}
