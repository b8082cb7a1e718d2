"""Outbox -> relay -> real Kafka -> consumer: exactly-once effects over at-least-once delivery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import insert, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from shared import ops
from shared.consumer import EventConsumer
from shared.db import Database
from shared.events.envelope import encode_envelope, make_event
from shared.kafka_clients import Backoff, make_producer
from shared.outbox import record_event
from shared.relay import OutboxRelay, event_headers

from .world import (
    FAST_GROUP,
    Topics,
    appoint,
    contract_data,
    count,
    drain,
    effect_rows,
    effects,
    inbox,
    new_id,
    outbox,
    record_effect,
    unsent,
    wait_for,
)

pytestmark = pytest.mark.kafka

CONSUMER_PROC = Path(__file__).with_name("consumer_proc.py")
REPO = Path(__file__).resolve().parents[3]


def relay_for(db: Database, topics: Topics, **options: Any) -> OutboxRelay:
    return OutboxRelay(db, outbox, topics.bootstrap, service="backbone-test",
                       topic_prefix=topics.prefix, **options)


def consumer_for(db: Database, topics: Topics, group: str,
                 handler: Callable[[Session, dict[str, Any]], None] = record_effect,
                 **options: Any) -> EventConsumer:
    options.setdefault("consumer_config", FAST_GROUP)
    return EventConsumer(db, inbox, topics.bootstrap, group, [topics.contracts], handler,
                         service=options.pop("service", "backbone-test"),
                         dead_letter_topic=topics.dead_letters, **options)


def relay_everything(relay: OutboxRelay, expected: int, timeout: float = 30.0) -> int:
    sent = 0
    deadline = time.monotonic() + timeout
    while sent < expected and time.monotonic() < deadline:
        sent += relay.run_once()
    return sent


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def assert_in_key_order(rows: list[Any]) -> None:
    """Rows in application order: each manager's seq numbers strictly increase."""
    seen: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        seen[row.manager_id].append(row.seq)
    for manager_id, seqs in seen.items():
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), (manager_id, seqs)


def committed_total(topics: Topics, group: str) -> int:
    lag = ops.topics_and_lag(topics.bootstrap, [group])
    return sum(row["committed"] for row in lag["groups"] if row["topic"] == topics.contracts)


# -- (1) exactly once, and never for a rolled-back transaction ---------------------------------


def consumed_event_ids(service_db: Callable[[str], Database], topics: Topics, group: str,
                       expected: int) -> list[str]:
    """Drain `expected` events into a fresh consumer database (group `g-<prefix><group>`)
    and return the event ids its handler applied."""
    consumer_db = service_db("consumer")
    consumer = consumer_for(consumer_db, topics, f"g-{topics.prefix}{group}")
    try:
        assert drain(consumer, expected) == expected
    finally:
        consumer.close()
    return [r.event_id for r in effect_rows(consumer_db)]


@pytest.mark.parametrize("service_db", ["sqlite", pytest.param("postgres",
                                                                marks=pytest.mark.postgres)],
                         indirect=True)
def test_committed_events_apply_exactly_once_and_rolled_back_event_never_arrives(
        service_db: Callable[[str], Database], topics: Topics) -> None:
    producer_db, consumer_db = service_db("producer"), service_db("consumer")
    managers = [new_id() for _ in range(3)]
    committed = [appoint(producer_db, managers[i % 3], i) for i in range(30)]
    rolled_back: list[str] = []
    with pytest.raises(RuntimeError), producer_db.unit_of_work() as session:
        rolled_back.append(record_event(session, outbox, "contract.signed", managers[0],
                                        contract_data(managers[0], 99))["event_id"])
        raise RuntimeError("the business rule failed after the event was recorded")

    with producer_db.read() as session:
        published = [dict(row._mapping) for row in session.execute(select(outbox))]
    relay = relay_for(producer_db, topics)
    try:
        assert relay_everything(relay, 30) == 30
        assert relay.run_once() == 0
        assert unsent(producer_db) == 0
        assert count(producer_db, outbox) == 0  # published rows are deleted
        assert sample("tenure_outbox_backlog", service="backbone-test") == 0

        consumer = consumer_for(consumer_db, topics, f"g-{topics.prefix}once")
        try:
            assert drain(consumer, 30) == 30
            # The relay crashed between publishing and deleting: all 30 go out a second time.
            with producer_db.unit_of_work() as session:
                session.execute(insert(outbox), published)
            assert relay_everything(relay, 30) == 30
            assert drain(consumer, 30) == 30
            # Nothing else is on the topic (the rolled-back event was never in the outbox).
            assert consumer.run_once(timeout=1.0) == 0
        finally:
            consumer.close()
    finally:
        relay.close()

    rows = effect_rows(consumer_db)
    assert sorted(r.event_id for r in rows) == sorted(committed)
    assert rolled_back[0] not in {r.event_id for r in rows}
    assert count(consumer_db, inbox) == 30
    assert_in_key_order(rows)


