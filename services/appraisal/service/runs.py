"""Appraisal runs: one request scores a whole cohort as a background job with progress.

A run selects every manager in scope with locked targets for the year (or whose term ends
in it, for tenure) and scores them in batches (`batch.py`: one query per kind of input per
batch). On PostgreSQL the batches become rows that any scoring process claims (`claims.py`:
the run's own, its local worker pool, `flask score-runs` processes on other machines). The
run's own process writes every result with its trace in one transaction, applies forced
distribution per cohort (layer and category) and regrades those it moves before that
transaction commits, so a cohort is never seen half distributed. Re-running is safe and
gives the same result for the same inputs: it updates the same appraisal rows (those still
open, actuals_submitted or scored); reviewed, approved and published ones are left alone,
said so in the run's skips, and still count in their cohort's distribution.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session, defer
from sqlalchemy.orm.attributes import set_committed_value

from services.appraisal import domain as d
from services.appraisal.models import (
    Appeal,
    Appraisal,
    AppraisalRun,
    ExitDecision,
    Manager,
    SchemeRecord,
    outbox,
)
from services.appraisal.service.batch import (
    APPRAISAL_COLUMNS,
    UPDATE_COLUMNS,
    Batch,
    BatchResult,
    RunContext,
    as_dicts,
    close_worker,
    copy_text,
    init_worker,
    score_batch,
    subset,
)
from services.appraisal.service.claims import (
    claimer_name,
    drop_batches,
    publish_batches,
    score_one,
    scored_result,
    work_on_run,
)
from services.appraisal.service.cohorts import (
    Inputs,
    Skip,
    cohort_criteria,
    existing_appraisals,
    select_cohort,
)
from services.appraisal.service.common import (
    FROZEN_STATES,
    among,
    id_chunk,
    load_scheme_book,
    new_id,
    require_write,
    resolve_scope,
    unit_path,
    utcnow,
)
from services.appraisal.service.lifecycle import (
    ROLES_FOR,
    finish_transition,
    note_unit_names,
    record_decisions,
    record_steps,
    trace_needed,
    transition_values,
)
from services.appraisal.service.results import regrade, result_fields
from shared import audit
from shared.auth import Principal
from shared.db import Database, bulk_insert
from shared.errors import ApiProblem, not_found

log = logging.getLogger("tenure.appraisal.runs")

BATCH = 1000
#: A run still queued or running after this long is taken as abandoned (its process died)
#: and no longer blocks a new run of the same cohort.
ABANDONED_AFTER = timedelta(minutes=30)
MAX_SKIPS_KEPT = 1000  # the run keeps the first skips in full; the counts cover them all

# --- starting and reading runs --------------------------------------------------------------------


def start_run(db: Database, actor: Principal, data: Mapping[str, Any]) -> AppraisalRun:
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        criteria = {k: data[k] for k in ("org_unit_id", "layer", "category", "position")
                    if data.get(k) is not None}
        cohort_criteria(s, scope, criteria)  # an org unit outside the scope is a 404 now
        year, kind = data["year"], data.get("kind", "annual")
        for busy in s.scalars(select(AppraisalRun).where(
                AppraisalRun.status.in_(("queued", "running")), AppraisalRun.year == year,
                AppraisalRun.kind == kind)):
            if busy.org_scope != actor.org_scope or busy.criteria != criteria:
                continue
            since = busy.started_at or busy.created_at
            if since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            if utcnow() - since > ABANDONED_AFTER:
                # Its process went away (a deploy, a crash): the run never finishes.
                minutes = int(ABANDONED_AFTER.total_seconds() // 60)
                busy.status = "failed"
                busy.error = f"abandoned: no result after {minutes} minutes"
                busy.finished_at = utcnow()
                drop_batches(s, busy.id)
            else:
                raise ApiProblem(409, "Conflict",
                                 f"Run {busy.id} for the same cohort is still running",
                                 headers={"Location": f"/api/v1/appraisal-runs/{busy.id}"},
                                 errors={"run": [busy.id]})
        run = AppraisalRun(id=new_id(), year=year, kind=kind, criteria=criteria,
                           status="queued", total=0, processed=0, scored=0, skipped=0,
                           skips=[], summary={"phase": "queued"}, requested_by=actor.subject,
                           org_scope=actor.org_scope, created_at=utcnow())
        s.add(run)
        return run


def start_run_worker(db: Database, run_id: str) -> threading.Thread:
    """Run beside the request; progress lives in the run's row."""
    worker = threading.Thread(target=audit.as_requester(execute_run, db, run_id),
                              name=f"appraisal-run-{run_id}", daemon=True)
    worker.start()
    return worker


