"""A finished bulk issue's decisions read whole (`GET /bulk-issues/{id}`) against a page of
them (`GET /bulk-issues/{id}/decisions`): time and memory at the sizes of a whole group.

A finished job with N decisions (the shape `service.bulk` stores: 98 % issued, 1.5 %
skipped, 0.5 % failed, in employee number order; the job's list and a row each) is written
to a throwaway PostgreSQL; the contracts app is called in process through the Flask test
client with a group-wide HR token. For each call it prints the median wall time of --rounds
calls, the response's size and the growth of the process's peak RSS over the call (VmHWM,
reset through /proc/self/clear_refs before each call): what one HR officer opening the job
costs the API worker.

Run: .venv/bin/python bench/bench_bulk_decisions.py [--sizes 100000,1000000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from datetime import UTC, datetime

import orjson
from support import contracts_database

from shared.auth import issue_token
from shared.config import DEV_JWT_SECRET


def _mib(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise LookupError(field)


def _decisions(n: int) -> list[dict[str, object]]:
    out = []
    for i in range(n):
        kind = "failed" if i % 200 == 7 else "skipped" if i % 200 in (3, 11, 19) else "issued"
        out.append({"manager_id": str(uuid.UUID(int=i)), "employee_no": f"E{i:07d}",
                    "decision": kind, "issued": kind == "issued",
                    "reason": {"issued": None, "skipped": "active_contract",
                               "failed": "signatory_required"}[kind],
                    "detail": None if kind == "issued" else
                    "The rules name nobody to countersign for this unit; name one by hand"})
    return out


def _seed(url: str, n: int) -> tuple[str, dict[str, int]]:
    from sqlalchemy import create_engine, text

    decisions = _decisions(n)
    counts = {k: sum(1 for x in decisions if x["decision"] == k)
              for k in ("issued", "skipped", "failed")}
    job_id = str(uuid.uuid4())
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO bulk_issue_jobs (id, template_id, criteria, start_date, status, total, "
            "processed, issued, skipped, failed, all_or_nothing, decisions, error, "
            "requested_by, org_scope, created_at, finished_at) VALUES (:id, :t, '{}', "
            "'2027-01-01', 'partial', :n, :n, :i, :s, :f, false, CAST(:d AS json), NULL, "
            "'bench', NULL, :now, :now)"),
            {"id": job_id, "t": str(uuid.uuid4()), "n": n, "i": counts["issued"],
             "s": counts["skipped"], "f": counts["failed"],
             "d": orjson.dumps(decisions).decode(), "now": datetime.now(UTC)})
        # The rows the job writes chunk by chunk (service.bulk._record_decisions).
        conn.execute(text(
            "INSERT INTO bulk_issue_decisions (job_id, place, decision, body) SELECT j.id, "
            "e.ord, e.elem->>'decision', e.elem::text FROM bulk_issue_jobs AS j CROSS JOIN "
            "LATERAL json_array_elements(j.decisions) WITH ORDINALITY AS e(elem, ord) "
            "WHERE j.id = :id"), {"id": job_id})
        conn.execute(text("ANALYZE bulk_issue_jobs"))
        conn.execute(text("ANALYZE bulk_issue_decisions"))
    engine.dispose()
    return job_id, counts


def _measure(client: object, path: str, headers: dict[str, str], rounds: int
             ) -> tuple[float, int, float]:
    """Median seconds, bytes of the body, and the largest growth of peak RSS (MiB)."""
    times, grown, size = [], 0.0, 0
    for _ in range(rounds):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = _mib("VmRSS")
        started = time.perf_counter()
        resp = client.get(path, headers=headers)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - started)
        assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
        size = len(resp.get_data())
        grown = max(grown, _mib("VmHWM") - before)
        del resp
    return statistics.median(times), size, grown


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for n in (int(x) for x in args.sizes.split(",")):
        with contracts_database(f"decisions_{n}") as url:
            job_id, counts = _seed(url, n)
            os.environ.update(CONTRACTS_DATABASE_URL=url, LOG_LEVEL="WARNING")
            from services.contracts import create_app

            app = create_app()
            client = app.test_client()
            headers = {"Authorization": "Bearer " + issue_token(DEV_JWT_SECRET, "bench-hr",
                                                                ["hr_admin"])}
            base = f"/api/v1/bulk-issues/{job_id}"
            print(f"\n{n:,} decisions ({counts['issued']:,} issued, {counts['skipped']:,} "
                  f"skipped, {counts['failed']:,} failed), median of {args.rounds} calls:")
            for name, path in (
                ("the job without decisions (a poll)", base + "?decisions=false"),
                ("the first page of 100", base + "/decisions"),
                ("a page of 100 near the end", f"{base}/decisions?after={n - 150}"),
                ("the first page of the failed", base + "/decisions?decision=failed"),
                ("the job with every decision", base),
            ):
                seconds, size, grown = _measure(client, path, headers, args.rounds)
                print(f"  {name:38s} {seconds * 1000:9.1f} ms  {size / 1e6:8.2f} MB  "
                      f"peak RSS +{grown:7.1f} MiB")
            app.extensions["tenure_db"].dispose()


if __name__ == "__main__":
    main()
