"""Appraisal run of 100,000 managers x 8 indicators FROM THE DATABASE, results written back.

The read model (org units, managers, contracts, locked targets) and 800,000 actuals are
seeded by COPY into a throw-away PostgreSQL; then each phase runs in a fresh process so its
wall time and peak memory (ru_maxrss) are its own:

- bare:  the scoring loop alone (inputs already in memory, no database): the ceiling;
- run:   the appraisal run as the service does it: select the cohort, read inputs in
         batches, score, forced distribution per cohort, write results with their trace;
- rerun: the same run again (every appraisal updated in place: the idempotent re-run).

Run: .venv/bin/python bench/bench_appraisal.py [--managers 100000]
Targets: the run under 30 s and under 1 GiB peak memory.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from support import REPO

YEAR = 2026
SCORED_HIGH = [("PROFIT", "organisational", True), ("REVENUE", "organisational", False),
               ("ROE", "organisational", False), ("PROJECTS", "individual", False),
               ("SALES", "individual", False)]
CATEGORIES = ("commercial_competitive", "public_welfare")
POSITIONS = ("general_manager", "deputy_general_manager")


def targets_for(variant: int) -> list[dict[str, Any]]:
    """Eight lines: five higher-is-better, one lower-is-better, a rating, a red line."""
    lines: list[dict[str, Any]] = []
    for code, part, main in SCORED_HIGH:
        base = 80 + variant
        lines.append({"indicator_code": code, "name": code.title(), "unit": "", "kind":
                      "quantitative", "direction": "higher_is_better", "role": "scored",
                      "weight": "15", "base": str(base), "target": str(base + 20),
                      "challenge": str(base + 40), "main": main, "part": part,
                      "max_points": None, "milestones": None, "description": ""})
    lines.append({"indicator_code": "COST", "name": "Cost ratio", "unit": "%", "kind":
                  "quantitative", "direction": "lower_is_better", "role": "scored",
                  "weight": "15", "base": "70", "target": "65", "challenge": "60",
                  "main": False, "part": "individual", "max_points": None, "milestones": None,
                  "description": ""})
    lines.append({"indicator_code": "PARTY", "name": "Party building", "unit": "", "kind":
                  "qualitative", "direction": "higher_is_better", "role": "scored",
                  "weight": "10", "base": None, "target": None, "challenge": None,
                  "main": False, "part": "individual", "max_points": None, "milestones": None,
                  "description": ""})
    lines.append({"indicator_code": "SAFETY", "name": "Major safety incident", "unit": "",
                  "kind": "qualitative", "direction": "higher_is_better", "role": "veto",
                  "weight": None, "base": None, "target": None, "challenge": None,
                  "main": False, "part": "organisational", "max_points": None,
                  "milestones": None, "description": ""})
    return lines


def actual_values(rnd: random.Random, variant: int) -> list[tuple[str, dict[str, Any]]]:
    base = 80 + variant
    out: list[tuple[str, dict[str, Any]]] = [
        (code, {"value": str(rnd.randint(base - 30, base + 50))}) for code, _, _ in SCORED_HIGH]
    out.append(("COST", {"value": str(Decimal(rnd.randint(550, 760)) / 10)}))
    out.append(("PARTY", {"rating": rnd.choice("AABBBBCCD")}))
    out.append(("SAFETY", {"veto_hit": rnd.random() < 0.002}))
    return out


def seed(url: str, managers: int, *, with_actuals: bool = True) -> dict[str, float]:
    """The read model and actuals as the consumer and the actuals API would leave them
    (without actuals: the read model the actuals API checks an upload against)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from services.appraisal.models import (
        ActualRecord,
        Contract,
        Manager,
        OrgUnit,
        TargetSet,
        targets_digest,
    )
    from shared.db import bulk_insert

    started = time.perf_counter()
    now = datetime.now(UTC)
    rnd = random.Random(20260101)
    hq = str(uuid.uuid4())
    units = [dict(id=hq, parent_id=None, code="HQ", name="Group", kind="group",
                  category=CATEGORIES[0], layer=1, path=f"/{hq}/", updated_at=now)]
    enterprises: list[tuple[str, int, str]] = []
    for i in range(40):
        sid = str(uuid.uuid4())
        category = CATEGORIES[i % 2]
        units.append(dict(id=sid, parent_id=hq, code=f"S{i}", name=f"Sub {i}",
                          kind="enterprise", category=category, layer=2,
                          path=f"/{hq}/{sid}/", updated_at=now))
        enterprises.append((sid, 2, category))
        for j in range(12):
            tid = str(uuid.uuid4())
            units.append(dict(id=tid, parent_id=sid, code=f"S{i}-{j}", name=f"Third {i}-{j}",
                              kind="enterprise", category=category, layer=3,
                              path=f"/{hq}/{sid}/{tid}/", updated_at=now))
            enterprises.append((tid, 3, category))
    variants = [targets_for(v) for v in range(4)]
    digests = [targets_digest(v) for v in variants]
    engine = create_engine(url)
    with Session(engine) as s, s.begin():
        bulk_insert(s, OrgUnit.__table__, units)
    chunk = 10_000
    for start in range(0, managers, chunk):
        people, contracts, sets, actuals = [], [], [], []
        for n in range(start, min(managers, start + chunk)):
            unit_id, layer, category = enterprises[n % len(enterprises)]
            position = POSITIONS[n % 2]
            mid, cid = str(uuid.uuid4()), str(uuid.uuid4())
            variant = n % 4
            people.append(dict(id=mid, employee_no=f"E{n:06d}", name=f"Manager {n}",
                               email=f"m{n}@example.com", language="zh", org_unit_id=unit_id,
                               enterprise_id=unit_id, layer=layer, category=category,
                               position=position, management_level="enterprise_leadership",
                               employment_status="active", departure_reason=None,
                               updated_at=now))
            contracts.append(dict(id=cid, manager_id=mid, org_unit_id=unit_id,
                                  enterprise_id=unit_id, layer=layer, category=category,
                                  position=position, start_date=date(YEAR, 1, 1),
                                  end_date=date(YEAR + 2, 12, 31), term_years=3, term_number=1,
                                  state="active", version=1, end_reason=None,
                                  ended_by_exit=False, updated_at=now))
            sets.append(dict(id=str(uuid.uuid4()), contract_id=cid, manager_id=mid,
                             kind="annual", year=YEAR, locked=True, targets=variants[variant],
                             digest=digests[variant], updated_at=now))
            for code, fields in actual_values(rnd, variant) if with_actuals else ():
                actuals.append(dict(subject_id=mid, subject_kind="manager", year=YEAR,
                                    kind="annual", indicator_code=code,
                                    value=fields.get("value"), rating=fields.get("rating"),
                                    milestones_met=None, veto_hit=fields.get("veto_hit"),
                                    points=None, source="finance-erp", note="",
                                    recorded_by="bench", recorded_at=now, row_version=1))
        with Session(engine) as s, s.begin():
            bulk_insert(s, Manager.__table__, people)
            bulk_insert(s, Contract.__table__, contracts)
            bulk_insert(s, TargetSet.__table__, sets)
            bulk_insert(s, ActualRecord.__table__, actuals)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return {"seed_s": round(time.perf_counter() - started, 2)}


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- phases (each in its own process) -----------------------------------------------------------


