"""The list's cursor: opaque text that names a position (created_at, id) and nothing else."""

from __future__ import annotations

from base64 import urlsafe_b64encode
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.contracts import reads


def test_a_cursor_names_the_contracts_creation_time_and_id_exactly() -> None:
    at = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)
    cursor = reads.encode_cursor(at, "0b9c-contract")
    assert "=" not in cursor and cursor.isascii()
    assert reads.decode_cursor(cursor) == (at, "0b9c-contract")


def test_a_cursor_is_the_same_instant_whatever_zone_the_time_came_in() -> None:
    at = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    shanghai = at.astimezone(timezone(timedelta(hours=8)))
    assert reads.encode_cursor(shanghai, "c") == reads.encode_cursor(at, "c")
    # SQLite hands timestamps back without a zone; they were stored in UTC.
    assert reads.encode_cursor(at.replace(tzinfo=None), "c") == reads.encode_cursor(at, "c")


def _b64(text: str) -> str:
    return urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "", "x", "not a cursor", "%%%", "a" * 201, _b64("123"), _b64("123."), _b64(".id"),
    _b64("-5.id"), _b64("12a.id"), _b64("1" * 18 + ".id"),
    _b64("123.id with spaces"), _b64("123." + "i" * 65), _b64("123.id'; drop table"),
    urlsafe_b64encode(b"\xff\xfe.id").decode(),
])
def test_text_that_no_page_returned_is_not_a_cursor(cursor: str) -> None:
    assert reads.decode_cursor(cursor) is None