@pytest.mark.parametrize("service_db", ["sqlite", pytest.param("postgres",
                                                                marks=pytest.mark.postgres)],
                         indirect=True)
def test_a_backlog_sent_in_pipelined_batches_arrives_once_each_in_key_order_and_is_all_marked(
        service_db: Callable[[str], Database], topics: Topics) -> None:
    producer_db, consumer_db = service_db("producer"), service_db("consumer")
    managers = [new_id() for _ in range(4)]
    committed = [appoint(producer_db, managers[i % 4], i) for i in range(97)]
    # No drain on a timer here, so the counts below do not depend on the machine's speed.
    relay = relay_for(producer_db, topics, batch_size=10, rescan_every=3600)
    try:
        assert relay.run_once() == 0  # the first full batch stays in flight
        assert relay.last_fetched == 10
        assert unsent(producer_db) == 97
        # A batch in flight is marked only by a later call, once the broker took it.
        assert relay.run_once() == 0
        assert unsent(producer_db) == 97
        assert relay.run_once() == 10
        assert unsent(producer_db) == 87
        assert relay_everything(relay, 87) == 87
        assert relay.run_once() == 0 and relay.last_fetched == 0
        assert unsent(producer_db) == 0
        # Events committed while batches are in flight are fetched once, after the others.
        for i in range(97, 120):
            appoint(producer_db, managers[i % 4], i)
        assert relay.run_once() == 0 and relay.last_fetched == 10
        for i in range(120, 125):
            appoint(producer_db, managers[i % 4], i)
        assert relay_everything(relay, 28) == 28
        assert unsent(producer_db) == 0
    finally:
        relay.close()
    consumer = consumer_for(consumer_db, topics, f"g-{topics.prefix}pipelined")
    try:
        assert drain(consumer, 125) == 125
        assert consumer.run_once(timeout=1.0) == 0
    finally:
        consumer.close()
    rows = effect_rows(consumer_db)
    assert len(rows) == len({r.event_id for r in rows}) == 125
    assert set(committed) <= {r.event_id for r in rows}
    assert_in_key_order(rows)


@pytest.mark.postgres
@pytest.mark.parametrize("service_db", ["postgres"], indirect=True)
def test_an_event_committed_late_with_a_low_id_is_sent_when_the_pipeline_drains(
        service_db: Callable[[str], Database], topics: Topics) -> None:
    db = service_db("producer")
    manager = new_id()
    late = db.sessions()
    late_id = record_event(late, outbox, "contract.signed", manager,
                           contract_data(manager, 0))["event_id"]
    late.flush()  # its outbox id is taken now, below everything committed after
    others = [appoint(db, new_id(), i) for i in range(40)]
    relay = relay_for(db, topics, batch_size=10, rescan_every=3600)
    try:
        assert relay.run_once() == 0 and relay.last_fetched == 10  # ids above the late one
        late.commit()
        # While batches are in flight the relay reads on after them; once it drains (a
        # partial batch, or `rescan_every`), it reads from the lowest unsent id again.
        assert relay_everything(relay, 41) == 41
        assert unsent(db) == 0
    finally:
        late.close()
        relay.close()
    assert set(consumed_event_ids(service_db, topics, "late", 41)) == {late_id, *others}


@pytest.mark.postgres
@pytest.mark.parametrize("service_db", ["postgres"], indirect=True)
def test_while_events_trickle_in_a_fetch_starts_near_the_highest_id_and_a_later_commit_waits_for_the_full_read(  # noqa: E501
        service_db: Callable[[str], Database], topics: Topics) -> None:
    """Between full reads a fetch with nothing in flight starts `late_id_window` ids below
    the highest id fetched, not at the start of a table that deleted rows may have bloated;
    a row committed later than that window is sent by the next full read, none is lost."""
    from sqlalchemy import event

    db = service_db("producer")
    manager = new_id()
    late = db.sessions()
    late_id = record_event(late, outbox, "contract.signed", manager,
                           contract_data(manager, 0))["event_id"]
    late.flush()  # its id is taken now, below the 40 committed after it
    others = [appoint(db, new_id(), i) for i in range(40)]
    with db.read() as s:
        highest = s.scalar(select(outbox.c.id).order_by(outbox.c.id.desc()).limit(1))
    fetches: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith("SELECT outbox.id"):  # a fetch of unsent rows
            fetches.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", seen)
    relay = relay_for(db, topics, batch_size=100, rescan_every=3600, late_id_window=5)
    try:
        assert relay.run_once() == 40  # the first read is from the lowest unsent id
        late.commit()
        trickled = appoint(db, new_id(), 40)
        assert relay.run_once() == 1 and unsent(db) == 1  # the new one; the late one waits
        relay.rescan_every = 0  # the full read is due
        assert relay.run_once() == 1 and unsent(db) == 0
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
        late.close()
        relay.close()
    bounded = ["outbox.id >" in statement for statement, _ in fetches]
    assert bounded == [False, True, False], fetches
    assert highest - 5 in dict(fetches[1][1]).values()
    assert set(consumed_event_ids(service_db, topics, "trickle", 42)) == {
        late_id, trickled, *others}


