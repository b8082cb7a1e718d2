"""The fast acceptance of event data (shared/events/fast_check.py) never accepts what the
type's marshmallow schema refuses, and it accepts every type's data in its plain form (so
consumers take the fast path for the events services write)."""

from __future__ import annotations

import copy
import random
import uuid
from typing import Any

import pytest
from marshmallow import Schema, fields, validate

from shared.events.fast_check import accepts
from shared.events.schemas import DATA_SCHEMAS, schema_for

TYPES = sorted(DATA_SCHEMAS)
# Values a producer with a bug, or a hand-written event, might put anywhere.
ODD = [None, "", " ", "12", "-3", 12, 0, -1, 12.5, float("nan"), True, False, "true", "yes",
       "1", [], [1], ["a"], [{}], {}, {"a": 1}, "NaN", "Infinity", "1e3", "+5", " 5", "87.50",
       "87,50", "2026-02-30", "2026-01-01", "20260101", "2026-1-1", "2026-01-01T25:00",
       "2026-01-01T08:00:00+08:00", "2026-01-01 08:00", str(uuid.uuid4()),
       uuid.uuid4().hex, str(uuid.uuid4()).upper(), "{" + str(uuid.uuid4()) + "}",
       "urn:uuid:" + str(uuid.uuid4()), "not-a-uuid", b"bytes", ("tuple",), 10**30,
       "manager", "employer", "electronic", 90, 30, 7]


def plain(field: fields.Field, rnd: random.Random) -> Any:
    """A value in the form services write it, valid for `field`."""
    for validator in field.validators:
        if isinstance(validator, validate.OneOf):
            return rnd.choice(list(validator.choices))
        if isinstance(validator, validate.Range):
            return int(validator.min or 0) + rnd.randrange(3)
    if isinstance(field, fields.UUID):
        return str(uuid.uuid4())
    if isinstance(field, fields.String):
        return rnd.choice(["x", "张伟", ""])
    if isinstance(field, fields.Integer):
        return rnd.randrange(1, 2030)
    if isinstance(field, fields.Boolean):
        return rnd.choice([True, False])
    if isinstance(field, fields.DateTime):
        return "2026-03-01T08:30:00+08:00"
    if isinstance(field, fields.Date):
        return "2026-03-01"
    if isinstance(field, fields.Decimal):
        return rnd.choice(["87.50", "0", "-2.25", 100])
    if isinstance(field, fields.Dict):
        return {"indicator_code": "PROFIT", "weight": "40"}
    if isinstance(field, fields.List):
        return [plain(field.inner, rnd) for _ in range(rnd.randrange(3))]
    if isinstance(field, fields.Nested):
        return data_of(field.schema, rnd)
    raise AssertionError(f"no plain value for {field!r}")


def data_of(schema: Schema, rnd: random.Random) -> dict[str, Any]:
    return {field.data_key or name: plain(field, rnd)
            for name, field in schema.load_fields.items()
            if field.required or rnd.random() < 0.8}


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place inside `value` a mutation can hit."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += paths(item, (*prefix, i))
    return found


def altered(data: dict[str, Any], path: tuple[Any, ...], new: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    holder = out
    for step in path[:-1]:
        holder = holder[step]
    if new is _DELETE:
        del holder[path[-1]]
    else:
        holder[path[-1]] = new
    return out


_DELETE = object()


@pytest.mark.parametrize("event_type", TYPES)
def test_the_plain_form_of_every_type_takes_the_fast_path(event_type: str) -> None:
    schema = schema_for(event_type)
    rnd = random.Random(event_type)
    for _ in range(20):
        data = data_of(schema, rnd)
        assert schema.validate(data) == {}, data
        assert accepts(schema, data), data


@pytest.mark.parametrize("event_type", TYPES)
def test_whatever_the_fast_path_accepts_marshmallow_accepts(event_type: str) -> None:
    schema = schema_for(event_type)
    rnd = random.Random(f"{event_type}-odd")
    seen = {"both accept": 0, "only marshmallow accepts": 0, "both refuse": 0}
    for _ in range(6):
        data = data_of(schema, rnd)
        data["an_unknown_key"] = rnd.choice(ODD)  # kept: unknown keys are allowed
        for path in paths(data):
            if isinstance(path[-1], str) and path[-1] != "an_unknown_key":
                candidates = [*rnd.sample(ODD, 12), _DELETE]
            else:
                candidates = rnd.sample(ODD, 6)
            for new in candidates:
                mutated = altered(data, path, new)
                fast, errors = accepts(schema, mutated), schema.validate(mutated)
                assert not (fast and errors), (path, new, errors)
                seen["both accept" if fast else
                     "only marshmallow accepts" if not errors else "both refuse"] += 1
    # The comparison was made on both sides of the line, not only on valid data.
    assert seen["both accept"] and seen["both refuse"], seen


def test_a_schema_with_a_field_of_another_kind_is_left_to_marshmallow() -> None:
    class Odd(Schema):
        at = fields.Time(required=True)
        amount = fields.Decimal(places=2)

    assert accepts(Odd(), {"at": "08:00:00"}) is False
    assert Odd().validate({"at": "08:00:00"}) == {}
