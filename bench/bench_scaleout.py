"""Scale-out: the appraisal run, the notifications consumer and the delivery worker with 1 and
then 2 processes, on PostgreSQL and a real local Kafka broker (docs/scale-out.md).

- run:      a re-run of 20,000 managers x 8 indicators (seeded as bench_appraisal.py does)
            by the run's own process alone (APPRAISAL_RUN_WORKERS=1), then with one
            `flask score-runs` process beside it: they share the batches by row claims;
- consume:  a backlog of 10,000 events (20,000 notices) on the 3-partition topics, drained
            by 1 and then 2 `single` consumers of one consumer group (bench_notifications.py);
- deliver:  2,000 queued e-mails sent to an SMTP server on 127.0.0.1 by 1 and then 2
            `flask deliver` processes (claims with FOR UPDATE SKIP LOCKED); the server counts
            every message by its notice key, so a copy or a miss shows.

Then the size of each database (pg_database_size) per manager, for the 1,000,000-manager
sizing. The machine has 2 cores: 2 processes is as far as it shows. Figures, no targets.

Each stage runs --rounds times, 1 and then 2 processes each round; the median is reported
with every round. About 5 minutes on a quiet machine (the load of a shared one doubles it).

Run: .venv/bin/python bench/bench_scaleout.py [--managers 20000] [--events 10000]
         [--emails 2000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import bench_appraisal
import bench_notifications as bn
from support import REPO, free_port, stop

from services.notifications.config import NotificationConfig
from services.notifications.events import apply_events, subscription
from shared.db import Database
from shared.kafka_clients import ensure_topics, make_producer
from shared.migrations import upgrade

FLASK = [sys.executable, "-m", "flask", "--app"]
Figures = dict[str, Any]


@contextmanager
def processes(count: int, args: list[str], env: dict[str, str], logs: Path,
              ready: str | None = None) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` copies of a command, stopped (SIGTERM) at the end; waits for `ready` in each
    one's output when given, so start-up is not counted."""
    started = []
    with ExitStack() as stack:
        for n in range(count):
            log = logs / f"{args[-1]}-{uuid.uuid4().hex[:6]}-{n}.log"
            out = stack.enter_context(open(log, "wb"))
            proc = subprocess.Popen(args, cwd=REPO, env={**os.environ, **env}, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            stack.callback(stop, proc)
            started.append((proc, log))
        deadline = time.monotonic() + 60
        for proc, log in started:
            while ready and ready not in log.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{args[-1]} did not start:\n{log.read_text()[-2000:]}")
                time.sleep(0.1)
        yield [proc for proc, _ in started]


def wait_for(count: Callable[[], int], expected: int, timeout: float
             ) -> tuple[float, float, int]:
    """Seconds until `count()` reaches `expected` (or the timeout): from now (start-up of the
    processes included) and from the first item done (the drain); and the last count."""
    started = time.perf_counter()
    first: float | None = None
    deadline = time.monotonic() + timeout
    seen = count()
    while seen < expected and time.monotonic() < deadline:
        time.sleep(0.1)
        seen = count()
        if seen and first is None:
            first = time.perf_counter()
    finished = time.perf_counter()
    return finished - started, finished - (first or started), seen


# --- (a) the appraisal run ----------------------------------------------------------------------


def bench_run(pg: Any, managers: int, rounds: int, logs: Path) -> Figures:
    url = pg.create_database("so_appraisal")
    upgrade(REPO / "services/appraisal/migrations", url)
    seeded = bench_appraisal.seed(url, managers)
    os.environ["APPRAISAL_RUN_WORKERS"] = "1"  # the run's process scores alone...
    first = bench_appraisal.child_phase(["--phase", "run", "--url", url])  # inserts: not measured
    size = database_mib(url)  # before the re-runs leave dead row versions for VACUUM
    env = {"APPRAISAL_DATABASE_URL": url, "LOG_JSON": "false"}
    walls: dict[int, list[float]] = {1: [], 2: []}
    splits: list[str] = []
    serial: dict[str, Any] = {}
    for _ in range(rounds):
        for count in (1, 2):
            # ...and with 2, one `flask score-runs` process claims batches beside it.
            with processes(count - 1, [*FLASK, "services.appraisal:create_app", "score-runs",
                                       "--poll", "0.05"], env, logs, ready="scoring batches"):
                run = bench_appraisal.child_phase(["--phase", "run", "--url", url])
            if run["status"] != "done" or not run["written"] == run["scored"] == first["scored"]:
                raise RuntimeError(f"the run: {run['status']} {run['error']}, scored "
                                   f"{run['scored']}, written {run['written']}")
            walls[count].append(run["wall_s"])
            if count == 2:
                by = (run["timings"] or {}).get("batches_by_scorer", {})
                splits.append("/".join(str(n) for n in sorted(by.values(), reverse=True)))
                serial = {k: run["timings"].get(k) for k in ("select_s", "write_s",
                                                             "distribute_s")}
    return {"stage": "appraisal run", "unit": "appraisals", "items": first["scored"],
            "walls": walls, "note": f"seeded in {seeded['seed_s']} s; batches per process "
                                    f"with 2: {', '.join(splits)}; done by "
                                    f"the run's process alone (last round): {serial}",
            "url": url, "size_mib": size}


# --- (b) the notifications consumer -------------------------------------------------------------


def bench_consume(pg: Any, bootstrap: str, events: int, rounds: int, logs: Path) -> Figures:
    walls: dict[int, list[float]] = {1: [], 2: []}
    launches: dict[int, list[float]] = {1: [], 2: []}
    url = ""
    for count in [1, 2] * rounds:
        prefix = f"so{uuid.uuid4().hex[:8]}."
        sub = subscription(prefix)
        ensure_topics(bootstrap, [*sub.topics, sub.dead_letter_topic], partitions=3)
        url = pg.create_database(f"so_notifications_{prefix[2:-1]}")
        db = bn.fresh_database(url)
        producer = make_producer(bootstrap)
        try:
            for i in range(events):
                bn.send(producer, prefix, bn.manager_event(i))
            producer.flush()
        finally:
            producer.close()
        expected = events * bn.NOTICES_PER_EVENT
        consumers = [bn.consumer_process("single", url, bootstrap, prefix,
                                         logs / f"{prefix}{n}.out", 500) for n in range(count)]
        try:
            wall, drain, seen = wait_for(lambda db=db: bn.inbox_count(db), expected,
                                         max(180.0, events / 50))
        finally:
            errors = [bn.stop_process(c) for c in consumers]
        if seen != expected:
            raise RuntimeError(f"{seen} of {expected} inbox items: {errors}")
        db.dispose()
        walls[count].append(drain)
        launches[count].append(wall)
    return {"stage": "notifications consumer", "unit": "notices", "items": expected,
            "walls": walls, "note": f"{events:,} events on 3 partitions; 2 consumers split "
                                    f"them 2 + 1 (at most 1.5x); {since(launches)}",
            "url": url}


# --- (c) the delivery worker --------------------------------------------------------------------


class CountingMailbox:
    """An SMTP handler that counts each message by its X-Tenure-Notice-Key (no parsing)."""

    def __init__(self) -> None:
        self.keys: Counter[bytes] = Counter()
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or envelope.content
        at = content.find(b"X-Tenure-Notice-Key: ")
        key = content[at:content.find(b"\r\n", at)] if at >= 0 else b"?"
        with self.lock:
            self.keys[key] += 1
        return "250 OK"


def queued_emails(url: str, emails: int) -> Database:
    """`emails` managers' notices routed as the consumer does: one queued e-mail each."""
    db = bn.fresh_database(url)
    config = NotificationConfig()
    for start in range(0, emails, 2000):
        with db.unit_of_work() as session:
            apply_events(session, [bn.manager_event(i)
                                   for i in range(start, min(emails, start + 2000))], config)
    return db


def sent_count(db: Database) -> int:
    from sqlalchemy import func, select

    from services.notifications.models import Delivery

    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.state == "sent")) or 0)


