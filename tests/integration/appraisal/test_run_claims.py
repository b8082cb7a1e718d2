"""A run's batches shared by several scoring processes through PostgreSQL row claims
(FOR UPDATE SKIP LOCKED and a lease): every appraisal scored and written exactly once, the
same result as one process, and a batch whose claimer died retaken when its lease ran out.
On SQLite the run's own process scores everything, as before."""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from services.appraisal.models import Appraisal, AppraisalRunBatch
from services.appraisal.service import claims, runs
from shared.auth import Principal
from tests.support.processes import running

from .test_appraisals import by_manager, cohort_actuals
from .world import YEAR, World

HR = Principal(subject="hr-1", roles=frozenset({"hr_admin"}))
COHORT = {"year": YEAR, "layer": 2, "category": "commercial_competitive"}


def appraisals_per_manager(database: Any) -> dict[str, int]:
    with database.read() as s:
        return dict(s.execute(select(Appraisal.manager_id, func.count()).where(
            Appraisal.year == YEAR).group_by(Appraisal.manager_id)).all())


def batch_rows(database: Any) -> int:
    with database.read() as s:
        return int(s.scalar(select(func.count()).select_from(AppraisalRunBatch)) or 0)


@pytest.fixture
def postgres_app(app: Any) -> Any:
    if not app.extensions["tenure_db"].is_postgres:
        pytest.skip("row claims are PostgreSQL's; on SQLite the run's process scores alone")
    return app


def test_a_run_shared_with_a_score_runs_process_scores_every_appraisal_once_as_one_process(
        postgres_app: Any, api: Any, world: World, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    database = postgres_app.extensions["tenure_db"]
    cohort_actuals(api, world)
    alone = runs.start_run(database, HR, COHORT)
    runs.execute_run(database, alone.id, workers=1)
    single = {m: (a["id"], a["score"], a["grade"], a["outcome"])
              for m, a in by_manager(api).items()}
    monkeypatch.setattr(runs, "BATCH", 1)  # nine managers: nine batches to share
    scored_here = runs.score_one

    def a_slower_pod(*args: Any) -> bool:  # so the other process surely gets some batches
        claimed = scored_here(*args)
        time.sleep(0.2 if claimed else 0)
        return claimed

    monkeypatch.setattr(runs, "score_one", a_slower_pod)
    log = tmp_path / "score-runs.log"
    args = [sys.executable, "-m", "flask", "--app", "services.appraisal:create_app",
            "score-runs", "--poll", "0.01"]
    with running(args, {"APPRAISAL_DATABASE_URL": database.url, "LOG_JSON": "false"}, log):
        deadline = time.monotonic() + 60
        while "scoring batches" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        shared = runs.start_run(database, HR, COHORT)
        runs.execute_run(database, shared.id, workers=1)
    done = api.get(f"/api/v1/appraisal-runs/{shared.id}").get_json()
    scorers = done["summary"]["timings"]["batches_by_scorer"]
    assert (done["status"], done["scored"], sum(scorers.values())) == ("done", 9, 9)
    assert len(scorers) == 2, scorers  # this process and the score-runs one
    assert set(appraisals_per_manager(database).values()) == {1}
    assert {m: (a["id"], a["score"], a["grade"], a["outcome"])
            for m, a in by_manager(api).items()} == single
    assert done["summary"]["cohorts"][0]["moved_down"] == 3
    assert batch_rows(database) == 0  # the run's commit took its batches away


def test_a_batch_whose_claimer_died_is_retaken_when_its_lease_runs_out(
        postgres_app: Any, api: Any, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    database = postgres_app.extensions["tenure_db"]
    cohort_actuals(api, world)
    monkeypatch.setattr(runs, "BATCH", 4)
    run = runs.start_run(database, HR, COHORT)
    published = claims.publish_batches
    taken: list[int] = []

    def publish_then_die_holding_one(db: Any, run_id: str, batches: Any, upto: int) -> None:
        published(db, run_id, batches, upto)
        claimed = claims.claim_batch(db, "dead-pod:1", run_id)  # then the pod is gone
        assert claimed is not None
        taken.append(claimed[1])
        with db.unit_of_work() as s:  # ...and its lease has run out
            s.execute(update(AppraisalRunBatch).where(
                AppraisalRunBatch.run_id == run_id, AppraisalRunBatch.seq == claimed[1])
                .values(lease_until=claims.utcnow() - timedelta(seconds=1)))

    monkeypatch.setattr(runs, "publish_batches", publish_then_die_holding_one)
    runs.execute_run(database, run.id, workers=1)
    done = api.get(f"/api/v1/appraisal-runs/{run.id}").get_json()
    assert (done["status"], done["scored"], taken) == ("done", 9, [0])
    assert "dead-pod:1" not in done["summary"]["timings"]["batches_by_scorer"]
    assert set(appraisals_per_manager(database).values()) == {1}


def test_a_store_after_the_lease_was_retaken_is_refused(
        postgres_app: Any, api: Any, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    database = postgres_app.extensions["tenure_db"]
    cohort_actuals(api, world)
    stored: list[bool] = []
    original = claims.store_result

    def slow_pod_loses_its_batch(db: Any, run_id: str, seq: int, me: str, out: Any) -> bool:
        if seq == 0 and not stored:
            # This pod stalled past its lease; another one retook the batch meanwhile.
            with db.unit_of_work() as s:
                s.execute(update(AppraisalRunBatch).where(
                    AppraisalRunBatch.run_id == run_id, AppraisalRunBatch.seq == 0)
                    .values(claimed_by="other:3", claims=AppraisalRunBatch.claims + 1))
            stored.append(original(db, run_id, seq, me, out))
            with db.unit_of_work() as s:  # the other pod died too: free it again
                s.execute(update(AppraisalRunBatch).where(
                    AppraisalRunBatch.run_id == run_id, AppraisalRunBatch.seq == 0)
                    .values(state="queued", claimed_by=None))
            return stored[-1]
        return original(db, run_id, seq, me, out)

    monkeypatch.setattr(claims, "store_result", slow_pod_loses_its_batch)
    run = runs.start_run(database, HR, COHORT)
    runs.execute_run(database, run.id, workers=1)
    done = api.get(f"/api/v1/appraisal-runs/{run.id}").get_json()
    assert (stored, done["status"], done["scored"]) == ([False], "done", 9)
    assert set(appraisals_per_manager(database).values()) == {1}


def test_on_sqlite_the_run_scores_in_its_own_process_without_claims(
        app: Any, api: Any, world: World) -> None:
    database = app.extensions["tenure_db"]
    if database.is_postgres:
        pytest.skip("the single-process path is SQLite's")
    cohort_actuals(api, world)
    run = runs.start_run(database, HR, COHORT)
    runs.execute_run(database, run.id)
    done = api.get(f"/api/v1/appraisal-runs/{run.id}").get_json()
    assert (done["status"], done["scored"]) == ("done", 9)
    assert "batches_by_scorer" not in done["summary"]["timings"]
    assert batch_rows(database) == 0
