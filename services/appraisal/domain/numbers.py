"""Where numbers are rounded: the only module that quantizes scores, shares and money."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal("0")
ONE = Decimal("1")
HUNDRED = Decimal("100")
#: Scores and points: two places, half up ("87.505" -> "87.51").
CENT = Decimal("0.01")
#: Shares of a weight (and completion ratios shown as evidence): four places, i.e. 0.01 %.
SHARE_STEP = Decimal("0.0001")


def score2(value: Decimal) -> Decimal:
    """A score or points to 0.01, ROUND_HALF_UP (the house rule for every score)."""
    return value.quantize(CENT, ROUND_HALF_UP)


def money2(value: Decimal) -> Decimal:
    """Money to 0.01 (cents / fen), ROUND_HALF_UP."""
    return value.quantize(CENT, ROUND_HALF_UP)


def share4(value: Decimal) -> Decimal:
    """A share of a weight to 0.0001, ROUND_HALF_UP, so the trace `weight x share` adds up."""
    return value.quantize(SHARE_STEP, ROUND_HALF_UP)


def places(value: Decimal) -> int:
    """How many decimal places a finite Decimal is written with ("0.60" -> 2, "5" -> 0)."""
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def is_finite_decimal(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite()