@pytest.mark.postgres
@pytest.mark.parametrize("service_db", ["postgres"], indirect=True)
def test_second_relay_on_the_same_postgres_outbox_stands_by_until_the_first_stops(
        service_db: Callable[[str], Database], topics: Topics) -> None:
    db = service_db("producer")
    manager = new_id()
    for i in range(5):
        appoint(db, manager, i)
    first, second = relay_for(db, topics), relay_for(db, topics)
    try:
        assert first.run_once() == 5
        for i in range(5, 8):
            appoint(db, manager, i)
        assert second.run_once() == 0
        assert not second.holds_lock
        assert unsent(db) == 3
        first.close()  # releases the advisory lock with its connection
        assert second.run_once() == 3
        assert second.holds_lock
    finally:
        first.close()
        second.close()


# -- (2) the broker goes away while events are written -----------------------------------------


def test_relay_retries_while_broker_is_down_then_delivers_all_events_in_key_order(
        kafka_broker: Any, service_db: Callable[[str], Database], topics: Topics) -> None:
    producer_db, consumer_db = service_db("producer"), service_db("consumer")
    relay = relay_for(producer_db, topics, poll_interval=0.05, backoff=Backoff(0.1, 1.0),
                      producer_config={"delivery_timeout_ms": 2500, "request_timeout_ms": 2000,
                                       "max_block_ms": 2000, "bootstrap_timeout_ms": 1000})
    consumer = consumer_for(consumer_db, topics, f"g-{topics.prefix}outage",
                            transient_backoff=Backoff(0.2, 1.0))
    stop = threading.Event()
    threads = [threading.Thread(target=relay.run_forever, args=(stop,), daemon=True),
               threading.Thread(target=consumer.run_forever, args=(stop,), daemon=True)]
    for thread in threads:
        thread.start()
    try:
        managers = [new_id() for _ in range(10)]
        appoint(producer_db, managers[0], -1)  # one event while the broker is up
        assert wait_for(lambda: count(consumer_db, effects) == 1)
        failures_before = sample("tenure_relay_failures_total", service="backbone-test")

        kafka_broker.stop()
        try:
            for i in range(200):
                appoint(producer_db, managers[i % 10], i)
            # The relay keeps trying (its deliveries time out, reconnects fail) and loses
            # nothing: every row is still unsent.
            assert wait_for(lambda: sample("tenure_relay_failures_total",
                                           service="backbone-test") >= failures_before + 2,
                            timeout=20)
            assert unsent(producer_db) == 200
            # Each failed attempt is noted on the rows it concerned.
            assert wait_for(lambda: count(producer_db, outbox, outbox.c.attempts > 0) > 0)
        finally:
            kafka_broker.start()

        assert wait_for(lambda: unsent(producer_db) == 0, timeout=60)
        assert wait_for(lambda: count(consumer_db, effects) == 201, timeout=60)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    rows = effect_rows(consumer_db)
    assert len(rows) == len({r.event_id for r in rows}) == 201
    assert_in_key_order(rows)
    assert count(producer_db, outbox) == 0  # and once published, deleted


# -- (3) a consumer killed mid-batch ---------------------------------------------------------


def _consumer_process(db_path: Path, topics: Topics, group: str, delay: float,
                      *, one_by_one: bool = False) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, str(CONSUMER_PROC), "--db", f"sqlite:///{db_path}",
         "--bootstrap", topics.bootstrap, "--group", group, "--topic", topics.contracts,
         "--dead-letter-topic", topics.dead_letters, "--delay", str(delay),
         "--max-poll-records", "20", *(["--one-by-one"] if one_by_one else [])],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("one_by_one", [True, False], ids=["transaction-per-event",
                                                           "transaction-per-poll"])
