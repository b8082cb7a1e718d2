"""Where one uncached `GET /contracts` page goes: cProfile and SQL statements, in process.

10,000 managers (bench_contracts.seed) with contracts in several states
(bench_coverage.SEED_CONTRACTS) on PostgreSQL; the contracts app with its read cache off is
called through the Flask test client with a real token, as a scoped HR officer and as
group-wide HR, for a second-level enterprise's subtree and one state, 50 to a page.

Run: .venv/bin/python bench/profile_contract_list.py [--requests 300] [--top 30]
                                                 [--page 60] [--after] [--explain]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time

from support import contracts_database

from shared.auth import issue_token
from shared.config import DEV_JWT_SECRET


def explain(db: object, fetch_rows: object) -> None:
    """EXPLAIN ANALYZE of the next statements on the driver path (shared.db.fetch_rows)."""
    driver = db._thread_connection()  # type: ignore[attr-defined]
    for stmt, params in getattr(db, "seen", []):
        sql, _ = db._compiled(stmt)  # type: ignore[attr-defined]
        # The plan a prepared statement settles on after its first executions, too.
        for mode in ("auto", "force_generic_plan"):
            with driver.cursor() as cur:
                cur.execute(f"SET plan_cache_mode = {mode}")
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                print(f"--- plan_cache_mode {mode}")
                print("\n".join(r[0] for r in cur.fetchall()))
        with driver.cursor() as cur:
            cur.execute("RESET plan_cache_mode")


def seed_contract_list(url: str, managers: int) -> str:
    """Managers (bench_contracts.seed) with contracts in several states
    (bench_coverage.SEED_CONTRACTS), analysed: the id of the first second-level unit."""
    from bench_contracts import analyse, seed
    from bench_coverage import SEED_CONTRACTS
    from sqlalchemy import create_engine, text

    seed(url, managers, 0)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(SEED_CONTRACTS))
        unit = conn.execute(text("SELECT id FROM org_units WHERE layer = 2 ORDER BY code "
                                 "LIMIT 1")).scalar()
    engine.dispose()
    analyse(url)
    return str(unit)


def main() -> None:
    from sqlalchemy import event

    parser = argparse.ArgumentParser()
    for flag, kind, default, meaning in (
        ("--requests", int, 300, "requests timed for each caller"),
        ("--top", int, 30, "lines of the profile shown"),
        ("--state", str, "active", "the contract state listed"),
        ("--sort", str, "cumulative", "cumulative or tottime"),
    ):
        parser.add_argument(flag, type=kind, default=default, help=meaning)
    parser.add_argument("--explain", action="store_true",
                        help="print the plan of each statement a request runs")
    parser.add_argument("--page", type=int, default=1, help="the page number listed")
    parser.add_argument("--after", action="store_true", help="list the page after --page "
                        "by its cursor (the Link header's after=) instead")
    args = parser.parse_args()

    with contracts_database("profile_list") as url:
        sub = seed_contract_list(url, 10_000)
        os.environ.update(CONTRACTS_DATABASE_URL=url, LOG_LEVEL="WARNING",
                          CONTRACTS_READ_CACHE="off")
        from services.contracts import create_app

        app = create_app()
        db = app.extensions["tenure_db"]
        statements = 0

        def count(*_: object) -> None:
            nonlocal statements
            statements += 1

        # Heard for the read engine too: it is the same engine with other options.
        event.listen(db.engine, "before_cursor_execute", count)
        fetch_rows = db.fetch_rows

        db.seen = []

        def counted_fetch_rows(*a: object, **k: object) -> object:
            count()
            db.seen[:] = [a]
            return fetch_rows(*a, **k)

        db.fetch_rows = counted_fetch_rows  # the driver path bypasses SQLAlchemy's events
        client = app.test_client()
        numbered = (f"/api/v1/contracts?org_unit_id={sub}&state={args.state}&page_size=50"
                    f"&page={args.page}")
        for who, token in (
            ("group-wide HR", issue_token(DEV_JWT_SECRET, "hr", ["hr_admin"])),
            ("scoped HR", issue_token(DEV_JWT_SECRET, "hr-s", ["hr_admin"], org_scope=sub)),
        ):
            headers = {"Authorization": f"Bearer {token}"}
            path = numbered
            if args.after:
                path = client.get(path, headers=headers).headers["Link"].split(";")[0][1:-1]
            page = client.get(path, headers=headers).json
            if args.explain:
                explain(db, fetch_rows)
            statements = 0
            client.get(path, headers=headers)
            per_request = statements
            profile = cProfile.Profile()
            started = time.perf_counter()
            profile.enable()
            for _ in range(args.requests):
                client.get(path, headers=headers)
            profile.disable()
            ms = (time.perf_counter() - started) * 1000 / args.requests
            print(f"\n=== {who}: {len(page['items'])} items of {page['page'].get('total')}, "
                  f"{per_request} SQL statements a request, {ms:.2f} ms a request "
                  f"under cProfile ===")
            pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
            started = time.perf_counter()
            for _ in range(args.requests):
                client.get(path, headers=headers)
            print(f"{who}: {(time.perf_counter() - started) * 1000 / args.requests:.2f} ms a "
                  "request without the profiler")
            if args.explain:  # did the server plan each execution again, or reuse a plan?
                with db._thread_connection().cursor() as cur:
                    cur.execute("SELECT generic_plans, custom_plans, left(statement, 60) "
                                "FROM pg_prepared_statements")
                    for generic, custom, text_ in cur.fetchall():
                        print(f"prepared: {generic} generic plans, {custom} custom: {text_}")
        db.dispose()


if __name__ == "__main__":
    main()
