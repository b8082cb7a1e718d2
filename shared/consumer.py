"""The consumer runtime: applies each event once per consumer group, or dead-letters it.

For every message the runtime decodes and validates the CloudEvents envelope, then in ONE
database transaction inserts the inbox row (event id, consumer group) and runs the
service's handler. If the inbox row already exists the event was applied before (the relay
publishes at least once, a crashed consumer re-reads uncommitted offsets, a dead letter may
be replayed) and the handler is skipped. Only after that transaction commits is the Kafka
offset committed (manual commits, auto-commit off). A crash anywhere in between therefore
re-delivers the message, and the inbox makes the second delivery a no-op: side effects
happen exactly once even though delivery is at least once.

Failures:

* A message that is not a valid envelope, has a type missing from the catalogue, or data
  that fails its schema goes to the dead-letter topic at once: retrying cannot fix it.
  A message whose `ce_type` header (and value) names a catalogued type the group does not
  apply is passed over unread: the groups that apply that type validate it.
* A handler error is retried (the whole transaction again) up to `max_retries` times with
  backoff, then the message goes to the dead-letter topic and the consumer moves on.
* A database that is unreachable (OperationalError, InterfaceError) is not the event's
  fault: the runtime retries without limit, with capped backoff, instead of dead-lettering
  every event of an outage. The partition waits; the lag metric shows it.

A dead letter keeps the original key and value bytes untouched, so `shared.ops` can replay
it to its original topic once the fix is deployed; the reason travels in `dl_*` headers.

Throughput: by default the valid events of one poll are first applied together in one
transaction (each still with its inbox row), which saves a BEGIN/COMMIT and a connection
check-out per event; a service's `batch_handler` then gets the poll's new events at once
(set-based reads, one statement per table). If anything in that transaction fails, it is
rolled back and the poll is split in two halves, each tried the same way, in order; a
single event whose transaction fails is applied alone with the retries above, and
dead-lettered if they run out. So one bad event costs its poll a few extra transactions,
the rest of the poll still applies in batches, and the events are applied in poll order
(one key's order holds, whatever fails). Handlers therefore keep their effects in the
session they are given (anything sent outside it, like an e-mail, belongs in the service's
own outbox or delivery table), which retries require anyway. `batch_transactions=False`
gives one transaction per event from the start.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from kafka import OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import Table, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from shared import audit
from shared.db import Database, insert_new
from shared.events.catalogue import CATALOGUE, DEAD_LETTER_TOPIC
from shared.events.envelope import MalformedEvent, decode_envelope
from shared.events.schemas import validate_event
from shared.heap import freeze_startup_objects
from shared.kafka_clients import (
    Backoff,
    make_consumer,
    make_producer,
    probe_broker,
    serve_metrics,
    stop_on_signals,
)

log = logging.getLogger("tenure.consumer")

Handler = Callable[[Session, dict[str, Any]], None]
# Optional: the same work for a run of events at once (set-based queries, one statement per
# table instead of one per event); it must do exactly what `handler` would do for each.
BatchHandler = Callable[[Session, list[dict[str, Any]]], None]

EVENTS = Counter("tenure_consumer_events", "Events taken off a topic, by outcome",
                 ["service", "group", "topic", "outcome"])
DEAD_LETTERED = Counter("tenure_consumer_dead_lettered", "Events sent to the dead-letter topic",
                        ["service", "group", "topic", "error"])
LAG = Gauge("tenure_consumer_lag", "Messages behind the end of a partition",
            ["service", "group", "topic", "partition"])
HANDLE_SECONDS = Histogram("tenure_consumer_handle_seconds",
                           "Time to apply one event (transaction included)",
                           ["service", "group"],
                           buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5))

APPLIED, DUPLICATE, IGNORED, DEAD = "applied", "duplicate", "ignored", "dead_lettered"

# Header names on a dead letter. Values are UTF-8 text.
DL_HEADERS = ("dl_original_topic", "dl_original_partition", "dl_original_offset",
              "dl_original_key", "dl_consumer_group", "dl_service", "dl_error_class",
              "dl_error_message", "dl_attempts", "dl_failed_at")


class BrokerUnavailable(RuntimeError):
    """No bootstrap server answered; the consumer is not created (and retries later)."""


class _Abandoned(Exception):
    """Stop was requested while a message was still being retried: leave it uncommitted."""


def _inbox_claim(database: Database, inbox: Table) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING: a row comes back only if it was new.

    Built once and executed with each event's values as parameters, so SQLAlchemy compiles
    it once (building `.values(...)` per event cost ~4x more). RETURNING rather than
    rowcount: psycopg reports rowcount -1 for this statement through SQLAlchemy.
    """
    dialect = database.engine.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(inbox).on_conflict_do_nothing().returning(inbox.c.event_id)
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(inbox).on_conflict_do_nothing().returning(inbox.c.event_id)
    raise NotImplementedError(f"the inbox supports PostgreSQL and SQLite, not {dialect}")


