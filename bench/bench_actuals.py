"""Actuals through the CSV API, in process on PostgreSQL: rows a second and SQL statements.

The read model (managers, contracts, locked targets of 8 lines) is seeded by COPY into a
throw-away PostgreSQL and every manager's appraisal is opened; then each round posts one CSV
of every manager's 8 actuals (by employee_no, as finance sends them) to
`POST /api/v1/actuals/csv` through the app's test client, so no HTTP server or network
stands between the upload and the figures. Round "new" writes every row; round "replace"
sends the same file again (every row replaces its earlier actual). Before each "new" round
the actuals are deleted and the appraisals reopened, so every round does the same work.

Run: .venv/bin/python bench/bench_actuals.py [--managers 2000] [--rounds 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from typing import Any

from bench_appraisal import YEAR, actual_values, seed
from bench_cycle import raw_copy_rows_seconds
from support import REPO


def actuals_of(managers: int) -> list[tuple[str, str, dict[str, Any]]]:
    import random

    rnd = random.Random(7)
    return [(f"E{n:06d}", code, fields) for n in range(managers)
            for code, fields in actual_values(rnd, n % 4)]


def csv_text(managers: int) -> str:
    lines = ["employee_no,year,indicator_code,value,rating,veto_hit,source"]
    for number, code, fields in actuals_of(managers):
        veto = fields.get("veto_hit")
        lines.append(f"{number},{YEAR},{code},{fields.get('value', '')},"
                     f"{fields.get('rating', '')},"
                     f"{'' if veto is None else str(veto).lower()},finance-erp")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--managers", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true",
                        help="print the 30 costliest functions of one 'new' upload")
    args = parser.parse_args()

    import local_postgres
    from sqlalchemy import event, text

    from services.appraisal import create_app
    from shared.auth import issue_token
    from shared.config import DEV_JWT_SECRET, Settings
    from shared.migrations import upgrade

    with local_postgres.LocalPostgres(settings={"shared_buffers": "256MB"}) as pg:
        url = pg.create_database("bench_actuals")
        upgrade(REPO / "services/appraisal/migrations", url)
        seed(url, args.managers, with_actuals=False)
        app = create_app(Settings.from_env("appraisal", database_url=url, testing=True,
                                           jwt_secret=DEV_JWT_SECRET, log_json=False,
                                           kafka_bootstrap=None, read_cache=False,
                                           access_log=False))
        engine = app.extensions["tenure_db"].engine
        statements = [0]
        event.listen(engine, "before_cursor_execute",
                     lambda *_a, **_k: statements.__setitem__(0, statements[0] + 1))
        headers = {"Authorization": "Bearer " + issue_token(DEV_JWT_SECRET, "bench",
                                                             ["hr_admin"])}
        client = app.test_client()
        opened = client.post("/api/v1/appraisals/open", json={"year": YEAR}, headers=headers)
        assert opened.status_code == 200, opened.get_data(as_text=True)
        body = csv_text(args.managers).encode()
        rows = body.count(b"\n") - 1

        def reset() -> None:
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM actuals"))
                conn.execute(text("DELETE FROM appraisal_log"))
                conn.execute(text("UPDATE appraisals SET state = 'open'"))
                conn.execute(text("ANALYZE"))

        def upload() -> tuple[float, int, dict[str, Any]]:
            statements[0] = 0
            started = time.perf_counter()
            resp = client.post("/api/v1/actuals/csv", data=body, headers=headers,
                               content_type="text/csv")
            seconds = time.perf_counter() - started
            out = resp.get_json()
            assert resp.status_code == 200 and out["rejected"] == 0, out
            return seconds, statements[0], out

        if args.profile:
            reset()
            profiler = cProfile.Profile()
            profiler.enable()
            upload()
            profiler.disable()
            stats = pstats.Stats(profiler).sort_stats("cumulative")
            stats.print_stats(12)
            stats.print_stats(r"services/|shared/|csv|psycopg.*(execute|copy)", 30)
        figures: dict[str, list[tuple[float, int]]] = {"new": [], "replace": []}
        for _ in range(args.rounds):
            reset()
            seconds, count, out = upload()
            assert out["created"] == rows, out
            figures["new"].append((seconds, count))
            seconds, count, out = upload()
            assert out["updated"] == rows, out
            figures["replace"].append((seconds, count))
        ceiling = statistics.median(raw_copy_rows_seconds(url, [
            (number, YEAR, code, fields.get("value"), "finance-erp")
            for number, code, fields in actuals_of(args.managers)]) for _ in range(3))
        with engine.connect() as conn:
            submitted = conn.execute(text(
                "SELECT count(*) FROM appraisals WHERE state = 'actuals_submitted'")).scalar()
        app.extensions["tenure_db"].dispose()
    print(f"{args.managers:,} managers, one CSV of {rows:,} rows per upload; "
          f"{submitted:,} appraisals moved to actuals_submitted")
    for name, runs in figures.items():
        rates = [rows / s for s, _ in runs]
        print(f"{name:<8} median {statistics.median(rates):>9,.0f} rows/s  rounds: "
              + ", ".join(f"{r:,.0f}" for r in rates)
              + f"  SQL statements per upload: {', '.join(str(c) for _, c in runs)}"
              + f"  ratio to raw COPY: {statistics.median(rates) * ceiling / rows:.2f}")
    print(f"ceiling: a raw COPY of the same rows into a bare table, {rows / ceiling:,.0f} rows/s")


if __name__ == "__main__":
    main()
