"""orjson where it gives what the json module gives, the json module where it would not
(shared/jsonio.py): every value read or written is the json module's."""

from __future__ import annotations

import json
import math
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from shared.jsonio import read_json, write_json

TEXTS = [
    '{"weight": "40.50", "n": 1, "x": 0.1, "none": null, "ok": true, "list": [1, [2, {}]]}',
    '{"big": 123456789012345678901234567890, "neg": -98765432109876543210}',
    '{"edge": 9223372036854775807, "below": -9223372036854775808}',
    '{"long_mantissa": 0.12345678901234567890123, "e": 1e300, "tiny": 5e-324}',
    '{"id": "A0000000000000000000001", "name": "利润总额 \\u00e9 \\ud83d\\ude00"}',
    '{"nan": NaN, "inf": Infinity, "neg_inf": -Infinity}',
    '{"lone": "\\ud800"}',
    '{"dup": 1, "dup": 2}',
    '[' * 2000 + ']' * 2000,
]


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN, and of the same types all the way down."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@pytest.mark.parametrize("text", TEXTS)
def test_text_reads_as_the_json_module_reads_it_from_str_and_from_bytes(text: str) -> None:
    try:
        expected = json.loads(text)
    except RecursionError:
        with pytest.raises(RecursionError):
            read_json(text)
        return
    assert _same(read_json(text), expected)
    assert _same(read_json(text.encode()), expected)


def test_an_integer_beyond_64_bits_stays_an_integer() -> None:
    assert read_json(b'{"a": 123456789012345678901234567890}') == {
        "a": 123456789012345678901234567890}
    assert isinstance(read_json("[18446744073709551616]")[0], int)


@pytest.mark.parametrize("bad", ["", "{", '{"a": 1,}', "[1 2]", "nul", b"\xff\xfe\x00"])
def test_what_the_json_module_refuses_is_refused_with_its_error(bad: str | bytes) -> None:
    with pytest.raises(ValueError) as refused:  # JSONDecodeError, UnicodeDecodeError
        json.loads(bad)
    with pytest.raises(type(refused.value)):
        read_json(bad)


VALUES = [
    {"targets": [{"weight": "60", "main": True, "n": 1, "x": 0.5, "none": None}]},
    {"big": 123456789012345678901234567890, "text": "利润 \"A\" \\ \n"},
    [1.5, -0.0, 1e16, 5e-324, "\ud83d\ude00"],
    {1: "a", 2: ["b"]},
    {"lone": "\ud800"},
]


@pytest.mark.parametrize("value", VALUES)
def test_a_value_is_written_as_text_the_json_module_reads_back_as_its_own(value: Any) -> None:
    assert _same(json.loads(write_json(value)), json.loads(json.dumps(value)))


@pytest.mark.parametrize("value", [{"d": Decimal("1.10")}, {"on": date(2026, 1, 2)},
                                   {"s": {1, 2}}])
def test_what_the_json_module_cannot_write_is_refused_as_it_refuses_it(value: Any) -> None:
    with pytest.raises(TypeError):
        json.dumps(value)
    with pytest.raises(TypeError):
        write_json(value)


def test_not_a_number_is_written_as_null() -> None:
    """JSON has no NaN or infinity: the json module wrote `NaN`, which PostgreSQL's json type
    refuses (the write failed there); orjson writes null. No API field accepts either
    (marshmallow's Float refuses them), so only a bug could send one."""
    assert write_json({"x": float("nan"), "y": [float("inf")]}) == '{"x":null,"y":[null]}'
