"""Reading plain (JSON-ready) values into Decimals, ints and enums, collecting field errors."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TypeVar

E = TypeVar("E", bound=StrEnum)


class Faults:
    """Collects messages by field path so one error can name every faulty field at once."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def summary(self) -> str:
        return "; ".join(f"{path}: {msg}" for path, msgs in self.errors.items() for msg in msgs)


class Missing:
    """Marks a value that failed to parse (its fault is already recorded)."""


MISSING = Missing()


def to_decimal(value: object, path: str, faults: Faults) -> Decimal | Missing:
    """A decimal from a string ("87.50"), an int, a Decimal or (tolerated) a JSON float.

    A float goes through `str()` so 0.6 reads as "0.6", not its binary expansion; NaN and
    infinities are refused, as are booleans (JSON `true` is not a number).
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        faults.add(path, 'must be a decimal number written as a string, e.g. "0.60"')
        return MISSING
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        faults.add(path, f"{value!r} is not a decimal number")
        return MISSING
    if not result.is_finite():
        faults.add(path, "must be a finite decimal number")
        return MISSING
    return result


def to_optional_decimal(value: object, path: str, faults: Faults) -> Decimal | Missing | None:
    return None if value is None else to_decimal(value, path, faults)


def to_int(value: object, path: str, faults: Faults) -> int | Missing:
    if isinstance(value, bool) or not isinstance(value, int):
        faults.add(path, "must be a whole number")
        return MISSING
    return value


def to_bool(value: object, path: str, faults: Faults) -> bool | Missing:
    if not isinstance(value, bool):
        faults.add(path, "must be true or false")
        return MISSING
    return value


def to_enum(cls: type[E], value: object, path: str, faults: Faults) -> E | Missing:
    try:
        return cls(value)
    except ValueError:
        faults.add(path, f"must be one of {', '.join(m.value for m in cls)}")
        return MISSING
