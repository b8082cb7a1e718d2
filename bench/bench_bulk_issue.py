"""Bulk issue in-process: CPU time, contracts a second and peak memory at several job sizes.

Run: .venv/bin/python bench/bench_bulk_issue.py [--sizes 10000,40000] [--rounds 3]
                                                 [--repo PATH] [--profile]

Seeds bench_contracts' org tree and managers once per size into a template database on a
throwaway PostgreSQL, then for every round copies it (CREATE DATABASE ... TEMPLATE) and runs
`run_bulk_issue` in a fresh child process, so that each round starts from the same data and
the child's peak RSS is the bulk issue's own (VmHWM, reset through /proc/self/clear_refs
once the child is ready, since a child inherits its parent's peak). The child reports its CPU time
(`process_time`: the machine may be busy, so wall time alone would mislead), its wall time,
its resident set before the job and at its peak, and the PostgreSQL server's CPU time
over the round (its postmaster's own, its children's and its reaped children's): job
CPU plus server CPU is what the job costs the machine, whoever else runs on it.
`--repo` runs the child on another checkout's code (an A/B comparison on the same data);
`--profile` prints the child's top functions by cumulative time (one round).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from support import REPO

CHILD = r"""
import cProfile, json, pstats, sys, time
from datetime import date
sys.path.insert(0, REPO)
from shared.db import Database
from services.contracts.service import bulk
def status_mib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
db = Database(URL)
with db.read() as s:  # connect and warm the mappers before the baseline figure
    s.execute(__import__("sqlalchemy").text("select 1"))
# The peak is inherited from the parent across fork and exec: start it again from here.
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status_mib("VmRSS")
profiler = cProfile.Profile() if PROFILE else None
cpu, wall = time.process_time(), time.perf_counter()
if profiler: profiler.enable()
bulk.run_bulk_issue(db, JOB, date(2026, 1, 1))
if profiler: profiler.disable()
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
peak = status_mib("VmHWM")  # before the job's figures are read (not its decisions)
with db.read() as s:
    row = s.execute(__import__("sqlalchemy").text(
        "SELECT status, issued, skipped, failed, json_array_length(decisions) "
        "FROM bulk_issue_jobs WHERE id = :id"), {"id": JOB}).one()
