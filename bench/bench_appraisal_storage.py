"""Where an appraisal year's bytes go: per-table sizes after a year for N managers.

The year as the service lives it, in process, on a throw-away PostgreSQL: the read model
(org units, managers, contracts, locked targets) seeded by COPY as bench_appraisal.py does;
eight actuals per manager through the actuals use case (as the CSV API calls it); the
appraisal run; then review, approve and publish of the whole run. Sizes are read at the end
(pg_relation_size of the heap, of its TOAST, pg_indexes_size) with nothing vacuumed, as the
year leaves them, and again after a plain VACUUM (what autovacuum leaves: dead row
versions become reusable space, the files keep their size).

Sizes are deterministic for a given N (no timing involved): run it for two sizes to read
the per-manager slope, e.g.

    .venv/bin/python bench/bench_appraisal_storage.py --managers 1000 4000
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import sys
from typing import Any

from bench_appraisal import YEAR, actual_values, seed
from support import REPO

SIZES = """
SELECT c.relname AS name,
       pg_relation_size(c.oid) AS heap,
       COALESCE(pg_total_relation_size(c.reltoastrelid), 0) AS toast,
       pg_indexes_size(c.oid) AS indexes,
       pg_total_relation_size(c.oid) AS total
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'r'
ORDER BY total DESC
"""


def _status_mib(field: str) -> float:
    """A line of /proc/self/status (VmRSS: now, VmHWM: the peak since the last reset)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def peak_rss(step: str, started: float) -> float:
    """The peak RSS of one step and how far it rose over the RSS the step started with;
    then the peak is reset (Linux: clear_refs 5) so that the next step shows its own.
    Returns the RSS now, where the next step starts."""
    gc.collect()
    peak = _status_mib("VmHWM")
    print(f"  peak RSS during {step}: {peak:.0f} MiB ({peak - started:+.0f} over its start)",
          flush=True)
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass
    return _status_mib("VmRSS")


def year_of_appraisal(url: str, managers: int) -> None:
    """Actuals, the run, review, approve and publish, as HR drives them."""
    from sqlalchemy import select

    from services.appraisal.models import Manager
    from services.appraisal.schemas import ActualIn
    from services.appraisal.service import execute_run, record_actuals, start_run
    from services.appraisal.service.runs import act_on_run
    from shared import audit
    from shared.auth import Principal
    from shared.db import Database
    from shared.fields import TextValues

    db = Database(url)
    hr = Principal(subject="hr-bench", roles=frozenset({"hr_admin"}))
    with db.read() as s:
        people = list(s.execute(select(Manager.employee_no).order_by(Manager.employee_no)))
    rnd = random.Random(20260101)
    rows = [{"employee_no": no, "year": str(YEAR), "indicator_code": code, "source": "erp",
             **{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in f.items()}}
            for n, (no,) in enumerate(people) for code, f in actual_values(rnd, n % 4)]
    with audit.acting_as(hr.subject):
        for start in range(0, len(rows), 50_000):
            # Each CSV row loaded by the API's schema, as the CSV endpoint does.
            chunk = [ActualIn().load(TextValues(r)) for r in rows[start:start + 50_000]]
            kept = record_actuals(db, hr, chunk)
            assert not kept.errors, kept.errors[:3]
        del rows, chunk  # the file's rows: the service holds one request's, not the year's
        now = peak_rss("actuals", 0)
        run = start_run(db, hr, {"year": YEAR, "kind": "annual"})
        execute_run(db, run.id, workers=1)
        now = peak_rss("run", now)
        for action in ("review", "approve", "publish"):
            outcome = act_on_run(db, hr, run.id, action, "bench")
            assert not outcome["refused"], outcome["refused"][:3]
            now = peak_rss(action, now)
    db.dispose()


def sizes(url: str) -> dict[str, dict[str, int]]:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        return {r[0]: {"heap": r[1], "toast": r[2], "indexes": r[3], "total": r[4]}
                for r in conn.execute(SIZES)}


