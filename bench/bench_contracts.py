"""Contracts service under gunicorn on PostgreSQL: req/s and p50/p99 against bare Flask,
and the time to bulk-issue 10,000 contracts from one template.

Run: .venv/bin/python bench/bench_contracts.py [--managers 10000] [--seconds 6] [--rounds 3]
                                              [--tcp]

How the GET figures are taken, so they can be trusted on a small shared machine:
- Both servers run the same gunicorn settings: deploy/gunicorn.conf.py's defaults (2 workers
  per CPU, 2 threads each). wrk opens 16 kept-alive connections at once; with gunicorn's
  default of 1000 connections a worker, one worker could take all 16 and the others sit
  idle, which cuts a figure at random. Each worker takes an equal share here, as a load
  balancer would spread them.
- PostgreSQL runs on the same two cores as the servers and wrk, so the service reaches it
  over its Unix socket, as an application on the database host would; `--tcp` measures the
  loopback TCP connection instead (it costs the service a few percent more CPU a request).
- The bare endpoint and the service endpoints are measured in alternation, several rounds,
  and the median of each is reported: background noise then hits both alike.
- GET one contract is measured three ways: the same contract again and again (served from
  each worker's read cache after its first read), a contract picked at random among all of
  them for every request (each worker's cache fills as the rounds go), and the same contract
  from a second server with the cache off (`CONTRACTS_READ_CACHE=off`: one database round
  trip a request).
- The tables are analysed after the bulk load (autovacuum would do so within a minute), so
  the planner sees the steady state rather than empty-table estimates.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from tempfile import mkdtemp

from support import REPO, ensure_wrk, free_port, gunicorn, stop, wrk

from bench.http_load import run_load
from shared.auth import issue_token
from shared.config import DEV_JWT_SECRET
from shared.migrations import upgrade

# wrk picks a contract at random for each request, among all the bench issued.
ANY_CONTRACT_LUA = """
local ids = {}
for line in io.lines("IDS_FILE") do ids[#ids + 1] = line end
request = function()
    return wrk.format("GET", "/api/v1/contracts/" .. ids[math.random(#ids)])
end
"""
WORKERS = 2 * (os.cpu_count() or 1)  # deploy/gunicorn.conf.py's default
CONNECTIONS = 16


def seed(url: str, managers: int, spare: int) -> None:
    """Org tree (1 + 20 + 100 enterprises) and managers, written straight to the tables."""
    from sqlalchemy import create_engine, insert

    from services.contracts.models import Indicator, Manager, OrgUnit

    now = datetime.now(UTC)
    engine = create_engine(url)
    units = []
    hq = str(uuid.uuid4())
    units.append(dict(id=hq, parent_id=None, code="HQ", name="Group HQ", kind="group",
                      category="commercial_competitive", has_board=True, layer=1,
                      path=f"/{hq}/", row_version=1, created_at=now, updated_at=now))
    leaves = []
    for i in range(20):
        sid = str(uuid.uuid4())
        units.append(dict(id=sid, parent_id=hq, code=f"S{i}", name=f"Sub {i}",
                          kind="enterprise", category="commercial_competitive",
                          has_board=i % 2 == 0, layer=2, path=f"/{hq}/{sid}/", row_version=1,
                          created_at=now, updated_at=now))
        for j in range(5):
            tid = str(uuid.uuid4())
            units.append(dict(id=tid, parent_id=sid, code=f"S{i}-{j}", name=f"Third {i}-{j}",
                              kind="enterprise", category="commercial_competitive",
                              has_board=False, layer=3, path=f"/{hq}/{sid}/{tid}/",
                              row_version=1, created_at=now, updated_at=now))
            leaves.append(tid)
    spare_unit = str(uuid.uuid4())  # layer 2: outside the bulk issue's filter (layer 3)
    units.append(dict(id=spare_unit, parent_id=hq, code="SPARE", name="Spare", kind="enterprise",
                      category="commercial_competitive", has_board=False, layer=2,
                      path=f"/{hq}/{spare_unit}/", row_version=1, created_at=now,
                      updated_at=now))
    positions = ["general_manager", "deputy_general_manager", "chief_financial_officer",
                 "middle_manager"]
    rows = []
    for n in range(managers + spare):
        rows.append(dict(
            id=str(uuid.uuid4()), employee_no=f"{'E' if n < managers else 'X'}{n:06d}",
            name=f"Manager {n}", email=f"m{n}@example.com", language="zh",
            org_unit_id=leaves[n % len(leaves)] if n < managers else spare_unit,
            position=positions[n % len(positions)],
            management_level="enterprise_leadership", employment_status="active",
            row_version=1, created_at=now, updated_at=now))
    with engine.begin() as conn:
        conn.execute(insert(OrgUnit), units)
        conn.execute(insert(Indicator), [
            dict(code="PROFIT", name="Profit", unit="CNY 10k", kind="quantitative",
                 direction="higher_is_better", description="", created_at=now),
            dict(code="COST", name="Cost ratio", unit="%", kind="quantitative",
                 direction="lower_is_better", description="", created_at=now),
        ])
        for k in range(0, len(rows), 5000):
            conn.execute(insert(Manager), rows[k:k + 5000])
    engine.dispose()


def analyse(url: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def call(method: str, url: str, token: str, body: object = None) -> dict:
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode()
                                 if body is not None else None,
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--managers", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tcp", action="store_true",
                        help="reach PostgreSQL over loopback TCP rather than its socket")
    parser.add_argument("--baseline", type=Path, help="another checkout of the project: its "
                        "contracts service, cache off, serves the same database as a second "
                        "list target (an A/B comparison in alternation)")
    parser.add_argument("--only", default="", help="measure only the GET targets whose name "
                        "contains one of these |-separated words (the bare ceiling "
                        "always), and skip the POST load: e.g. --only 'cache off'")
    args = parser.parse_args()
    import local_postgres

    logs = Path(mkdtemp(prefix="tenure-bench-"))
    with local_postgres.LocalPostgres() as pg:
        url = pg.create_database("bench_contracts")
        if not args.tcp:
            url = pg.socket_url_for("bench_contracts")
        upgrade(REPO / "services/contracts/migrations", url)
        spare = 20_000
        seed(url, args.managers, spare)
        token = issue_token(DEV_JWT_SECRET, "bench", ["hr_admin"])
        headers = {"Authorization": f"Bearer {token}"}
        port, bare_port = free_port(), free_port()
        env = {"CONTRACTS_DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
        per_worker = CONNECTIONS // WORKERS
        api = gunicorn("services.contracts.wsgi:app", port, env, workers=WORKERS,
                       log=logs / "contracts.log", worker_connections=per_worker)
        uncached_port = free_port()
        uncached = gunicorn("services.contracts.wsgi:app", uncached_port,
                            {**env, "CONTRACTS_READ_CACHE": "off"}, workers=WORKERS,
                            log=logs / "contracts-uncached.log",
                            worker_connections=per_worker)
        baseline_port = free_port()
        baseline = gunicorn("services.contracts.wsgi:app", baseline_port,
                            {**env, "CONTRACTS_READ_CACHE": "off"}, workers=WORKERS,
                            log=logs / "contracts-baseline.log",
                            worker_connections=per_worker,
                            repo=args.baseline.resolve()) if args.baseline else None
        bare = gunicorn("bench.bare_app:app", bare_port, {}, workers=WORKERS,
                        log=logs / "bare.log", worker_connections=per_worker)
        base = f"http://127.0.0.1:{port}/api/v1"
        try:
            template = call("POST", f"{base}/templates", token, {
                "name": "All managers", "term_years": 3, "targets": [
                    {"indicator_code": "PROFIT", "weight": "60", "base": "80", "target": "100",
                     "challenge": "120", "part": "organisational"},
                    {"indicator_code": "COST", "weight": "40", "base": "70", "target": "65",
                     "challenge": "60", "part": "individual"}]})
            started = time.perf_counter()
            job = call("POST", f"{base}/bulk-issues", token, {
                "template_id": template["id"], "start_date": "2026-01-01",
                "filter": {"layer": 3}})
            while job["status"] not in ("done", "partial", "failed"):
                time.sleep(0.1)
                job = call("GET", f"{base}/bulk-issues/{job['id']}", token)
            bulk_seconds = time.perf_counter() - started
            print(f"bulk issue: {job['issued']} issued, {job['skipped']} skipped, "
                  f"status {job['status']} in {bulk_seconds:.2f} s")
            page = call("GET", f"{base}/contracts?page_size=1", token)
            contract_id = page["items"][0]["id"]
            # HR scoped to the contract's own unit (a subsidiary's HR reading one of theirs).
            scoped_one = {"Authorization": "Bearer " + issue_token(
                DEV_JWT_SECRET, "bench-scoped-one", ["hr_admin"],
                org_scope=page["items"][0]["org_unit_id"])}
            ids_file = logs / "contract_ids.txt"
            ids_file.write_text("\n".join(
                c["id"] for p in range(1, args.managers // 500 + 2)
                for c in call("GET", f"{base}/contracts?page_size=500&page={p}",
                              token)["items"]) + "\n")
            any_contract = logs / "any_contract.lua"
            any_contract.write_text(ANY_CONTRACT_LUA.replace("IDS_FILE", str(ids_file)))
            spare_ids = [m["id"] for p in range(1, 41) for m in call(
                "GET", f"{base}/managers?page_size=500&page={p}&layer=2",
                token)["items"] if m["employee_no"].startswith("X")]
            sub = call("GET", f"{base}/org-units?layer=2&page_size=1", token)["items"][0]
            scoped = {"Authorization": "Bearer " + issue_token(
                DEV_JWT_SECRET, "bench-scoped", ["hr_admin"], org_scope=sub["id"])}
            # A second-level enterprise's subtree (5 third-level units), one state: what an
            # HR officer's contract list shows.
            unit_state = f"page_size=50&org_unit_id={sub['id']}&state=pending_signature"
            analyse(url)
            if ensure_wrk():
                targets = {
                    "bare Flask GET (ceiling)": (f"http://127.0.0.1:{bare_port}/bare", {},
                                                 None),
                    "GET one contract": (f"{base}/contracts/{contract_id}", headers, None),
                    "GET one contract, any of all": (base, headers, any_contract),
                    "GET one contract, cache off": (
                        f"http://127.0.0.1:{uncached_port}/api/v1/contracts/{contract_id}",
                        headers, None),
                    "GET one contract, scoped officer": (
                        f"{base}/contracts/{contract_id}", scoped_one, None),
                    "GET one contract, scoped officer, cache off": (
                        f"http://127.0.0.1:{uncached_port}/api/v1/contracts/{contract_id}",
                        scoped_one, None),
                    "GET list (50 per page)": (f"{base}/contracts?page_size=50&layer=3",
                                               headers, None),
                    "GET list (50, unit + state)": (f"{base}/contracts?{unit_state}",
                                                    headers, None),
                    "GET list (50, unit + state), cache off": (
                        f"http://127.0.0.1:{uncached_port}/api/v1/contracts?{unit_state}",
                        headers, None),
                    # The same page for HR scoped to that enterprise (a subsidiary's HR),
                    # from the cache, and with the cache off.
                    "GET list (50, unit + state), scoped officer": (
                        f"{base}/contracts?{unit_state}", scoped, None),
                    "GET list (50, unit + state), scoped officer, cache off": (
                        f"http://127.0.0.1:{uncached_port}/api/v1/contracts?{unit_state}",
                        scoped, None),
                }
                if baseline is not None:
                    targets["GET list (50, unit + state), baseline"] = (
                        f"http://127.0.0.1:{baseline_port}/api/v1/contracts?{unit_state}",
                        headers, None)
                words = [w for w in args.only.split("|") if w]
                targets = {name: t for name, t in targets.items() if "(ceiling)" in name
                           or not words or any(w in name for w in words)}
                runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
                for _ in range(args.rounds):
                    for name, (target, hdrs, script) in targets.items():
                        runs[name].append(wrk(target, hdrs, seconds=args.seconds,
                                              connections=CONNECTIONS, script=script))
                medians = {}
                for name, rounds in runs.items():
                    r = {k: statistics.median(x[k] for x in rounds)
                         for k in ("rate", "p50", "p99")}
                    medians[name] = r
                    errors = int(sum(x["errors"] for x in rounds))
                    each = ", ".join(f"{x['rate']:.0f} (p99 {x['p99']:.0f} ms)" for x in rounds)
                    print(f"{name:<34} {r['rate']:>9.1f} req/s   p50 {r['p50']:>7.2f} ms   "
                          f"p99 {r['p99']:>7.2f} ms   non-2xx={errors}  "
                          f"[wrk, median of {each}]")
                bare_rate = medians["bare Flask GET (ceiling)"]["rate"]
                for name in medians:
                    if name == "bare Flask GET (ceiling)":
                        continue
                    print(f"{name} / bare = {medians[name]['rate'] / bare_rate:.1%}"
                          f"  (goal for lists: >= 15%, p99 < 100 ms)")
            else:
                print("wrk not available: GET figures skipped")
            if args.only:
                return
            create = run_load(
                "POST create contract", "127.0.0.1", port,
                lambda i: ("POST", "/api/v1/contracts",
                           {"manager_id": spare_ids[i], "start_date": "2026-01-01"}),
                headers, threads=8, duration=args.seconds, max_requests=len(spare_ids))
            print(create.row() + "   [python client]")
        finally:
            stop(api)
            stop(uncached)
            stop(bare)
            if baseline is not None:
                stop(baseline)
    print(f"logs: {logs}")


if __name__ == "__main__":
    main()