class EventConsumer:
    """One consumer group member: `run_forever` in a process, `run_once` in tests."""

    def __init__(
        self,
        database: Database,
        inbox_table: Table,
        bootstrap_servers: str | Sequence[str],
        group_id: str,
        topics: Sequence[str],
        handler: Handler,
        *,
        service: str = "tenure",
        dead_letter_topic: str = DEAD_LETTER_TOPIC,
        max_retries: int = 3,
        backoff: Backoff | None = None,
        transient_backoff: Backoff | None = None,
        event_types: Collection[str] | None = None,
        validate: bool = True,
        poll_timeout: float = 0.5,
        auto_offset_reset: str = "earliest",
        consumer_config: dict[str, Any] | None = None,
        producer_config: dict[str, Any] | None = None,
        transient_errors: tuple[type[BaseException], ...] = (OperationalError, InterfaceError),
        batch_transactions: bool = True,
        batch_handler: BatchHandler | None = None,
    ) -> None:
        self.database = database
        self.inbox = inbox_table
        self.bootstrap_servers = bootstrap_servers
        self.group_id = group_id
        self.topics = list(topics)
        self.handler = handler
        self.service = service
        self.dead_letter_topic = dead_letter_topic
        self.max_retries = max_retries
        self.backoff = backoff or Backoff(0.2, 2.0)
        self.transient_backoff = transient_backoff or Backoff(0.5, 10.0)
        self.event_types = frozenset(event_types) if event_types is not None else None
        self.validate = validate
        self.poll_timeout = poll_timeout
        self.consumer_config = {"auto_offset_reset": auto_offset_reset,
                                **(consumer_config or {})}
        self.producer_config = dict(producer_config or {})
        self.transient_errors = transient_errors
        self.batch_transactions = batch_transactions
        self.batch_handler = batch_handler
        self.stop_event = threading.Event()
        self._consumer: Any = None
        self._producer: Any = None
        self._claim_inbox = _inbox_claim(database, inbox_table)
        self._counters: dict[tuple[str, str], Any] = {}
        self._passed_over_types = frozenset(
            t.encode() for t in CATALOGUE if t not in self.event_types
        ) if self.event_types is not None else frozenset()

    # -- lifecycle ------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish the current message, commit and return."""
        self.stop_event.set()

    def _ensure_consumer(self) -> Any:
        if self._consumer is None:
            # Probe first: a kafka-python client whose bootstrap fails leaks its I/O thread,
            # and this runs in a retry loop for as long as the broker is away.
            ok, detail = probe_broker(self.bootstrap_servers)
            if not ok:
                raise BrokerUnavailable(detail)
            self._consumer = make_consumer(
                self.bootstrap_servers, self.group_id, self.topics,
                client_id=f"tenure-{self.service}-{self.group_id}", **self.consumer_config)
        return self._consumer

    def _ensure_producer(self) -> Any:
        if self._producer is None:
            ok, detail = probe_broker(self.bootstrap_servers)
            if not ok:
                raise BrokerUnavailable(detail)
            self._producer = make_producer(self.bootstrap_servers,
                                           client_id=f"tenure-{self.service}-deadletter",
                                           **self.producer_config)
        return self._producer

    def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        producer, self._producer = self._producer, None
        if consumer is not None:
            try:
                # Offsets were committed after each batch; close only leaves the group, so
                # the partitions move to another member at once instead of after a timeout.
                consumer.close(autocommit=False, timeout_ms=5000)
            except KafkaError as exc:
                log.warning("closing the consumer: %s", exc, extra=self._log_extra())
        if producer is not None:
            try:
                producer.close(timeout=5)
            except KafkaError as exc:
                log.warning("closing the dead-letter producer: %s", exc,
                            extra=self._log_extra())

    # -- the loop -------------------------------------------------------------------------

    def run_forever(self, stop_event: threading.Event | None = None) -> None:
        """Consume until the stop event is set; survive broker outages; close at the end."""
        if stop_event is not None:
            self.stop_event = stop_event
        failures = 0
        log.info("consumer started on %s", ",".join(self.topics), extra=self._log_extra())
        try:
            while not self.stop_event.is_set():
                try:
                    self.run_once()
                except (KafkaError, BrokerUnavailable) as exc:
                    failures += 1
                    delay = self.transient_backoff.delay(failures)
                    log.warning("consumer attempt %d failed, retrying in %.1fs: %s",
                                failures, delay, exc, extra=self._log_extra())
                    if isinstance(exc, KafkaError):
                        self.close()  # a fresh consumer rejoins the group cleanly
                    self.stop_event.wait(delay)
                    continue
                failures = 0
        finally:
            self.close()
            log.info("consumer stopped", extra=self._log_extra())

    def run_once(self, timeout: float | None = None) -> int:
        """Poll once, apply what came, commit the offsets of what was finished.

        Returns how many messages were finished (applied, skipped as duplicates or ignored,
        or dead-lettered). Messages left unfinished because stop was requested are not
        committed and the consumer is rewound to them.
        """
        consumer = self._ensure_consumer()
        polled = consumer.poll(timeout_ms=int(1000 * (self.poll_timeout if timeout is None
                                                      else timeout)))
        finished = 0
        commit: dict[TopicPartition, OffsetAndMetadata] = {}
        # Per partition, the first offset not finished yet; emptied as partitions complete.
        unfinished = {tp: records[0].offset for tp, records in polled.items() if records}
        try:
            batched: dict[tuple[str, int, int], str] = {}
            if self.batch_transactions and not self.stop_event.is_set():
                batched = self._apply_in_batches([r for rs in polled.values() for r in rs])
            for tp, records in polled.items():
                for record in records:
                    outcome = batched.get((record.topic, record.partition, record.offset))
                    if outcome is None:  # (outcomes found were counted where reached)
                        if self.stop_event.is_set():
                            raise _Abandoned
                        self.process(record)
                    commit[tp] = OffsetAndMetadata(record.offset + 1, "", -1)
                    unfinished[tp] = record.offset + 1
                    finished += 1
                unfinished.pop(tp, None)
        except _Abandoned:
            pass
        finally:
            # Also on an unexpected error: what was finished is committed, and the consumer
            # is rewound to what was not, so nothing polled is skipped.
            if commit:
                self._commit(consumer, commit)
                self._note_lag(consumer, commit)
            for tp, offset in unfinished.items():
                consumer.seek(tp, offset)
        return finished

    def _commit(self, consumer: Any, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        try:
            consumer.commit(offsets)
        except KafkaError as exc:
            # Typically a rebalance took the partition away. The events are applied and in
            # the inbox; whoever reads them again skips them as duplicates.
            log.warning("offset commit failed (events will be re-read and skipped): %s",
                        exc, extra=self._log_extra())

    def _note_lag(self, consumer: Any, committed: dict[TopicPartition, OffsetAndMetadata]
                  ) -> None:
        for tp, meta in committed.items():
            try:
                highwater = consumer.highwater(tp)
            except KafkaError:
                continue
            if highwater is not None:
                LAG.labels(self.service, self.group_id, tp.topic, str(tp.partition)).set(
                    max(0, highwater - meta.offset))

    # -- one message ----------------------------------------------------------------------

    def _read(self, record: Any) -> tuple[dict[str, Any] | None, BaseException | None]:
        """The record's envelope, or why it must be dead-lettered (envelope if decoded)."""
        # Whatever goes wrong reading the message is the message's fault (retrying cannot
        # help), so any error here dead-letters it rather than stopping the partition.
        try:
            if record.value is None:
                raise MalformedEvent("the message has no value")
            envelope = decode_envelope(record.value)
        except Exception as exc:  # MalformedEvent, or anything odd bytes can provoke
            return None, exc
        if self.validate:
            try:
                validate_event(envelope)
            except Exception as exc:  # UnknownEventType, InvalidEventData, MalformedEvent
                return envelope, exc
        return envelope, None

    def _passed_over(self, record: Any) -> bool:
        """True for a record of a catalogued type this group does not apply, known from its
        `ce_type` header without decoding or validating the value.

        During signing most records a consumer reads are of such types (each document's
        contract.signature_recorded), and reading records was a third of the appraisal
        consumer's CPU while managers signed. The value must say the same type
        (`"type":"<it>"`, as every envelope our relays send is written), so a header that
        disagrees with its value, or a record without one, is read in full as before: an
        event this group applies is never passed over, and a type outside the catalogue is
        still dead-lettered."""
        if not self._passed_over_types or not record.headers or record.value is None:
            return False
        for key, value in record.headers:
            if key == "ce_type":
                return (value in self._passed_over_types
                        and b'"type":"' + value + b'"' in record.value)
        return False

    def _count(self, topic: str, outcome: str) -> None:
        """One more event of `outcome` in the metrics; the labelled counter looked up once
        (the lookup cost as much as passing an event over)."""
        counter = self._counters.get((topic, outcome))
        if counter is None:
            counter = self._counters[(topic, outcome)] = EVENTS.labels(
                self.service, self.group_id, topic, outcome)
        counter.inc()

    def _wanted(self, envelope: dict[str, Any]) -> bool:
        return self.event_types is None or envelope["type"] in self.event_types

    def process(self, record: Any) -> str:
        """Apply, skip or dead-letter one Kafka record; returns the outcome."""
        if self._passed_over(record):
            self._count(record.topic, IGNORED)
            return IGNORED
        envelope, rejected = self._read(record)
        if rejected is not None:
            return self._dead_letter(record, rejected, attempts=1, envelope=envelope)
        assert envelope is not None
        if not self._wanted(envelope):
            self._count(record.topic, IGNORED)
            return IGNORED
        attempt = 0
        transient = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                applied = self._apply(record, envelope)
            except self.transient_errors as exc:
                # The database, not the event: wait for it however long it takes.
                attempt -= 1
                transient += 1
                delay = self.transient_backoff.delay(transient)
                log.error("database unavailable while applying %s, retrying in %.1fs: %s",
                          envelope["id"], delay, exc, extra=self._log_extra(envelope))
                if self.stop_event.wait(delay):
                    raise _Abandoned from exc
                continue
            except Exception as exc:  # any handler error: retried, then dead-lettered
                if attempt > self.max_retries:
                    return self._dead_letter(record, exc, attempts=attempt, envelope=envelope)
                delay = self.backoff.delay(attempt)
                log.warning("handler failed on %s (attempt %d of %d), retrying in %.1fs: %r",
                            envelope["id"], attempt, self.max_retries + 1, delay, exc,
                            extra=self._log_extra(envelope))
                if self.stop_event.wait(delay):
                    raise _Abandoned from exc
                continue
            HANDLE_SECONDS.labels(self.service, self.group_id).observe(
                time.perf_counter() - started)
            outcome = APPLIED if applied else DUPLICATE
            self._count(record.topic, outcome)
            return outcome

    def _inbox_row(self, record: Any, envelope: dict[str, Any]) -> dict[str, Any]:
        return {
            "event_id": envelope["id"],
            "consumer_group": self.group_id,
            "event_type": envelope["type"],
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "processed_at": datetime.now(UTC),
        }

    def _apply(self, record: Any, envelope: dict[str, Any]) -> bool:
        """One transaction: claim the inbox row, run the handler. False if already applied."""
        with self.database.unit_of_work() as session:
            claimed = session.execute(self._claim_inbox, self._inbox_row(record, envelope))
            if claimed.first() is None:
                return False
            with audit.acting_as(source_of(envelope)):
                self.handler(session, envelope)
                audit_applied(session, self.inbox, [envelope])
            return True

    def _batchable(self, records: list[Any],
                   ignored: dict[tuple[str, int, int], str] | None = None
                   ) -> list[tuple[Any, dict[str, Any]]]:
        """The records a batch may apply (valid envelopes of wanted types), in poll order;
        the others are dead-lettered or ignored by `process`.

        With `ignored`, valid events of types this consumer does not apply are finished
        here as `process` would finish them (ignored, counted), so they are not decoded and
        validated a second time: during signing they are most of what a consumer reads
        (each document's contract.signature_recorded)."""
        items = []
        for record in records:
            if self._passed_over(record):
                if ignored is not None:
                    self._count(record.topic, IGNORED)
                    ignored[(record.topic, record.partition, record.offset)] = IGNORED
                continue
            envelope, rejected = self._read(record)
            if rejected is not None or envelope is None:
                continue
            if self._wanted(envelope):
                items.append((record, envelope))
            elif ignored is not None:
                self._count(record.topic, IGNORED)
                ignored[(record.topic, record.partition, record.offset)] = IGNORED
        return items

    def _apply_in_batches(self, records: list[Any]) -> dict[tuple[str, int, int], str]:
        """Apply a poll's valid events in as few transactions as their failures allow.

        The whole poll first; if its transaction fails, each half in turn, and so on down
        to one event, which `process` applies alone with its retries or dead-letters (if
        the database itself is unreachable, every event goes to `process`, which waits). Left
        to right throughout, so no event is applied before one polled ahead of it has been
        applied or dead-lettered: per-key order holds as with one transaction per event.
        Returns the outcome of every record it finished; if stop is requested while an
        event is being retried, what it finished so far (the caller rewinds to the rest).
        """
        outcomes: dict[tuple[str, int, int], str] = {}
        items = self._batchable(records, ignored=outcomes)
        if len(items) >= 2:
            with contextlib.suppress(_Abandoned):
                self._apply_halving(items, outcomes)
        return outcomes

    def _apply_halving(self, items: list[tuple[Any, dict[str, Any]]],
                       outcomes: dict[tuple[str, int, int], str]) -> None:
        if self.stop_event.is_set():
            raise _Abandoned
        if len(items) == 1:
            record = items[0][0]
            outcomes[(record.topic, record.partition, record.offset)] = self.process(record)
            return
        applied = self._apply_items(items)
        if isinstance(applied, dict):
            outcomes.update(applied)
            return
        if isinstance(applied, self.transient_errors):
            # The database, not an event: one at a time, where `process` waits for it.
            for record, _ in items:
                if self.stop_event.is_set():
                    raise _Abandoned
                outcomes[(record.topic, record.partition, record.offset)] = \
                    self.process(record)
            return
        middle = len(items) // 2
        self._apply_halving(items[:middle], outcomes)
        self._apply_halving(items[middle:], outcomes)

    def _apply_batch(self, records: list[Any]) -> dict[tuple[str, int, int], str]:
        """Apply records' valid events in ONE transaction; {} if that transaction failed
        (or there were fewer than two to share it)."""
        items = self._batchable(records)
        if len(items) < 2:
            return {}
        applied = self._apply_items(items)
        return applied if isinstance(applied, dict) else {}

    def _apply_items(self, items: list[tuple[Any, dict[str, Any]]]
                     ) -> dict[tuple[str, int, int], str] | Exception:
        """Apply events in ONE transaction; the error if that transaction failed.

        Each event still commits together with its inbox row, so the exactly-once rule is
        the same as one transaction per event; only the BEGIN/COMMIT (and on PostgreSQL the
        connection check-out) is shared, which is most of the cost of a small handler. If
        any handler or the commit fails, everything rolls back and the caller applies the
        events in smaller runs, down to one at a time with the usual retries and dead
        letters: a handler may then run again for an event whose batch was rolled back,
        just as on a retry.
        """
        started = time.perf_counter()
        outcomes: dict[tuple[str, int, int], str] = {}
        try:
            with self.database.unit_of_work() as session:
                if self.batch_handler is not None:
                    self._apply_with_batch_handler(session, items, outcomes)
                else:
                    for record, envelope in items:
                        key = (record.topic, record.partition, record.offset)
                        claimed = session.execute(self._claim_inbox,
                                                  self._inbox_row(record, envelope)).first()
                        if claimed is None:
                            outcomes[key] = DUPLICATE
                            continue
                        with audit.acting_as(source_of(envelope)):
                            self.handler(session, envelope)
                            audit_applied(session, self.inbox, [envelope])
                        outcomes[key] = APPLIED
        except Exception as exc:  # the caller splits the run, down to one event with retries
            log.info("a batch of %d events failed (%r); applying it in smaller runs",
                     len(items), exc, extra=self._log_extra())
            return exc
        elapsed = (time.perf_counter() - started) / len(items)
        for record, _ in items:
            HANDLE_SECONDS.labels(self.service, self.group_id).observe(elapsed)
            self._count(record.topic, outcomes[(record.topic, record.partition, record.offset)])
        return outcomes

    def _apply_with_batch_handler(self, session: Session, items: list[tuple[Any, Any]],
                                  outcomes: dict[tuple[str, int, int], str]) -> None:
        """Claim every inbox row of the poll in one statement, then hand the new events to
        the batch handler at once, in commit order; redeliveries are skipped as usual."""
        rows = {}
        for record, envelope in items:
            rows.setdefault(envelope["id"], self._inbox_row(record, envelope))
        claimed = insert_new(session, self.inbox, list(rows.values()), "event_id")
        fresh, seen = [], set()
        for record, envelope in items:
            key = (record.topic, record.partition, record.offset)
            if envelope["id"] in claimed and envelope["id"] not in seen:
                seen.add(envelope["id"])
                fresh.append(envelope)
                outcomes[key] = APPLIED
            else:
                outcomes[key] = DUPLICATE
        if fresh:
            assert self.batch_handler is not None
            sources = {source_of(e) for e in fresh}
            with audit.acting_as(sources.pop() if len(sources) == 1 else "events"):
                self.batch_handler(session, fresh)
            audit_applied(session, self.inbox, fresh)

    def already_applied(self, event_id: str) -> bool:
        with self.database.read() as session:
            return session.execute(
                select(self.inbox.c.event_id).where(self.inbox.c.event_id == event_id,
                                                    self.inbox.c.consumer_group == self.group_id)
            ).first() is not None

    # -- dead letters ---------------------------------------------------------------------

    def _dead_letter(self, record: Any, error: BaseException, *, attempts: int,
                     envelope: dict[str, Any] | None = None) -> str:
        error_class = type(error).__name__
        message = str(error) or repr(error)
        headers = [(k, v) for k, v in (record.headers or []) if not k.startswith("dl_")]
        headers += [
            ("dl_original_topic", record.topic.encode()),
            ("dl_original_partition", str(record.partition).encode()),
            ("dl_original_offset", str(record.offset).encode()),
            ("dl_original_key", record.key or b""),
            ("dl_consumer_group", self.group_id.encode()),
            ("dl_service", self.service.encode()),
            ("dl_error_class", error_class.encode()),
            ("dl_error_message", message[:4000].encode()),
            ("dl_attempts", str(attempts).encode()),
            ("dl_failed_at", datetime.now(UTC).isoformat().replace("+00:00", "Z").encode()),
        ]
        retry = 0
        while True:
            try:
                producer = self._ensure_producer()
                producer.send(self.dead_letter_topic, key=record.key, value=record.value,
                              headers=headers).get(timeout=30)
                break
            except (KafkaError, BrokerUnavailable) as exc:
                # Never commit past a message that is neither applied nor dead-lettered.
                retry += 1
                delay = self.transient_backoff.delay(retry)
                log.error("cannot write dead letter, retrying in %.1fs: %s", delay, exc,
                          extra=self._log_extra(envelope))
                if self._producer is not None:
                    producer, self._producer = self._producer, None
                    producer.close(timeout=1)
                if self.stop_event.wait(delay):
                    raise _Abandoned from exc
        DEAD_LETTERED.labels(self.service, self.group_id, record.topic, error_class).inc()
        self._count(record.topic, DEAD)
        log.error("dead-lettered %s from %s[%d]@%d after %d attempt(s): %s: %s",
                  (envelope or {}).get("id", "a message"), record.topic, record.partition,
                  record.offset, attempts, error_class, message[:500],
                  extra=self._log_extra(envelope))
        return DEAD

    def _log_extra(self, envelope: dict[str, Any] | None = None) -> dict[str, Any]:
        extra: dict[str, Any] = {"service": self.service, "consumer_group": self.group_id}
        if envelope:
            extra["event_id"] = envelope.get("id")
            extra["event_type"] = envelope.get("type")
            if envelope.get("requestid"):
                extra["request_id"] = envelope["requestid"]
        return extra


def source_of(envelope: dict[str, Any]) -> str:
    """Who a consumer acts for in the audit trail: the service that emitted the event."""
    return f"event:{envelope.get('source') or 'unknown'}"


def audit_applied(session: Session, inbox: Any, envelopes: Sequence[dict[str, Any]]) -> None:
    """One audit record per applied event, so writes a handler makes with Core statements
    are traced to the event (docs/audit.md). Only in a database that keeps the trail.

    The envelopes are as `decode_envelope` read them from the records, plain JSON values
    already (handlers copy what they enrich), so they are stored without `audit.jsonable`'s
    walk, which made a copy of every event and took an eighth of the appraisal consumer's
    CPU while managers signed."""
    if not audit.tracks(inbox.metadata):
        return
    by_source: dict[str, list[dict[str, Any]]] = {}
    for e in envelopes:
        data = e.get("data") if isinstance(e.get("data"), dict) else {}
        unit = data.get("org_unit_id")
        by_source.setdefault(source_of(e), []).append({
            "object_type": "event", "object_id": e["id"],
            "action": f"applied {e['type']}", "org_unit_id": unit if isinstance(unit, str)
            else None,
            "after": {"source": e.get("source"), "subject": e.get("subject"), "data": data},
        })
    for source, entries in by_source.items():
        audit.record_many(session, entries, actor=audit.Actor(source), converted=True)


def run_consumer_process(
    database: Database,
    inbox_table: Table,
    bootstrap_servers: str | Sequence[str],
    group_id: str,
    topics: Sequence[str],
    handler: Handler,
    *,
    service: str,
    metrics_port: int | None = None,
    **options: Any,
) -> None:
    """Entry point for a service's `consume` CLI command: runs until SIGTERM/SIGINT.

    On a signal the consumer finishes the message in hand, commits its offsets, leaves the
    group and returns.
    """
    consumer = EventConsumer(database, inbox_table, bootstrap_servers, group_id, topics,
                             handler, service=service, **options)
    stop_on_signals(consumer.stop_event)
    serve_metrics(metrics_port)
    freeze_startup_objects()
    consumer.run_forever()