def test_consumer_killed_mid_batch_and_restarted_applies_each_event_exactly_once(
        service_db: Callable[[str], Database], topics: Topics, tmp_path: Path,
        one_by_one: bool) -> None:
    producer_db, consumer_db = service_db("producer"), service_db("consumer")
    managers = [new_id() for _ in range(6)]
    ids = [appoint(producer_db, managers[i % 6], i) for i in range(120)]
    relay = relay_for(producer_db, topics)
    try:
        assert relay_everything(relay, 120) == 120
    finally:
        relay.close()
    group = f"g-{topics.prefix}crash"

    process = _consumer_process(tmp_path / "consumer.db", topics, group, delay=0.03,
                                one_by_one=one_by_one)
    try:
        assert wait_for(lambda: count(consumer_db, effects) >= 30, timeout=60, interval=0.01)
    finally:
        process.kill()  # SIGKILL: no commit, no goodbye to the group
        _, stderr = process.communicate(timeout=10)
    applied_before = count(consumer_db, effects)
    committed_before = committed_total(topics, group)
    assert committed_before <= applied_before < 120, stderr.decode()[-2000:]
    if one_by_one:
        # Killed mid-poll: some events are applied in the database but their offsets are
        # not committed in Kafka, so they will be delivered again.
        assert committed_before < applied_before

    duplicates = ("tenure_consumer_events_total",
                  {"service": "backbone-restart", "group": group, "topic": topics.contracts,
                   "outcome": "duplicate"})
    restarted = consumer_for(consumer_db, topics, group, service="backbone-restart")
    try:
        assert drain(restarted, 120 - committed_before, timeout=60) == 120 - committed_before
    finally:
        restarted.close()

    rows = effect_rows(consumer_db)
    assert len(rows) == 120
    assert sorted(r.event_id for r in rows) == sorted(ids)
    assert (REGISTRY.get_sample_value(*duplicates) or 0) == applied_before - committed_before
    assert committed_total(topics, group) == 120


def test_sigterm_lets_the_consumer_finish_its_event_commit_and_exit(
        service_db: Callable[[str], Database], topics: Topics, tmp_path: Path) -> None:
    producer_db, consumer_db = service_db("producer"), service_db("consumer")
    manager = new_id()
    for i in range(60):
        appoint(producer_db, manager, i)
    relay = relay_for(producer_db, topics)
    try:
        assert relay_everything(relay, 60) == 60
    finally:
        relay.close()
    group = f"g-{topics.prefix}term"
    process = _consumer_process(tmp_path / "consumer.db", topics, group, delay=0.05)
    try:
        assert wait_for(lambda: count(consumer_db, effects) >= 10, timeout=60, interval=0.01)
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
        _, stderr = process.communicate(timeout=10)
    assert code == 0, stderr.decode()[-2000:]
    applied = count(consumer_db, effects)
    assert 10 <= applied < 60
    # Everything applied is committed, nothing more: a restart neither skips nor repeats.
    assert committed_total(topics, group) == applied == count(consumer_db, inbox)


# -- (4) poison and malformed messages -------------------------------------------------------


def _produce_raw(topics: Topics, messages: list[tuple[bytes, bytes]]) -> None:
    producer = make_producer(topics.bootstrap)
    try:
        for key, value in messages:
            producer.send(topics.contracts, key=key, value=value)
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=5)


def test_poison_and_malformed_messages_are_dead_lettered_with_their_error_and_the_next_applies(
        service_db: Callable[[str], Database], topics: Topics) -> None:
    producer_db, consumer_db = service_db("producer"), service_db("consumer")
    manager, other = new_id(), new_id()
    before = appoint(producer_db, manager, 1)
    poison = appoint(producer_db, manager, 2, poison=True)
    after = appoint(producer_db, manager, 3)
    relay = relay_for(producer_db, topics)
    try:
        assert relay_everything(relay, 3) == 3
    finally:
        relay.close()
    unknown = make_event("contract.vanished", "/tenure/contracts", other, {"x": 1})
    invalid = make_event("contract.signed", "/tenure/contracts", other,
                         {"manager_id": other, "state": "active"})
    _produce_raw(topics, [(other.encode(), b"{not json"),
                          (other.encode(), encode_envelope(unknown)),
                          (other.encode(), encode_envelope(invalid))])

    def handler(session: Session, envelope: dict[str, Any]) -> None:
        if envelope["data"].get("poison"):
            raise ValueError("cannot apply a poisoned contract")
        record_effect(session, envelope)

    group = f"g-{topics.prefix}poison"
    consumer = consumer_for(consumer_db, topics, group, handler, max_retries=2,
                            backoff=Backoff(0.01, 0.02))
    try:
        assert drain(consumer, 6) == 6
    finally:
        consumer.close()

    assert [r.event_id for r in effect_rows(consumer_db)] == [before, after]
    letters = ops.list_dead_letters(topics.bootstrap, topic=topics.dead_letters)
    by_class = {letter["error_class"]: letter for letter in letters}
    assert sorted(by_class) == ["InvalidEventData", "MalformedEvent", "UnknownEventType",
                                "ValueError"]
    poisoned = by_class["ValueError"]
    assert poisoned["event_id"] == poison
    assert poisoned["error_message"] == "cannot apply a poisoned contract"
    assert poisoned["attempts"] == 3  # the first try and max_retries=2 more
    assert poisoned["original_topic"] == topics.contracts
    assert poisoned["consumer_group"] == group
    assert poisoned["key"] == manager
    assert isinstance(poisoned["original_offset"], int) and poisoned["failed_at"]
    assert json.loads(poisoned["value"])["id"] == poison  # the original bytes, unchanged
    assert by_class["MalformedEvent"]["value"] == "{not json"
    assert "contract.vanished" in by_class["UnknownEventType"]["error_message"]
    assert "contract_id" in by_class["InvalidEventData"]["error_message"]
    assert count(consumer_db, inbox) == 2  # dead letters are not marked applied