def bench_deliver(pg: Any, emails: int, rounds: int, logs: Path) -> Figures:
    from aiosmtpd.controller import Controller

    walls: dict[int, list[float]] = {1: [], 2: []}
    launches: dict[int, list[float]] = {1: [], 2: []}
    url = ""
    for count in [1, 2] * rounds:
        url = pg.create_database(f"so_deliveries_{uuid.uuid4().hex[:8]}")
        db = queued_emails(url, emails)
        mailbox = CountingMailbox()
        port = free_port()
        smtp = Controller(mailbox, hostname="127.0.0.1", port=port)
        smtp.start()
        env = {"NOTIFICATIONS_DATABASE_URL": url, "SMTP_HOST": "127.0.0.1",
               "SMTP_PORT": str(port), "SMTP_SENDER": "tenure@example.com",
               "NOTIFICATIONS_DELIVERY_POLL_SECONDS": "0.2", "LOG_JSON": "false",
               "LOG_LEVEL": "WARNING"}
        try:
            with processes(count, [*FLASK, "services.notifications:create_app", "deliver"],
                           env, logs):
                wall, drain, seen = wait_for(lambda db=db: sent_count(db), emails,
                                             max(180.0, emails / 20))
        finally:
            smtp.stop()
        copies = sum(n - 1 for n in mailbox.keys.values())
        if seen != emails or len(mailbox.keys) != emails or copies:
            raise RuntimeError(f"{seen} sent, {len(mailbox.keys)} received, {copies} copies")
        db.dispose()
        walls[count].append(drain)
        launches[count].append(wall)
    return {"stage": "delivery worker", "unit": "e-mails", "items": emails, "walls": walls,
            "note": "each e-mail received once (by notice key); the SMTP server shares the "
                    f"2 cores; {since(launches)}", "url": url}


