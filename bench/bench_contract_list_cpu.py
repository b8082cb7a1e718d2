"""CPU time of one uncached `GET /contracts` page, this checkout against another (A/B).

On a shared machine requests per second move with everyone else's load; CPU time moves
much less. Each version runs in its own process on the same database, in alternation, and
counts its own CPU (Python) and its PostgreSQL backend's (from /proc/<pid>/stat) over the
requests: what a page costs the machine, whoever else is busy.

The data: `bench_contracts.seed` (--managers) and `bench_coverage.SEED_CONTRACTS`; the list
of the first second-level enterprise's subtree, 50 to a page, as group-wide HR (read cache
off) and as an officer scoped to that enterprise.

Run: .venv/bin/python bench/bench_contract_list_cpu.py --baseline <other checkout>
         [--managers 100000] [--rounds 5] [--requests 200]
         [--query state=active --query "cursor:state=active&page=59"]
A query "cursor:<q>" lists the page after <q> by its cursor (Link header); the baseline
skips it if it sends no Link.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

QUERIES = ["state=pending_signature", "state=active", "state=active&page=60",
           "cursor:state=active&page=59"]


def measure(url: str, unit: str, query: str, requests: int) -> dict[str, float] | None:
    """In the checkout on sys.path: CPU us a request for both callers, or None (no cursor)."""
    os.environ.update(TENURE_ENV="development", CONTRACTS_DATABASE_URL=url,
                      LOG_LEVEL="WARNING", CONTRACTS_READ_CACHE="off")
    from services.contracts import create_app
    from shared.auth import issue_token
    from shared.config import DEV_JWT_SECRET

    app = create_app()
    db = app.extensions["tenure_db"]
    client = app.test_client()
    start = f"/api/v1/contracts?org_unit_id={unit}&page_size=50&{query.removeprefix('cursor:')}"

    def backend_cpu() -> float:
        with db._thread_connection().cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    out: dict[str, float] = {}
    for who, token in (("group-wide", issue_token(DEV_JWT_SECRET, "hr", ["hr_admin"])),
                       ("scoped", issue_token(DEV_JWT_SECRET, "hr-s", ["hr_admin"],
                                              org_scope=unit))):
        headers = {"Authorization": f"Bearer {token}"}
        path = start
        if query.startswith("cursor:"):
            link = client.get(path, headers=headers).headers.get("Link")
            if link is None:
                return None
            path = link.split(";")[0].strip("<>")
        for _ in range(20):
            assert client.get(path, headers=headers).status_code == 200
        pg, py = backend_cpu(), time.process_time()
        for _ in range(requests):
            client.get(path, headers=headers)
        py, pg = time.process_time() - py, backend_cpu() - pg
        out[f"{who} python"] = py * 1e6 / requests
        out[f"{who} postgres"] = pg * 1e6 / requests
    db.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--managers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--query", action="append", help="repeatable; default: " +
                        ", ".join(QUERIES))
    args = parser.parse_args()
    from profile_contract_list import seed_contract_list
    from support import REPO, contracts_database

    with contracts_database("list_cpu") as url:
        unit = seed_contract_list(url, args.managers)
        versions = {"before": args.baseline.resolve(), "after": REPO}
        for n in range(1, args.rounds + 1):
            for query in args.query or QUERIES:
                for name, repo in versions.items():
                    run = subprocess.run(
                        [sys.executable, __file__, "--measure", url, unit, query,
                         str(args.requests)], cwd=repo, capture_output=True, text=True,
                        env={**os.environ, "PYTHONPATH": f"{repo}:{repo / 'bench'}"},
                        check=True)
                    figures = json.loads(run.stdout.strip().splitlines()[-1])
                    if figures is None:
                        continue
                    shown = ", ".join(f"{k} {v:.0f}" for k, v in figures.items())
                    print(f"round {n} {name:6} {query:30} us a request: {shown}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--measure":
        print(json.dumps(measure(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))))
    else:
        main()