# -- (5) replay after the fix ------------------------------------------------------------------


def test_replayed_dead_letter_is_applied_once_by_the_fixed_group_and_skipped_by_the_others(
        service_db: Callable[[str], Database], topics: Topics) -> None:
    producer_db = service_db("producer")
    failing_db, healthy_db = service_db("failing"), service_db("healthy")
    event_id = appoint(producer_db, new_id(), 1)
    relay = relay_for(producer_db, topics)
    try:
        assert relay_everything(relay, 1) == 1
    finally:
        relay.close()
    fixed = threading.Event()

    def handler(session: Session, envelope: dict[str, Any]) -> None:
        if not fixed.is_set():
            raise LookupError("the manager's org unit is unknown here")
        record_effect(session, envelope)

    failing = consumer_for(failing_db, topics, f"g-{topics.prefix}failing", handler,
                           max_retries=1, backoff=Backoff(0.01, 0.01))
    healthy = consumer_for(healthy_db, topics, f"g-{topics.prefix}healthy")
    try:
        assert drain(failing, 1) == 1
        assert drain(healthy, 1) == 1
        assert count(failing_db, effects) == 0

        fixed.set()  # the fix is deployed
        replayed = ops.replay_dead_letter(topics.bootstrap, event_id=event_id,
                                          topic=topics.dead_letters)
        assert replayed["replayed_to"]["topic"] == topics.contracts
        ops.replay_dead_letter(topics.bootstrap, event_id=event_id, topic=topics.dead_letters)

        assert drain(failing, 2) == 2
        assert drain(healthy, 2) == 2
    finally:
        failing.close()
        healthy.close()
    assert [r.event_id for r in effect_rows(failing_db)] == [event_id]
    assert [r.event_id for r in effect_rows(healthy_db)] == [event_id]


# -- without a broker: the inbox claim itself ------------------------------------------------


@pytest.mark.parametrize("service_db", ["sqlite", pytest.param("postgres",
                                                                marks=pytest.mark.postgres)],
                         indirect=True)
def test_second_delivery_of_an_event_is_skipped_by_the_inbox_without_running_the_handler(
        service_db: Callable[[str], Database]) -> None:
    db = service_db("consumer")
    runs: list[str] = []

    def handler(session: Session, envelope: dict[str, Any]) -> None:
        runs.append(envelope["id"])
        record_effect(session, envelope)

    consumer = EventConsumer(db, inbox, "127.0.0.1:1", "g-inbox", ["t"], handler)
    manager = new_id()
    envelope = make_event("contract.signed", "/tenure/contracts", manager,
                          contract_data(manager, 1))
    record = _Record(encode_envelope(envelope))
    assert consumer.process(record) == "applied"
    assert consumer.process(record) == "duplicate"
    assert runs == [envelope["id"]]
    assert consumer.already_applied(envelope["id"])
    assert count(db, effects) == 1


def test_events_of_types_the_group_does_not_handle_are_skipped_without_a_transaction(
        service_db: Callable[[str], Database]) -> None:
    db = service_db("consumer")
    consumer = EventConsumer(db, inbox, "127.0.0.1:1", "g-types", ["t"], record_effect,
                             event_types={"contract.signed"})
    manager = new_id()
    drafted = make_event("contract.drafted", "/tenure/contracts", manager,
                         contract_data(manager, 1))
    assert consumer.process(_Record(encode_envelope(drafted))) == "ignored"
    assert count(db, inbox) == 0


def _signed_only_consumer(db: Database, group: str, monkeypatch: pytest.MonkeyPatch
                          ) -> tuple[EventConsumer, list[int]]:
    """A consumer applying contract.signed only, and the offsets of the records it reads."""
    consumer = EventConsumer(db, inbox, "127.0.0.1:1", group, ["t"], record_effect,
                             event_types={"contract.signed"})
    reads: list[int] = []
    read = consumer._read
    monkeypatch.setattr(consumer, "_read", lambda record: (reads.append(record.offset),
                                                           read(record))[1])
    return consumer, reads


