"""A run's batches as claimable rows, so any number of processes (pods) score one run.

On PostgreSQL the run's process writes its cohort as rows of `appraisal_run_batches`; every
scoring process (the run's own, its local worker pool, any `flask score-runs` process on any
machine) claims the next free batch with `FOR UPDATE SKIP LOCKED`, marks it claimed with a
lease, scores it outside any transaction and stores the rows to write. A store only lands
while the claim is still the storer's: if a process died (or stalled past its lease), another
one retook the batch, and only one result of the batch is ever stored. The run's process
reads the results in batch order and writes them in its one transaction as before
(`runs.py`), so a cohort is still never seen half distributed. SQLite has no such claims: a
run there is scored by its own process alone (`runs._batch_results`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import astuple
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from services.appraisal import domain as d
from services.appraisal.models import AppraisalRun, AppraisalRunBatch, SchemeRecord
from services.appraisal.service.batch import (
    Batch,
    BatchResult,
    RunContext,
    ensure_worker,
    score_batch,
    worker_database,
)
from services.appraisal.service.cohorts import Candidate, Skip
from services.appraisal.service.common import utcnow
from shared.db import Database

log = logging.getLogger("tenure.appraisal.claims")

#: How long a claim holds a batch; a batch takes about a second, so a claim still held
#: after this long belongs to a process that died and the batch is free again.
LEASE = timedelta(minutes=2)


def claimer_name() -> str:
    """Who holds a claim: host (the pod's name in Kubernetes) and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


# --- the run's side -------------------------------------------------------------------------------


def publish_batches(db: Database, run_id: str, batches: list[Batch], schemes_upto: int
                    ) -> None:
    """The run's cohort as queued batches, committed at once so every scorer sees them."""
    if not batches:
        return
    with db.unit_of_work() as s:
        s.execute(AppraisalRunBatch.__table__.insert(), [
            {"run_id": run_id, "seq": seq, "state": "queued", "claims": 0,
             "work": encode_work(batch, schemes_upto)} for seq, batch in enumerate(batches)])


def scored_result(db: Database, run_id: str, seq: int) -> BatchResult | None:
    """The stored result of one batch, or None while it is not scored yet."""
    with db.read() as s:
        row = s.execute(select(AppraisalRunBatch.rows_new, AppraisalRunBatch.rows_rescored,
                               AppraisalRunBatch.result).where(
            AppraisalRunBatch.run_id == run_id, AppraisalRunBatch.seq == seq,
            AppraisalRunBatch.state == "scored")).one_or_none()
    return None if row is None else decode_result(*row)


def drop_batches(s: Session, run_id: str) -> None:
    """Called in the transaction that finishes (or fails) the run."""
    s.execute(delete(AppraisalRunBatch).where(AppraisalRunBatch.run_id == run_id))


# --- any scorer's side ----------------------------------------------------------------------------


def claim_batch(db: Database, me: str, run_id: str | None = None
                ) -> tuple[str, int, dict[str, Any]] | None:
    """Take the next free batch (of `run_id`, or of the oldest running run): queued, or
    claimed by a process whose lease ran out. Rows another process is claiming right now
    are skipped, not waited for."""
    now = utcnow()
    with db.unit_of_work() as s:
        stmt = (select(AppraisalRunBatch.run_id, AppraisalRunBatch.seq,
                       AppraisalRunBatch.work)
                .join(AppraisalRun, AppraisalRun.id == AppraisalRunBatch.run_id)
                .where(AppraisalRun.status == "running",
                       (AppraisalRunBatch.state == "queued")
                       | ((AppraisalRunBatch.state == "claimed")
                          & (AppraisalRunBatch.lease_until < now)))
                .order_by(AppraisalRun.created_at, AppraisalRunBatch.seq).limit(1)
                .with_for_update(of=AppraisalRunBatch, skip_locked=True))
        if run_id is not None:
            stmt = stmt.where(AppraisalRunBatch.run_id == run_id)
        row = s.execute(stmt).one_or_none()
        if row is None:
            return None
        s.execute(update(AppraisalRunBatch).where(
            AppraisalRunBatch.run_id == row.run_id, AppraisalRunBatch.seq == row.seq).values(
            state="claimed", claimed_by=me, claims=AppraisalRunBatch.claims + 1,
            lease_until=now + LEASE))
        return row.run_id, row.seq, row.work


def store_result(db: Database, run_id: str, seq: int, me: str, out: BatchResult) -> bool:
    """Store a scored batch if the claim is still ours; False if another process retook
    it after our lease ran out (its result is the one kept)."""
    rows_new, rows_rescored, result = encode_result(out, me)
    with db.unit_of_work() as s:
        done = s.execute(update(AppraisalRunBatch).where(
            AppraisalRunBatch.run_id == run_id, AppraisalRunBatch.seq == seq,
            AppraisalRunBatch.state == "claimed", AppraisalRunBatch.claimed_by == me).values(
            state="scored", rows_new=rows_new, rows_rescored=rows_rescored, result=result,
            lease_until=None))
        return bool(done.rowcount)


def release(db: Database, run_id: str, seq: int, me: str) -> None:
    with db.unit_of_work() as s:
        s.execute(update(AppraisalRunBatch).where(
            AppraisalRunBatch.run_id == run_id, AppraisalRunBatch.seq == seq,
            AppraisalRunBatch.state == "claimed", AppraisalRunBatch.claimed_by == me).values(
            state="queued", lease_until=None))


def score_one(db: Database, me: str, run_id: str | None = None) -> bool:
    """Claim, score and store one batch; False when there was none to claim. The process
    must hold the batch's run context (`init_worker`); `serve` switches it per run."""
    claimed = claim_batch(db, me, run_id)
    if claimed is None:
        return False
    got_run, seq, work = claimed
    if run_id is None:
        ensure_worker(context_of(db, got_run, work))
    try:
        out = score_batch(decode_work(work))
    except BaseException:
        release(db, got_run, seq, me)  # free for another at once, not when the lease ends
        raise
    if not store_result(db, got_run, seq, me, out):
        log.warning("batch %s of run %s was retaken after its lease ran out", seq, got_run)
    return True


def work_on_run(run_id: str) -> int:
    """A local worker process of the run (after `init_worker`): batches until none is free."""
    db = worker_database()
    me, done = claimer_name(), 0
    while score_one(db, me, run_id):
        done += 1
    return done


def serve(url: str, stop: threading.Event, poll_seconds: float = 0.5) -> int:
    """`flask score-runs`: score batches of any running run until stopped; returns how many."""
    db = Database(url)
    me, done = claimer_name(), 0
    try:
        while not stop.is_set():
            try:
                if score_one(db, me):
                    done += 1
                    continue
            except Exception:  # a database outage must not end the scorer silently
                log.exception("scoring a batch failed; its lease frees it for another")
            stop.wait(poll_seconds)
    finally:
        db.dispose()
    return done


def context_of(db: Database, run_id: str, work: dict[str, Any]) -> RunContext:
    """The run's context as its process built it: the schemes stored when it started."""
    with db.read() as s:
        run = s.get(AppraisalRun, run_id)
        assert run is not None
        schemes = tuple(s.scalars(select(SchemeRecord.body).where(
            SchemeRecord.id <= work["schemes_upto"]).order_by(SchemeRecord.id)))
    return RunContext(db.url, run_id, run.requested_by, run.year, run.kind, schemes, True)


def schemes_upto(s: Session) -> int:
    return int(s.scalar(select(func.max(SchemeRecord.id))) or 0)


# --- the rows' JSON -------------------------------------------------------------------------------


def encode_work(batch: Batch, upto: int) -> dict[str, Any]:
    return {"schemes_upto": upto,
            "candidates": [list(astuple(c)) for c in batch.candidates],
            "existing": [[*key, *held] for key, held in batch.existing.items()],
            "frozen": [list(key) for key in batch.frozen]}


def decode_work(work: dict[str, Any]) -> Batch:
    return Batch([Candidate(*c) for c in work["candidates"]],
                 {(m, c): (a, st) for m, c, a, st in work["existing"]},
                 {(m, c) for m, c in work["frozen"]})


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def encode_result(out: BatchResult, me: str) -> tuple[str, str, dict[str, Any]]:
    """COPY text as text columns (no JSON escaping of 1,000 traces); the rest as JSON."""
    return out.inserts or "", out.updates or "", {
        "scored_by": me, "scored": out.scored, "seconds": out.seconds,
        "peak_mib": out.peak_mib, "skips": [x.as_dict() for x in out.skips],
        "final": [[*key, *value] for key, value in out.final.items()],
        "members": [[list(key), m.manager_id, str(m.total), _dec(m.organisational),
                     _dec(m.individual), m.grade.value] for key, m in out.members]}


def decode_result(rows_new: str | None, rows_rescored: str | None, result: dict[str, Any]
                  ) -> BatchResult:
    def dec(text: str | None) -> Decimal | None:
        return None if text is None else Decimal(text)

    out = BatchResult(
        inserts=rows_new or "", updates=rows_rescored or "",
        members=[((layer, category), d.CohortMember(mid, Decimal(total), dec(org), dec(ind),
                                                    d.Grade(grade)))
                 for (layer, category), mid, total, org, ind, grade in result["members"]],
        final={(m, c): (a, g, o) for m, c, a, g, o in result["final"]},
        skips=[Skip(**x) for x in result["skips"]], scored=result["scored"],
        seconds=result["seconds"], peak_mib=result["peak_mib"], scored_by=result["scored_by"])
    return out
