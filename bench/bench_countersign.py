"""CPU and SQL statements per countersignature: one POST /contracts/{id}/sign per contract
against POST /contracts/countersignatures in batches (docs/signing-batch.md).

In process (Flask's test client) on a throwaway PostgreSQL: the CPU is this process's
(`time.process_time`: the request, the use case, SQLAlchemy, the driver), not the
database server's, and it is what a busy machine measures fairly; the statements say what
the database is sent. Each round countersigns fresh contracts the same chair must
countersign, first one by one, then in one batch; the median of the rounds is printed
with every round.

    python bench/bench_countersign.py [--rounds 5] [--single 40] [--batch 100] [--profile]

`--profile` countersigns one more batch under cProfile and prints its top lines.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import contracts_database

from services.contracts import create_app
from tests.conftest import auth, service_settings
from tests.support import contracts_world as cw
from tests.support.statements import sent_statements


def seed(api: cw.Client, contracts: int) -> tuple[dict[str, str], list[str]]:
    """One board enterprise: its chair countersigns `contracts` general managers' contracts,
    issued in one bulk issue and signed by each manager. The chair's token, the ids."""
    hq = cw.unit(api, "HQ", "group", has_board=True)["id"]
    sub = cw.unit(api, "SUB", "enterprise", hq, has_board=True)["id"]
    cw.indicators(api)
    t = cw.template(api)["id"]
    chair = cw.manager(api, "CHAIR", sub, position="chair")["id"]
    for i in range(contracts):
        cw.manager(api, f"G{i:05d}", sub)
    job = api.post("/api/v1/bulk-issues", {"template_id": t, "start_date": "2026-01-01"},
                   expect=202).get_json()
    cw.wait_for_job(api, job["id"])
    ids = []
    page = 1
    while True:
        got = api.get(f"/api/v1/contracts?state=pending_signature&page_size=200&page={page}"
                      ).get_json()
        ids += [(c["id"], c["manager_id"]) for c in got["items"]]
        if page * 200 >= got["page"]["total"]:
            break
        page += 1
    for cid, manager_id in ids:
        cw.sign_as_manager(api, {"id": cid, "manager_id": manager_id})
    return auth("manager", subject="sso-CHAIR", manager_id=chair), [cid for cid, _ in ids]


def single_calls(api: cw.Client, engine: Any, ids: list[str]) -> tuple[float, float]:
    """CPU ms and statements per countersignature, one call each."""
    cpu = time.process_time()
    with sent_statements(engine) as sent:
        for cid in ids:
            api.post(f"/api/v1/contracts/{cid}/sign", {}, expect=200)
    return 1000 * (time.process_time() - cpu) / len(ids), len(sent) / len(ids)


def one_batch(api: cw.Client, engine: Any, ids: list[str]) -> tuple[float, float]:
    cpu = time.process_time()
    with sent_statements(engine) as sent:
        body = api.post("/api/v1/contracts/countersignatures",
                        {"contracts": [{"contract_id": cid} for cid in ids]},
                        expect=200).get_json()
    assert body["countersigned"] == len(ids), body["refused"]
    return 1000 * (time.process_time() - cpu) / len(ids), len(sent) / len(ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--single", type=int, default=40, help="single calls per round")
    parser.add_argument("--batch", type=int, default=100, help="contracts per batch")
    parser.add_argument("--profile", action="store_true",
                        help="one more batch under cProfile: its top lines")
    parser.add_argument("--top", type=int, default=45)
    args = parser.parse_args()
    per_round = args.single + args.batch
    extra = args.batch if args.profile else 0
    with contracts_database("countersign") as url:
        app = create_app(service_settings("contracts", url))
        engine = app.extensions["tenure_db"].engine
        started = time.perf_counter()
        chair, ids = seed(cw.Client(app.test_client()), args.rounds * per_round + extra + 10)
        print(f"seeded {len(ids)} contracts awaiting the chair in "
              f"{time.perf_counter() - started:.0f} s")
        api = cw.Client(app.test_client(), chair)
        single_calls(api, engine, ids[-10:-5])  # warm both paths up
        one_batch(api, engine, ids[-5:])
        singles, batches = [], []
        for r in range(args.rounds):
            chunk = ids[r * per_round:(r + 1) * per_round]
            singles.append(single_calls(api, engine, chunk[:args.single]))
            batches.append(one_batch(api, engine, chunk[args.single:]))
            print(f"round {r + 1}: single {singles[-1][0]:.2f} ms CPU, "
                  f"{singles[-1][1]:.2f} statements; batch of {args.batch} "
                  f"{batches[-1][0]:.2f} ms CPU, {batches[-1][1]:.2f} statements "
                  "per countersignature")
        single_ms = statistics.median(s[0] for s in singles)
        batch_ms = statistics.median(b[0] for b in batches)
        print(f"median CPU per countersignature: single {single_ms:.2f} ms, batch of "
              f"{args.batch} {batch_ms:.2f} ms ({batch_ms / single_ms:.2f} of single)")
        print(f"statements per countersignature: single {singles[0][1]:.2f} (plus the "
              f"contract read for its answer, on a kept connection), batch of {args.batch} "
              f"{batches[0][1]:.2f}")
        if args.profile:
            chunk = ids[args.rounds * per_round:args.rounds * per_round + extra]
            profile = cProfile.Profile()
            profile.runcall(one_batch, api, engine, chunk)
            for order in ("cumulative", "tottime"):
                pstats.Stats(profile).sort_stats(order).print_stats(args.top)
        app.extensions["tenure_db"].dispose()


if __name__ == "__main__":
    main()
