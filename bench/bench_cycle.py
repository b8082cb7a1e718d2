"""A whole group's year, end to end, stage by stage: every service as its own process on
PostgreSQL and the real broker, driven only through the public APIs.

Run: .venv/bin/python bench/bench_cycle.py [--managers 100000] [--concurrency 8]
                                          [--countersign-batch 100] [--pg-statements N]

For each stage it prints wall time, throughput, the peak RSS of every process during the
stage, and the ratio to a ceiling measured in the same run (ceiling time / stage time, so
1.0 means as fast as the bare mechanism; the goal is >= 0.30). Figures on a shared machine
are noisy: compare the ratio, not the absolute times, and take several runs.

Stages measured:
  1. org tree + managers through the bulk import endpoints    ceiling: raw COPY of the rows
  2. bulk issue of contracts from one template                 ceiling: raw INSERT..SELECT of
                                                               the same contract rows
  3. signing, one API call per contract, N at a time           ceiling: bare Flask endpoint,
                                                               same requests, same concurrency
  4. appraisal read model catches up (manager + contract       ceiling: raw producer sending
     events through relay -> Kafka -> consumer)                the same number of events
  5. actuals through the CSV API                               ceiling: raw COPY of the rows
  6. appraisal run, then review, approve, publish              ceiling: the bare scoring loop
                                                               over the same inputs
  7. every notice delivered (inbox and e-mail)                 ceiling: bare smtplib sending
                                                               as many e-mails
  8. coverage report (p95 of 5 calls)                          ceiling: the report's own SQL,
                                                               run bare
The 1-vs-2-process speed-ups of the run, the notifications consumer and the delivery worker
are measured by bench/bench_scaleout.py (make bench runs both; docs/scale-out.md).

Signing is two-sided: each manager signs with their own token, then the employer's side is
signed by the signatory the layer rule names (a manager holding that post, with their own
token) or, where nobody holds it, recorded on paper by HR. Who countersigns is looked up
before the clock starts. Stage 3 sends each manager's call, then the employer's side as
POST /contracts/countersignatures calls of up to --countersign-batch contracts (100) per
signatory, as the portal's page of contracts awaiting a countersignature sends them
(docs/signing-batch.md); --countersign-batch 0 sends one call per contract instead.
--pg-statements N prints, after the bulk issue, after each side of signing and after stages 5
to 8, PostgreSQL's N statements with the most execution time and how many were JIT-compiled
(pg_stat_statements, bench/pg_statements.py).
E-mail goes to Postfix's smtp-sink when installed (`make bench` installs it), aiosmtpd's Sink
otherwise; the header line names which (bench/support.py, smtp_sink_command).
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import pg_statements
from bench_cycle_seed import group_tree
from proc_cpu import cpu_by_root, machine_busy_seconds, rss_by_session
from support import REPO, bare_smtp_seconds, free_port, gunicorn, smtp_sink_command, stop

from bench.http_load import LoadResult, run_load
from shared import ops
from shared.auth import issue_token
from shared.config import DEV_JWT_SECRET

SERVICES = ("contracts", "appraisal", "notifications")
WORKERS = {"contracts": ["relay", "consume"], "appraisal": ["relay", "consume"],
           "notifications": ["relay", "consume", "deliver"]}
MANAGER_CHUNK = 20_000
APPRAISAL_GROUP = "appraisal"  # services.appraisal.events.CONSUMER_GROUP
YEAR = 2026  # the contracts start on 2026-01-01: the year appraised
ACTUALS_CHUNK = 50_000  # CSV rows per request
SHARED_BUFFERS = "2GB"  # the bench's PostgreSQL server (main, below)
# The template's eight indicators (800,000 actuals for 100,000 managers): four organisational
# lines the enterprise shares and four individual ones, each a scored quantitative line.
# (code, part, direction, weight, base, target, challenge)
INDICATORS = (
    ("PROFIT", "organisational", "higher_is_better", "20", "80", "100", "120"),
    ("REVENUE", "organisational", "higher_is_better", "15", "80", "100", "120"),
    ("ROE", "organisational", "higher_is_better", "10", "80", "100", "120"),
    ("SAFETY", "organisational", "lower_is_better", "5", "70", "65", "60"),
    ("COST", "individual", "lower_is_better", "20", "70", "65", "60"),
    ("PROJECTS", "individual", "higher_is_better", "15", "80", "100", "120"),
    ("TALENT", "individual", "higher_is_better", "10", "80", "100", "120"),
    ("COMPLIANCE", "individual", "lower_is_better", "5", "70", "65", "60"),
)
# Why a stage stays below 0.30 of its ceiling, printed with it (see also docs/scale.md).
WHY = {
    "5": "each row is parsed, checked against the manager's locked target lines and the "
         "appraisal's state in Python (the batch's reads are a few set-based queries, its "
         "writes one COPY); COPY writes bare rows",
    "1": "each row is validated (marshmallow), its parent and duplicates resolved and its "
         "event rendered in Python; COPY does none of that",
    "2": "each contract gets its signatory, documents, targets, audit record and an event "
         "rendered in Python, and the rows pass every index; the ceiling copies finished rows",
    "3": "a manager's signature is a write transaction of 8 statements (the contract locked "
         "with its people and units, post holders, documents, three writes, audit records "
         "with events; 10 a batch of countersignatures, whatever its size), "
         "with the relay and both consumers working on its events on the same two cores; the "
         "bare endpoint does no work at all",
    "4": "each poll of up to 500 events is deduplicated in the inbox and applied in one "
         "transaction by one consumer per partition; the raw producer only sends",
    "6": "the run reads each manager's inputs and writes the appraisal with its trace; then "
         "review, approval and publication each lock, change and audit every appraisal "
         "(publication also writes its events); the ceiling only scores in memory",
    "7": "each notice is consumed from Kafka, deduplicated, written to the inbox, rendered "
         "and claimed for delivery before it is sent; the ceiling only sends",
    "8": "the report counts managers and contract holders by unit and position in SQL and "
         "reads the overdue rows; the ceiling is one bare count",
}


# --- processes and their memory ---------------------------------------------------------------


class RssSampler:
    """Peak resident memory of each named process (with its children), sampled twice a second."""

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def reset(self) -> None:
        self.peaks = {}

    def close(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            # One pass over /proc a tick for every process: a pass per named process cost
            # the bench a few percent of a core that the services under test did not get.
            rss = rss_by_session()
            for name, proc in list(self.procs.items()):
                self.peaks[name] = max(self.peaks.get(name, 0), rss.get(proc.pid, 0))


def spawn(name: str, args: list[str], env: dict[str, str], logs: Path,
          sampler: RssSampler) -> subprocess.Popen[bytes]:
    out = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - lives with the child
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    sampler.procs[name] = proc
    return proc


# --- HTTP -------------------------------------------------------------------------------------


def call(method: str, url: str, token: str, body: Any = None, *,
         content_type: str = "application/json") -> Any:
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, method=method, data=data, headers={
        "Authorization": f"Bearer {token}", "Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=600) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:  # say what the service said, not only the status
        raise RuntimeError(f"{method} {url}: {exc.code} {exc.read()[:500]!r}") from exc


def signing_calls(contracts: str, token: str, ids: list[str]) -> list[tuple[Any, ...]]:
    """Both signatures of every contract, in order: all managers first (their own tokens),
    then each employer side (the post holder's token, or HR recording paper). Who signs is
    asked of the service (`/signers`), eight contracts at a time, before the clock starts."""
    bearer = lambda t: {"Authorization": f"Bearer {t}"}  # noqa: E731
    paper = {"method": "paper", "party": "employer", "signed_on": time.strftime("%Y-%m-%d"),
             "paper_reference": "BENCH-PAPER"}

    @functools.cache
    def signatory_token(manager_id: str) -> str:
        # One token a signatory, as one session of theirs: their batches group by it.
        return issue_token(DEV_JWT_SECRET, f"m-{manager_id}", ["manager"],
                           manager_id=manager_id)

    supervisor = issue_token(DEV_JWT_SECRET, "supervisor", ["employer_signatory"])

    def both_sides(cid: str) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        who = call("GET", f"{contracts}/contracts/{cid}/signers", token)
        mid = who["manager"]["manager_id"]
        own = issue_token(DEV_JWT_SECRET, f"m-{mid}", ["manager"], manager_id=mid)
        manager = ("POST", f"/api/v1/contracts/{cid}/sign", {}, bearer(own))
        holders = who["employer"].get("manager_ids") or []
        if holders:
            return manager, ("POST", f"/api/v1/contracts/{cid}/sign", {},
                             bearer(signatory_token(holders[0])))
        if who["employer"]["role"] == "employer_signatory":  # the supervisor, say
            return manager, ("POST", f"/api/v1/contracts/{cid}/sign", {}, bearer(supervisor))
        return manager, ("POST", f"/api/v1/contracts/{cid}/sign", paper, bearer(token))

    with ThreadPoolExecutor(8) as pool:
        pairs = list(pool.map(both_sides, ids))
    return [m for m, _ in pairs] + [e for _, e in pairs]


def countersign_batches(employer_calls: list[tuple[Any, ...]], ids: list[str], size: int
                        ) -> list[tuple[Any, ...]]:
    """The employer's side as POST /contracts/countersignatures, `size` contracts a call,
    grouped by who countersigns (their token) and how (electronic, or paper by HR)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for (_method, _path, body, headers), cid in zip(employer_calls, ids, strict=True):
        kind = body.get("method", "electronic")
        item = {"contract_id": cid}
        if kind == "paper":
            item |= {"signed_on": body["signed_on"], "paper_reference": body["paper_reference"]}
        groups.setdefault((headers["Authorization"], kind), []).append(item)
    return [("POST", "/api/v1/contracts/countersignatures",
             {"method": kind, "contracts": items[i:i + size]}, {"Authorization": auth})
            for (auth, kind), items in groups.items() for i in range(0, len(items), size)]


def wait_until(check: Callable[[], bool], timeout: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return check()


# --- stages -----------------------------------------------------------------------------------


class CpuClock:
    """Where a stage's CPU went: each process's CPU seconds between `begin` and `end` (the
    stage's own clock, its ceiling left out), the bench's own load threads, and every core's
    busy time (whatever ran). On two cores a stage can go no faster than its busiest
    processes allow, so this says which process a faster stage has to spare."""

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots = roots  # name -> pid (the process and all below it)
        self._start: tuple[dict[str, float], float, float, float] | None = None
        self.parts: list[tuple[str, dict[str, float], float, float]] = []

    def _now(self) -> tuple[dict[str, float], float, float, float]:
        own = os.times()
        return (cpu_by_root(self.roots), own.user + own.system, machine_busy_seconds(),
                time.perf_counter())

    def begin(self) -> None:
        self._start = self._now()

    def end(self, part: str = "") -> None:
        """Close the window opened by `begin`; `part` names it when a stage has several."""
        if self._start is None:
            return
        (before, own0, busy0, wall0), (after, own1, busy1, wall1) = self._start, self._now()
        spent = {name: after[name] - before.get(name, 0.0) for name in after}
        spent["bench (HTTP clients)"] = own1 - own0
        self.parts.append((part, spent, busy1 - busy0, wall1 - wall0))
        self._start = None

    def lines(self) -> str:
        cores = os.cpu_count() or 1
        text = ""
        for part, spent, busy, wall in self.parts:
            top = sorted(((s, n) for n, s in spent.items() if s >= 0.05), reverse=True)
            text += (f"\n    CPU s{f' ({part})' if part else ''}: "
                     + ", ".join(f"{n} {s:.1f}" for s, n in top)
                     + f"; all cores busy {busy:.1f} of {cores * wall:.1f} "
                     f"({busy / (cores * wall or 1):.0%})")
        self.parts = []
        return text


class Report:
    def __init__(self, sampler: RssSampler, cpu: CpuClock) -> None:
        self.sampler = sampler
        self.cpu = cpu
        self.rows: list[tuple[str, float, str, float | None, str]] = []

    def stage(self, name: str, seconds: float, throughput: str, ceiling_seconds: float | None,
              ceiling: str) -> None:
        ratio = ceiling_seconds / seconds if ceiling_seconds and seconds else None
        self.rows.append((name, seconds, throughput, ratio, ceiling))
        peaks = ", ".join(f"{n} {b / 2**20:.0f}" for n, b in sorted(self.sampler.peaks.items())
                          if b)
        why = WHY.get(name.split()[0], "")
        flag = "" if ratio is None or ratio >= 0.30 else f"   BELOW 0.30: {why}"
        print(f"\n[{name}] {seconds:.1f} s, {throughput}; ceiling ({ceiling}) "
              f"{ceiling_seconds or float('nan'):.1f} s -> ratio "
              f"{'n/a' if ratio is None else f'{ratio:.2f}'}{flag}\n"
              f"    peak RSS MiB: {peaks}{self.cpu.lines()}", flush=True)
        self.sampler.reset()


def units_json(units: list[dict[str, Any]], codes: dict[str, str]) -> list[dict[str, Any]]:
    return [{"code": u["code"], "name": u["name"], "kind": u["kind"],
             "category": u["category"], "has_board": u["has_board"],
             **({"parent_code": codes[u["parent_id"]]} if u["parent_id"] else {})}
            for u in units]


def managers_csv(people: list[dict[str, Any]], codes: dict[str, str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["employee_no", "name", "email", "language", "org_unit_code", "position"])
    for m in people:
        writer.writerow([m["employee_no"], m["name"], m["email"], m["language"],
                         codes[m["org_unit_id"]], m["position"]])
    return out.getvalue().encode()


def raw_copy_seconds(url: str, units: list[dict[str, Any]], people: list[dict[str, Any]]
                     ) -> float:
    """The ceiling of stage 1: COPY the same rows into bare tables of the same shape."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE ceiling_units (LIKE org_units INCLUDING ALL)")
        conn.execute("CREATE TABLE ceiling_managers (LIKE managers INCLUDING ALL)")
        started = time.perf_counter()
        with conn.transaction():
            for table, rows in (("ceiling_units", units), ("ceiling_managers", people)):
                columns = list(rows[0])
                with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN"
                                        ) as copy:
                    for row in rows:
                        copy.write_row([row[c] for c in columns])
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE ceiling_units, ceiling_managers")
    return seconds


def sql_seconds(url: str, statements: list[str]) -> float:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        started = time.perf_counter()
        for statement in statements:
            conn.execute(statement.encode())
        return time.perf_counter() - started


def database_bytes(url: str) -> int:
    return _count(url, "SELECT pg_database_size(current_database())")


def raw_copy_rows_seconds(url: str, rows: list[tuple[Any, ...]]) -> float:
    """The ceiling of stage 5: COPY the same actuals into a bare table."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE ceiling_actuals (employee_no text, year int, "
                     "indicator_code text, value numeric, source text)")
        started = time.perf_counter()
        with conn.cursor().copy("COPY ceiling_actuals FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE ceiling_actuals")
    return seconds


def _count(url: str, statement: str) -> int:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(statement.encode()).fetchone()
    return int(row[0]) if row else 0


# The waits below ask twice a second whether anything is left, while the services work:
# a count(*) of 100,000 queued deliveries or unsent events took PostgreSQL 11-14 ms each
# time (5 s of its CPU in stage 7 at 100,000), EXISTS stops at the first row.
def deliveries_queued(url: str) -> bool:
    return bool(_count(url, "SELECT EXISTS (SELECT FROM deliveries WHERE state = 'queued')"))


def sent_deliveries(url: str) -> int:
    return _count(url, "SELECT count(*) FROM deliveries WHERE state = 'sent'")


def events_unsent(url: str) -> bool:
    return bool(_count(url, "SELECT EXISTS (SELECT FROM outbox WHERE sent_at IS NULL)"))


def bare_scoring_seconds(units: list[dict[str, Any]], people: list[dict[str, Any]],
                         rows: list[tuple[Any, ...]]) -> float:
    """The ceiling of stage 6: the scoring loop alone over the same managers, targets and
    actuals, every input already in memory (bench/bench_appraisal.py's bare phase), with the
    forced distribution of each layer and category's cohort."""
    from decimal import Decimal

    from services.appraisal import domain as d

    targets = d.targets_from_dicts(
        {"indicator_code": code, "name": code.title(), "unit": "", "kind": "quantitative",
         "direction": direction, "role": "scored", "weight": weight, "base": base,
         "target": target, "challenge": challenge, "main": False, "part": part,
         "max_points": None, "milestones": None, "description": ""}
        for code, part, direction, weight, base, target, challenge in INDICATORS)
    unit_of = {u["id"]: u for u in units}
    actuals: dict[str, dict[str, Any]] = {}
    for employee_no, _, code, value, _ in rows:
        actuals.setdefault(employee_no, {})[code] = d.Actual(code, value=Decimal(value))
    book = d.SchemeBook([d.DEFAULT_SCHEME])
    term = d.Term(YEAR, YEAR + 2)
    started = time.perf_counter()
    cohorts: dict[tuple[int, str], list[Any]] = {}
    for m in people:
        unit = unit_of[m["org_unit_id"]]
        scheme, _ = book.resolve(unit["layer"], unit["category"], m["position"], year=YEAR)
        result = d.appraise(scheme, targets, actuals[m["employee_no"]], manager_id=m["id"],
                            year=YEAR, position=m["position"], term=term)
        cohorts.setdefault((unit["layer"], unit["category"]), []).append(result)
    for results in cohorts.values():
        d.appraise_cohort(results)
    return time.perf_counter() - started


def stage7_ceiling(url: str, smtp_port: int, emails: int) -> float:
    """The ceiling of stage 7: the same number of e-mails sent with bare smtplib to the same
    SMTP server over as many sessions at once as the worker uses, each the latest notice
    rendered as the worker renders it (bench/bench_delivery.py's ceiling)."""
    from sqlalchemy import select

    from services.notifications import worker
    from services.notifications.channels.email import SmtpSettings, build_message
    from services.notifications.domain import render_notice
    from services.notifications.models import NoticeRow
    from shared.db import Database

    db = Database(url)
    try:
        with db.read() as s:
            row = s.scalars(select(NoticeRow).where(NoticeRow.recipient_email.is_not(None))
                            .order_by(NoticeRow.created_at.desc()).limit(1)).one()
            notice = worker.notice_of(row)
    finally:
        db.dispose()
    rendered = render_notice(notice)
    message = build_message("tenure@example.com", notice.recipient.email or "",
                            rendered.subject, rendered.text, rendered.html,
                            to_name=notice.recipient.name, notice_key=notice.notice_key,
                            event_id=notice.event_id)
    return bare_smtp_seconds("127.0.0.1", smtp_port, [message] * emails,
                             SmtpSettings.from_env().connections)


def raw_producer_seconds(bootstrap: str, events: int) -> float:
    from shared.kafka_clients import ensure_topics, make_producer

    topic = f"ceiling-{uuid.uuid4().hex[:6]}"
    ensure_topics(bootstrap, [topic], partitions=3)
    producer = make_producer(bootstrap)
    value = b"x" * 1024
    try:
        producer.send(topic, key=b"warm", value=value).get(timeout=30)
        started = time.perf_counter()
        for i in range(events):
            producer.send(topic, key=str(i % 1000).encode(), value=value)
        producer.flush()
        return time.perf_counter() - started
    finally:
        producer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--managers", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=8,
                        help="signing calls in flight at once")
    parser.add_argument("--countersign-batch", type=int, default=100, metavar="N",
                        help="stage 3: the employer's side in batches of up to N contracts "
                             "per signatory (POST /contracts/countersignatures, as the "
                             "portal sends them), after every manager has signed; "
                             "0: one call per contract")
    parser.add_argument("--pg-statements", type=int, default=0, metavar="N",
                        help="stages 2 and 3: print the N statements with the most execution "
                             "time in PostgreSQL for the bulk issue and each side of signing "
                             "(pg_stat_statements, preloaded in the bench's server)")
    args = parser.parse_args()
    import local_kafka
    import local_postgres

    from shared.events.catalogue import TOPICS

    logs = Path(mkdtemp(prefix="tenure-cycle-"))
    sampler = RssSampler()
    cpu = CpuClock({})
    report = Report(sampler, cpu)
    procs: list[subprocess.Popen[bytes]] = []
    token = issue_token(DEV_JWT_SECRET, "bench-hr", ["hr_admin"], ttl_seconds=24 * 3600)
    units, people = group_tree(args.managers)
    codes = {u["id"]: u["code"] for u in units}
    print(f"group: {len(units)} units ({sum(u['kind'] == 'enterprise' for u in units)} "
          f"enterprises), {len(people)} managers; PostgreSQL shared_buffers "
          f"{SHARED_BUFFERS}; logs in {logs}", flush=True)
    # The database server as the ops guide sizes one (a quarter of its memory as
    # shared_buffers), not the test servers' 32 MB: at 100,000 managers the three
    # databases hold about 8 GB, and with 32 MB a fifth of the pages every statement touched
    # came from the kernel's cache instead of PostgreSQL's own.
    with local_postgres.LocalPostgres(settings={
            "shared_buffers": SHARED_BUFFERS,
            **(pg_statements.SETTINGS if args.pg_statements else {})}) as pg, \
            local_kafka.LocalKafka() as broker:
        bootstrap = broker.bootstrap_servers
        local_kafka.create_topics(bootstrap, TOPICS, partitions=3)
        smtp_port = free_port()
        env = {**os.environ, "PYTHONPATH": str(REPO), "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
               "TENURE_ENV": "development", "JWT_SECRET": DEV_JWT_SECRET,
               "LOG_LEVEL": "WARNING", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port),
               "SMTP_STARTTLS": "false"}
        urls = {}
        for service in SERVICES:
            urls[service] = pg.create_database(f"cycle_{service}")
            env[f"{service.upper()}_DATABASE_URL"] = urls[service]
            subprocess.run([sys.executable, "-m", "flask", "--app",
                            f"services.{service}:create_app", "migrate"], cwd=REPO, env=env,
                           check=True, capture_output=True)
        sampler.start()
        try:
            smtp_command, smtp_name = smtp_sink_command(smtp_port)
            print(f"SMTP server: {smtp_name}", flush=True)
            procs.append(spawn("smtp", smtp_command, env, logs, sampler))
            ports = {}
            for service in SERVICES:
                ports[service] = free_port()
                proc = gunicorn(f"services.{service}.wsgi:app", ports[service],
                                {k: v for k, v in env.items() if k != "PYTHONPATH"},
                                workers=2, log=logs / f"{service}-api.log")
                sampler.procs[f"{service}-api"] = proc
                procs.append(proc)
                for worker in WORKERS[service]:
                    procs.append(spawn(f"{service}-{worker}", [
                        sys.executable, "-m", "flask", "--app",
                        f"services.{service}:create_app", worker], env, logs, sampler))
            bare_port = free_port()
            bare = gunicorn("bench.bare_app:app", bare_port, {}, workers=2,
                            log=logs / "bare.log")
            procs.append(bare)
            contracts = f"http://127.0.0.1:{ports['contracts']}/api/v1"
            appraisal = f"http://127.0.0.1:{ports['appraisal']}/api/v1"
            cpu.roots.update({"postgres": pg.pid or 0, "kafka": broker.pid or 0}
                                | {name: proc.pid for name, proc in sampler.procs.items()})
            sampler.reset()

            # 1. org tree and managers, as HR loads them
            cpu.begin()
            started = time.perf_counter()
            outcome = call("POST", f"{contracts}/org-units/bulk", token,
                           units_json(units, codes))
            created = outcome["created"]
            for k in range(0, len(people), MANAGER_CHUNK):
                outcome = call("POST", f"{contracts}/managers/bulk", token,
                               managers_csv(people[k:k + MANAGER_CHUNK], codes),
                               content_type="text/csv")
                created += outcome["created"]
                if outcome["rejected"]:
                    print("rejected rows:", outcome["errors"][:5])
            seconds = time.perf_counter() - started
            cpu.end()
            ceiling = raw_copy_seconds(urls["contracts"], units, people)
            report.stage("1 org tree + managers (bulk import)", seconds,
                         f"{created / seconds:,.0f} rows/s ({created} created)", ceiling,
                         "raw COPY of the same rows")

            # 2. bulk issue from one template
            for code, _, direction, *_ in INDICATORS:
                call("POST", f"{contracts}/indicators", token,
                     {"code": code, "name": code.title(), "kind": "quantitative",
                      "direction": direction})
            template = call("POST", f"{contracts}/templates", token, {
                "name": "Every manager", "term_years": 3, "targets": [
                    {"indicator_code": code, "weight": weight, "base": base,
                     "target": target, "challenge": challenge, "part": part}
                    for code, part, _, weight, base, target, challenge in INDICATORS]})
            with pg_statements.window(urls["contracts"], args.pg_statements,
                                      "the bulk issue", len(people), "contract"):
                cpu.begin()
                started = time.perf_counter()
                job = call("POST", f"{contracts}/bulk-issues", token,
                           {"template_id": template["id"], "start_date": "2026-01-01"})
                while job["status"] not in ("done", "partial", "failed"):
                    time.sleep(0.5)
                    job = call("GET", f"{contracts}/bulk-issues/{job['id']}?decisions=false",
                               token)
                seconds = time.perf_counter() - started
                cpu.end()
            ceiling = sql_seconds(urls["contracts"], [
                "CREATE TABLE ceiling_contracts AS SELECT * FROM tenure_contracts WITH NO DATA",
                "CREATE TABLE ceiling_documents AS SELECT * FROM contract_documents "
                "WITH NO DATA",
                "INSERT INTO ceiling_contracts SELECT * FROM tenure_contracts",
                "INSERT INTO ceiling_documents SELECT * FROM contract_documents"])
            report.stage("2 bulk issue", seconds,
                         f"{job['issued'] / seconds:,.0f} contracts/s ({job['issued']} issued, "
                         f"{job['skipped']} skipped, {job['status']})", ceiling,
                         "raw INSERT..SELECT of the same rows")

            # 3. signing at realistic concurrency
            ids = []
            page = 1
            while True:
                items = call("GET", f"{contracts}/contracts?state=pending_signature"
                             f"&page_size=500&page={page}", token)["items"]
                ids += [c["id"] for c in items]
                if len(items) < 500:
                    break
                page += 1
            headers = {"Authorization": f"Bearer {token}"}
            calls = signing_calls(contracts, token, ids)
            if args.countersign_batch:
                sides = (calls[:len(ids)],
                         countersign_batches(calls[len(ids):], ids, args.countersign_batch))
                loads = []
                for side, part in zip(sides, ("the managers' calls", "the employers' batches"),
                                      strict=True):
                    print(f"    stage 3: {part} start", flush=True)  # for profilers
                    with pg_statements.window(urls["contracts"], args.pg_statements,
                                              f"    stage 3, {part}:", len(ids), "contract"):
                        cpu.begin()
                        loads.append(run_load("sign", "127.0.0.1", ports["contracts"],
                                              lambda i, side=side: side[i], headers,
                                              threads=args.concurrency, duration=3600,
                                              max_requests=len(side)))
                        cpu.end(part)
                signing = LoadResult("sign", 2 * len(ids), sum(x.errors for x in loads),
                                     sum(x.seconds for x in loads),
                                     [ms for x in loads for ms in x.latencies_ms])
            else:
                cpu.begin()
                signing = run_load("sign", "127.0.0.1", ports["contracts"],
                                   lambda i: calls[i], headers, threads=args.concurrency,
                                   duration=3600, max_requests=len(calls))
                cpu.end()
            batched = (f"; the employer's in batches of {args.countersign_batch}, latencies "
                       "of both sides' calls: the managers' "
                       f"{loads[0].seconds:.0f} s, the employers' {loads[1].seconds:.0f} s"
                       if args.countersign_batch else "")
            bare_load = run_load("bare", "127.0.0.1", bare_port,
                                 lambda i: ("GET", "/bare", None), {},
                                 threads=args.concurrency, duration=3600,
                                 max_requests=len(calls))
            report.stage("3 signing", signing.seconds,
                         f"{signing.rate:,.0f} signatures/s ({len(ids)} contracts, two "
                         f"each{batched}) at {args.concurrency} in flight, "
                         f"p50 {signing.pct(50):.0f} ms p99 {signing.pct(99):.0f} ms, "
                         f"{signing.errors} errors", bare_load.seconds,
                         "bare Flask endpoint, same calls")

            # 4. the appraisal read model catches up
            cpu.begin()
            started = time.perf_counter()

            def caught_up() -> bool:
                """Every contract event published, and consumed by the appraisal service."""
                if events_unsent(urls["contracts"]):
                    return False
                lag = ops.topics_and_lag(bootstrap, [APPRAISAL_GROUP])["total_lag"]
                body = call("GET", f"{appraisal}/managers?page_size=1", token)
                return (lag.get(APPRAISAL_GROUP, 1) == 0
                        and int(body["page"]["total"]) >= len(people))

            wait_until(caught_up, timeout=3600)
            seconds = time.perf_counter() - started
            cpu.end()
            # The read model follows the APIs as they write, so what is left to wait for
            # after the last signature is its lag; the ceiling is what a bare producer takes
            # to send every event of the stages so far (registered, issued, signed).
            events = len(people) + 2 * len(ids)
            ceiling = raw_producer_seconds(bootstrap, events)
            report.stage("4 appraisal read model catch-up", seconds,
                         f"lag after the last signature; {events} events in all "
                         f"(a bare producer sends them in {ceiling:.1f} s)", None,
                         "none: the stage ran alongside 1-3")

            # 5. actuals through the CSV API, as finance sends them (spread over the grades)
            # Values spread over the grades: each line lands somewhere between below base
            # and beyond challenge, differently for each manager.
            rows = [(m["employee_no"], YEAR, code,
                     (60 + (i * (7 + 6 * k)) % 70) if direction == "higher_is_better"
                     else (55 + (i * (3 + 2 * k)) % 20), "bench")
                    for i, m in enumerate(people)
                    for k, (code, _, direction, *_) in enumerate(INDICATORS)]
            with pg_statements.window(urls["appraisal"], args.pg_statements,
                                      "    stage 5:", len(rows), "actual"):
                cpu.begin()
                started = time.perf_counter()
                accepted = 0
                for k in range(0, len(rows), ACTUALS_CHUNK):
                    text = "employee_no,year,indicator_code,value,source\n" + "".join(
                        ",".join(map(str, r)) + "\n" for r in rows[k:k + ACTUALS_CHUNK])
                    accepted += call("POST", f"{appraisal}/actuals/csv", token,
                                     text.encode(), content_type="text/csv")["accepted"]
                seconds = time.perf_counter() - started
                cpu.end()
            report.stage("5 actuals through the CSV API", seconds,
                         f"{accepted / seconds:,.0f} rows/s ({accepted} of {len(rows)} kept)",
                         raw_copy_rows_seconds(urls["appraisal"], rows),
                         "raw COPY of the same rows")

            # 6. the appraisal run, then review, approve and publish for the whole group; its
            # ceiling first, while nothing else is running
            bare_scoring = bare_scoring_seconds(units, people, rows)
            with pg_statements.window(urls["appraisal"], args.pg_statements,
                                      "    stage 6:", len(people), "manager"):
                cpu.begin()
                started = time.perf_counter()
                run = call("POST", f"{appraisal}/appraisal-runs", token, {"year": YEAR})
                wait_until(lambda: call("GET", f"{appraisal}/appraisal-runs/{run['id']}",
                                        token)["status"] in ("done", "failed"), timeout=3600)
                run = call("GET", f"{appraisal}/appraisal-runs/{run['id']}", token)
                scoring = time.perf_counter() - started
                for action in ("review", "approve", "publish"):
                    call("POST", f"{appraisal}/appraisal-runs/{run['id']}/{action}", token,
                         {"note": "bench"})
                seconds = time.perf_counter() - started
                cpu.end()
            report.stage("6 appraisal run, review, approve, publish", seconds,
                         f"{run['scored'] / seconds:,.0f} appraisals/s ({run['scored']} "
                         f"scored, {run['skipped']} skipped; the run itself {scoring:.1f} s)",
                         bare_scoring, "the bare scoring loop over the same inputs")

            # 7. every notice of the year delivered: inbox, and e-mail to the SMTP server
            with pg_statements.window(urls["notifications"], args.pg_statements,
                                      "    stage 7:", len(people), "manager"):
                cpu.begin()
                started = time.perf_counter()
                sent_before = sent_deliveries(urls["notifications"])
                wait_until(lambda: not events_unsent(urls["appraisal"])
                           and not deliveries_queued(urls["notifications"]), timeout=3600)
                seconds = time.perf_counter() - started
                cpu.end()
            sent = sent_deliveries(urls["notifications"])
            report.stage("7 notices to the inbox and by e-mail", seconds,
                         f"{sent - sent_before:,} e-mails in the stage, {sent:,} in the year, "
                         "none left queued; the inbox is written with each notice",
                         stage7_ceiling(urls["notifications"], smtp_port, sent - sent_before),
                         "bare smtplib sending as many over as many sessions at once")
            print("\n[1 vs 2 processes (run, consumer, delivery)] measured by "
                  "bench/bench_scaleout.py (make bench runs it before this one)", flush=True)

            # 8. coverage report
            times = []
            with pg_statements.window(urls["contracts"], args.pg_statements,
                                      "    stage 8:", 5, "report"):
                cpu.begin()
                for _ in range(5):
                    started = time.perf_counter()
                    body = call("GET",
                                f"{contracts}/reports/coverage?group_by=layer,category", token)
                    times.append(time.perf_counter() - started)
                cpu.end()
            times.sort()
            ceiling = sql_seconds(urls["contracts"], [
                "SELECT count(*) FROM managers m JOIN org_units u ON m.org_unit_id = u.id "
                "LEFT JOIN tenure_contracts c ON c.manager_id = m.id "
                "AND c.position = m.position WHERE m.employment_status = 'active'"])
            report.stage("8 coverage report (p95 of 5)", times[-1],
                         f"median {statistics.median(times):.2f} s, signing rate "
                         f"{body['totals']['signing_rate']}%", ceiling,
                         "the report's join, counted bare in SQL")
            sizes = {service: database_bytes(url) for service, url in urls.items()}
            print("\ndatabase size MiB: " + ", ".join(
                f"{service} {size / 2**20:.0f}" for service, size in sizes.items()), flush=True)
        finally:
            sampler.close()
            for proc in reversed(procs):
                stop(proc)
    print("\n" + "stage".ljust(50) + "seconds   ratio   throughput")
    for name, seconds, throughput, ratio, _ in report.rows:
        print(f"{name:<50}{seconds:>7.1f}   {'n/a' if ratio is None else f'{ratio:.2f}':>5}"
              f"   {throughput}")
    print(f"total of the stages measured: {sum(r[1] for r in report.rows):.0f} s "
          f"(goal for 100,000 managers, whole year: < 900 s)")
    print(f"logs: {logs}")


if __name__ == "__main__":
    main()
