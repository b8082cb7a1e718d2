"""Event backbone figures on a real local Kafka: raw producer rate, relay throughput, and end-to-end
latency (commit -> consumer handler) at a paced rate, against a raw producer -> consumer loop.

Run: .venv/bin/python bench/bench_events.py [--events 20000] [--rate 500] [--seconds 10]
                                           [--db sqlite|postgres|both]

Targets: relay >= 50% of the raw producer's rate; p99 end to end < 500 ms at 500 events/s.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from support import REPO  # noqa: F401  (puts the repo and deploy/local on sys.path)

from shared.db import Database
from shared.events.envelope import encode_envelope, make_event
from shared.kafka_clients import ensure_topics, make_consumer, make_producer
from shared.outbox import outbox_row, record_event, record_events
from shared.relay import OutboxRelay

TOPIC = "hr.contracts"
KEYS = 1000


def _schema() -> tuple[Any, Any, Any]:
    from sqlalchemy import MetaData

    from shared.tables import define_shared_tables

    metadata = MetaData()
    outbox, inbox, _ = define_shared_tables(metadata)
    return metadata, outbox, inbox


METADATA, OUTBOX, INBOX = _schema()


def contract_data(manager_id: str, size: int) -> dict[str, Any]:
    """contract.signed data padded so the whole envelope is about `size` bytes."""
    data: dict[str, Any] = {
        "contract_id": str(uuid.uuid4()), "manager_id": manager_id, "state": "active",
        "start_date": "2025-01-01", "end_date": "2027-12-31", "position": "general_manager",
        "org_unit_name": "Second-level enterprise", "layer": 2, "term_years": 3,
    }
    base = len(encode_envelope(make_event("contract.signed", "/tenure/contracts",
                                          manager_id, data)))
    data["notes"] = "x" * max(0, size - base - 12)
    return data


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


@contextlib.contextmanager
def databases(kind: str, workdir: Path) -> Iterator[list[tuple[str, Any]]]:
    """(label, factory) pairs; the factory returns a fresh Database with the shared tables."""
    found: list[tuple[str, Any]] = []
    stack = contextlib.ExitStack()
    with stack:
        if kind in ("sqlite", "both"):
            def sqlite_db(name: str) -> Database:
                db = Database(f"sqlite:///{workdir / (name + '.db')}")
                METADATA.create_all(db.engine)
                return db
            found.append(("sqlite", sqlite_db))
        if kind in ("postgres", "both"):
            try:
                import local_postgres

                server = stack.enter_context(local_postgres.LocalPostgres())

                def pg_db(name: str) -> Database:
                    db = Database(server.create_database(f"bench_{name}_{uuid.uuid4().hex[:8]}"))
                    METADATA.create_all(db.engine)
                    return db
                found.append(("postgres", pg_db))
            except Exception as exc:  # the bench still runs on SQLite without PostgreSQL
                print(f"(PostgreSQL unavailable, skipped: {exc})")
        yield found


# -- (a) raw producer ---------------------------------------------------------------------------


def bench_raw_producer(bootstrap: str, topic: str, events: int, size: int) -> float:
    values = [encode_envelope(make_event("contract.signed", "/tenure/contracts", m,
                                         contract_data(m, size)))
              for m in (str(uuid.uuid4()) for _ in range(200))]
    keys = [str(uuid.uuid4()).encode() for _ in range(KEYS)]
    producer = make_producer(bootstrap)
    try:
        producer.send(topic, key=b"warm", value=values[0]).get(timeout=30)
        started = time.perf_counter()
        for i in range(events):
            producer.send(topic, key=keys[i % KEYS], value=values[i % len(values)],
                          headers=[("ce_id", b"x" * 36), ("ce_type", b"contract.signed")])
        producer.flush()
        return events / (time.perf_counter() - started)
    finally:
        producer.close()


# -- (b) relay throughput --------------------------------------------------------------------


def prefill_outbox(db: Database, events: int, size: int) -> None:
    managers = [str(uuid.uuid4()) for _ in range(KEYS)]
    template = contract_data(managers[0], size)
    chunk = 2000
    for start in range(0, events, chunk):
        rows = [outbox_row("contract.signed", managers[i % KEYS],
                           {**template, "manager_id": managers[i % KEYS]})
                for i in range(start, min(events, start + chunk))]
        with db.unit_of_work() as session:
            record_events(session, OUTBOX, rows)


def bench_relay(db: Database, bootstrap: str, prefix: str, events: int, size: int,
                batch_size: int) -> tuple[float, float]:
    prefill_outbox(db, events, size)
    relay = OutboxRelay(db, OUTBOX, bootstrap, service="bench", topic_prefix=prefix,
                        batch_size=batch_size)
    try:
        relay.run_once()  # connect, and publish the first batch, outside the clock
        started = time.perf_counter()
        sent = 0
        while True:
            n = relay.run_once()
            sent += n
            if relay.last_fetched == 0:
                break
        elapsed = time.perf_counter() - started
        return sent / elapsed, elapsed
    finally:
        relay.close()


# -- (c) end-to-end latency ------------------------------------------------------------------
#
# As deployed, the service, its relay and the consuming service are separate processes: the
# relay and the consumer run here as subprocesses of this script (`--role relay|consumer`), so
# no GIL is shared with the paced writer. Each process reads the same wall clock; the writer
# notes each event's commit time, the consumer's handler its receive time.


def paced(rate: float, seconds: float) -> Iterator[int]:
    interval = 1.0 / rate
    started = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = started + i * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        yield i


def _role(role: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, __file__, "--role", role, *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _stop(process: subprocess.Popen[bytes]) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return err.decode(errors="replace")[-2000:]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _received(path: Path) -> dict[str, float]:
    if not path.exists():
        return {}
    pairs = (line.split() for line in path.read_text().splitlines() if line.strip())
    return {key: float(at) for key, at in pairs}


def run_relay_role(args: argparse.Namespace) -> None:
    from shared.relay import run_relay_process

    run_relay_process(Database(args.db_url), OUTBOX, args.bootstrap, service="bench",
                      topic_prefix=args.prefix)


def run_consumer_role(args: argparse.Namespace) -> None:
    from shared.consumer import run_consumer_process

    out = open(args.out, "a", buffering=1)  # noqa: SIM115  (line-buffered, closed at exit)

    def handler(_session: Any, envelope: dict[str, Any]) -> None:
        out.write(f"{envelope['id']} {time.time():.6f}\n")

    try:
        run_consumer_process(Database(args.db_url), INBOX, args.bootstrap,
                             f"bench-{args.prefix}", [args.prefix + TOPIC], handler,
                             service="bench", dead_letter_topic=args.prefix + "dlq")
    finally:
        out.close()


def run_raw_consumer_role(args: argparse.Namespace) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    consumer = make_consumer(args.bootstrap, f"raw-{args.prefix}", [args.prefix + TOPIC])
    with open(args.out, "a", buffering=1) as out:
        try:
            while not stop.is_set():
                batches = consumer.poll(timeout_ms=200)
                now = time.time()
                for records in batches.values():
                    for record in records:
                        out.write(f"{record.key.decode()} {now:.6f}\n")
                if batches:
                    consumer.commit()
        finally:
            consumer.close()


def _wait_received(path: Path, wanted: set[str], timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        received = _received(path)
        if wanted <= set(received) or time.monotonic() > deadline:
            return received
        time.sleep(0.2)


def bench_end_to_end(producer_db: Database, consumer_db: Database, bootstrap: str,
                     prefix: str, rate: float, seconds: float, size: int, workdir: Path
                     ) -> tuple[list[float], int, dict[str, float]]:
    out = workdir / f"{prefix}received.txt"
    common = ["--bootstrap", bootstrap, "--prefix", prefix]
    relay = _role("relay", "--db-url", producer_db.url, *common)
    consumer = _role("consumer", "--db-url", consumer_db.url, "--out", str(out), *common)
    committed_at: dict[str, float] = {}
    try:
        managers = [str(uuid.uuid4()) for _ in range(KEYS)]
        template = contract_data(managers[0], size)
        # Warm up until one event goes all the way: the relay is connected and the consumer
        # has joined its group before the clock starts.
        with producer_db.unit_of_work() as session:
            warm = record_event(session, OUTBOX, "contract.signed", managers[0], template)
        if not _wait_received(out, {warm["event_id"]}, timeout=60):
            raise RuntimeError("warm-up event never arrived: " + _stop(consumer))
        cpu_before = {"relay": _cpu_seconds(relay.pid), "consumer": _cpu_seconds(consumer.pid),
                      "writer": time.process_time()}
        started = time.perf_counter()
        for i in paced(rate, seconds):
            manager = managers[i % KEYS]
            with producer_db.unit_of_work() as session:
                row = record_event(session, OUTBOX, "contract.signed", manager,
                                   {**template, "manager_id": manager})
            committed_at[row["event_id"]] = time.time()
        received = _wait_received(out, set(committed_at), timeout=60)
        elapsed = time.perf_counter() - started
        cpu_after = {"relay": _cpu_seconds(relay.pid), "consumer": _cpu_seconds(consumer.pid),
                     "writer": time.process_time()}
        cpu = {name: (cpu_after[name] - cpu_before[name]) / elapsed for name in cpu_after}
    finally:
        errors = _stop(relay), _stop(consumer)
    latencies = [received[k] - at for k, at in committed_at.items() if k in received]
    if len(latencies) < len(committed_at):
        print("relay/consumer stderr:", *errors, sep="\n")
    return latencies, len(committed_at), cpu


def bench_raw_loop(bootstrap: str, prefix: str, rate: float, seconds: float, size: int,
                   workdir: Path) -> list[float]:
    """The ceiling: a producer sending straight to Kafka, a bare consumer process reading."""
    out = workdir / f"{prefix}raw.txt"
    consumer = _role("raw-consumer", "--bootstrap", bootstrap, "--prefix", prefix,
                     "--out", str(out))
    value = encode_envelope(make_event("contract.signed", "/tenure/contracts", "m",
                                       contract_data(str(uuid.uuid4()), size)))
    producer = make_producer(bootstrap)
    sent_at: dict[str, float] = {}
    try:
        warm = f"warm-{uuid.uuid4()}"
        deadline = time.monotonic() + 60
        while warm not in _received(out) and time.monotonic() < deadline:
            producer.send(prefix + TOPIC, key=warm.encode(), value=value).get(timeout=30)
            time.sleep(0.5)
        for i in paced(rate, seconds):
            key = f"{i:08d}-{uuid.uuid4()}"
            sent_at[key] = time.time()
            producer.send(prefix + TOPIC, key=key.encode(), value=value)
        producer.flush()
        received = _wait_received(out, set(sent_at), timeout=60)
    finally:
        producer.close()
        _stop(consumer)
    return [received[k] - at for k, at in sent_at.items() if k in received]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=1024, help="approximate event bytes")
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--role", choices=["relay", "consumer", "raw-consumer"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--db-url", help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.role:
        {"relay": run_relay_role, "consumer": run_consumer_role,
         "raw-consumer": run_raw_consumer_role}[args.role](args)
        return

    import local_kafka  # from deploy/local, which `support` put on sys.path

    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp, \
            local_kafka.LocalKafka() as broker:
        workdir = Path(tmp)
        bootstrap = broker.bootstrap_servers
        print(f"Kafka {broker.version} on {bootstrap} (started in {broker.startup_seconds:.1f}s)")
        raw_topic = f"bench-{uuid.uuid4().hex[:6]}.raw"
        ensure_topics(bootstrap, [raw_topic], partitions=3)
        raw_rate = bench_raw_producer(bootstrap, raw_topic, args.events, args.size)
        rows.append((f"(a) raw producer, {args.events} x {args.size} B, acks=all, idempotent",
                     f"{raw_rate:,.0f} msg/s"))
        print(rows[-1])

        with databases(args.db, workdir) as backends:
            for label, make_db in backends:
                prefix = f"bench{uuid.uuid4().hex[:6]}."
                ensure_topics(bootstrap, [prefix + TOPIC, prefix + "dlq"], partitions=3)
                rate, elapsed = bench_relay(make_db("relay"), bootstrap, prefix, args.events,
                                            args.size, args.batch_size)
                rows.append((f"(b) relay on {label}, {args.events} outbox rows, "
                             f"batch {args.batch_size}",
                             f"{rate:,.0f} ev/s ({rate / raw_rate:.0%} of raw) in "
                             f"{elapsed:.1f}s"))
                print(rows[-1])

                prefix = f"bench{uuid.uuid4().hex[:6]}."
                ensure_topics(bootstrap, [prefix + TOPIC, prefix + "dlq"], partitions=3)
                latencies, expected, cpu = bench_end_to_end(
                    make_db("producer"), make_db("consumer"), bootstrap, prefix, args.rate,
                    args.seconds, args.size, workdir)
                rows.append((f"(c) commit -> handler on {label} at {args.rate:.0f}/s for "
                             f"{args.seconds:.0f}s",
                             f"p50 {percentile(latencies, 50) * 1000:.0f} ms, "
                             f"p99 {percentile(latencies, 99) * 1000:.0f} ms, "
                             f"max {max(latencies, default=0) * 1000:.0f} ms "
                             f"({len(latencies)}/{expected} received)"))
                print(rows[-1])
                rows.append((f"    CPU used meanwhile ({label})",
                             ", ".join(f"{name} {share:.0%}" for name, share in cpu.items())
                             + " of one core"))

        prefix = f"bench{uuid.uuid4().hex[:6]}."
        ensure_topics(bootstrap, [prefix + TOPIC], partitions=3)
        latencies = bench_raw_loop(bootstrap, prefix, args.rate, args.seconds, args.size,
                                   workdir)
        rows.append((f"(c) raw producer -> consumer at {args.rate:.0f}/s (ceiling)",
                     f"p50 {percentile(latencies, 50) * 1000:.0f} ms, "
                     f"p99 {percentile(latencies, 99) * 1000:.0f} ms "
                     f"({len(latencies)}/{int(args.rate * args.seconds)} received)"))

    width = max(len(name) for name, _ in rows)
    print()
    print(f"{'figure'.ljust(width)}  value")
    print(f"{'-' * width}  {'-' * 50}")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
    if latencies:
        print(f"\n(raw loop mean {statistics.mean(latencies) * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