def phase_bare(managers: int) -> dict[str, Any]:
    """The scoring loop with every input already in memory: no database at all."""
    from services.appraisal import domain as d

    rnd = random.Random(20260101)
    targets = [d.targets_from_dicts(targets_for(v)) for v in range(4)]
    book = d.SchemeBook([d.DEFAULT_SCHEME])
    inputs = []
    for n in range(managers):
        variant = n % 4
        actuals = {}
        for code, fields in actual_values(rnd, variant):
            actuals[code] = d.Actual(
                code, value=Decimal(fields["value"]) if "value" in fields else None,
                rating=fields.get("rating"), veto_hit=fields.get("veto_hit"))
        inputs.append((str(n), n % len(CATEGORIES), POSITIONS[n % 2], variant, actuals))
    before = peak_mib()
    started = time.perf_counter()
    cohorts: dict[int, list[Any]] = {}
    for manager_id, category, position, variant, actuals in inputs:
        scheme, _ = book.resolve(2, CATEGORIES[category], position, year=YEAR)
        result = d.appraise(scheme, targets[variant], actuals, manager_id=manager_id,
                            year=YEAR, position=position, term=d.Term(YEAR, YEAR + 2))
        cohorts.setdefault(category, []).append(result)
    scored = time.perf_counter() - started
    moved = sum(len(d.appraise_cohort(results).distribution.changes)
                for results in cohorts.values())
    wall = time.perf_counter() - started
    return {"phase": "bare", "managers": managers, "score_s": round(scored, 2),
            "wall_s": round(wall, 2), "moved_down": moved,
            "per_manager_us": round(wall / managers * 1e6, 1),
            "peak_mib": round(peak_mib(), 1), "inputs_mib": round(before, 1)}


