"""Notifications figures on a real local Kafka: events from the topics into inboxes per second, and
event-to-inbox latency at a paced rate, on SQLite and PostgreSQL.

Run: .venv/bin/python bench/bench_notifications.py [--events 20000] [--single-events 2000]
         [--rate 40] [--seconds 10] [--db sqlite|postgres|both] [--batch 500]

Two consumers are measured, each as its own process:
- `single`: the shared runtime as deployed (`shared.consumer.EventConsumer` with the
  service's batch handler, exactly what `flask consume` runs): a poll's events in one
  transaction, inbox rows claimed in one statement, one event at a time only on failure.
- `batch`: a prototype of a runtime batch mode (below, `BatchingConsumer`): the whole poll in
  one transaction (inbox rows claimed in one statement, `events.apply_events` once), with the
  runtime's one-by-one path (retries, dead letters) only when that transaction fails.
Each event is a `contract.issued` or `appraisal.published` for a distinct manager at a unit
under one group-wide HR admin, so it makes two notices (manager + HR), each with an inbox item
and the manager's with a queued e-mail delivery.

Target: >= 1,000 notices/s from the topic into the inbox.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from support import REPO  # also puts the repo and deploy/local on sys.path

from services.notifications.config import NotificationConfig
from services.notifications.events import (
    HANDLED_TYPES,
    apply_events,
    make_handler,
    subscription,
)
from services.notifications.models import InboxItem, Recipient, inbox
from shared.consumer import EventConsumer
from shared.db import Database
from shared.events.catalogue import CATALOGUE
from shared.events.envelope import MalformedEvent, decode_envelope, encode_envelope, make_event
from shared.events.schemas import EventRejected, validate_event
from shared.kafka_clients import ensure_topics, make_producer, stop_on_signals
from shared.migrations import upgrade

MIGRATIONS = REPO / "services" / "notifications" / "migrations"
GROUP_UNIT = "0f000000-0000-4000-8000-000000000001"
PLANT_UNIT = "0f000000-0000-4000-8000-000000000002"
NOTICES_PER_EVENT = 2  # the manager's and the group-wide HR admin's


# -- the batch prototype ------------------------------------------------------------------------


class BatchingConsumer(EventConsumer):
    """What the shared runtime would need for throughput: a poll applied in one transaction.

    Inbox rows for the whole poll are claimed with one INSERT ... ON CONFLICT DO NOTHING
    RETURNING; the claimed events go to the service's batch handler in the same transaction;
    offsets are committed after it. If that transaction fails, every record of the poll goes
    through the runtime's own `process` (retries, dead letters), so a poison event costs its
    batch the fast path, never an event.
    """

    def __init__(self, *args: Any, batch_handler: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_handler = batch_handler

    def _claim_all(self, session: Any, good: list[tuple[Any, dict[str, Any]]]) -> set[str]:
        if self.database.is_postgres:
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        rows = {env["id"]: {"event_id": env["id"], "consumer_group": self.group_id,
                            "event_type": env["type"], "topic": r.topic,
                            "partition": r.partition, "offset": r.offset,
                            "processed_at": datetime.now(UTC)} for r, env in good}
        if not rows:
            return set()
        # executemany with RETURNING (SQLAlchemy's "insertmanyvalues"): one cached statement,
        # sent as few multi-row INSERTs, instead of compiling a 500-row VALUES every poll.
        stmt = insert(self.inbox).on_conflict_do_nothing().returning(self.inbox.c.event_id)
        return set(session.scalars(stmt, list(rows.values())))

    def run_once(self, timeout: float | None = None) -> int:
        consumer = self._ensure_consumer()
        polled = consumer.poll(timeout_ms=int(1000 * (self.poll_timeout if timeout is None
                                                      else timeout)))
        records = [r for batch in polled.values() for r in batch]
        if not records:
            return 0
        good: list[tuple[Any, dict[str, Any]]] = []
        slow: list[Any] = []
        for record in records:
            try:
                envelope = decode_envelope(record.value)
                validate_event(envelope)
            except (MalformedEvent, EventRejected, TypeError):
                slow.append(record)  # the runtime dead-letters it
                continue
            if self.event_types is None or envelope["type"] in self.event_types:
                good.append((record, envelope))
        try:
            with self.database.unit_of_work() as session:
                claimed = self._claim_all(session, good)
                seen: set[str] = set()
                fresh = []
                for _, envelope in good:
                    if envelope["id"] in claimed and envelope["id"] not in seen:
                        seen.add(envelope["id"])
                        fresh.append(envelope)
                self.batch_handler(session, fresh)
        except Exception:  # the fast path failed: the runtime handles each record itself
            slow = sorted([r for r, _ in good] + slow, key=lambda r: (r.topic, r.partition,
                                                                      r.offset))
        for record in slow:
            self.process(record)
        from kafka import OffsetAndMetadata, TopicPartition

        commit = {TopicPartition(tp.topic, tp.partition):
                  OffsetAndMetadata(batch[-1].offset + 1, "", -1)
                  for tp, batch in polled.items() if batch}
        self._commit(consumer, commit)
        return len(records)


# -- processes ----------------------------------------------------------------------------------


def run_consumer_role(args: argparse.Namespace) -> None:
    """A consumer process: `single` (the shared runtime) or `batch` (the prototype). Writes
    `<event id> <commit time>` for every event it commits, for the latency figures."""
    from sqlalchemy import event as sa_event

    db = Database(args.db_url)
    config = NotificationConfig()
    sub = subscription(args.prefix)
    out = open(args.out, "a", buffering=1)  # noqa: SIM115  (line-buffered, closed at exit)

    @sa_event.listens_for(db.sessions, "after_commit")
    def _committed(session: Any) -> None:
        ids = session.info.pop("event_ids", None)
        if ids:
            at = time.time()
            out.write("".join(f"{i} {at:.6f}\n" for i in ids))

    single = make_handler(config)

    def handle(session: Any, envelope: dict[str, Any]) -> None:
        session.info.setdefault("event_ids", []).append(envelope["id"])
        single(session, envelope)

    def handle_batch(session: Any, envelopes: list[dict[str, Any]]) -> None:
        session.info.setdefault("event_ids", []).extend(e["id"] for e in envelopes)
        apply_events(session, envelopes, config)

    common: dict[str, Any] = {
        "service": "bench-notifications", "event_types": HANDLED_TYPES,
        "dead_letter_topic": sub.dead_letter_topic,
        "consumer_config": {"max_poll_records": args.batch}}
    if args.mode == "single":
        consumer = EventConsumer(db, inbox, args.bootstrap, sub.group, sub.topics, handle,
                                 batch_handler=handle_batch, **common)
    else:
        consumer = BatchingConsumer(db, inbox, args.bootstrap, sub.group, sub.topics, handle,
                                    batch_handler=handle_batch, **common)
    stop_on_signals(consumer.stop_event)
    try:
        consumer.run_forever()
    finally:
        out.close()


def consumer_process(mode: str, db_url: str, bootstrap: str, prefix: str, out: Path, batch: int
              ) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, "--role", "consumer", "--mode", mode, "--db-url", db_url,
         "--bootstrap", bootstrap, "--prefix", prefix, "--out", str(out), "--batch",
         str(batch)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop_process(process: subprocess.Popen[bytes]) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return err.decode(errors="replace")[-2000:]


# -- the world ----------------------------------------------------------------------------------


def fresh_database(url: str) -> Database:
    """Migrated, with a two-unit tree and a group-wide HR admin who reads the inbox only."""
    from services.notifications.events import apply_event

    upgrade(MIGRATIONS, url)
    db = Database(url)
    config = NotificationConfig()
    with db.unit_of_work() as session:
        for unit, parent in ((GROUP_UNIT, None), (PLANT_UNIT, GROUP_UNIT)):
            apply_event(session, make_event("org_unit.created", "/tenure/contracts", unit, {
                "org_unit_id": unit, "parent_id": parent, "code": unit[-4:], "name": "Unit",
                "layer": 1 if parent is None else 2}), config)
        now = datetime.now(UTC)
        session.add(Recipient(id="hr-bench", role="hr_admin", name="HR", email=None,
                              language="zh", active=True, source="api", row_version=1,
                              created_at=now, updated_at=now))
    return db


def manager_event(i: int) -> dict[str, Any]:
    manager = str(uuid.uuid4())
    facts = {"manager_id": manager, "manager_name": f"经理{i}",
             "manager_email": f"m{i}@example.com", "manager_language": "zh",
             "org_unit_id": PLANT_UNIT, "employee_no": f"E{i:06d}"}
    if i % 2:
        return make_event("contract.issued", "/tenure/contracts", manager, {
            **facts, "contract_id": str(uuid.uuid4()), "state": "issued",
            "start_date": "2026-04-01", "end_date": "2029-03-31", "term_years": 3,
            "term_number": 1, "signing_deadline": "2026-03-31"})
    return make_event("appraisal.published", "/tenure/appraisal", manager, {
        **facts, "appraisal_id": str(uuid.uuid4()), "year": 2025, "grade": "B",
        "score": "84.20"})


def send(producer: Any, prefix: str, envelope: dict[str, Any]) -> None:
    producer.send(prefix + CATALOGUE[envelope["type"]].topic,
                  key=envelope["subject"].encode(), value=encode_envelope(envelope),
                  headers=[("ce_type", envelope["type"].encode()),
                           ("ce_id", envelope["id"].encode())])


def inbox_count(db: Database) -> int:
    from sqlalchemy import func, select

    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(InboxItem)) or 0)


def committed(path: Path) -> dict[str, float]:
    if not path.exists():
        return {}
    pairs = (line.split() for line in path.read_text().splitlines() if line.strip())
    return {key: float(at) for key, at in pairs}


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


# -- the figures --------------------------------------------------------------------------------


def bench_throughput(mode: str, db_factory: Any, bootstrap: str, events: int, batch: int,
                     workdir: Path) -> dict[str, float]:
    """A backlog of `events` on the topics, then the consumer: time until every inbox item."""
    prefix = f"nb{uuid.uuid4().hex[:8]}."
    sub = subscription(prefix)
    ensure_topics(bootstrap, [*sub.topics, sub.dead_letter_topic], partitions=3)
    db = fresh_database(db_factory(f"tp_{mode}"))
    producer = make_producer(bootstrap)
    try:
        for i in range(events):
            send(producer, prefix, manager_event(i))
        producer.flush()
    finally:
        producer.close()
    expected = events * NOTICES_PER_EVENT
    process = consumer_process(mode, db.url, bootstrap, prefix, workdir / f"{prefix}out", batch)
    started = time.perf_counter()
    first = None
    count = 0
    try:
        deadline = time.monotonic() + max(120.0, events / 50)
        while count < expected and time.monotonic() < deadline:
            time.sleep(0.1)
            count = inbox_count(db)
            if count and first is None:
                first = time.perf_counter()
        finished = time.perf_counter()
    finally:
        errors = stop_process(process)
        db.dispose()
    if count < expected:
        print(f"  ({mode}: only {count} of {expected} inbox items) {errors}")
    steady = finished - (first or started)
    return {"events": events, "notices": count, "seconds": finished - started,
            "notices_per_s": count / (finished - started),
            "steady_notices_per_s": count / steady if steady > 0 else float("nan"),
            "events_per_s": count / NOTICES_PER_EVENT / (finished - started)}


def paced(rate: float, seconds: float) -> Iterator[int]:
    interval = 1.0 / rate
    started = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = started + i * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        yield i


def bench_latency(mode: str, db_factory: Any, bootstrap: str, rate: float, seconds: float,
                  batch: int, workdir: Path) -> list[float]:
    """Events at a steady rate; latency = commit of the inbox item - the moment of sending."""
    prefix = f"nl{uuid.uuid4().hex[:8]}."
    sub = subscription(prefix)
    ensure_topics(bootstrap, [*sub.topics, sub.dead_letter_topic], partitions=3)
    db = fresh_database(db_factory(f"lat_{mode}"))
    out = workdir / f"{prefix}out"
    process = consumer_process(mode, db.url, bootstrap, prefix, out, batch)
    producer = make_producer(bootstrap)
    sent_at: dict[str, float] = {}
    try:
        warm = manager_event(0)
        deadline = time.monotonic() + 60
        send(producer, prefix, warm)
        producer.flush()
        while warm["id"] not in committed(out) and time.monotonic() < deadline:
            time.sleep(0.2)
        for i in paced(rate, seconds):
            envelope = manager_event(i + 1)
            sent_at[envelope["id"]] = time.time()
            send(producer, prefix, envelope)
        producer.flush()
        deadline = time.monotonic() + 60
        while not set(sent_at) <= set(committed(out)) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        producer.close()
        errors = stop_process(process)
        db.dispose()
    done = committed(out)
    if not set(sent_at) <= set(done):
        print(f"  ({mode}: {len(set(sent_at) - set(done))} events never committed) {errors}")
    return [done[k] - at for k, at in sent_at.items() if k in done]


@contextlib.contextmanager
def databases(kind: str, workdir: Path) -> Iterator[list[tuple[str, Any]]]:
    found: list[tuple[str, Any]] = []
    with contextlib.ExitStack() as stack:
        if kind in ("sqlite", "both"):
            found.append(("sqlite", lambda name: f"sqlite:///{workdir / (name + '.db')}"))
        if kind in ("postgres", "both"):
            try:
                import local_postgres

                server = stack.enter_context(local_postgres.LocalPostgres())
                found.append(("postgres", lambda name: server.create_database(
                    f"nb_{name}_{uuid.uuid4().hex[:8]}")))
            except Exception as exc:  # the bench still runs on SQLite without PostgreSQL
                print(f"(PostgreSQL unavailable, skipped: {exc})")
        yield found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000,
                        help="backlog for the batch consumer")
    parser.add_argument("--single-events", type=int, default=2_000,
                        help="backlog for the one-event-per-transaction runtime")
    parser.add_argument("--rate", type=float, default=40.0, help="events/s for latency")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=500, help="max records per poll")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--role", choices=("consumer",), help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("single", "batch"), help=argparse.SUPPRESS)
    parser.add_argument("--db-url", help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "consumer":
        run_consumer_role(args)
        return

    import local_kafka

    with tempfile.TemporaryDirectory(prefix="bench-notifications-") as tmp, \
            local_kafka.LocalKafka() as broker, databases(args.db, Path(tmp)) as dbs:
        workdir = Path(tmp)
        bootstrap = broker.bootstrap_servers
        print(f"Kafka {broker.version} at {bootstrap}; {NOTICES_PER_EVENT} notices per event")
        for label, factory in dbs:
            print(f"\n== {label} ==")
            for mode, events in (("single", args.single_events), ("batch", args.events)):
                r = bench_throughput(mode, factory, bootstrap, events, args.batch, workdir)
                print(f"  throughput {mode:6s}: {r['events']:>6} events -> {r['notices']:>6} "
                      f"inbox items in {r['seconds']:.1f} s = {r['notices_per_s']:,.0f} "
                      f"notices/s ({r['events_per_s']:,.0f} events/s); first to last item "
                      f"{r['steady_notices_per_s']:,.0f} notices/s")
            for mode in ("single", "batch"):
                lat = bench_latency(mode, factory, bootstrap, args.rate, args.seconds,
                                    args.batch, workdir)
                if lat:
                    print(f"  latency    {mode:6s}: {len(lat)} events at {args.rate:.0f}/s: "
                          f"p50 {1000 * statistics.median(lat):.0f} ms, "
                          f"p99 {1000 * percentile(lat, 99):.0f} ms, "
                          f"max {1000 * max(lat):.0f} ms")


if __name__ == "__main__":
    main()