def test_a_polls_events_of_other_types_are_ignored_where_read_and_never_read_again(
        service_db: Callable[[str], Database], monkeypatch: pytest.MonkeyPatch) -> None:
    """During signing most of what a consumer polls is of types it does not apply. Each
    record is decoded and validated once: those it applies go to the batch, the others are
    finished there as ignored (not handed to `process`, which would read them again)."""
    db = service_db("consumer")
    consumer, reads = _signed_only_consumer(db, "g-types-batch", monkeypatch)
    manager = new_id()
    kinds = ["contract.drafted", "contract.signed", "contract.drafted", "contract.signed",
             "contract.drafted"]
    records = [_Record(encode_envelope(make_event(kind, "/tenure/contracts", manager,
                                                  contract_data(manager, i))), i)
               for i, kind in enumerate(kinds)]
    outcomes = consumer._apply_in_batches(records)
    assert [outcomes[("t", 0, i)] for i in range(5)] == [
        "ignored", "applied", "ignored", "applied", "ignored"]
    assert sorted(reads) == [0, 1, 2, 3, 4]
    assert count(db, effects) == count(db, inbox) == 2


def _headed(envelope: dict[str, Any], offset: int, ce_type: str | None = None) -> _Record:
    """A record as the relay sends it: the envelope, its type also in the `ce_type` header."""
    record = _Record(encode_envelope(envelope), offset)
    record.headers = event_headers(envelope["id"], ce_type or envelope["type"],
                                   envelope["source"])
    return record


def test_records_of_types_the_group_does_not_apply_are_passed_over_by_their_header_unread(
        service_db: Callable[[str], Database], monkeypatch: pytest.MonkeyPatch) -> None:
    """A catalogued type the group does not apply, named by the `ce_type` header and by the
    value alike, is ignored without being decoded or validated (even with data its schema
    refuses: the groups that apply the type judge it). A record without the header, one
    whose header disagrees with its value, and one of a type outside the catalogue are
    read in full as before: the applied event applies, the unknown one is dead-lettered."""
    db = service_db("consumer")
    consumer, reads = _signed_only_consumer(db, "g-headers", monkeypatch)
    dead: list[int] = []
    monkeypatch.setattr(consumer, "_dead_letter",
                        lambda record, error, **_: (dead.append(record.offset), "dead_letter")[1])
    manager = new_id()
    drafted = make_event("contract.drafted", "/tenure/contracts", manager,
                         contract_data(manager, 0))
    refused = make_event("contract.signature_recorded", "/tenure/contracts", manager,
                         {"manager_id": manager})  # its schema wants far more
    signed = make_event("contract.signed", "/tenure/contracts", manager,
                        contract_data(manager, 2))
    disguised = make_event("contract.signed", "/tenure/contracts", manager,
                           contract_data(manager, 3, note="after contract.drafted"))
    bare = _Record(encode_envelope(make_event("contract.drafted", "/tenure/contracts",
                                              manager, contract_data(manager, 4))), 4)
    unknown = make_event("contract.vanished", "/tenure/contracts", manager, {"x": 1})
    records = [_headed(drafted, 0), _headed(refused, 1), _headed(signed, 2),
               _headed(disguised, 3, ce_type="contract.drafted"), bare, _headed(unknown, 5)]
    outcomes = consumer._apply_in_batches(records)
    assert outcomes == {("t", 0, 0): "ignored", ("t", 0, 1): "ignored",
                        ("t", 0, 2): "applied", ("t", 0, 3): "applied",
                        ("t", 0, 4): "ignored"}
    assert consumer.process(records[5]) == "dead_letter" and dead == [5]
    assert sorted(set(reads)) == [2, 3, 4, 5]
    assert [r.event_id for r in effect_rows(db)] == [signed["id"], disguised["id"]]
    reads.clear()
    assert consumer.process(_headed(refused, 6)) == "ignored" and reads == []


def test_a_group_that_applies_every_type_reads_every_record_whatever_its_header(
        service_db: Callable[[str], Database]) -> None:
    db = service_db("consumer")
    consumer = EventConsumer(db, inbox, "127.0.0.1:1", "g-all", ["t"], record_effect)
    manager = new_id()
    refused = make_event("contract.signature_recorded", "/tenure/contracts", manager,
                         {"manager_id": manager})
    dead: list[str] = []
    consumer._dead_letter = (  # type: ignore[method-assign]
        lambda record, error, **_: (dead.append(type(error).__name__), "dead_letter")[1])
    assert consumer.process(_headed(refused, 0)) == "dead_letter"
    assert dead == ["InvalidEventData"]