def phase_run(url: str) -> dict[str, Any]:
    """The service's run, end to end from the database and back into it."""
    from sqlalchemy import func, select

    from services.appraisal.models import Appraisal, AppraisalRun
    from services.appraisal.service import execute_run, start_run
    from shared.auth import Principal
    from shared.db import Database

    db = Database(url)
    actor = Principal(subject="bench", roles=frozenset({"hr_admin"}))
    started = time.perf_counter()
    run = start_run(db, actor, {"year": YEAR, "kind": "annual"})
    execute_run(db, run.id)
    wall = time.perf_counter() - started
    with db.read() as s:
        done = s.get(AppraisalRun, run.id)
        assert done is not None
        written = s.scalar(select(func.count()).select_from(Appraisal).where(
            Appraisal.run_id == run.id))
        sample = s.scalar(select(Appraisal).where(Appraisal.run_id == run.id).limit(1))
        lines = len((sample.trace or {}).get("indicators", [])) if sample else 0
    db.dispose()
    timings = done.summary.get("timings") or {}
    workers = timings.get("workers", 1)
    # Workers report their own peak (VmHWM): ru_maxrss of a spawned child starts at its
    # parent's, as Linux carries it across exec.
    children = timings.get("worker_peak_mib", 0.0)
    parent = peak_mib()
    return {"phase": "run", "status": done.status, "error": done.error,
            "scored": done.scored, "written": written, "indicators_per_trace": lines,
            "wall_s": round(wall, 2), "timings": done.summary.get("timings"),
            "cohorts": len(done.summary.get("cohorts", [])),
            "grades": done.summary.get("grades"),
            "moved_down": sum(c["moved_down"] for c in done.summary.get("cohorts", [])),
            "workers": workers, "parent_peak_mib": round(parent, 1),
            "worker_peak_mib": round(children, 1) if workers > 1 else 0.0,
            # Parent and workers run at once: their peaks added are an upper bound.
            "peak_mib": round(parent + (workers * children if workers > 1 else 0), 1)}


def child_phase(args: list[str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *args], cwd=REPO, capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"phase {args[:2]} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(figures: dict[str, Any]) -> None:
    bare, run, rerun = figures["bare"], figures["run"], figures["rerun"]
    n = run["scored"]
    print(f"seeded {figures['managers']:,} managers x 8 indicators "
          f"({figures['managers'] * 8:,} actuals) by COPY in {figures['seed']['seed_s']} s")
    print(f"{'phase':<34}{'wall':>9}{'peak RSS':>12}{'per manager':>14}   (peak RSS of a "
          "run: its process + each scoring worker's peak)")
    for name, f in (("bare scoring loop (ceiling)", bare), ("run from the database", run),
                    ("re-run (updates in place)", rerun)):
        print(f"{name:<34}{f['wall_s']:>8.2f}s{f['peak_mib']:>9.0f} MiB"
              f"{f['wall_s'] / n * 1e6:>11.0f} us")
    t = run["timings"] or {}
    print("run breakdown (workers_* are CPU seconds summed over the workers): "
          + ", ".join(f"{k} {v}" for k, v in t.items()))
    print(f"run memory: run process {run['parent_peak_mib']:.0f} MiB + {run['workers']} "
          f"worker(s) x {run['worker_peak_mib']:.0f} MiB")
    print(f"run / bare = {run['wall_s'] / bare['wall_s']:.2f}x; "
          f"written {run['written']:,} appraisals, {run['cohorts']} cohorts, "
          f"{run['moved_down']:,} moved down by forced distribution; grades {run['grades']}")
    ok = run["wall_s"] < 30 and run["peak_mib"] < 1024
    print(f"target (< 30 s, < 1 GiB): {'met' if ok else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--managers", type=int, default=100_000)
    parser.add_argument("--phase", choices=["bare", "run"], default=None)
    parser.add_argument("--url", default=None)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if args.phase == "bare":
        print(json.dumps(phase_bare(args.managers)))
        return
    if args.phase == "run":
        print(json.dumps(phase_run(args.url)))
        return

    import local_postgres

    from shared.migrations import upgrade

    # A database server sized like a real one: the throw-away server's test settings keep
    # shared_buffers at 32 MB, less than the 100,000 managers' actuals.
    with local_postgres.LocalPostgres(settings={"shared_buffers": "512MB",
                                                "work_mem": "32MB"}) as pg:
        url = pg.create_database("bench_appraisal")
        upgrade(REPO / "services/appraisal/migrations", url)
        figures: dict[str, Any] = {"managers": args.managers,
                                   "seed": seed(url, args.managers)}
        figures["bare"] = child_phase(["--phase", "bare", "--managers", str(args.managers)])
        figures["run"] = child_phase(["--phase", "run", "--url", url])
        figures["rerun"] = child_phase(["--phase", "run", "--url", url])
    if args.json:
        print(json.dumps(figures, indent=2))
    report(figures)


if __name__ == "__main__":
    main()
