"""The outbox relay: publishes committed outbox rows to Kafka, in order, at least once.

A service never talks to Kafka inside a request. It writes its rows and its events in one
transaction (`shared.outbox.record_event`); this relay, a separate process per service, reads
the unsent rows in id order and publishes them, then deletes them (a published row has
no further use; deleting costs PostgreSQL far less than an UPDATE writing a new row version,
and the table stays as small as its backlog).

Guarantees and their limits:

* Nothing is lost. A row is deleted only after the broker acknowledged it (acks=all,
  idempotent producer). A broker outage just leaves rows unsent; the relay retries with a
  capped exponential backoff and catches up when the broker is back.
* One key's events keep their order. Rows are sent in id order, and if a row fails no later
  row with the same key is deleted, so the failed row and everything after it for that
  key are sent again, in order, on the next try.
* At least once, not exactly once. A crash between the broker's acknowledgement and the
  DELETE that removes the rows (or a failure after a later row of the same key was already
  delivered) publishes a row again. Consumers therefore deduplicate by event id
  (`shared.consumer`, the inbox table); the relay never tries to be cleverer than that.
* Pipelined while there is a backlog. A full batch is sent and left in flight while the next
  batch is fetched and sent; the older batch is then awaited and its rows are deleted by
  the same statement that fetches the batch after (on PostgreSQL one round trip per batch:
  a DELETE in a CTE beside the SELECT). At most two batches are in flight; a partial batch
  (the relay has caught up) is flushed and deleted at once, so an idle outbox never keeps
  acknowledged rows; and at least once a second the pipeline is drained, so a row committed
  late with an id below the batches in flight waits at most about a second.
* Cheap while events trickle in. On PostgreSQL a fetch with nothing in flight reads from a
  little below the highest id already fetched (`late_id_window` ids) rather than from the
  start of the table, and from the lowest unsent id only once every `rescan_every` seconds.
  Deleted rows stay in the table until VACUUM, and a table a bulk job once filled keeps its
  size: after 100,000 contracts issued at once the contracts outbox kept 4,800 pages, and a
  read from its start cost 13 ms, up to 50 times a second while signatures trickled in. A
  row committed later than `late_id_window` ids after its own waits for the full read, at
  most about `rescan_every`. SQLite reuses the ids of deleted rows, so there every fetch
  reads from the lowest.
* One publisher per database. On PostgreSQL the relay holds a session-level advisory lock on
  a dedicated connection; a second relay process on the same database idles until the lock
  is free (so running two for availability is safe). On SQLite there is no such lock: run
  exactly one relay process per service database (the local setup does).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from kafka.errors import KafkaError
from prometheus_client import Counter, Gauge
from sqlalchemy import (
    BigInteger,
    Connection,
    Table,
    any_,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import SQLAlchemyError

from shared.db import Database
from shared.events.catalogue import CATALOGUE
from shared.events.envelope import SPEC_VERSION
from shared.heap import freeze_startup_objects
from shared.kafka_clients import (
    PRODUCER_DEFAULTS,
    Backoff,
    make_producer,
    serve_metrics,
    stop_on_signals,
)

log = logging.getLogger("tenure.relay")

OUTBOX_BACKLOG = Gauge("tenure_outbox_backlog", "Outbox rows not yet published", ["service"])
RELAY_SENT = Counter("tenure_relay_sent", "Outbox rows published and deleted", ["service"])
RELAY_FAILURES = Counter("tenure_relay_failures",
                         "Relay attempts that failed (broker or database)", ["service"])

# While events trickle in (each fetch a partial batch), the next fetch waits this long. At
# 20 ms, the signing of a whole group made the relay fetch, send and await a few events up
# to 50 times a second; at 100 ms its CPU per event is less than half, for about 40 ms more
# latency at the median (docs/scale.md, "Fewer, fuller batches while events trickle in").
# A backlog is still fetched at once.
_BUSY_INTERVAL = 0.1

# How often the backlog gauge may cost a COUNT(*) while the relay is busy.
_BACKLOG_COUNT_EVERY = 2.0
# How often the connection holding the advisory lock is checked to be alive. If it died, the
# lock is gone and another relay may take over: for up to this long both may publish, which
# only duplicates events (consumers deduplicate; each relay still sends in id order).
_LOCK_CHECK_EVERY = 1.0
# How long batches may stay pipelined before the relay drains them all and reads the outbox
# from its lowest unsent id again: bounds the delay of a row committed late with a low id.
_RESCAN_EVERY = 1.0
# How far below the highest id fetched a fetch with nothing in flight starts, between full
# reads: a request's transaction commits a few ids after the one it took, a bulk job's chunk
# hundreds after; what commits later waits for the full read (`_RESCAN_EVERY`).
_LATE_ID_WINDOW = 1_000


class _OutboxRow(NamedTuple):
    id: int
    event_id: str
    event_type: str
    topic: str
    key: str | None
    payload: str


class OutboxPublishError(RuntimeError):
    """A batch was only partly published; `sent` rows were marked, the rest stay unsent."""

    def __init__(self, message: str, sent: int = 0) -> None:
        super().__init__(message)
        self.sent = sent


def relay_lock_key(outbox: Table) -> int:
    """A stable signed 64-bit advisory lock id for one outbox table (locks are per database)."""
    digest = hashlib.sha256(f"tenure.outbox-relay:{outbox.name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def rows_to_mark(rows: Sequence[Any], futures: Sequence[Any]
                 ) -> tuple[list[int], dict[str, list[int]]]:
    """Rows to mark sent, and failed row ids by error message.

    A key whose row failed is blocked for the rest of the batch: its later rows are not
    marked even if the broker took them, so the next try re-sends from the failed row on
    and the key's order is kept (the re-sent later rows are duplicates, deduplicated by
    consumers). Rows not sent at all (after a send() error) are simply left unsent.
    """
    sent_ids: list[int] = []
    failures: dict[str, list[int]] = {}
    blocked: set[str | None] = set()
    for row, future in zip(rows, futures, strict=False):
        ok = future.is_done and future.succeeded()
        if ok and row.key not in blocked:
            sent_ids.append(row.id)
        elif not ok:
            blocked.add(row.key)
            error = future.exception if future.is_done else "not acknowledged in time"
            failures.setdefault(str(error) or type(error).__name__, []).append(row.id)
    return sent_ids, failures


class OutboxRelay:
    """Moves outbox rows to Kafka; `run_once` is one batch, `run_forever` the process loop."""

    def __init__(
        self,
        database: Database,
        outbox_table: Table,
        bootstrap_servers: str | Sequence[str],
        *,
        service: str = "tenure",
        batch_size: int = 500,
        poll_interval: float = 0.2,
        backoff: Backoff | None = None,
        producer_config: dict[str, Any] | None = None,
        topic_prefix: str = "",
        rescan_every: float = _RESCAN_EVERY,
        late_id_window: int = _LATE_ID_WINDOW,
        busy_interval: float = _BUSY_INTERVAL,
    ) -> None:
        self.database = database
        self.outbox = outbox_table
        self.bootstrap_servers = bootstrap_servers
        self.service = service
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.busy_interval = min(busy_interval, poll_interval)
        self.backoff = backoff or Backoff(0.2, 5.0)
        self.producer_config = dict(producer_config or {})
        # Published to `topic_prefix + row.topic`: lets one broker carry several isolated
        # copies of the topics (an environment per prefix, a test or bench per prefix).
        self.topic_prefix = topic_prefix
        delivery_ms = self.producer_config.get("delivery_timeout_ms",
                                               PRODUCER_DEFAULTS["delivery_timeout_ms"])
        # flush() returns once every future is resolved, which delivery_timeout_ms bounds;
        # the margin only guards against a producer that stops resolving futures at all.
        self.flush_timeout = delivery_ms / 1000 + 10
        self.lock_key = relay_lock_key(outbox_table)
        self.last_fetched = 0
        self._producer: Any = None
        self._lock_conn: Connection | None = None
        self._lock_warned = False
        self._lock_checked_at = 0.0
        self._backlog: int | None = None
        self._backlog_counted_at = 0.0
        # Batches sent but not yet awaited (oldest first), and ids the broker acknowledged
        # that the next fetch deletes (so deleting costs no round trip of its own).
        self._in_flight: list[tuple[list[Any], list[Any]]] = []
        self._acked: list[int] = []
        self._drained_at = time.monotonic()
        self.rescan_every = rescan_every
        self.late_id_window = late_id_window
        # The highest id fetched (None: the next fetch reads from the lowest unsent id, as
        # after a failure, when rows below it may be left unsent), and when the last read
        # from the lowest was.
        self._highest_fetched: int | None = None
        self._full_read_at = 0.0

    # -- one batch ------------------------------------------------------------------------

    def run_once(self) -> int:
        """Publish up to `batch_size` unsent rows; return how many were marked sent.

        A full batch stays in flight while the next one is fetched (see the module's
        docstring); a partial or empty fetch waits for everything in flight and marks it.
        Raises OutboxPublishError when the broker did not take every row (after marking the
        ones it took, under the per-key rule), and SQLAlchemyError when the database fails.
        """
        self.last_fetched = 0
        if not self._hold_lock():
            self._forget_in_flight()
            return 0
        marking = self._acked
        try:
            rows = self._fetch_unsent(marking)
        except BaseException:
            self._highest_fetched = None  # what was marked is in doubt: read it all again
            raise
        self._acked = []
        marked = len(marking)
        RELAY_SENT.labels(self.service).inc(marked)
        self.last_fetched = len(rows)
        if rows:
            send_error = self._send(rows)
            if (send_error is None and len(rows) >= self.batch_size
                    and time.monotonic() - self._drained_at < self.rescan_every):
                self._note_sent(len(rows), marked)
                return marked + self._await_oldest()
            return marked + self._await_all(send_error)
        if self._in_flight:
            return marked + self._await_all(None)
        self._set_backlog(0)
        return marked

    def _send(self, rows: list[Any]) -> BaseException | None:
        """Hand `rows` to the producer (no waiting); the error that stopped sending, if any."""
        try:
            producer = self._ensure_producer()
        except KafkaError as exc:
            self._in_flight.append((rows, []))
            return exc
        futures: list[Any] = []
        self._in_flight.append((rows, futures))
        prefix = self.topic_prefix
        for row in rows:
            try:
                futures.append(producer.send(
                    prefix + row.topic,
                    key=row.key.encode() if row.key is not None else None,
                    value=row.payload.encode(),
                    headers=self._headers(row),
                ))
            except (KafkaError, BufferError, ValueError) as exc:
                # ValueError also covers a record larger than max_request_size; the row
                # stays unsent (visible in last_error) rather than blocking silently.
                return exc
        return None

    def _await_oldest(self) -> int:
        """Wait for all but the newest batch; note their rows to be marked by the next fetch.

        Returns 0 (nothing is marked here) unless a batch failed, in which case everything
        in flight is settled at once (see `_await_all`).
        """
        deadline = time.monotonic() + self.flush_timeout
        while len(self._in_flight) > 1:
            rows, futures = self._in_flight[0]
            for future in futures:
                if not future.is_done:
                    with contextlib.suppress(KafkaError):
                        future.get(timeout=max(0.0, deadline - time.monotonic()))
            if not all(f.is_done and f.succeeded() for f in futures):
                return self._await_all(None)
            self._in_flight.pop(0)
            self._acked.extend(row.id for row in rows)
        return 0

    def _await_all(self, send_error: BaseException | None) -> int:
        """Flush, mark what the broker took (per-key rule over all batches in flight), raise
        OutboxPublishError if anything was not published."""
        if self._producer is not None:
            try:
                self._producer.flush(timeout=self.flush_timeout)
            except KafkaError as exc:
                send_error = send_error or exc
        self._drained_at = time.monotonic()
        rows = [row for batch, _ in self._in_flight for row in batch]
        futures: list[Any] = []
        for batch, batch_futures in self._in_flight:
            futures.extend(batch_futures)
            if len(batch_futures) < len(batch):
                break  # sending stopped inside this batch: later rows were never sent
        self._in_flight = []
        sent_ids, failures = rows_to_mark(rows, futures)
        if len(futures) < len(rows) and not failures:
            failures[str(send_error) or type(send_error).__name__] = [rows[len(futures)].id]
        sent_ids = [*self._acked, *sent_ids]
        self._acked = []
        self._mark(sent_ids, failures)
        return self._settle(rows, sent_ids, failures, send_error)

    def _forget_in_flight(self) -> None:
        """Without the lock, nothing may be marked: rows in flight are simply sent again."""
        self._in_flight, self._acked = [], []
        self._highest_fetched = None

    def _settle(self, rows: Sequence[Any], sent_ids: list[int],
                failures: dict[str, list[int]], send_error: BaseException | None) -> int:
        """Count what was marked; raise if anything was not published."""
        RELAY_SENT.labels(self.service).inc(len(sent_ids))
        self._note_sent(self.last_fetched, self.last_fetched - (len(rows) - len(sent_ids)))
        if failures or send_error is not None:
            # The rows left unsent lie below what was fetched: the next fetch reads from the
            # lowest unsent id.
            self._highest_fetched = None
            # A producer whose records failed may be in a fatal state (idempotence epoch);
            # a fresh one on the next try is the simple, always-correct choice.
            self._discard_producer()
            first = next(iter(failures), None) or str(send_error)
            raise OutboxPublishError(
                f"{len(rows) - len(sent_ids)} of {len(rows)} outbox rows not published: {first}",
                sent=len(sent_ids),
            )
        return len(sent_ids)

    # -- database -------------------------------------------------------------------------

    def _fetch_unsent(self, marking: list[int]) -> list[Any]:
        """Delete `marking`, then return the oldest unsent rows after those in flight.

        On PostgreSQL both happen in one statement: the DELETE runs in a CTE. Every part of
        a statement sees the same snapshot, so the SELECT skips the rows being deleted (and
        those in flight) by starting after the highest id in flight: they are all below it.
        (Excluding them by an array of ids cost PostgreSQL more than the rest of the batch.)
        A row committed late with an id below that point is not lost: the relay drains its
        pipeline at least every `rescan_every` seconds, and a fetch with nothing in flight
        reads from `_resume_point` (nothing in flight means nothing is being marked).
        """
        o = self.outbox.c
        after = self._in_flight[-1][0][-1].id if self._in_flight else self._resume_point()
        query = (select(o.id, o.event_id, o.event_type, o.topic, o.key, o.payload)
                 .where(o.sent_at.is_(None)).order_by(o.id).limit(self.batch_size))
        if after is not None:
            query = query.where(o.id > after)
        if self.database.engine.dialect.name == "sqlite":
            self._mark(marking, {})
            rows = self._fetch_unsent_sqlite(query)
        else:
            rows = self._marking_and_fetching(query, marking)
        if rows:  # in id order
            self._highest_fetched = max(self._highest_fetched or 0, rows[-1].id)
        return rows

    def _marking_and_fetching(self, query: Any, marking: list[int]) -> list[Any]:
        """PostgreSQL: delete `marking` and run `query` in one statement."""
        # A short transaction of its own: nothing is held open while Kafka is waited on.
        with self.database.engine.begin() as conn:
            if not marking:
                return list(conn.execute(query))
            ids = bindparam("ids", type_=ARRAY(BigInteger))
            marked = delete(self.outbox).where(self.outbox.c.id == any_(ids)).cte("marked")
            # PostgreSQL runs a data-modifying CTE to completion even when nothing reads it.
            return list(conn.execute(query.add_cte(marked), {"ids": marking}))

    def _resume_point(self) -> int | None:
        """Where a fetch with nothing in flight starts (exclusive; None: the lowest unsent
        id). See the module's docstring, "Cheap while events trickle in"."""
        now = time.monotonic()
        if (self._highest_fetched is None or not self.database.is_postgres
                or now - self._full_read_at >= self.rescan_every):
            # What it finds lies at or below ids fetched before, or above them: the highest
            # id fetched stays where it was unless this read goes beyond it.
            self._full_read_at = now
            return None
        return self._highest_fetched - self.late_id_window

    def _fetch_unsent_sqlite(self, query: Any) -> list[Any]:
        """Read without BEGIN IMMEDIATE: in WAL mode a plain read blocks no writer.

        `shared.db` starts every SQLAlchemy transaction on SQLite with BEGIN IMMEDIATE (the
        write lock), right for writers. For the relay's frequent read it would make the
        service's own writers queue behind it, and SQLite's busy handler sleeps in steps of
        up to 100 ms, which showed as a latency tail; so this read goes through the DBAPI
        connection in autocommit mode.
        """
        engine = self.database.engine
        compiled = query.compile(dialect=engine.dialect,
                                 compile_kwargs={"render_postcompile": True})
        params = [compiled.params[name] for name in (compiled.positiontup or [])]
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(str(compiled), params)
                return [_OutboxRow(*values) for values in cursor.fetchall()]
            finally:
                cursor.close()
        finally:
            raw.close()

    def _mark(self, sent_ids: list[int], failures: dict[str, list[int]]) -> None:
        """Delete the published rows; note the attempt and error on the failed ones."""
        if not sent_ids and not failures:
            return
        o = self.outbox.c
        with self.database.engine.begin() as conn:
            if sent_ids and self.database.is_postgres:
                # One array parameter instead of 500 bound ones: a third of the time.
                conn.execute(delete(self.outbox).where(o.id == any_(bindparam(
                    "ids", type_=ARRAY(BigInteger)))), {"ids": sent_ids})
            elif sent_ids:
                conn.execute(delete(self.outbox).where(o.id.in_(sent_ids)))
            for message, ids in failures.items():
                conn.execute(update(self.outbox).where(o.id.in_(ids))
                             .values(attempts=o.attempts + 1, last_error=message[:2000]))

    def count_backlog(self) -> int:
        with self.database.engine.begin() as conn:
            count = conn.execute(select(func.count()).select_from(self.outbox)
                                 .where(self.outbox.c.sent_at.is_(None))).scalar_one()
        self._set_backlog(int(count))
        return int(count)

    def _note_sent(self, fetched: int, sent: int) -> None:
        if fetched < self.batch_size:
            # The whole backlog was in this batch: what is left is exactly what failed
            # (rows committed meanwhile show up on the next poll).
            self._set_backlog(fetched - sent)
        elif time.monotonic() - self._backlog_counted_at > _BACKLOG_COUNT_EVERY:
            self.count_backlog()
        elif self._backlog is not None:
            self._set_backlog(max(0, self._backlog - sent))

    def _set_backlog(self, value: int) -> None:
        if value != self._backlog or value == 0:
            OUTBOX_BACKLOG.labels(self.service).set(value)
        if self._backlog is None or value != self._backlog:
            self._backlog_counted_at = time.monotonic()
        self._backlog = value

    # -- the single-publisher lock (PostgreSQL) -------------------------------------------

    def _hold_lock(self) -> bool:
        if not self.database.is_postgres:
            return True  # SQLite: one relay process per database, by deployment
        if self._lock_conn is not None:
            if time.monotonic() - self._lock_checked_at < _LOCK_CHECK_EVERY:
                return True
            try:
                self._lock_conn.exec_driver_sql("SELECT 1")
                self._lock_conn.commit()
                self._lock_checked_at = time.monotonic()
                return True
            except SQLAlchemyError:
                log.warning("relay lost its lock connection; acquiring again",
                            extra={"service": self.service})
                self._release_lock()
        conn = self.database.engine.connect()
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"),
                               {"key": self.lock_key}).scalar()
            conn.commit()
        except SQLAlchemyError:
            conn.invalidate()
            conn.close()
            raise
        if got:
            self._lock_conn = conn
            self._lock_checked_at = time.monotonic()
            self._lock_warned = False
            log.info("relay holds the outbox lock", extra={"service": self.service})
            return True
        conn.close()
        if not self._lock_warned:
            log.info("another relay publishes this outbox; standing by",
                     extra={"service": self.service})
            self._lock_warned = True
        return False

    def _release_lock(self) -> None:
        conn, self._lock_conn = self._lock_conn, None
        if conn is not None:
            # Unlocked first, so a standby relay can take over as soon as this returns: the
            # server ends a closed session (and its locks) a moment after the socket closes.
            # Then the connection is closed, not pooled: an idle pooled connection would
            # keep the lock if the unlock failed.
            try:
                with contextlib.suppress(SQLAlchemyError):
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"),
                                 {"key": self.lock_key})
                    conn.commit()
                conn.invalidate()
            finally:
                conn.close()

    @property
    def holds_lock(self) -> bool:
        return not self.database.is_postgres or self._lock_conn is not None

    # -- producer -------------------------------------------------------------------------

    def _ensure_producer(self) -> Any:
        if self._producer is None:
            self._producer = make_producer(self.bootstrap_servers,
                                           client_id=f"tenure-relay-{self.service}",
                                           **self.producer_config)
        return self._producer

    def _discard_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=1)
            except KafkaError as exc:
                log.debug("closing a failed producer: %s", exc)

    def _headers(self, row: Any) -> list[tuple[str, bytes]]:
        spec = CATALOGUE.get(row.event_type)
        return event_headers(row.event_id, row.event_type,
                             spec.source if spec else _source_of(row.payload))

    # -- the process loop -----------------------------------------------------------------

    def run_forever(self, stop_event: threading.Event) -> None:
        """Publish until `stop_event` is set; back off on failures; close on the way out."""
        failures = 0
        log.info("outbox relay started", extra={"service": self.service})
        try:
            while not stop_event.is_set():
                try:
                    self.run_once()
                except (OutboxPublishError, KafkaError, SQLAlchemyError) as exc:
                    failures += 1
                    RELAY_FAILURES.labels(self.service).inc()
                    delay = self.backoff.delay(failures)
                    log.warning("relay attempt %d failed, retrying in %.1fs: %s",
                                failures, delay, exc, extra={"service": self.service})
                    stop_event.wait(delay)
                    continue
                except Exception:  # an unexpected bug must not kill the relay silently
                    failures += 1
                    RELAY_FAILURES.labels(self.service).inc()
                    log.exception("relay attempt failed unexpectedly",
                                  extra={"service": self.service})
                    stop_event.wait(self.backoff.delay(failures))
                    continue
                if failures:
                    log.info("relay recovered after %d failed attempts", failures,
                             extra={"service": self.service})
                    failures = 0
                if self.last_fetched >= self.batch_size:
                    continue  # a backlog: the next batch at once
                # Events are trickling in (a partial batch): look again after
                # busy_interval, so they wait at most that long rather than the idle poll
                # interval, and each look finds several. An empty outbox waits the full
                # interval.
                stop_event.wait(self.busy_interval if self.last_fetched else
                                self.poll_interval)
        finally:
            self.close()
            log.info("outbox relay stopped", extra={"service": self.service})

    def close(self) -> None:
        """Settle what is in flight (best effort: unmarked rows are just sent again), then
        let go of the producer and the lock."""
        if (self._in_flight or self._acked) and self.holds_lock:
            with contextlib.suppress(OutboxPublishError, KafkaError, SQLAlchemyError):
                self._await_all(None)
        self._in_flight, self._acked = [], []
        self._discard_producer()
        self._release_lock()


