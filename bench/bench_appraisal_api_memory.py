"""The appraisal API's memory through stages 5 and 6 of the year, as gunicorn serves it.

`bench_appraisal_storage.py` measures the steps in process; the whole year
(`bench_cycle.py`) measures every process but takes an hour at 100,000 managers. This one
runs what lies between: the read model seeded by COPY (`bench_appraisal.seed`, no actuals),
the appraisal service under gunicorn on PostgreSQL (two workers, as `bench_cycle.py` starts
it), the year's actuals through `POST /actuals/csv` in files of 50,000 rows, the run
(`POST /appraisal-runs`, scored by the service's own pool), then review, approve and
publish of the whole run. After each step it prints its wall time, the peak RSS of the
service's largest process (a worker, or a scorer of its pool) during that step, sampled twice
a second, and the CPU seconds the service's processes and PostgreSQL's spent on it (less
noisy than the wall time on a shared machine).

`--repo DIR` serves another checkout of the project (e.g. `git archive <commit>` unpacked)
on the same kind of data: the way to put a figure against the version before a change.

    .venv/bin/python bench/bench_appraisal_api_memory.py --managers 100000
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from bench_appraisal import YEAR, actual_values, seed
from bench_cycle import RssSampler, call
from proc_cpu import cpu_seconds
from support import REPO, free_port, gunicorn, stop

from shared.auth import issue_token
from shared.config import DEV_JWT_SECRET

CSV_HEADER = "employee_no,year,indicator_code,value,rating,veto_hit,source\n"
ROWS_PER_FILE = 50_000  # as bench_cycle.py sends them


def csv_lines(people: list[str]) -> list[str]:
    """Eight actuals a manager (the seed's eight lines: values, a rating, a red line)."""
    rnd = random.Random(20260101)
    lines = []
    for n, no in enumerate(people):
        for code, fields in actual_values(rnd, n % 4):
            veto = fields.get("veto_hit")
            lines.append(f"{no},{YEAR},{code},{fields.get('value', '')},"
                         f"{fields.get('rating', '')},"
                         f"{'' if veto is None else str(veto).lower()},bench\n")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--managers", type=int, default=100_000)
    parser.add_argument("--repo", type=Path, default=REPO,
                        help="the checkout whose appraisal service is served")
    args = parser.parse_args()
    repo = args.repo.resolve()
    import local_postgres
    from sqlalchemy import create_engine, text

    from shared.migrations import upgrade

    with local_postgres.LocalPostgres() as pg:
        url = pg.create_database("api_memory")
        upgrade(repo / "services/appraisal/migrations", url)
        seed(url, args.managers, with_actuals=False)
        engine = create_engine(url)
        with engine.connect() as conn:
            people = list(conn.scalars(text(
                "SELECT employee_no FROM managers ORDER BY employee_no")))
        engine.dispose()
        # No broker: the API only writes its outbox, which no relay drains here.
        env = {"APPRAISAL_DATABASE_URL": url, "TENURE_ENV": "development",
               "JWT_SECRET": DEV_JWT_SECRET, "LOG_LEVEL": "WARNING"}
        port = free_port()
        proc = gunicorn("services.appraisal.wsgi:app", port, env, workers=2, repo=repo)
        sampler = RssSampler()
        sampler.procs["api"] = proc
        sampler.start()
        base = f"http://127.0.0.1:{port}/api/v1"
        token = issue_token(DEV_JWT_SECRET, "bench-hr", ["hr_admin"], ttl_seconds=24 * 3600)
        print(f"{len(people):,} managers seeded; serving {repo}", flush=True)

        cpu = {"api": cpu_seconds(proc.pid), "db": cpu_seconds(pg.pid or 0)}

        def step(name: str, started: float) -> None:
            seconds = time.perf_counter() - started
            used = {"api": cpu_seconds(proc.pid), "db": cpu_seconds(pg.pid or 0)}
            time.sleep(1)  # one more sample after the last request
            print(f"{name:<10}{seconds:>8.1f} s   peak RSS "
                  f"{sampler.peaks.get('api', 0) / 2**20:>6.0f} MiB   CPU s: API "
                  f"{used['api'] - cpu['api']:>6.1f}, PostgreSQL {used['db'] - cpu['db']:>6.1f}",
                  flush=True)
            cpu.update(used)
            sampler.reset()

        try:
            lines = csv_lines(people)
            sampler.reset()
            started = time.perf_counter()
            for k in range(0, len(lines), ROWS_PER_FILE):
                body = (CSV_HEADER + "".join(lines[k:k + ROWS_PER_FILE])).encode()
                outcome = call("POST", f"{base}/actuals/csv", token, body,
                               content_type="text/csv")
                if outcome.get("rejected"):
                    raise RuntimeError(f"rows refused: {str(outcome)[:500]}")
            step("actuals", started)
            del lines
            started = time.perf_counter()
            run = call("POST", f"{base}/appraisal-runs", token, {"year": YEAR})
            while (run := call("GET", f"{base}/appraisal-runs/{run['id']}", token)
                   )["status"] not in ("done", "failed"):
                time.sleep(0.5)
            if run["status"] != "done":
                raise RuntimeError(f"the run failed: {run}")
            step("run", started)
            for action in ("review", "approve", "publish"):
                started = time.perf_counter()
                call("POST", f"{base}/appraisal-runs/{run['id']}/{action}", token,
                     {"note": "bench"})
                step(action, started)
        finally:
            sampler.close()
            stop(proc)


if __name__ == "__main__":
    main()
