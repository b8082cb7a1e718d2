"""Recording events in the outbox, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from shared.db import bulk_insert
from shared.events.catalogue import CATALOGUE
from shared.events.envelope import encoded_event, event_attributes


def outbox_row(event_type: str, subject: str | None, data: dict[str, Any],
               *, key: str | None = None) -> dict[str, Any]:
    spec = CATALOGUE[event_type]
    attributes = event_attributes(event_type, spec.source, subject, version=spec.version,
                                  extensions=_request_context())
    return {
        "event_id": attributes["id"],
        "event_type": event_type,
        "topic": spec.topic,
        "key": key if key is not None else subject,
        "payload": encoded_event(attributes, data),
        "created_at": datetime.now(UTC),
    }


def record_event(
    session: Session,
    outbox: Table,
    event_type: str,
    subject: str | None,
    data: dict[str, Any],
    *,
    key: str | None = None,
) -> dict[str, Any]:
    """Add an event to the outbox; it is sent only if the caller's transaction commits."""
    row = outbox_row(event_type, subject, data, key=key)
    # Parameters, not .values(**row): one statement SQLAlchemy compiles once per process.
    session.execute(insert(outbox), row)
    return row


def record_events(session: Session, outbox: Table, rows: Iterable[dict[str, Any]]) -> int:
    """Many events in one statement (bulk operations); same transaction rule as above.

    After the session's pending changes when it autoflushes, as `session.execute` would
    flush them: the events follow the rows they describe. Under `no_autoflush` (a batch of
    countersignatures writes its rows once, at the end) they go first, as before."""
    rows = list(rows)
    if rows:
        if session.autoflush:
            session.flush()
        bulk_insert(session, outbox, rows)
    return len(rows)


def _request_context() -> dict[str, str] | None:
    """The id of the HTTP request that caused the event travels with it (a CloudEvents
    extension), so one id ties the logs of every service the change reaches."""
    try:
        from flask import g, has_request_context
    except ImportError:  # pragma: no cover - flask is always there in a service
        return None
    if has_request_context() and getattr(g, "request_id", None):
        return {"requestid": str(g.request_id)}
    return None
