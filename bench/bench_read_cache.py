"""How long after a commit elsewhere the contracts read cache drops the changed contract.

A second connection (as another gunicorn worker or the consumer would) updates a cached
contract; the time from its commit returning to the entry leaving the cache is the window in
which another worker could still answer with the previous version. PostgreSQL, real server.

Run: .venv/bin/python bench/bench_read_cache.py [--samples 500]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from support import REPO

from shared.auth import issue_token
from shared.config import DEV_JWT_SECRET
from shared.migrations import upgrade


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=500)
    args = parser.parse_args()
    import local_postgres
    import psycopg
    from bench_contracts import seed

    with local_postgres.LocalPostgres() as pg:
        url = pg.create_database("bench_read_cache")
        upgrade(REPO / "services/contracts/migrations", url)
        seed(url, 10, 0)
        os.environ["CONTRACTS_DATABASE_URL"] = url
        os.environ["LOG_LEVEL"] = "WARNING"
        from services.contracts import create_app

        app = create_app()
        client = app.test_client()
        headers = {"Authorization": "Bearer " + issue_token(DEV_JWT_SECRET, "b", ["hr_admin"])}
        manager_id = client.get("/api/v1/managers?page_size=1",
                                headers=headers).json["items"][0]["id"]
        contract_id = client.post("/api/v1/contracts", headers=headers, json={
            "manager_id": manager_id, "start_date": "2026-01-01"}).json["id"]
        cache = app.extensions["tenure_db"].read_cache
        client.get(f"/api/v1/contracts/{contract_id}", headers=headers)
        while not cache.live:
            time.sleep(0.01)
        delays = []
        with psycopg.connect(host=pg.host, port=pg.port, user=pg.superuser,
                             dbname="bench_read_cache", autocommit=True) as other:
            for i in range(args.samples):
                client.get(f"/api/v1/contracts/{contract_id}", headers=headers)
                assert cache.get(contract_id) is not None
                other.execute("UPDATE tenure_contracts SET signed_by = %s WHERE id = %s",
                              (str(i), contract_id))
                committed = time.perf_counter()
                while cache.get(contract_id) is not None:
                    time.sleep(0.00005)  # yield the interpreter lock to the listener
                delays.append((time.perf_counter() - committed) * 1000)
        app.extensions["tenure_db"].dispose()
    delays.sort()
    print(f"commit elsewhere -> contract dropped from the cache ({len(delays)} samples): "
          f"p50 {statistics.median(delays):.2f} ms, "
          f"p99 {delays[max(0, int(len(delays) * 0.99) - 1)]:.2f} ms, max {delays[-1]:.2f} ms")


if __name__ == "__main__":
    main()