def since(launches: dict[int, list[float]]) -> str:
    """The drain is timed from the first item done; from launching the processes (start-up
    and, for consumers, joining the group included) the medians are these."""
    return "seconds from the first item to the last; from launching the process(es): " + \
        ", ".join(f"{count}: {statistics.median(walls):.1f} s"
                  for count, walls in sorted(launches.items()))


# --- the figures --------------------------------------------------------------------------------


def database_mib(url: str) -> float:
    with Database(url).read_connection() as conn:
        return int(conn.exec_driver_sql("SELECT pg_database_size(current_database())")
                   .scalar_one()) / 2**20


def report(stages: list[Figures], sizes: dict[str, tuple[float, float, int, str]]) -> None:
    print(f"\n{'stage':<24}{'processes':>10}{'seconds':>10}{'items/s':>10}{'speed-up':>10}"
          "   (median of the rounds; every round's seconds in brackets)")
    for f in stages:
        one = statistics.median(f["walls"][1])
        for count in (1, 2):
            wall = statistics.median(f["walls"][count])
            rounds = ", ".join(f"{w:.1f}" for w in f["walls"][count])
            print(f"{f['stage']:<24}{count:>10}{wall:>10.1f}{f['items'] / wall:>10,.0f}"
                  f"{one / wall:>9.2f}x   [{rounds}] {f['items']:,} {f['unit']}")
        print(f"{'':<24}{f['note']}")
    print(f"\n{'database':<24}{'MiB':>8}{'empty':>8}{'for':>10}{'':<10}{'KiB each':>9}"
          "   (KiB each: above the empty schema)")
    for name, (mib, empty, count, what) in sizes.items():
        print(f"{name:<24}{mib:>8.1f}{empty:>8.1f}{count:>10,} {what:<9}"
              f"{(mib - empty) * 1024 / count:>9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--managers", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--emails", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of each stage, each one with 1 and then 2 processes")
    args = parser.parse_args()

    import local_kafka
    import local_postgres

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as tmp, \
            local_postgres.LocalPostgres(settings={"shared_buffers": "512MB",
                                                   "work_mem": "32MB"}) as pg, \
            local_kafka.LocalKafka() as broker:
        logs = Path(tmp)
        run = bench_run(pg, args.managers, args.rounds, logs)
        print(f"appraisal run done ({time.perf_counter() - started:.0f} s)", flush=True)
        consume = bench_consume(pg, broker.bootstrap_servers, args.events, args.rounds, logs)
        print(f"consumer done ({time.perf_counter() - started:.0f} s)", flush=True)
        deliver = bench_deliver(pg, args.emails, args.rounds, logs)
        empty_appraisal = pg.create_database("so_empty_appraisal")
        upgrade(REPO / "services/appraisal/migrations", empty_appraisal)
        empty_notifications = pg.create_database("so_empty_notifications")
        bn.fresh_database(empty_notifications).dispose()
        sizes = {"appraisal": (run["size_mib"], empty_appraisal, args.managers, "managers"),
                 "notifications (events)": (consume["url"], empty_notifications, args.events,
                                            "events"),
                 "notifications (mails)": (deliver["url"], empty_notifications, args.emails,
                                           "e-mails")}
        measured = {name: (url if isinstance(url, float) else database_mib(url),
                           database_mib(empty), count, what)
                    for name, (url, empty, count, what) in sizes.items()}
    report([run, consume, deliver], measured)
    print(f"\nwhole bench: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