def get_run(db: Database, actor: Principal, run_id: str) -> AppraisalRun:
    with db.read() as s:
        scope = resolve_scope(s, actor)
        run = s.get(AppraisalRun, run_id)
        if run is None or scope.manager_id is not None or (
                scope.path is not None and run.org_scope != actor.org_scope):
            raise not_found("appraisal run", run_id)
        return run


def list_runs(db: Database, actor: Principal, year: int | None) -> list[AppraisalRun]:
    with db.read() as s:
        scope = resolve_scope(s, actor)
        if scope.manager_id is not None:
            return []
        stmt = select(AppraisalRun).order_by(AppraisalRun.created_at.desc())
        if year is not None:
            stmt = stmt.where(AppraisalRun.year == year)
        if scope.path is not None:
            stmt = stmt.where(AppraisalRun.org_scope == actor.org_scope)
        return list(s.scalars(stmt.limit(200)))


# --- the job --------------------------------------------------------------------------------------


def execute_run(db: Database, run_id: str, workers: int | None = None) -> None:
    try:
        _execute(db, run_id, workers)
    except Exception as exc:  # the run records any failure; the requester reads it there
        log.exception("appraisal run failed", extra={"run_id": run_id})
        with db.unit_of_work() as s:
            s.execute(update(AppraisalRun).where(AppraisalRun.id == run_id).values(
                status="failed", error=f"{type(exc).__name__}: {exc}"[:4000],
                finished_at=utcnow()))
            drop_batches(s, run_id)


def _progress(db: Database, run_id: str, **values: Any) -> None:
    with db.unit_of_work() as s:
        s.execute(update(AppraisalRun).where(AppraisalRun.id == run_id).values(**values))


def run_workers() -> int:
    """Local worker processes for large runs on PostgreSQL (APPRAISAL_RUN_WORKERS, default:
    one per CPU, at most 4; 1 scores in the run's own process). `flask score-runs` processes
    elsewhere claim batches of the same run besides them (claims.py)."""
    raw = os.environ.get("APPRAISAL_RUN_WORKERS")
    if raw and raw.strip().isdigit():
        return max(1, int(raw))
    return max(1, min(os.cpu_count() or 1, 4))


