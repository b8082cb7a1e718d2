"""CloudEvents 1.0 envelope in structured JSON mode, the one wire format between services.

Structured mode (the whole envelope is the Kafka message value) keeps an event readable as
one JSON document wherever it lands: the outbox row, the dead-letter topic, a log line. The
relay also copies `ce_id`, `ce_type`, `ce_source` and `ce_specversion` into Kafka headers so
a consumer can route or skip without parsing the value.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson

from shared.jsonio import read_json

SPEC_VERSION = "1.0"
REQUIRED = ("specversion", "id", "source", "type")


class MalformedEvent(ValueError):
    """The bytes are not a CloudEvents 1.0 structured JSON envelope."""


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot encode {type(value).__name__} in an event")


#: orjson (several times faster than the json module: a bulk issue encodes an event per
#: contract) made to encode as the json module with `_default` did: dates, datetimes and
#: dataclasses go through `_default`, keys that are not strings become strings.
_AS_JSON_MODULE = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
                   | orjson.OPT_NON_STR_KEYS)
_SORTED = _AS_JSON_MODULE | orjson.OPT_SORT_KEYS


def _dumps(value: Any, option: int) -> bytes:
    """orjson's text, or the json module's in orjson's compact form for what orjson cannot
    encode (an integer beyond 64 bits): never an event refused for its encoder's limits."""
    try:
        return orjson.dumps(value, default=_default, option=option)
    except orjson.JSONEncodeError:
        return json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":"),
                          sort_keys=bool(option & orjson.OPT_SORT_KEYS)).encode()


def event_attributes(
    event_type: str,
    source: str,
    subject: str | None,
    *,
    version: int = 1,
    event_id: str | None = None,
    time: datetime | None = None,
    extensions: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The envelope's context attributes, everything but `data`; `subject` is the aggregate
    (manager) the event is about."""
    attributes: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": event_id or str(uuid.uuid4()),
        "source": source,
        "type": event_type,
        "time": (time or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "dataschema": f"urn:tenure:event:{event_type}:{version}",
    }
    if subject is not None:
        attributes["subject"] = str(subject)
    for key, value in (extensions or {}).items():
        attributes[key] = value
    return attributes


def make_event(event_type: str, source: str, subject: str | None, data: dict[str, Any],
               **options: Any) -> dict[str, Any]:
    """Build the envelope (`options`: those of `event_attributes`)."""
    envelope = event_attributes(event_type, source, subject, **options)
    # Round-trip through JSON now so what is stored is exactly what will be sent (read as
    # the json module reads it: an integer beyond 64 bits stays one, shared/jsonio.py).
    envelope["data"] = read_json(_dumps(data, _AS_JSON_MODULE))
    return envelope


def encode_envelope(envelope: dict[str, Any]) -> bytes:
    return _dumps(envelope, _SORTED)


def encoded_event(attributes: dict[str, Any], data: dict[str, Any]) -> str:
    """The JSON text of the event with these attributes and data: the very text
    `encode_envelope` gives for the envelope `make_event` builds, with the data encoded once
    instead of three times (dump, load, dump again sorted).

    Writing an event to the outbox needs only its id and its text, and every write records
    one or more. Event data are JSON objects, keyed by strings at every level, as the
    catalogue's schemas describe them, so encoding them once sorted gives what the round
    trip and the sorted encoding give (tests/unit/backbone/test_encoded_event.py holds the
    two ways together).
    """
    return _dumps({**attributes, "data": data}, _SORTED).decode()


def decode_envelope(raw: bytes | str) -> dict[str, Any]:
    try:
        envelope = read_json(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedEvent(f"not JSON: {exc}") from exc
    if not isinstance(envelope, dict):
        raise MalformedEvent("the envelope is not a JSON object")
    missing = [k for k in REQUIRED if not envelope.get(k)]
    if missing:
        raise MalformedEvent(f"missing CloudEvents attributes: {', '.join(missing)}")
    if envelope["specversion"] != SPEC_VERSION:
        raise MalformedEvent(f"unsupported specversion {envelope['specversion']!r}")
    if "data" in envelope and not isinstance(envelope["data"], dict):
        raise MalformedEvent("data must be a JSON object")
    return envelope


def schema_version(envelope: dict[str, Any]) -> int:
    schema = str(envelope.get("dataschema") or "")
    tail = schema.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 1
