"""A fast way to accept event data that its marshmallow schema would accept.

Every consumer validates every event it applies against the type's schema
(shared/events/schemas.py). marshmallow deserialises each value through several layers of
calls to do so: a signed contract's event, with its documents and target lines, took about
0.4 ms, and validation was three fifths of the appraisal consumer's CPU (and a third of the
notifications consumer's) while a group's contracts were being signed (docs/scale.md).

`accepts(schema, data)` checks the same keys and types directly, and it is stricter than
marshmallow: only the plain form of each value passes (a str for a String, an int that is not
a bool for an Integer, a canonical UUID, a `YYYY-MM-DD` date, a decimal written as digits),
with the field's own validators run on it. So it never accepts data marshmallow would refuse;
whatever it does not accept (a refusal, a lenient form such as the integer "12", a field of a
kind it does not know) goes to marshmallow, which decides and names the errors as before.
A test holds the inclusion over many altered events (tests/unit/backbone/test_event_fast_check.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields

Check = Callable[[Any], bool]

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DECIMAL = re.compile(r"-?\d+(\.\d+)?")
_ISO = (None, "iso", "iso8601")  # marshmallow reads these with fromisoformat
_COMPILED: dict[Schema, Check | None] = {}  # the schemas' instances live as long as the process
_MISSING: Any = object()


def accepts(schema: Schema, data: Any) -> bool:
    """True when `data` certainly passes `schema`; False means "ask marshmallow"."""
    check = _COMPILED.get(schema, _MISSING)
    if check is _MISSING:
        check = _COMPILED[schema] = _schema_check(schema)
    return check is not None and check(data)


def _schema_check(schema: Schema) -> Check | None:
    """A check of a whole schema's data, or None when the schema has hooks (a schema-level
    validator or pre-load step could refuse what the fields accept)."""
    if any(schema._hooks.values()):
        return None
    keyed: list[tuple[str, bool, Check]] = []
    for name, field in schema.load_fields.items():
        check = _field_check(field)
        if check is None:
            return None
        keyed.append((field.data_key or name, field.required, check))
    # INCLUDE and EXCLUDE take any other key; RAISE refuses one.
    known = frozenset(key for key, *_ in keyed) if schema.unknown == RAISE else None

    def check_schema(data: Any) -> bool:
        if type(data) is not dict or (known is not None and not data.keys() <= known):
            return False
        for key, required, check in keyed:
            if key in data:
                if not check(data[key]):
                    return False
            elif required:
                return False
        return True

    return check_schema


def _field_check(field: fields.Field) -> Check | None:
    """A check of one value, None for a kind of field this module does not know."""
    kind = _value_check(field)
    if kind is None:
        return None
    validators = list(field.validators)
    allow_none = field.allow_none

    def check(value: Any) -> bool:
        if value is None:
            return allow_none
        if not kind(value):
            return False
        try:
            for validator in validators:
                if validator(value) is False:
                    return False
        except ValidationError:
            return False
        return True

    return check


def _value_check(field: fields.Field) -> Check | None:
    """The plain form of a value this field deserialises to itself (so its validators can
    be run on it as they are on the loaded value), or a structure of such values."""
    if type(field) is fields.String:
        return lambda value: type(value) is str
    if type(field) is fields.Integer:
        return lambda value: type(value) is int
    if type(field) is fields.Boolean and field.truthy == fields.Boolean.truthy \
            and field.falsy == fields.Boolean.falsy:  # True and False among them
        return lambda value: type(value) is bool
    if field.validators:
        return None  # a validator would see a converted value (a Decimal, a date, a UUID)
    if type(field) is fields.UUID:
        return lambda value: type(value) is str and _UUID.fullmatch(value) is not None
    if type(field) is fields.Date and field.format in _ISO:
        return _is_date
    if type(field) is fields.DateTime and field.format in _ISO:
        return _is_datetime
    if type(field) is fields.Decimal and field.places is None and field.rounding is None:
        return lambda value: ((type(value) is str and _DECIMAL.fullmatch(value) is not None)
                              or type(value) is int)
    if type(field) is fields.Dict and field.key_field is None and field.value_field is None:
        return lambda value: type(value) is dict
    if type(field) is fields.List:
        inner = _field_check(field.inner)
        if inner is None:
            return None
        return lambda value: type(value) is list and all(inner(item) for item in value)
    if type(field) is fields.Nested and not field.many and not field.only \
            and not field.exclude and field.unknown is None:
        return _schema_check(field.schema)
    return None


def _is_date(value: Any) -> bool:
    if type(value) is not str or _DATE.fullmatch(value) is None:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_datetime(value: Any) -> bool:
    """What marshmallow's DateTime reads (`datetime.fromisoformat`), from a str only."""
    if type(value) is not str:
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True
