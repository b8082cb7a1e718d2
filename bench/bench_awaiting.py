"""What `GET /contracts?awaiting=my_countersignature` costs a chair with many contracts to
countersign, among other enterprises' contracts (docs/portal-countersign.md).

In process (Flask's test client) on a throwaway PostgreSQL: wall time and this process's
CPU per request, and the server's own execution time of its one statement (EXPLAIN ANALYZE;
tests/integration/test_contracts_awaiting_countersignature.py counts the statements). For
reference, the same contracts listed by HR of the group's subtree by unit and state
(`?org_unit_id=...&state=pending_signature`, without documents; a scoped HR token, so the
read cache stays out of it). Median of the rounds, printed with every round.

    python bench/bench_awaiting.py [--rounds 7] [--mine 300] [--others 4] [--per-other 300]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import text
from support import contracts_database

from services.contracts import create_app, reads
from tests.conftest import auth, service_settings
from tests.support import contracts_world as cw


def seed(api: cw.Client, mine: int, others: int, per_other: int
         ) -> tuple[str, str, str]:
    """Board enterprises, each with a chair and general managers; every contract issued in
    one bulk issue; SUB's managers and half of the others' have signed. The ids of HQ,
    SUB and SUB's chair."""
    hq = cw.unit(api, "HQ", "group", has_board=True)["id"]
    units = [cw.unit(api, f"SUB-{i}", "enterprise", hq, has_board=True)["id"]
             for i in range(others + 1)]
    cw.indicators(api)
    t = cw.template(api)["id"]
    chair = cw.manager(api, "CHAIR-0", units[0], position="chair")["id"]
    for u, unit_id in enumerate(units):
        if u:
            cw.manager(api, f"CHAIR-{u}", unit_id, position="chair")
        for i in range(mine if u == 0 else per_other):
            cw.manager(api, f"G{u}-{i:05d}", unit_id)
    job = api.post("/api/v1/bulk-issues", {"template_id": t, "start_date": "2026-01-01"},
                   expect=202).get_json()
    cw.wait_for_job(api, job["id"])
    for u, unit_id in enumerate(units):
        got = api.get(f"/api/v1/contracts?org_unit_id={unit_id}&page_size=500").get_json()
        for n, c in enumerate(got["items"]):
            if u == 0 or n % 2:
                cw.sign_as_manager(api, c)
    return hq, units[0], chair


def timed(api: cw.Client, path: str, expect: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    body = api.get(path).get_json()
    assert body["page"]["total"] == expect, body["page"]
    return 1000 * (time.perf_counter() - wall), 1000 * (time.process_time() - cpu)


def server_ms(app: Any, chair: str, show: bool = False) -> float:
    """The one statement's execution time on the server, by EXPLAIN ANALYZE (its plan
    printed with `show`)."""
    stmt = reads.awaiting_list(frozenset({"countersigner_id"}))
    db = app.extensions["tenure_db"]
    sql, _keys = db._compiled(stmt)
    with db.engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN ANALYZE " + sql, {
            "countersigner_id": chair, "limit": 500, "offset": 0}).scalars().all()
    if show:
        print("\n".join(plan))
    return float(next(line for line in plan if line.startswith("Execution Time"))
                 .split(":")[1].split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--mine", type=int, default=300)
    parser.add_argument("--others", type=int, default=4)
    parser.add_argument("--per-other", type=int, default=300)
    parser.add_argument("--plan", action="store_true", help="print the statement's plan")
    args = parser.parse_args()
    with contracts_database("awaiting") as url:
        app = create_app(service_settings("contracts", url))
        engine = app.extensions["tenure_db"].engine
        logging.disable(logging.INFO)
        started = time.perf_counter()
        hr = cw.Client(app.test_client())
        hq, sub, chair = seed(hr, args.mine, args.others, args.per_other)
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        total = args.mine + args.others * args.per_other
        print(f"seeded {total} contracts, {args.mine} awaiting the chair, in "
              f"{time.perf_counter() - started:.0f} s")
        api = cw.Client(app.test_client(), auth("manager", subject="sso-CHAIR",
                                                manager_id=chair))
        awaiting = "/api/v1/contracts?awaiting=my_countersignature&page_size=500"
        by_unit = f"/api/v1/contracts?org_unit_id={sub}&state=pending_signature&page_size=500"
        scoped = cw.Client(app.test_client(), auth("hr_admin", org_scope=hq))
        for _ in range(2):  # warm up
            timed(api, awaiting, args.mine)
            timed(scoped, by_unit, args.mine)
        if args.plan:
            server_ms(app, chair, show=True)
        rows: list[tuple[Any, ...]] = []
        for r in range(args.rounds):
            a, h, s = (timed(api, awaiting, args.mine), timed(scoped, by_unit, args.mine),
                       server_ms(app, chair))
            rows.append((a, h, s))
            print(f"round {r + 1}: awaiting {a[0]:.1f} ms wall, {a[1]:.1f} ms CPU, "
                  f"server {s:.1f} ms; HR by unit {h[0]:.1f} ms wall, "
                  f"{h[1]:.1f} ms CPU")
        print(f"median: awaiting {statistics.median(r[0][0] for r in rows):.1f} ms wall, "
              f"{statistics.median(r[0][1] for r in rows):.1f} ms CPU, server "
              f"{statistics.median(r[2] for r in rows):.1f} ms; HR by unit "
              f"{statistics.median(r[1][0] for r in rows):.1f} ms wall, "
              f"{statistics.median(r[1][1] for r in rows):.1f} ms CPU "
              f"({args.mine} contracts a page)")
        app.extensions["tenure_db"].dispose()


if __name__ == "__main__":
    main()
