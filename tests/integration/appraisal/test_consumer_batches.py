"""The appraisal consumer on real Kafka and PostgreSQL: a poll is applied in runs by the batch
handler, and a duplicate, a poison event and one manager's events in order come out as if each
event had been applied alone."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.appraisal.events import HANDLED_TYPES, consumer_options, handle_contract_events
from services.appraisal.models import Contract, Manager, TargetSet, inbox
from shared import ops
from shared.consumer import EventConsumer
from shared.db import Database
from shared.events.envelope import encode_envelope
from shared.kafka_clients import Backoff, ensure_topics, make_producer
from tests.support.statements import sent_statements

from .world import YEAR, World, contract_event

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def test_a_backlog_with_a_duplicate_and_a_poison_event_is_applied_in_runs_in_each_managers_order(
        contract_world: World, postgres_databases: Any, kafka_broker: Any) -> None:
    world = contract_world
    prefix = f"t{uuid.uuid4().hex[:8]}."
    topic, dead_letters = f"{prefix}hr.contracts", f"{prefix}hr.deadletter"
    ensure_topics(kafka_broker.bootstrap_servers, [topic, dead_letters], partitions=3)
    first, poisoned = world.gms[0], world.gms[2]
    issued = next(e for e in world.events if e["type"] == "contract.issued"
                  and e["data"]["manager_id"] == first)
    # Valid by the catalogue, but its state does not fit the column: PostgreSQL refuses it.
    poison = contract_event(world, "contract.amended", poisoned, state="amended-" + "x" * 30,
                             reason="late amendment", approved_by="board")
    terminated = contract_event(world, "contract.terminated", poisoned, state="terminated",
                                 reason="Rigid exit by appraisal", exit=True)
    backlog = [*world.events, poison, terminated, issued]  # `issued` again: a duplicate
    producer = make_producer(kafka_broker.bootstrap_servers)
    try:
        for envelope in backlog:
            producer.send(topic, key=str(envelope["subject"]).encode(),
                          value=encode_envelope(envelope))
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=5)

    db = Database(postgres_databases.fresh("appraisal"))
    options = consumer_options()
    runs: list[int] = []

    def batch_handler(session: Session, envelopes: list[dict[str, Any]]) -> None:
        runs.append(len(envelopes))
        options["batch_handler"](session, envelopes)

    consumer = EventConsumer(
        db, inbox, kafka_broker.bootstrap_servers, f"g-{prefix}appraisal", [topic],
        service="appraisal", dead_letter_topic=dead_letters, max_retries=1,
        backoff=Backoff(0.01, 0.02), **{**options, "batch_handler": batch_handler})
    done = 0
    try:
        for _ in range(100):
            done += consumer.run_once(timeout=0.5)
            if done >= len(backlog):
                break
    finally:
        consumer.close()
    assert done == len(backlog)

    try:
        with db.read() as s:
            # One manager's events in order: issued, then signed (the duplicate issue
            # re-sent afterwards was skipped, or the contract would be back to "issued").
            contract = s.get(Contract, world.contracts[first])
            assert contract.state == "active"
            locked = {(t.kind, t.year): t.locked for t in s.scalars(
                select(TargetSet).where(TargetSet.contract_id == contract.id))}
            assert locked[("annual", YEAR)] is True
            # The poison was left out; the event after it for the same manager applied.
            ended = s.get(Contract, world.contracts[poisoned])
            assert (ended.state, ended.ended_by_exit) == ("terminated", True)
            assert s.get(Manager, world.retiree).employment_status == "departed"
            assert s.scalar(select(func.count()).select_from(Manager)) == len(
                {e["data"]["manager_id"] for e in world.events
                 if e["type"] == "manager.registered"})
            handled = {e["id"] for e in backlog if e["type"] in HANDLED_TYPES} - {poison["id"]}
            got = set(s.scalars(select(inbox.c.event_id)))
            assert got == handled, ([(e["type"], e["id"] == poison["id"]) for e in backlog
                                     if e["id"] in got ^ handled])
    finally:
        db.dispose()
    letters = ops.list_dead_letters(kafka_broker.bootstrap_servers, topic=dead_letters)
    assert [(d["event_id"], d["error_class"], d["attempts"]) for d in letters] == [
        (poison["id"], "DataError", 2)]
    assert max(runs) > 10  # applied in runs, not one transaction per event


def test_a_run_reads_the_rows_its_events_name_one_statement_a_table_with_the_ids_as_an_array(
        contract_world: World, postgres_databases: Any) -> None:
    """The rows a run names are read by joining their ids as one array, never as lists of
    values in `IN (...)`: psycopg prepares a list of the same length after five, and the
    server's generic plan, costed while the table grew faster than autovacuum analysed it,
    could scan the whole table for each (docs/scale-bulk-issue.md)."""
    db = Database(postgres_databases.fresh("appraisal"))
    try:
        with sent_statements(db.engine) as sent, db.unit_of_work() as s:
            handle_contract_events(s, contract_world.events)
        reads = {table: [sql for sql in sent if sql.startswith("SELECT")
                         and f"\nFROM {table} " in sql]
                 for table in ("managers", "contracts", "target_sets")}
        for table, found in reads.items():
            assert found and all("unnest" in sql and " IN (" not in sql for sql in found), (
                table, found)
        with db.read() as s:
            assert s.scalar(select(func.count()).select_from(Manager)) == len(
                {e["data"]["manager_id"] for e in contract_world.events
                 if e["type"] == "manager.registered"})
    finally:
        db.dispose()
