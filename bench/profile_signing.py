"""What one signature costs in CPU: `POST /contracts/{id}/sign`, in process, on PostgreSQL.

A group of managers (bench_cycle_seed.group_tree: four layers, chairs and general managers
holding the countersigning posts) gets one contract each by bulk issue; the contracts app is
then called through the Flask test client with each signer's own token, as bench_cycle's
stage 3 does over HTTP: the manager signs, then the employer's side countersigns (the post
holder with their token, the employer's signatory, or HR recording paper where the post is
vacant).

Each round signs fresh contracts on both sides and reports, per signature:
- the Python CPU time of this process (time.process_time: the service's work, the test
  client's small share included, unaffected by other load on the machine),
- the CPU time PostgreSQL's processes spent meanwhile (/proc, the server's children),
- SQL statements sent.
The median of the rounds is printed with every round. `--profile` adds one more round under
cProfile and prints its top lines.

`--repo` runs another checkout of the project (say, the commit before a change, unpacked with
`git archive`) with this same script, for an A/B comparison on the same data and machine;
with `--lockstep DIR`, runs of two checkouts started together take each round side by side,
so both see the same load from the rest of a shared machine.

Run: .venv/bin/python bench/profile_signing.py [--managers 2000] [--rounds 5]
                                               [--contracts 150] [--profile] [--repo DIR]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _repo_from_args() -> Path:
    """The checkout whose code is measured: put first on sys.path before anything imports it."""
    if "--repo" in sys.argv:
        return Path(sys.argv[sys.argv.index("--repo") + 1]).resolve()
    return HERE.parent


REPO = _repo_from_args()
sys.path[:0] = [str(REPO), str(HERE), str(HERE.parent / "deploy" / "local")]
os.environ.setdefault("TENURE_ENV", "development")


def in_step(folder: Path, peers: int, round_no: int) -> None:
    """Wait until every peer (another checkout's run of this script) reaches this round, so
    their rounds run side by side, under the same load from the rest of the machine."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{round_no}-{os.getpid()}").touch()
    while len(list(folder.glob(f"{round_no}-*"))) < peers:
        time.sleep(0.05)


