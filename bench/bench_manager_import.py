"""Bulk import of managers in files, in-process: does a file cost more as the table grows?

Run: .venv/bin/python bench/bench_manager_import.py [--managers 100000] [--file 20000]

Stage 1 of bench_cycle.py imports the org tree, then the managers in files of 20,000 through
`POST /managers/bulk`, with the relay and every consumer of the group running beside it. This
bench calls the same use cases (`import_org_units`, `import_managers`) on a throwaway
PostgreSQL with nothing else running, file after file, and prints for each file: its CPU
time in this process, the server's CPU time, the wall time, and the statements that took
longest (timed at the engine), so that a step growing with the table shows by name.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from typing import Any

from bench_bulk_issue import server_cpu
from bench_cycle_seed import group_tree
from support import contracts_server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--managers", type=int, default=100_000)
    parser.add_argument("--file", type=int, default=20_000)
    parser.add_argument("--no-prepare", action="store_true", help="psycopg never prepares "
                        "a statement server-side (no generic plans): isolates their part")
    args = parser.parse_args()
    from sqlalchemy import event

    from services.contracts.service.imports import import_managers, import_org_units
    from shared.auth import Principal
    from shared.db import Database

    units, people = group_tree(args.managers)
    codes = {u["id"]: u["code"] for u in units}
    hr = Principal("bench", frozenset({"hr_admin"}))
    with contracts_server("imports") as (pg, url):
        db = Database(url)
        spent: dict[str, float] = defaultdict(float)

        def before(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            conn.info["started"] = time.perf_counter()

        def after(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            spent[" ".join(statement.split())[:70]] += (
                time.perf_counter() - conn.info.pop("started"))

        if args.no_prepare:
            event.listen(db.engine, "connect",
                         lambda driver, _record: setattr(driver, "prepare_threshold", None))
        event.listen(db.engine, "before_cursor_execute", before)
        event.listen(db.engine, "after_cursor_execute", after)
        outcome = import_org_units(db, hr, [(n, {
            "code": u["code"], "name": u["name"], "kind": u["kind"], "category": u["category"],
            "has_board": u["has_board"],
            **({"parent_code": codes[u["parent_id"]]} if u["parent_id"] else {})})
            for n, u in enumerate(units, 1)], [])
        print(f"org units: {outcome.created} created")
        for k in range(0, len(people), args.file):
            rows = [(n, {"employee_no": p["employee_no"], "name": p["name"],
                         "email": p["email"], "language": p["language"],
                         "org_unit_code": codes[p["org_unit_id"]], "position": p["position"]})
                    for n, p in enumerate(people[k:k + args.file], 1)]
            spent.clear()
            server, cpu, wall = server_cpu(pg), time.process_time(), time.perf_counter()
            outcome = import_managers(db, hr, rows, [])
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            time.sleep(0.5)
            server = server_cpu(pg) - server
            top = sorted(spent.items(), key=lambda kv: -kv[1])[:3]
            print(f"file {k // args.file + 1} (managers {k + 1}-{k + len(rows)}): "
                  f"{outcome.created} created | cpu {cpu:.2f} s, server cpu {server:.2f} s, "
                  f"wall {wall:.2f} s | slowest statements: "
                  + "; ".join(f"{s!r} {t:.2f} s" for s, t in top), flush=True)
        db.dispose()


if __name__ == "__main__":
    main()