def event_headers(event_id: str, event_type: str, source: str) -> list[tuple[str, bytes]]:
    """The CloudEvents attributes a relay copies into a record's Kafka headers (a consumer
    reads `ce_type` to pass over the events it does not apply)."""
    return [("ce_id", event_id.encode()), *_type_headers(event_type, source)]


@functools.lru_cache(maxsize=512)
def _type_headers(event_type: str, source: str) -> tuple[tuple[str, bytes], ...]:
    return (("ce_type", event_type.encode()), ("ce_source", source.encode()),
            ("ce_specversion", SPEC_VERSION.encode()))


def _source_of(payload: str) -> str:
    try:
        return str(json.loads(payload).get("source") or "")
    except (ValueError, AttributeError):
        return ""


def run_relay_process(
    database: Database,
    outbox_table: Table,
    bootstrap_servers: str | Sequence[str],
    *,
    service: str,
    metrics_port: int | None = None,
    **options: Any,
) -> None:
    """Entry point for a service's `relay` CLI command: runs until SIGTERM/SIGINT."""
    stop = threading.Event()
    stop_on_signals(stop)
    serve_metrics(metrics_port)
    relay = OutboxRelay(database, outbox_table, bootstrap_servers, service=service, **options)
    freeze_startup_objects()
    relay.run_forever(stop)
