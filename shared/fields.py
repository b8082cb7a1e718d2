"""Marshmallow fields and schemas shared by every service's API."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import marshmallow as ma

TWO_PLACES = Decimal("0.01")


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
        if isinstance(value, float):
            # A float has already lost digits; insist on strings (or ints) for money and scores.
            raise self.make_error("invalid")
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


class StrictSchema(ma.Schema):
    """Unknown fields are an error, so a typo never silently drops a value."""

    class Meta:
        unknown = ma.RAISE
        ordered = True


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
