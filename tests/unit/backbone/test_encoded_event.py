"""An event written to the outbox is the same text whether its data are encoded once
(`encoded_event`, the outbox's way) or built and encoded as an envelope (`make_event` then
`encode_envelope`): the relay and every consumer read one byte format."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from shared.events.envelope import (
    decode_envelope,
    encode_envelope,
    encoded_event,
    event_attributes,
    make_event,
)

WHEN = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
PAYLOADS: list[dict[str, Any]] = [
    {},
    {"contract_id": "c-1", "manager_id": "m-1", "state": "active", "row_version": 3,
     "signed_at": WHEN, "start_date": date(2026, 1, 1), "appraisable": True, "end_date": None},
    {"name": "张伟 (Zhang Wei)", "quote": 'He said "sign" \\ then left\n', "tab": "a\tb",
     "emoji": "签字 ✓", "nul": "\u0000", "control": "\u001f"},
    {"targets": [{"indicator_code": "PROFIT", "weight": Decimal("40.50"), "main": True,
                  "base": "800", "z": 1, "a": 2.5}, {"weight": Decimal("59.50")}],
     "documents": [{"id": str(uuid.UUID(int=7)), "year": 0, "amendment_version": None}],
     "ids": {"b", "a", "c"}, "uuid": uuid.UUID(int=42), "nested": {"z": {"y": {"x": []}}}},
    {"big": 10**30, "negative": -1, "float": 0.1, "exp": 1e-7, "bool": False},
]


@pytest.mark.parametrize("data", PAYLOADS)
@pytest.mark.parametrize("subject", ["m-1", None])
@pytest.mark.parametrize("extensions", [None, {"requestid": "r-1"}, {"aaa": "first", "zzz": "ü"}])
def test_an_event_encoded_once_is_the_text_the_envelope_gives(
        data: dict[str, Any], subject: str | None, extensions: dict[str, str] | None) -> None:
    attributes = event_attributes("contract.signed", "/tenure/contracts", subject, version=2,
                                  time=WHEN, extensions=extensions)
    text = encoded_event(attributes, data)
    envelope = make_event("contract.signed", "/tenure/contracts", subject, data, version=2,
                          event_id=attributes["id"], time=WHEN, extensions=extensions)
    assert text == encode_envelope(envelope).decode()
    assert decode_envelope(text.encode()) == envelope
    assert json.loads(text)["id"] == attributes["id"]


def test_each_event_gets_its_own_id() -> None:
    first = event_attributes("contract.signed", "/tenure/contracts", "m-1")
    second = event_attributes("contract.signed", "/tenure/contracts", "m-1")
    assert first["id"] != second["id"]