def _execute(db: Database, run_id: str, workers: int | None = None) -> None:
    started = time.perf_counter()
    timings: dict[str, float] = {}
    with db.unit_of_work() as s:
        run = s.get(AppraisalRun, run_id)
        if run is None or run.status != "queued":
            return
        run.status = "running"
        run.started_at = utcnow()
        run.summary = {"phase": "selecting"}
        year, kind, actor = run.year, run.kind, run.requested_by
        scope_path = unit_path(s, run.org_scope) if run.org_scope else None
        if run.org_scope and scope_path is None:
            scope_path = "/-/"
        criteria = dict(run.criteria)
        if criteria.get("org_unit_id"):
            criteria["org_unit_path"] = unit_path(s, criteria["org_unit_id"]) or "/-/"
    with db.read() as s:
        cands, skips = select_cohort(s, year, kind, scope_path, criteria)
        existing = existing_appraisals(s, cands, year, kind)
        book = load_scheme_book(s)
        stored = list(s.scalars(select(SchemeRecord).order_by(SchemeRecord.id)))
        stored_schemes = tuple(r.body for r in stored)
        schemes_upto = stored[-1].id if stored else 0
    # Reviewed, approved and published appraisals are not written again, but they are
    # scored in memory so they still count in their cohort's forced distribution.
    frozen: set[tuple[str, str]] = set()
    for c in cands:
        held = existing.get((c.manager_id, c.contract_id))
        if held is not None and held[1] in FROZEN_STATES:
            frozen.add((c.manager_id, c.contract_id))
            skips.append(Skip(c.manager_id, c.contract_id, f"appraisal is {held[1]}"))
    timings["select_s"] = round(time.perf_counter() - started, 3)
    _progress(db, run_id, total=len(cands), skipped=len(skips), processed=len(skips),
              summary={"phase": "scoring"})

    ctx = RunContext(db.url, run_id, actor, year, kind, stored_schemes, db.is_postgres)
    batches = [subset(existing, frozen, cands[i:i + BATCH])
               for i in range(0, len(cands), BATCH)]
    workers = run_workers() if workers is None else workers
    parallel = db.is_postgres and workers > 1 and len(batches) > 1
    if db.is_postgres:  # every scoring process, here or elsewhere, may claim them now
        publish_batches(db, run_id, batches, schemes_upto)
    scorers: Counter[str] = Counter()
    members: dict[Any, list[d.CohortMember]] = defaultdict(list)
    final: dict[tuple[str, str], tuple[str, str, str]] = {}
    spent: Counter[str] = Counter()
    processed = 0
    worker_peak = 0.0
    # Progress goes in its own short transactions beside the one that writes the results;
    # SQLite has one writer at a time, so there it is only reported at the end.
    live_progress = db.is_postgres
    t0 = time.perf_counter()
    with db.unit_of_work() as ws, _batch_results(db, ctx, batches, workers if parallel else 1
                                                ) as results:
        writer = ResultWriter(ws)
        for batch, out in zip(batches, results, strict=True):
            t1 = time.perf_counter()
            writer.write(out.inserts, out.updates)
            spent["write_s"] += time.perf_counter() - t1
            for key, member in out.members:
                members[key].append(member)
            final.update(out.final)
            skips.extend(out.skips)
            for name, value in out.seconds.items():
                spent[f"workers_{name}"] += value
            worker_peak = max(worker_peak, out.peak_mib)
            if out.scored_by:
                scorers[out.scored_by] += 1
            processed += len(batch.candidates)
            if live_progress:
                _progress(db, run_id, processed=processed, scored=len(final),
                          skipped=len(skips))
        timings["score_and_write_s"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        cohorts, moved = distribute(members, book, year)
        movable = {c.manager_id: c for c in cands
                   if c.manager_id in moved and (c.manager_id, c.contract_id) not in frozen}
        if movable:
            with db.read() as rs:
                inputs = Inputs(rs, year, kind, book)
                inputs.load(list(movable.values()))
                rows = []
                for manager_id, c in movable.items():
                    grade, changes = moved[manager_id]
                    result = regrade(inputs.appraise(c), grade, changes)  # type: ignore[arg-type]
                    fields = result_fields(result)
                    appraisal_id = final[(c.manager_id, c.contract_id)][0]
                    final[(c.manager_id, c.contract_id)] = (appraisal_id, fields["grade"],
                                                            fields["outcome"])
                    now = utcnow()
                    values = {"state": "scored", "run_id": run_id, "scored_at": now,
                              "updated_at": now, **fields}
                    rows.append((appraisal_id, *(values[n] for n in UPDATE_COLUMNS)))
            writer.write(None, copy_text(rows, ("id", *UPDATE_COLUMNS)) if db.is_postgres
                         else rows)
        timings["distribute_s"] = round(time.perf_counter() - t0, 3)
        timings.update({k: round(v, 3) for k, v in sorted(spent.items())})
        timings["workers"] = workers if parallel else 1
        if parallel:
            timings["worker_peak_mib"] = round(worker_peak, 1)
        if scorers:  # batches per scoring process (host:pid), this one and any other
            timings["batches_by_scorer"] = dict(sorted(scorers.items()))
        timings["total_s"] = round(time.perf_counter() - started, 3)
        grades = Counter(g for _, g, _ in final.values())
        outcomes = Counter(o for _, _, o in final.values())
        # COPY and Core bypass the ORM listener: one audit record per scored appraisal.
        units = {(c.manager_id, c.contract_id): c.org_unit_id for c in cands}
        audit.record_many(ws, ({"object_type": "appraisals", "object_id": appraisal_id,
                                "action": "scored", "org_unit_id": units.get(key),
                                "after": {"run_id": run_id, "manager_id": key[0],
                                          "contract_id": key[1], "grade": grade,
                                          "outcome": outcome}}
                               for key, (appraisal_id, grade, outcome) in final.items()))
        drop_batches(ws, run_id)
        ws.execute(update(AppraisalRun).where(AppraisalRun.id == run_id).values(
            status="done", finished_at=utcnow(), processed=len(cands), scored=len(final),
            skipped=len(skips), skips=[x.as_dict() for x in skips[:MAX_SKIPS_KEPT]],
            summary={"phase": "done", "cohorts": cohorts,
                     "grades": dict(sorted(grades.items())),
                     "outcomes": dict(sorted(outcomes.items())),
                     "skip_reasons": dict(Counter(_reason_kind(x.reason) for x in skips)),
                     "timings": timings}))


#: How often the run's process looks for the next result while others score it.
RESULT_POLL_SECONDS = 0.02


@contextmanager
def _batch_results(db: Database, ctx: RunContext, batches: list[Batch], workers: int
                   ) -> Iterator[Iterator[BatchResult]]:
    """Batch results in order: claimed and scored by any process on PostgreSQL, scored
    right here on SQLite."""
    if db.is_postgres:
        with _claimed_results(db, ctx, len(batches), workers) as results:
            yield results
        return
    init_worker(ctx)
    try:
        yield (score_batch(b) for b in batches)
    finally:
        close_worker()


@contextmanager
def _claimed_results(db: Database, ctx: RunContext, count: int, workers: int
                     ) -> Iterator[Iterator[BatchResult]]:
    """Results of the run's published batches in order. With `workers` > 1 a local pool
    claims them (spawn: a run starts from a thread of a web worker; forking a threaded
    process is unsafe); this process claims one whenever the next result is not there yet
    and no local worker is busy, so a run finishes even with no other scorer, and a batch
    whose claimer died is retaken when its lease runs out."""
    init_worker(ctx)
    pool = get_context("spawn").Pool(workers, initializer=init_worker, initargs=(ctx,)
                                     ) if workers > 1 else None
    try:
        busy = [pool.apply_async(work_on_run, (ctx.run_id,)) for _ in range(workers)
                ] if pool is not None else []
        me = claimer_name()

        def in_order() -> Iterator[BatchResult]:
            for seq in range(count):
                while (out := scored_result(db, ctx.run_id, seq)) is None:
                    helping = all(job.ready() for job in busy)
                    if not (helping and score_one(db, me, ctx.run_id)):
                        time.sleep(RESULT_POLL_SECONDS)
                yield out

        yield in_order()
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        close_worker()


def _reason_kind(reason: str) -> str:
    return reason.split(":")[0].split(" (")[0]


def distribute(members: Mapping[Any, list[d.CohortMember]], book: d.SchemeBook, year: int
               ) -> tuple[list[dict[str, Any]], dict[str, tuple[d.Grade, list[d.GradeChange]]]]:
    """Forced distribution per cohort (layer, category), under the distribution rules of the
    scheme that applies to the cohort as a whole; returns each cohort's figures and who
    moved, to which grade, by which changes."""
    cohorts = []
    moved: dict[str, tuple[d.Grade, list[d.GradeChange]]] = {}
    for key, its in sorted(members.items(), key=lambda kv: str(kv[0])):
        scheme = book.resolve(key[0], key[1], None, year=year)[0]
        dist = d.apply_forced_distribution(its, scheme.distribution)
        for change in dist.changes:
            moved.setdefault(change.manager_id,
                             (dist.grades[change.manager_id], []))[1].append(change)
        cohorts.append({"layer": key[0], "category": key[1], "size": dist.cohort_size,
                        "scheme_code": scheme.code, "scheme_version": scheme.version,
                        "excellent_quota": dist.excellent_quota,
                        "good_or_better_quota": dist.good_or_better_quota,
                        "moved_down": len(dist.changes),
                        "kept_on_tie": len(dist.kept_on_tie)})
    return cohorts, moved


# --- writing --------------------------------------------------------------------------------------


class ResultWriter:
    """Writes a run's rows in the run's one transaction: new appraisals by COPY, re-scored
    ones updated in place through a temporary table (one statement per batch) on
    PostgreSQL; plain INSERT / UPDATE executemany on SQLite."""

    def __init__(self, s: Session) -> None:
        self.s = s
        self._temp = False

    def write(self, inserts: Any, updates: Any) -> None:
        conn = self.s.connection()
        if conn.dialect.name != "postgresql":
            if inserts:
                conn.execute(insert(Appraisal.__table__), as_dicts(inserts, APPRAISAL_COLUMNS))
            if updates:
                table = Appraisal.__table__
                stmt = update(table).where(table.c.id == bindparam("b_id"), *(
                    table.c.state != state for state in FROZEN_STATES)).values(
                    {**{c: bindparam(f"b_{c}") for c in UPDATE_COLUMNS},
                     "row_version": table.c.row_version + 1})
                conn.execute(stmt, [dict(zip(("b_id", *(f"b_{c}" for c in UPDATE_COLUMNS)),
                                             row, strict=True)) for row in updates])
            return
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:
            if inserts:
                _copy(cur, "appraisals", APPRAISAL_COLUMNS, inserts)
            if updates:
                if not self._temp:
                    cur.execute("CREATE TEMPORARY TABLE tmp_appraisal_scores ON COMMIT DROP "
                                "AS SELECT id, " + ", ".join(f'"{c}"' for c in UPDATE_COLUMNS)
                                + " FROM appraisals WITH NO DATA")
                    self._temp = True
                else:
                    cur.execute("TRUNCATE tmp_appraisal_scores")
                _copy(cur, "tmp_appraisal_scores", ("id", *UPDATE_COLUMNS), updates)
                assignments = ", ".join(f'"{c}" = t."{c}"' for c in UPDATE_COLUMNS)
                # An appraisal reviewed meanwhile keeps its reviewed result.
                cur.execute(f"UPDATE appraisals a SET {assignments}, "
                            "row_version = a.row_version + 1 "
                            "FROM tmp_appraisal_scores t WHERE a.id = t.id "
                            "AND a.state IN ('open', 'actuals_submitted', 'scored')")


def _copy(cur: Any, table: str, columns: Sequence[str], text: str) -> None:
    names = ", ".join(f'"{c}"' for c in columns)
    with cur.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
        copy.write(text)


# --- acting on a whole run ------------------------------------------------------------------------

RUN_ACTIONS = ("review", "approve", "publish")
#: Appraisals a whole-run action holds in memory at once (its transaction spans them all).
ACTION_CHUNK = 2_000


def act_on_run(db: Database, actor: Principal, run_id: str, action: str, note: str = ""
               ) -> dict[str, Any]:
    """Review, approve or publish every appraisal the run scored that is ready for it;
    each one that cannot be (missing actuals, an open appeal) is reported, not forced."""
    run = get_run(db, actor, run_id)
    if run.status != "done":
        raise ApiProblem(409, "Conflict", f"The run is {run.status}; wait until it is done",
                         errors={"status": [run.status]})
    if not actor.has(*ROLES_FOR[action]):
        raise ApiProblem(403, "Forbidden",
                         f"This needs one of the roles: {', '.join(ROLES_FOR[action])}")
    wanted = {"review": "scored", "approve": "reviewed", "publish": "approved"}[action]
    done, refused, events = 0, [], Counter()
    with db.unit_of_work() as s:
        # Lock every appraisal the action is for, then work through them a chunk at a time:
        # one transaction (all or nothing), but only a chunk's rows and traces in memory.
        ids = list(s.scalars(select(Appraisal.id).where(
            Appraisal.run_id == run_id, Appraisal.state == wanted)
            .order_by(Appraisal.id).with_for_update()))
        # Only an appeal still open holds a publication back; one query for the whole run.
        appealed = set(s.scalars(select(Appeal.appraisal_id).join(
            Appraisal, Appraisal.id == Appeal.appraisal_id).where(
            Appraisal.run_id == run_id, Appeal.status == "open"))) \
            if action == "publish" else set()
        for start in range(0, len(ids), ACTION_CHUNK):
            chunk = ids[start:start + ACTION_CHUNK]
            # Without the trace, the largest column (kept out of line on PostgreSQL): no
            # step below reads it except for the few appraisals `trace_needed` names.
            rows = list(s.scalars(select(Appraisal).options(defer(Appraisal.result))
                                  .where(Appraisal.id.in_(chunk)).order_by(Appraisal.id)))
            load_traces(s, [a for a in rows if trace_needed(action, a)])
            managers: dict[str, Manager] = {}
            if action == "publish":  # the events name each manager and unit: read them at once
                managers = {m.id: m for m in s.scalars(select(Manager).where(
                    Manager.id.in_({a.manager_id for a in rows})))}
                note_unit_names(s, {a.org_unit_id for a in rows if a.org_unit_id})
            outbox_rows: list[dict[str, Any]] = []
            steps: list[dict[str, Any]] = []
            decisions: list[ExitDecision] = []
            moved: dict[tuple[Any, ...], list[str]] = defaultdict(list)
            now = utcnow()  # the chunk's moves at one instant: one UPDATE for all of them
            records: list[dict[str, Any]] = []
            for a in rows:
                # Every refusal (wrong state, missing actuals, self-report, open appeal) is
                # raised before the appraisal is touched, so no savepoint is needed.
                try:
                    values = transition_values(s, a, action, actor.subject,
                                               open_appeal=a.id in appealed, now=now)
                except ApiProblem as exc:
                    refused.append({"appraisal_id": a.id, "manager_id": a.manager_id,
                                    "reason": exc.detail})
                    continue
                # Written below with the chunk's other moves by one UPDATE, so the session
                # is told the new values as committed ones, and the audit record is the
                # one a flush would have written.
                records.append(audit.update_entry(a, values))
                before = a.state
                for column, value in values.items():
                    set_committed_value(a, column, value)
                moved[tuple((k, v) for k, v in values.items() if k != "row_version")].append(
                    a.id)
                finish_transition(s, a, action, before, actor.subject, note,
                                  manager=managers.get(a.manager_id), sink=outbox_rows,
                                  steps=steps, decisions=decisions)
                done += 1
                if action == "publish":
                    events["appraisal.published"] += 1
                    if a.outcome == d.Outcome.INCOMPETENCE_EXIT.value:
                        events["exit.triggered"] += 1
                    if a.kind == "tenure":
                        events["tenure.concluded"] += 1
            move_appraisals(s, moved)
            record_steps(s, steps)  # the chunk's log entries and their records at once
            audit.record_many(s, records)
            bulk_insert(s, outbox, outbox_rows)  # the chunk's events in one statement
            record_decisions(s, decisions)  # and its exit decisions in another
            s.flush()  # anything else a step added
            audit.write_pending(s)
            s.expunge_all()
    return {"run_id": run_id, "action": action, "done": done, "refused": refused,
            "events": dict(events)}


def load_traces(s: Session, appraisals: Sequence[Appraisal]) -> None:
    """The stored traces of appraisals loaded without them, in one query, as if loaded."""
    if not appraisals:
        return
    by_id = {a.id: a for a in appraisals}
    for appraisal_id, text in s.execute(select(Appraisal.id, Appraisal.result)
                                        .where(Appraisal.id.in_(list(by_id)))):
        set_committed_value(by_id[appraisal_id], "result", text)


def move_appraisals(s: Session, moved: Mapping[tuple[Any, ...], list[str]]) -> None:
    """One UPDATE for the appraisals a step gives the same new values (a whole chunk, as a
    rule: one review's self-report statuses make a few groups), each row's version one up.
    The rows were locked when the action began, so the versions are those just read."""
    step = id_chunk(s)
    for values, ids in moved.items():
        for start in range(0, len(ids), step):
            part = ids[start:start + step]
            written = s.execute(
                update(Appraisal).where(among(s, Appraisal.id, part))
                .values({**dict(values), "row_version": Appraisal.row_version + 1})
                .execution_options(synchronize_session=False)).rowcount
            if written != len(part):  # cannot happen under the lock; never leave it half done
                raise RuntimeError(f"{written} of {len(part)} appraisals updated")


def run_progress(run: AppraisalRun) -> str:
    if run.status == "done":
        return "100.00"
    return f"{(100 * run.processed / run.total) if run.total else 0:.2f}"


def elapsed(run: AppraisalRun) -> float | None:
    if run.started_at is None:
        return None
    end: datetime = run.finished_at or utcnow()
    start = run.started_at
    if start.tzinfo is None:
        end = end.replace(tzinfo=None)
    return round((end - start).total_seconds(), 3)