def test_a_failing_event_rolls_back_its_whole_poll_batch_so_nothing_half_applies(
        service_db: Callable[[str], Database]) -> None:
    db = service_db("consumer")

    def handler(session: Session, envelope: dict[str, Any]) -> None:
        record_effect(session, envelope)
        if envelope["data"].get("poison"):
            raise ValueError("poisoned")

    consumer = EventConsumer(db, inbox, "127.0.0.1:1", "g-batch", ["t"], handler)
    manager = new_id()
    good = [_Record(encode_envelope(make_event("contract.signed", "/tenure/contracts",
                                               manager, contract_data(manager, i))), i)
            for i in range(3)]
    poisoned = _Record(encode_envelope(make_event(
        "contract.signed", "/tenure/contracts", manager,
        contract_data(manager, 3, poison=True))), 3)
    assert consumer._apply_batch([*good, poisoned]) == {}
    assert count(db, effects) == count(db, inbox) == 0
    outcomes = consumer._apply_batch(good)
    assert sorted(outcomes.values()) == ["applied"] * 3
    assert consumer._apply_batch(good) == {("t", 0, i): "duplicate" for i in range(3)}
    assert count(db, effects) == count(db, inbox) == 3


def test_batch_handler_gets_each_new_event_once_in_order_and_redeliveries_are_skipped(
        service_db: Callable[[str], Database]) -> None:
    db = service_db("consumer")
    batches: list[list[str]] = []

    def batch_handler(session: Session, envelopes: list[dict[str, Any]]) -> None:
        batches.append([e["id"] for e in envelopes])
        for envelope in envelopes:
            record_effect(session, envelope)

    consumer = EventConsumer(db, inbox, "127.0.0.1:1", "g-batch-handler", ["t"],
                             record_effect, batch_handler=batch_handler)
    manager = new_id()
    envelopes = [make_event("contract.signed", "/tenure/contracts", manager,
                            contract_data(manager, i)) for i in range(4)]
    records = [_Record(encode_envelope(e), i) for i, e in enumerate(envelopes)]
    # The same event twice in one poll (a redelivery after a rebalance) is applied once.
    outcomes = consumer._apply_batch([*records[:3], _Record(records[0].value, 9)])
    assert batches == [[e["id"] for e in envelopes[:3]]]
    assert outcomes[("t", 0, 9)] == "duplicate"
    outcomes = consumer._apply_batch(records)
    assert batches[-1] == [envelopes[3]["id"]]
    assert [outcomes[("t", 0, i)] for i in range(4)] == ["duplicate"] * 3 + ["applied"]
    assert count(db, effects) == count(db, inbox) == 4


@pytest.mark.postgres
@pytest.mark.parametrize("service_db", ["postgres"], indirect=True)
def test_a_poll_with_a_duplicate_a_poison_and_a_flaky_event_applies_around_them_in_key_order(
        service_db: Callable[[str], Database], topics: Topics) -> None:
    """With a batch handler, on real Kafka and PostgreSQL: one poll holds two managers'
    events, one re-sent (a duplicate), one that always fails (poison) and one that fails
    twice before it applies (flaky). The poison is dead-lettered alone after its retries,
    everything else is applied exactly once, in each manager's order, mostly in runs."""
    db = service_db("consumer")
    first, second = new_id(), new_id()
    events = {(first, seq): make_event("contract.signed", "/tenure/contracts", first,
                                       contract_data(first, seq, poison=seq == 3,
                                                     flaky=seq == 5))
              for seq in range(1, 9)}
    events.update({(second, seq): make_event("contract.signed", "/tenure/contracts", second,
                                             contract_data(second, seq))
                   for seq in range(1, 25)})
    # The second manager's events in threes between the first's; then a duplicate.
    order = [key for seq in range(1, 9) for key in
             [(first, seq), *((second, n) for n in range(3 * seq - 2, 3 * seq + 1))]]
    order.append((first, 2))
    _produce_raw(topics, [(key[0].encode(), encode_envelope(events[key])) for key in order])
    reached: dict[str, int] = defaultdict(int)
    runs: list[int] = []
    alone: set[str] = set()

    def apply_alone(session: Session, envelope: dict[str, Any]) -> None:
        alone.add(envelope["id"])
        apply(session, envelope)

    def apply(session: Session, envelope: dict[str, Any]) -> None:
        reached[envelope["id"]] += 1
        if envelope["data"].get("poison"):
            raise ValueError("cannot apply a poisoned contract")
        if envelope["data"].get("flaky") and reached[envelope["id"]] <= 2:
            raise RuntimeError("a lock timed out")
        record_effect(session, envelope)

    def apply_run(session: Session, envelopes: list[dict[str, Any]]) -> None:
        runs.append(len(envelopes))
        for envelope in envelopes:
            apply(session, envelope)

    consumer = consumer_for(db, topics, f"g-{topics.prefix}batch-poison", apply_alone,
                            batch_handler=apply_run, max_retries=2,
                            backoff=Backoff(0.01, 0.02),
                            consumer_config={**FAST_GROUP, "max_poll_records": 500})
    try:
        assert drain(consumer, len(order)) == len(order)
    finally:
        consumer.close()

    rows = effect_rows(db)
    assert_in_key_order(rows)
    assert [r.seq for r in rows if r.manager_id == first] == [1, 2, 4, 5, 6, 7, 8]
    assert [r.seq for r in rows if r.manager_id == second] == list(range(1, 25))
    assert sorted(r.event_id for r in rows) == sorted(
        e["id"] for key, e in events.items() if key != (first, 3))
    poison = events[(first, 3)]["id"]
    letters = ops.list_dead_letters(topics.bootstrap, topic=topics.dead_letters)
    assert [(d["event_id"], d["error_class"], d["attempts"]) for d in letters] == [
        (poison, "ValueError", 3)]
    assert count(db, inbox) == 31  # dead letters and duplicates add no inbox row
    # The failed poll was halved down to the poison and the flaky event: most events were
    # applied in runs, not one transaction each.
    assert max(runs) > 2 and len(alone) < len(events) / 2, (runs, len(alone))