AUDIT_BY_ACTION = """
SELECT object_type || ' ' || action AS what, count(*) AS records,
       sum(pg_column_size(a.*)) AS bytes,
       sum(COALESCE(pg_column_size(before), 0) + COALESCE(pg_column_size(after), 0)) AS json
FROM audit_log a GROUP BY 1 ORDER BY 3 DESC
"""
ROW_VERSIONS = """
SELECT relname, n_live_tup, n_dead_tup, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
WHERE relname IN ('appraisals', 'audit_log', 'actuals', 'outbox') ORDER BY relname
"""


def details(url: str) -> dict[str, Any]:
    """What the audit records hold by kind (row bytes as stored, before/after JSON within
    them), and the appraisal row versions the year left."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
        audit = {r[0]: {"records": r[1], "bytes": int(r[2]), "json": int(r[3])}
                 for r in conn.execute(AUDIT_BY_ACTION)}
    with psycopg.connect(dsn) as conn:
        versions = {r[0]: {"live": r[1], "dead": r[2], "updated": r[3], "hot": r[4]}
                    for r in conn.execute(ROW_VERSIONS)}
    return {"audit": audit, "versions": versions}


def vacuum(url: str) -> None:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM")


def measure(managers: int) -> dict[str, Any]:
    import local_postgres

    from shared.migrations import upgrade

    # autovacuum off: the sizes are those the year's writes leave, not a race with it.
    with local_postgres.LocalPostgres(settings={"shared_buffers": "128MB",
                                                "autovacuum": "off"}) as pg:
        url = pg.create_database("bench_storage")
        upgrade(REPO / "services/appraisal/migrations", url)
        seed(url, managers, with_actuals=False)
        seeded = sizes(url)
        year_of_appraisal(url, managers)
        ended = sizes(url)
        seen = details(url)
        vacuum(url)
        vacuumed = sizes(url)
    return {"managers": managers, "seeded": seeded, "year": ended, "vacuumed": vacuumed,
            **seen}


def report(runs: list[dict[str, Any]]) -> None:
    for f in runs:
        n = f["managers"]
        print(f"\n{n:,} managers: bytes per manager after the year (heap + TOAST + indexes "
              "= total; the seeded read model included)")
        print(f"{'table':<26}{'heap':>9}{'toast':>9}{'indexes':>9}{'total':>9}"
              f"{'vacuumed':>10}")
        year, vac = f["year"], f["vacuumed"]
        for name, row in year.items():
            if row["total"] < 16_384 * 2:
                continue
            print(f"{name:<26}" + "".join(f"{row[k] / n:>9.0f}" for k in
                                          ("heap", "toast", "indexes", "total"))
                  + f"{vac[name]['total'] / n:>10.0f}")
        total = sum(r["total"] for r in year.values())
        print(f"{'all tables':<26}{'':>27}{total / n:>9.0f}   ({total / 2**20:.1f} MiB)")
        print("audit records by kind: records per manager, stored bytes per manager "
              "(of which before/after JSON)")
        for what, a in f["audit"].items():
            print(f"  {what:<40}{a['records'] / n:>6.2f}{a['bytes'] / n:>9.0f}"
                  f"{a['json'] / n:>9.0f}")
        print("row versions: " + "; ".join(
            f"{t} live {v['live']} dead {v['dead']} updates {v['updated']} (HOT {v['hot']})"
            for t, v in f["versions"].items()))
    if len(runs) >= 2:
        a, b = runs[0], runs[-1]
        span = b["managers"] - a["managers"]
        print(f"\nslope {a['managers']:,} -> {b['managers']:,} (bytes per extra manager):")
        for name in b["year"]:
            d = b["year"][name]["total"] - a["year"].get(name, {"total": 0})["total"]
            if d:
                print(f"{name:<26}{d / span:>9.0f}")
        d = sum(r["total"] for r in b["year"].values()) - sum(
            r["total"] for r in a["year"].values())
        print(f"{'all tables':<26}{d / span:>9.0f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--managers", type=int, nargs="+", default=[1000, 4000])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    runs = [measure(n) for n in args.managers]
    if args.json:
        json.dump(runs, sys.stdout, indent=2)
        print()
    report(runs)


if __name__ == "__main__":
    main()
