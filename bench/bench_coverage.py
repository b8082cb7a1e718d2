"""The coverage report for a large group, in process: seconds per report (median and p95).

A group from bench_cycle_seed.group_tree (100,000 managers: 4 layers, 3 categories, about
2,000 enterprises) is written straight to PostgreSQL with contracts in every state (by SQL:
no contract, draft, pending signature before and after its deadline, active, an expired
predecessor of an active one, a second pending term), then
`GET /api/v1/reports/coverage` is timed through the Flask test client with a group-wide HR
token, the same way on any version of the service: in alternation with the bare SQL count
of the report's rows (the ceiling bench_cycle uses), so background load hits both alike.

Run: .venv/bin/python bench/bench_coverage.py [--managers 100000] [--rounds 9]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import time
from typing import Any

from support import contracts_database

from shared.auth import issue_token
from shared.config import DEV_JWT_SECRET

# Every manager's contracts by md5 of the employee number, so any run seeds the same states.
SEED_CONTRACTS = """
INSERT INTO tenure_contracts (id, manager_id, org_unit_id, position, start_date, end_date,
    term_years, state, term_number, max_consecutive_terms, signatory, issued_on,
    signing_deadline, version, row_version, reminders_sent, signatures, created_by,
    created_at, updated_at)
SELECT gen_random_uuid()::text, m.id, m.org_unit_id, m.position, s.start_date,
    s.start_date + 1094, 3, s.state, 1, 2, '{}', s.issued_on, s.deadline, 1, 1, '[]', '[]',
    'bench', now(), now()
FROM (SELECT *, ('x' || substr(md5(employee_no), 1, 4))::bit(16)::int % 100 AS pick
      FROM managers) m
CROSS JOIN LATERAL (VALUES
    -- 5 % none; 5 % draft; 10 % pending, 5 of them past the deadline; the rest active
    (CASE WHEN m.pick < 5 THEN NULL WHEN m.pick < 10 THEN 'draft'
          WHEN m.pick < 20 THEN 'pending_signature' ELSE 'active' END,
     DATE '2026-01-01',
     CASE WHEN m.pick >= 10 THEN DATE '2025-12-01' END,
     CASE WHEN m.pick BETWEEN 10 AND 14 THEN DATE '2025-12-01' + (m.pick * 7)
          WHEN m.pick >= 10 THEN DATE '2027-06-30' END),
    -- an expired predecessor of an active contract; a drafted second term of a pending one
    (CASE WHEN m.pick >= 90 THEN 'expired' WHEN m.pick IN (12, 17) THEN 'draft'
     END, DATE '2029-01-01', DATE '2025-11-01', DATE '2026-02-01')
) AS s(state, start_date, issued_on, deadline)
WHERE s.state IS NOT NULL
"""
# The report's rows, counted bare (bench_cycle's ceiling).
BARE_COUNT = ("SELECT count(*) FROM managers m JOIN org_units u ON m.org_unit_id = u.id "
              "LEFT JOIN tenure_contracts c ON c.manager_id = m.id "
              "AND c.position = m.position WHERE m.employment_status = 'active'")


def explain(app: Any, report: Any) -> None:
    """EXPLAIN ANALYZE of each statement `report()` sends, after it ran."""
    from sqlalchemy import event

    engine = app.extensions["tenure_db"].engine
    sent: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    started = time.perf_counter()
    report()
    print(f"one report: {time.perf_counter() - started:.3f} s, {len(sent)} statements")
    event.remove(engine, "before_cursor_execute", keep)
    with engine.connect() as conn:
        for statement, parameters in sent:
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            print("\n".join(r[0] for r in plan) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--managers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--group-by", default="layer,category,position")
    parser.add_argument("--profile", action="store_true", help="cProfile one report")
    parser.add_argument("--freeze", action=argparse.BooleanOptionalAction, default=True,
                        help="freeze the app's start-up objects as a gunicorn worker does")
    parser.add_argument("--explain", action="store_true",
                        help="print the plan of every statement one report runs")
    args = parser.parse_args()
    from bench_contracts import analyse
    from bench_cycle_seed import seed_tree
    from sqlalchemy import create_engine, text

    with contracts_database("bench_coverage") as url:
        engine = create_engine(url)
        seed_tree(engine, args.managers)
        with engine.begin() as conn:
            contracts = conn.execute(text(SEED_CONTRACTS)).rowcount
        analyse(url)
        os.environ.update(CONTRACTS_DATABASE_URL=url, LOG_LEVEL="WARNING",
                          CONTRACTS_READ_CACHE="off")
        from services.contracts import create_app

        app = create_app()
        try:  # as a gunicorn worker does once its app is built (deploy/gunicorn.conf.py)
            from shared.heap import freeze_startup_objects
        except ImportError:  # a version from before shared/heap.py
            frozen = 0
        else:
            frozen = freeze_startup_objects() if args.freeze else 0
        client = app.test_client()
        headers = {"Authorization": "Bearer " + issue_token(DEV_JWT_SECRET, "b", ["hr_admin"])}
        path = f"/api/v1/reports/coverage?as_of=2026-03-01&group_by={args.group_by}"
        body = client.get(path, headers=headers).json  # warm: plans, imports
        if args.explain:
            explain(app, lambda: client.get(path, headers=headers))
        if args.profile:
            import cProfile
            import pstats

            profile = cProfile.Profile()
            profile.runcall(client.get, path, headers=headers)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
        times, bare = [], []
        for _ in range(args.rounds):
            started = time.perf_counter()
            response = client.get(path, headers=headers)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200 and response.json == body
            with engine.connect() as conn:
                started = time.perf_counter()
                conn.execute(text(BARE_COUNT)).scalar()
                bare.append(time.perf_counter() - started)
        app.extensions["tenure_db"].dispose()
        engine.dispose()
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(f"coverage report, {args.managers:,} managers, {contracts:,} contracts, group_by "
          f"{args.group_by}, {frozen:,} start-up objects frozen: median "
          f"{statistics.median(times):.3f} s, p95 {p95:.3f} s (goal p95 < 1 s); "
          f"bare SQL count median {statistics.median(bare):.3f} s")
    print("rounds (ms): " + ", ".join(f"{t * 1000:.0f}" for t in times))
    # Ids are drawn afresh by every seeding: the digest leaves them out.
    plain = {**body, "overdue": [{k: v for k, v in o.items() if not k.endswith("_id")}
                                 for o in body["overdue"]]}
    digest = hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()[:16]
    print(f"totals: {body['totals']}; {len(body['groups'])} groups, "
          f"{len(body['overdue'])} overdue; body sha256 {digest} (ids left out: the same on "
          "every version)")


if __name__ == "__main__":
    main()
