"""A tiny test service for the backbone tests: a domain table, the shared tables, a handler."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session

from shared.consumer import EventConsumer
from shared.db import Database
from shared.outbox import record_event
from shared.tables import BigId, define_shared_tables

# Fast group membership so a restarted or killed consumer's partitions move quickly.
FAST_GROUP = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}


@dataclass(frozen=True)
class Topics:
    """A test's own copy of the topics: `prefix + hr.contracts` and its dead letters."""

    bootstrap: str
    prefix: str

    @property
    def contracts(self) -> str:
        return f"{self.prefix}hr.contracts"

    @property
    def dead_letters(self) -> str:
        return f"{self.prefix}hr.deadletter"


metadata = MetaData()
outbox, inbox, idempotency_keys = define_shared_tables(metadata)

# The producing side's own row, written in the same transaction as its event.
appointments = Table(
    "appointments", metadata,
    Column("id", String(36), primary_key=True),
    Column("manager_id", String(36), nullable=False),
    Column("seq", Integer, nullable=False),
)

# The consuming side's side effect: one row per handler run. No unique constraint on
# event_id on purpose, so a handler that ran twice for one event shows up as two rows.
effects = Table(
    "effects", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("manager_id", String(36), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)


def new_id() -> str:
    return str(uuid.uuid4())


def create_service_db(url: str) -> Database:
    db = Database(url)
    metadata.create_all(db.engine)
    return db


def contract_data(manager_id: str, seq: int, **extra: Any) -> dict[str, Any]:
    """contract.signed data with the required keys, plus `seq` (an extra key, allowed)."""
    return {"contract_id": new_id(), "manager_id": manager_id, "state": "active",
            "start_date": "2025-01-01", "end_date": "2027-12-31", "seq": seq, **extra}


def appoint(db: Database, manager_id: str, seq: int, **extra: Any) -> str:
    """One business transaction: a domain row and its event, committed together."""
    with db.unit_of_work() as session:
        session.execute(insert(appointments).values(id=new_id(), manager_id=manager_id,
                                                    seq=seq))
        row = record_event(session, outbox, "contract.signed", manager_id,
                           contract_data(manager_id, seq, **extra))
    return str(row["event_id"])


def record_effect(session: Session, envelope: dict[str, Any]) -> None:
    """The handler's side effect, inside the consumer's transaction."""
    data = envelope["data"]
    session.execute(insert(effects).values(event_id=envelope["id"],
                                           manager_id=data["manager_id"],
                                           seq=int(data.get("seq", 0)),
                                           applied_at=datetime.now(UTC)))


def effect_rows(db: Database) -> list[Any]:
    with db.read() as session:
        return list(session.execute(select(effects).order_by(effects.c.id)))


def count(db: Database, table: Table, *where: Any) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def unsent(db: Database) -> int:
    return count(db, outbox, outbox.c.sent_at.is_(None))


def drain(consumer: EventConsumer, expected: int, *, timeout: float = 30.0) -> int:
    """Run the consumer until it has finished `expected` messages; return how many it did."""
    done = 0
    deadline = time.monotonic() + timeout
    while done < expected and time.monotonic() < deadline:
        done += consumer.run_once(timeout=0.3)
    return done


def wait_for(condition: Callable[[], bool], *, timeout: float = 30.0,
             interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