out = dict(zip(("status", "issued", "skipped", "failed", "decisions"), row))
out.update(cpu=cpu, wall=wall, rss_before=before, rss_peak=peak)
if profiler:
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
print(json.dumps(out))
"""


def seed_template(pg: object, name: str, managers: int) -> tuple[str, str]:
    """A database holding the org tree, `managers` managers, a template and a queued job."""
    from bench_contracts import seed

    from services.contracts.service import bulk
    from shared.auth import Principal
    from shared.db import Database
    from shared.migrations import upgrade

    pg.create_database(name)  # type: ignore[attr-defined]
    url = pg.socket_url_for(name)  # type: ignore[attr-defined]
    upgrade(REPO / "services/contracts/migrations", url)
    seed(url, managers, spare=1000)
    db = Database(url)
    from services.contracts.models import ContractTemplate
    from services.contracts.service.common import new_id, utcnow
    with db.unit_of_work() as s:
        template_id = new_id()
        s.add(ContractTemplate(
            id=template_id, name="All managers", term_years=3, max_consecutive_terms=2,
            signing_deadline_days=30, layer=None, category=None, position=None,
            targets=[{"indicator_code": "PROFIT", "weight": "60", "base": "80",
                      "target": "100", "challenge": "120", "part": "organisational"},
                     {"indicator_code": "COST", "weight": "40", "base": "70", "target": "65",
                      "challenge": "60", "part": "individual"}],
            tenure_targets=[], created_at=utcnow(), updated_at=utcnow(), row_version=1))
    job = bulk.start_bulk_issue(db, Principal("bench", frozenset({"hr_admin"})), {
        "template_id": template_id, "start_date": __import__("datetime").date(2026, 1, 1),
        "filter": {"layer": 3}})
    db.dispose()
    import psycopg

    dsn = pg.dsn.replace("dbname=postgres", f"dbname={name}")  # type: ignore[attr-defined]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ANALYZE")  # the planner sees the steady state
    return url, job.id


def server_cpu(pg: object) -> float:
    """CPU seconds the PostgreSQL server has used so far: the postmaster, its live children
    and the children it has reaped (backends of closed connections, autovacuum workers)."""
    import os

    tick = os.sysconf("SC_CLK_TCK")
    master = int((pg.data_dir / "postmaster.pid").read_text().split()[0])  # type: ignore[attr-defined]
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        if pid == master:
            total += sum(int(x) for x in fields[11:15]) / tick  # own and reaped children
        elif ppid == master:
            total += sum(int(x) for x in fields[11:13]) / tick
    return total


def one_round(pg: object, source: str, name: str, job_id: str, repo: Path,
              profile: bool) -> dict[str, float]:
    import psycopg

    with psycopg.connect(pg.dsn, autocommit=True) as conn:  # type: ignore[attr-defined]
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    code = (CHILD.replace("REPO", repr(str(repo))).replace("URL", repr(pg.socket_url_for(name)))
            .replace("JOB", repr(job_id)).replace("PROFILE", repr(profile)))
    server = server_cpu(pg)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=repo, check=False)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    time.sleep(1)  # the job's backends exit and are reaped
    server = server_cpu(pg) - server
    if profile:
        print(done.stderr[:6000])
    with psycopg.connect(pg.dsn, autocommit=True) as conn:  # type: ignore[attr-defined]
        conn.execute(f'DROP DATABASE "{name}"')
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "server_cpu": server}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,40000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repo", type=Path, action="append",
                        help="the checkout whose bulk issue runs (default: this one); given "
                        "twice or more, the checkouts take turns round by round (A/B)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    import local_postgres

    with local_postgres.LocalPostgres() as pg:
        for size in (int(x) for x in args.sizes.split(",")):
            source = f"bulk_{size}"
            _, job_id = seed_template(pg, source, size)
            repos = [r.resolve() for r in args.repo or [REPO]]
            taken: dict[Path, list[dict[str, float]]] = {r: [] for r in repos}
            for k in range(args.rounds):
                for repo in repos:  # in turns: the machine's noise hits each alike
                    taken[repo].append(one_round(pg, source, f"{source}_r{len(repos) * k}",
                                                 job_id, repo, args.profile and k == 0))
            for repo, rounds in taken.items():
                report(size, repo, rounds)


def report(size: int, repo: Path, rounds: list[dict[str, float]]) -> None:
    print(f"{repo}:")
    for k, r in enumerate(rounds):
        print(f"{size:>7} managers round {k + 1}: {r['status']} issued {r['issued']} "
              f"skipped {r['skipped']} failed {r['failed']} | cpu {r['cpu']:.2f} s "
              f"({r['issued'] / r['cpu']:.0f} contracts/cpu-s) wall {r['wall']:.2f} s"
              f" ({r['issued'] / r['wall']:.0f}/s) server cpu {r['server_cpu']:.2f} s"
              f" | RSS {r['rss_before']:.0f} -> "
              f"peak {r['rss_peak']:.0f} MiB (+{r['rss_peak'] - r['rss_before']:.0f})")
    med = {k: statistics.median(r[k] for r in rounds) for k in ("cpu", "wall", "server_cpu")}
    growth = statistics.median(r["rss_peak"] - r["rss_before"] for r in rounds)
    issued = rounds[0]["issued"]
    print(f"{size:>7} managers median: cpu {med['cpu']:.2f} s ({issued / med['cpu']:.0f} "
          f"contracts/cpu-s), wall {med['wall']:.2f} s ({issued / med['wall']:.0f}/s), "
          f"server cpu {med['server_cpu']:.2f} s, both cpus {med['cpu'] + med['server_cpu']:.2f}"
          f" s ({issued / (med['cpu'] + med['server_cpu']):.0f} contracts/s), peak RSS "
          f"growth {growth:.0f} MiB", flush=True)

if __name__ == "__main__":
    main()