def test_a_poll_that_fails_because_the_database_is_away_is_not_halved_but_applied_one_by_one(
        service_db: Callable[[str], Database]) -> None:
    """Halving isolates an event at fault; an unreachable database is nobody's fault, so the
    poll's events go one at a time to `process`, which waits for the database."""
    db = service_db("consumer")
    runs: list[int] = []
    alone: list[int] = []

    def apply_run(session: Session, envelopes: list[dict[str, Any]]) -> None:
        runs.append(len(envelopes))
        raise OperationalError("INSERT INTO effects ...", {}, ConnectionError("refused"))

    def apply_alone(session: Session, envelope: dict[str, Any]) -> None:
        alone.append(envelope["data"]["seq"])
        record_effect(session, envelope)

    consumer = EventConsumer(db, inbox, "127.0.0.1:1", "g-db-away", ["t"], apply_alone,
                             batch_handler=apply_run, transient_backoff=Backoff(0.01, 0.01))
    manager = new_id()
    records = [_Record(encode_envelope(make_event("contract.signed", "/tenure/contracts",
                                                  manager, contract_data(manager, i))), i)
               for i in range(8)]
    outcomes = consumer._apply_in_batches(records)
    assert [outcomes[("t", 0, i)] for i in range(8)] == ["applied"] * 8
    assert runs == [8] and alone == list(range(8))
    assert [r.seq for r in effect_rows(db)] == list(range(8))


class _Record:
    """The fields of a kafka-python ConsumerRecord the runtime reads."""

    def __init__(self, value: bytes, offset: int = 7) -> None:
        self.topic, self.partition, self.offset = "t", 0, offset
        self.key, self.value, self.headers = b"k", value, []


# -- operating it ------------------------------------------------------------------------------


def test_ops_reports_each_groups_lag_and_the_broker_as_ready(
        service_db: Callable[[str], Database], topics: Topics,
        capsys: pytest.CaptureFixture[str]) -> None:
    producer_db, consumer_db = service_db("producer"), service_db("consumer")
    manager = new_id()
    for i in range(5):
        appoint(producer_db, manager, i)
    relay = relay_for(producer_db, topics)
    group = f"g-{topics.prefix}lag"
    consumer = consumer_for(consumer_db, topics, group)
    try:
        assert relay_everything(relay, 5) == 5
        assert drain(consumer, 5) == 5
        caught_up = ops.topics_and_lag(topics.bootstrap, [group])
        assert caught_up["total_lag"] == {group: 0}
        assert caught_up["topics"][topics.contracts]["messages"] == 5
        for i in range(5, 7):
            appoint(producer_db, manager, i)
        assert relay_everything(relay, 2) == 2
    finally:
        consumer.close()
        relay.close()
    assert ops.topics_and_lag(topics.bootstrap, [group])["total_lag"] == {group: 2}

    assert ops.main(["--bootstrap", topics.bootstrap, "lag", "--group", group]) == 0
    assert json.loads(capsys.readouterr().out)["total_lag"] == {group: 2}
    assert ops.BrokerReadiness(topics.bootstrap)() == (True, f"{topics.bootstrap} answers "
                                                              "(1 broker)")
    assert ops.main(["--bootstrap", topics.bootstrap, "check"]) == 0