def signing_calls(client: Any, hr: dict[str, str], ids: list[str]
                  ) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """(path, body, headers) of both signatures of each contract: every manager's, then every
    employer side's, as bench_cycle.signing_calls builds them."""
    from shared.auth import issue_token
    from shared.config import DEV_JWT_SECRET

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    paper = {"method": "paper", "party": "employer", "signed_on": time.strftime("%Y-%m-%d"),
             "paper_reference": "BENCH-PAPER"}
    managers, employers = [], []
    for cid in ids:
        path = f"/api/v1/contracts/{cid}/sign"
        who = client.get(f"/api/v1/contracts/{cid}/signers", headers=hr).json
        mid = who["manager"]["manager_id"]
        managers.append((path, {}, bearer(issue_token(DEV_JWT_SECRET, f"m-{mid}", ["manager"],
                                                      manager_id=mid))))
        holders = who["employer"].get("manager_ids") or []
        if holders:
            employers.append((path, {}, bearer(issue_token(
                DEV_JWT_SECRET, f"m-{holders[0]}", ["manager"], manager_id=holders[0]))))
        elif who["employer"]["role"] == "employer_signatory":
            employers.append((path, {}, bearer(issue_token(DEV_JWT_SECRET, "supervisor",
                                                           ["employer_signatory"]))))
        else:
            employers.append((path, paper, hr))
    return managers + employers


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout measured")
    parser.add_argument("--managers", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--contracts", type=int, default=150,
                        help="contracts signed on both sides in each round")
    parser.add_argument("--profile", action="store_true",
                        help="one more round under cProfile; print its top lines")
    parser.add_argument("--lockstep", type=Path, help="a folder shared with --peers runs "
                        "of other checkouts: each round starts when all of them reach it")
    parser.add_argument("--peers", type=int, default=2)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--dump", type=Path, help="write the profile there (pstats format)")
    parser.add_argument("--sort", default="cumulative,tottime",
                        help="orders of the profile printed, comma-separated")
    args = parser.parse_args()

    import local_postgres
    from bench_cycle_seed import seed_tree
    from proc_cpu import cpu_seconds
    from sqlalchemy import create_engine, event

    import services.contracts
    import shared
    from shared.auth import issue_token
    from shared.config import DEV_JWT_SECRET
    from shared.migrations import upgrade

    for package in (services.contracts, shared):  # the checkout measured, not this one
        assert Path(package.__file__ or "").is_relative_to(REPO), package.__file__

    with local_postgres.LocalPostgres() as pg:
        pg.create_database("profile_signing")
        url = pg.socket_url_for("profile_signing")
        upgrade(REPO / "services/contracts/migrations", url)
        engine = create_engine(url)
        seed_tree(engine, args.managers)
        engine.dispose()
        os.environ.update(CONTRACTS_DATABASE_URL=url, LOG_LEVEL="WARNING")
        from services.contracts import create_app

        app = create_app()
        client = app.test_client()
        hr = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'bench', ['hr_admin'])}"}

        def call(method: str, path: str, body: Any = None, headers: Any = None) -> Any:
            resp = client.open(path, method=method, json=body, headers=headers or hr)
            assert resp.status_code < 300, (path, resp.status_code, resp.get_data()[:500])
            return resp.json

        for code, direction in (("PROFIT", "higher_is_better"), ("COST", "lower_is_better")):
            call("POST", "/api/v1/indicators", {"code": code, "name": code.title(),
                                                 "kind": "quantitative",
                                                 "direction": direction})
        template = call("POST", "/api/v1/templates", {
            "name": "Every manager", "term_years": 3, "targets": [
                {"indicator_code": "PROFIT", "weight": "60", "base": "80", "target": "100",
                 "challenge": "120", "part": "organisational"},
                {"indicator_code": "COST", "weight": "40", "base": "70", "target": "65",
                 "challenge": "60", "part": "individual"}]})
        job = call("POST", "/api/v1/bulk-issues", {"template_id": template["id"],
                                                    "start_date": "2026-01-01"})
        while job["status"] not in ("done", "partial", "failed"):
            time.sleep(0.2)
            job = call("GET", f"/api/v1/bulk-issues/{job['id']}?decisions=false")
        with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.exec_driver_sql("ANALYZE")  # as autovacuum would within a minute
        ids: list[str] = []
        page = 1
        while True:
            items = call("GET", f"/api/v1/contracts?state=pending_signature&page_size=500"
                         f"&page={page}")["items"]
            ids += [c["id"] for c in items]
            if len(items) < 500:
                break
            page += 1
        # One read starts the process's read cache and its listener, as any GET does in a
        # serving process: the notices each signature sends are then handled here too.
        call("GET", f"/api/v1/contracts/{ids[0]}")
        needed = args.contracts * (args.rounds + 1 + args.profile)
        if len(ids) < needed:
            raise SystemExit(f"{len(ids)} contracts issued, {needed} needed: more --managers")
        statements = 0

        def count(*_: object) -> None:
            nonlocal statements
            statements += 1

        event.listen(app.extensions["tenure_db"].engine, "before_cursor_execute", count)

        def sign_round(batch: list[str]) -> tuple[float, float, float, int]:
            """(CPU ms, PostgreSQL CPU ms, statements) per signature, and signatures."""
            nonlocal statements
            calls = signing_calls(client, hr, batch)
            statements = 0
            pg_before, before = cpu_seconds(pg.pid or 0), time.process_time()
            main_before = time.thread_time()
            for path, body, headers in calls:
                resp = client.post(path, json=body, headers=headers)
                assert resp.status_code == 200, (path, resp.status_code, resp.get_data()[:500])
            cpu = time.process_time() - before
            main_threads.append((time.thread_time() - main_before) * 1000 / len(calls))
            pg_cpu = cpu_seconds(pg.pid or 0) - pg_before
            n = len(calls)
            return cpu * 1000 / n, pg_cpu * 1000 / n, statements / n, n

        main_threads: list[float] = []  # the requests' own thread, without the listener's
        chunks = [ids[k * args.contracts:(k + 1) * args.contracts] for k in range(needed)]
        sign_round(chunks[0])  # warm: first queries compiled, caches filled
        cpus, pgs = [], []
        for r in range(args.rounds):
            if args.lockstep:
                in_step(args.lockstep, args.peers, r)
            cpu, pg_cpu, per, n = sign_round(chunks[r + 1])
            cpus.append(cpu)
            pgs.append(pg_cpu)
            print(f"round {r + 1}: {n} signatures, {cpu:.2f} ms CPU a signature "
                  f"({main_threads[-1]:.2f} in the requests' thread), "
                  f"PostgreSQL {pg_cpu:.2f} ms, {per:.1f} statements", flush=True)
        print(f"\n{REPO}\nCPU per signature: median {statistics.median(cpus):.2f} ms "
              f"({', '.join(f'{x:.2f}' for x in cpus)})\n"
              f"PostgreSQL CPU per signature: median {statistics.median(pgs):.2f} ms "
              f"({', '.join(f'{x:.2f}' for x in pgs)})")
        if args.profile:
            calls = signing_calls(client, hr, chunks[args.rounds + 1])
            # CPU time, not wall time: waits on PostgreSQL and on a busy machine left out.
            profile = cProfile.Profile(time.process_time)
            profile.enable()
            for path, body, headers in calls:
                client.post(path, json=body, headers=headers)
            profile.disable()
            if args.dump:
                profile.dump_stats(args.dump)
            for order in args.sort.split(","):
                pstats.Stats(profile).sort_stats(order).print_stats(args.top)
        app.extensions["tenure_db"].dispose()


if __name__ == "__main__":
    main()
