"""Bulk issue from a template: one job, decided and written chunk by chunk."""


from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import orjson
from orjson import Fragment
from sqlalchemy import (
    Connection,
    Select,
    Text,
    cast,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.orm import Session, defer
from sqlalchemy.orm.attributes import set_committed_value

from services.contracts import domain as d
from services.contracts import repository as repo
from services.contracts.models import (
    BulkIssueJob,
    ContractDocument,
    ContractVersion,
    Manager,
    OrgUnit,
    TenureContract,
    bulk_issue_decisions,
    outbox,
)
from services.contracts.service.common import (
    BULK_CHUNK,
    _visible_unit,
    log,
    new_id,
    require_write,
    resolve_scope,
    utcnow,
)
from services.contracts.service.contracts import (
    UnitCache,
    _consecutive_terms,
    _document_rows,
    _existing_terms,
    _signatory,
    _terms_snapshot,
    appraisable_of,
    contract_data,
)
from services.contracts.service.library import (
    target_line,
    visible_template,
)
from shared import audit
from shared.auth import Principal
from shared.db import Database, bulk_insert, rows_where_in
from shared.errors import ApiProblem, not_found
from shared.outbox import outbox_row

# --- bulk issue -------------------------------------------------------------------------------


def start_bulk_issue(db: Database, actor: Principal, data: Mapping[str, Any]) -> BulkIssueJob:
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        if visible_template(s, scope, data["template_id"]) is None:
            raise ApiProblem(422, "Unprocessable Entity", "No such template",
                             errors={"template_id": ["does not exist"]})
        criteria = dict(data.get("filter") or {})
        if criteria.get("org_unit_id"):
            _visible_unit(s, scope, criteria["org_unit_id"])
        job = BulkIssueJob(
            id=new_id(), template_id=data["template_id"], criteria=criteria,
            start_date=data["start_date"], status="queued", total=0, processed=0, issued=0,
            skipped=0, failed=0, all_or_nothing=bool(data.get("all_or_nothing")),
            decisions=[], requested_by=actor.subject,
            org_scope=actor.org_scope, created_at=utcnow(),
        )
        s.add(job)
        return job


def start_bulk_issue_worker(db: Database, job_id: str) -> threading.Thread:
    """Run the job beside the request; its progress lives in the job row."""
    worker = threading.Thread(target=audit.as_requester(run_bulk_issue, db, job_id),
                              name=f"bulk-issue-{job_id}", daemon=True)
    worker.start()
    return worker


def run_bulk_issue(db: Database, job_id: str, today: date | None = None) -> None:
    """Plan, decide and issue chunk by chunk, then record how each manager's decision ended.

    Each chunk of `BULK_CHUNK` managers (in employee number order) is read, planned, decided
    and written in one transaction, with its decisions and the job's counts: a chunk is
    issued whole or not at all, and the job's memory is bounded by the chunk, not by the job.
    Each chunk's decisions are rows of `bulk_issue_decisions`, committed with the chunk
    (readable a page at a time while the job runs); when it ends the database gathers them
    into the job's list as well.

    A manager who cannot be issued (a business refusal, e.g. no rule names their signatory)
    is `failed` with the refusal's words and never fails the others, unless the job is
    all-or-nothing. A refusal is no fault of the program, so it is logged without a
    traceback; an unexpected error is logged with one and fails the job, and the decisions
    still say which chunks were issued before it.
    """
    today = today or date.today()
    try:
        with db.held_connection() as conn:
            _run_bulk_issue(db, conn, job_id, today)
    except Exception as exc:  # the decisions could not be settled: say so on the job
        log.exception("bulk issue failed", extra={"job_id": job_id})
        with db.unit_of_work() as s:
            s.execute(update(BulkIssueJob).where(
                BulkIssueJob.id == job_id, BulkIssueJob.status.in_(("queued", "running"))
            ).values(status=d.BulkJobStatus.FAILED.value, finished_at=utcnow(),
                     error=f"{type(exc).__name__}: {exc}"))


@dataclass
class _JobPlan:
    """What every chunk of one job needs, read once when it starts."""

    job_id: str
    selection: Select[Any]
    template: d.ContractTemplateView
    template_data: dict[str, Any]
    start: date
    end: date
    today: date
    actor: str
    all_or_nothing: bool
    refuse_all: bool = False  # all-or-nothing and somebody fails: nobody is issued
    # Signatory of each (unit, position) once per job, and the refusals: bounded by the
    # org's units, not by the job.
    signatories: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    refused: dict[tuple[str, str], d.DomainError] = field(default_factory=dict)
    done_through: str | None = None  # employee number of the last manager committed
    decided: int = 0  # decisions recorded so far


def _run_bulk_issue(db: Database, conn: Connection, job_id: str, today: date) -> None:
    with db.unit_of_work(bind=conn) as s:
        job = s.get(BulkIssueJob, job_id)
        if job is None or job.status not in ("queued",):
            return
        plan = _job_plan(s, job, today)
        job.status = "running"
        job.total = s.scalar(select(func.count()).select_from(
            plan.selection.order_by(None).subquery())) or 0
    error = None
    try:
        if plan.all_or_nothing:
            plan.refuse_all = _anyone_fails(db, conn, plan)
        _issue_chunks(db, conn, plan)
    except d.DomainError as exc:
        log.warning("bulk issue refused: %s", exc.detail, extra={"job_id": job_id})
        error = f"{type(exc).__name__}: {exc.detail}"
    except Exception as exc:  # the job records any failure; the requester reads it there
        log.exception("bulk issue failed", extra={"job_id": job_id})
        error = f"{type(exc).__name__}: {exc}"
    if error is not None:
        _settle_unreached(db, conn, plan)
    _finish(db, conn, plan, error)


def _job_plan(s: Session, job: BulkIssueJob, today: date) -> _JobPlan:
    template = repo.template_by_id(s, job.template_id)
    assert template is not None
    scope_path = repo.unit_by_id(s, job.org_scope).path if job.org_scope else None
    crit = job.criteria
    unit_path = (repo.unit_by_id(s, crit["org_unit_id"]).path  # type: ignore[union-attr]
                 if crit.get("org_unit_id") else None)
    selection = repo.managers_query(
        scope_path=scope_path, org_unit_path=unit_path, layer=crit.get("layer"),
        category=crit.get("category"), position=crit.get("position"),
        management_level=crit.get("management_level"),
    )
    view = d.ContractTemplateView(
        id=template.id, name=template.name, layer=template.layer,
        category=template.category,
        position=d.Position(template.position) if template.position else None,
        term_years=template.term_years, max_consecutive_terms=template.max_consecutive_terms,
        signing_deadline_days=template.signing_deadline_days,
        targets=tuple(target_line(t) for t in template.targets),
        tenure_targets=tuple(target_line(t) for t in template.tenure_targets or []),
    )
    data = {
        "id": template.id, "term_years": template.term_years,
        "max_terms": template.max_consecutive_terms,
        "deadline_days": template.signing_deadline_days, "targets": template.targets,
        "tenure_targets": template.tenure_targets or [],
    }
    return _JobPlan(job_id=job.id, selection=selection, template=view, template_data=data,
                    start=job.start_date, end=d.term_end(job.start_date, template.term_years),
                    today=today, actor=job.requested_by, all_or_nothing=job.all_or_nothing)


def _chunk_of(s: Session, plan: _JobPlan, after: str | None) -> list[tuple[Manager, OrgUnit]]:
    """The next `BULK_CHUNK` selected managers after employee number `after`."""
    stmt = plan.selection if after is None else plan.selection.where(
        Manager.employee_no > after)
    return [(m, u) for m, u in s.execute(stmt.limit(BULK_CHUNK))]


def _decide(s: Session, plan: _JobPlan, members: list[tuple[Manager, OrgUnit]]
            ) -> tuple[list[d.BulkDecision], dict[str, int]]:
    """The decisions of one chunk: the rules on its managers' own contracts, then the
    signatory of each planned (unit, position), computed once per job."""
    ids = [m.id for m, _u in members]
    held: dict[str, list[Any]] = {}
    for c in rows_where_in(s, select(
            TenureContract.id, TenureContract.manager_id, TenureContract.position,
            TenureContract.start_date, TenureContract.end_date, TenureContract.state,
            TenureContract.term_number), TenureContract.manager_id, ids):
        held.setdefault(c.manager_id, []).append(c)
    position_of = {m.id: m.position for m, _u in members}
    same_position = {mid: [c for c in cs if c.position == position_of[mid]]
                     for mid, cs in held.items()}
    existing = {mid: _existing_terms(cs) for mid, cs in same_position.items()}
    consecutive = {mid: _consecutive_terms(cs, plan.start) for mid, cs in same_position.items()}
    candidates = [d.BulkCandidate(
        manager_id=m.id, employee_no=m.employee_no, position=d.Position(m.position),
        layer=u.layer, category=u.category, active=m.employment_status == "active",
    ) for m, u in members]
    planned = d.plan_bulk_issue(candidates, plan.template, plan.start, existing, consecutive)
    issuing = {x.manager_id for x in planned if x.issue}
    failures = _signatories(UnitCache(s), [mu for mu in members if mu[0].id in issuing],
                            plan.signatories, plan.refused)
    decisions = d.refuse_failures(planned, failures, plan.all_or_nothing,
                                  failed_elsewhere=plan.refuse_all)
    return decisions, consecutive


def _anyone_fails(db: Database, conn: Connection, plan: _JobPlan) -> bool:
    """All-or-nothing: whether any selected manager would fail, decided chunk by chunk
    before anybody is issued (nothing is written)."""
    after = None
    while True:
        with db.unit_of_work(bind=conn) as s:
            members = _chunk_of(s, plan, after)
            if not members:
                return False
            decisions, _terms = _decide(s, plan, members)  # a read: nothing is written
        if any(x.failed for x in decisions):
            return True
        after = members[-1][0].employee_no


def _issue_chunks(db: Database, conn: Connection, plan: _JobPlan) -> None:
    """Decide and issue chunk after chunk; each commits its contracts, events, audit,
    decisions and the job's counts together, and moves `plan.done_through` on."""
    while True:
        with db.unit_of_work(bind=conn) as s:
            members = _chunk_of(s, plan, plan.done_through)
            if not members:
                return
            decisions, consecutive = _decide(s, plan, members)
            issuing = {x.manager_id for x in decisions if x.issue}
            if issuing:
                # Each contract's event names its enterprise, above a department: the units
                # above the chunk's departments in one query, not one a unit missed (a
                # chunk of 500 at 100,000 managers sent about 250 of those).
                units = UnitCache(s)
                units.load_enterprises(u for _m, u in members)
                _issue_chunk(s, units, [mu for mu in members if mu[0].id in issuing],
                             plan.signatories, consecutive, plan.start, plan.end,
                             plan.template_data, plan.actor, plan.today)
            _record_decisions(s, plan, [_decision_row(x) for x in decisions])
        plan.done_through = members[-1][0].employee_no


def _settle_unreached(db: Database, conn: Connection, plan: _JobPlan) -> None:
    """After an error, the decisions of the managers no committed chunk reached: as their
    chunk would have decided them, except that nobody is issued (`failed`, `error`).
    Should deciding fail again, each manager left is simply `failed` with `error`."""
    after, deciding = plan.done_through, True
    while True:
        members: list[tuple[Manager, OrgUnit]] = []
        try:
            with db.unit_of_work(bind=conn) as s:
                members = _chunk_of(s, plan, after)
                decisions = (_decide(s, plan, members)[0] if deciding else
                             [d.BulkDecision(manager_id=m.id, employee_no=m.employee_no,
                                             issue=True, reason=None) for m, _u in members])
                _record_decisions(s, plan, [_unreached_row(x) for x in decisions])
        except Exception:
            if not deciding:
                raise
            log.exception("bulk issue could not decide the managers left",
                          extra={"job_id": plan.job_id})
            deciding = False
            continue
        if not members:
            return
        after = members[-1][0].employee_no


def _decision_row(x: d.BulkDecision) -> dict[str, Any]:
    return {"manager_id": x.manager_id, "employee_no": x.employee_no,
            "decision": x.outcome.value, "issued": x.issue, "reason": x.reason,
            "detail": x.detail}


def _unreached_row(x: d.BulkDecision) -> dict[str, Any]:
    if not x.issue:
        return _decision_row(x)
    return {"manager_id": x.manager_id, "employee_no": x.employee_no,
            "decision": d.BulkOutcome.FAILED.value, "issued": False, "reason": "error",
            "detail": "The issue stopped on an unexpected error before this manager; issue "
                      "again for the managers left"}


def _record_decisions(s: Session, plan: _JobPlan, rows: list[dict[str, Any]]) -> None:
    """A chunk's decisions, each in its place after those recorded before, and the job's
    counts."""
    bulk_insert(s, bulk_issue_decisions, [
        {"job_id": plan.job_id, "place": plan.decided + k + 1, "decision": row["decision"],
         "body": orjson.dumps(row).decode()} for k, row in enumerate(rows)])
    plan.decided += len(rows)  # only read again once this transaction has committed
    count = {o: sum(1 for r in rows if r["decision"] == o) for o in d.BulkOutcome}
    s.execute(update(BulkIssueJob).where(BulkIssueJob.id == plan.job_id).values(
        processed=BulkIssueJob.processed + len(rows),
        issued=BulkIssueJob.issued + count[d.BulkOutcome.ISSUED],
        skipped=BulkIssueJob.skipped + count[d.BulkOutcome.SKIPPED],
        failed=BulkIssueJob.failed + count[d.BulkOutcome.FAILED]))


def _finish(db: Database, conn: Connection, plan: _JobPlan, error: str | None) -> None:
    """The job's status from its counts (see `d.bulk_job_status`) and its list of decisions,
    in employee number order, gathered by the database from their rows."""
    rows = bulk_issue_decisions.c
    if conn.dialect.name == "postgresql":
        gathered = select(literal_column(
            "coalesce(json_agg(body::json ORDER BY place), '[]'::json)")).where(
            rows.job_id == plan.job_id).scalar_subquery()
    else:
        ordered = select(rows.body).where(rows.job_id == plan.job_id).order_by(
            rows.place).subquery()
        gathered = select(literal_column("coalesce(json_group_array(json(body)), '[]')")
                          ).select_from(ordered).scalar_subquery()
    with db.unit_of_work(bind=conn) as s:
        issued, failed = s.execute(select(BulkIssueJob.issued, BulkIssueJob.failed).where(
            BulkIssueJob.id == plan.job_id)).one()
        outcomes = ([d.BulkOutcome.ISSUED] if issued else []) + (
            [d.BulkOutcome.FAILED] if failed else [])
        status = (d.BulkJobStatus.FAILED if error is not None
                  else d.bulk_job_status(outcomes))
        s.execute(update(BulkIssueJob).where(BulkIssueJob.id == plan.job_id).values(
            status=status.value, error=error, finished_at=utcnow(),
            decisions=gathered))


def _signatories(units: UnitCache, members: list[tuple[Manager, OrgUnit]],
                 signatories: dict[tuple[str, str], dict[str, Any]],
                 refused: dict[tuple[str, str], d.DomainError]) -> dict[str, tuple[str, str]]:
    """The employer's signatory of each (unit, position) planned, once per job (kept in
    `signatories`, refusals in `refused`); and the managers for whom no rule names one,
    with the refusal's reason code and words."""
    failures: dict[str, tuple[str, str]] = {}
    for m, unit in members:
        key = (unit.id, m.position)
        if key not in signatories and key not in refused:
            units.units.setdefault(unit.id, unit)
            try:
                signatories[key] = _signatory(units, unit, d.Position(m.position), None)
            except d.DomainError as exc:
                refused[key] = exc
        if key in refused:
            failures[m.id] = (d.failure_reason(refused[key]), refused[key].detail)
    return failures


def _issue_chunk(s: Session, units: UnitCache, members: list[tuple[Manager, OrgUnit]],
                 signatories: Mapping[tuple[str, str], dict[str, Any]],
                 consecutive: Mapping[str, int], start: date, end: date,
                 template: Mapping[str, Any], actor: str, today: date) -> None:
    """Insert one chunk of contracts already issued for signature, with their events.

    Rows are plain dicts written by COPY on PostgreSQL: building ORM objects and sending one
    statement per row was most of the cost of a 10,000-manager issue."""
    now = utcnow()
    deadline = today + timedelta(days=template["deadline_days"])
    contracts, documents, versions, events = [], [], [], []
    appraisable: dict[str, dict[str, Any]] = {}  # by position: the template's lines are one
    for m, unit in members:
        key = (unit.id, m.position)
        row = {
            "id": new_id(), "manager_id": m.id, "org_unit_id": unit.id, "position": m.position,
            "start_date": start, "end_date": end, "term_years": template["term_years"],
            "state": d.ContractState.PENDING_SIGNATURE.value,
            "term_number": consecutive.get(m.id, 0) + 1,
            "max_consecutive_terms": template["max_terms"], "previous_contract_id": None,
            "template_id": template["id"], "signatory": signatories[key], "issued_on": today,
            "signing_deadline": deadline, "signed_at": None, "signed_by": None,
            "ended_at": None, "end_reason": None, "version": 1, "row_version": 1,
            "reminders_sent": [], "signatures": [], "created_by": actor, "created_at": now,
            "updated_at": now,
        }
        docs = _document_rows(row["id"], start, end, template["targets"],
                              template["tenure_targets"])
        if m.position not in appraisable:
            appraisable[m.position] = appraisable_of(m.position, docs)
        row["appraisable"] = appraisable[m.position]
        contract = SimpleNamespace(**row)
        contracts.append(row)
        documents.extend(docs)
        versions.append({"contract_id": row["id"], "version": 1,
                         "terms": _terms_snapshot(contract),  # type: ignore[arg-type]
                         "reason": "issued in bulk", "approved_by": None, "recorded_by": actor,
                         "recorded_at": now})
        doc_views = [SimpleNamespace(**doc, signed_at=None) for doc in docs]
        events.append(outbox_row("contract.issued", m.id, contract_data(
            contract, m, unit, units, doc_views)))  # type: ignore[arg-type]
    bulk_insert(s, TenureContract.__table__, contracts)
    # COPY bypasses the ORM listener: one audit record per contract, by COPY as well.
    audit.record_many(s, ({"object_type": TenureContract.__tablename__, "object_id": row["id"],
                           "action": "created", "after": row, "org_unit_id": row["org_unit_id"]}
                          for row in contracts))
    bulk_insert(s, ContractDocument.__table__, documents)
    bulk_insert(s, ContractVersion.__table__, versions)
    bulk_insert(s, outbox, events)


def get_bulk_job(db: Database, actor: Principal, job_id: str, *, decisions: bool = True
                 ) -> BulkIssueJob:
    """The job; without `decisions` its stored decisions are not even read: a job for
    100,000 managers holds about 15 MB of them, and a poll for progress needs none.

    With them, they are read as the JSON text the database keeps and sent as it is (an
    orjson Fragment), never made Python objects: at 1,000,000 managers those took the
    worker 1 GiB for one answer (bench/bench_bulk_decisions.py). `bulk_decisions_page`
    reads them a page at a time. Either way the value is never written back.
    """
    with db.read() as s:
        job = _visible_job(s, actor, job_id)
        stored = s.execute(select(cast(BulkIssueJob.decisions, Text)).where(
            BulkIssueJob.id == job_id)).scalar_one() if decisions else None
        set_committed_value(job, "decisions", Fragment(stored) if stored is not None else None)
        return job


def _visible_job(s: Session, actor: Principal, job_id: str) -> BulkIssueJob:
    """The job without its list of decisions, for HR who may issue in the scope it was
    started in; 404 for anyone else."""
    scope = resolve_scope(s, actor)
    job = s.get(BulkIssueJob, job_id, options=[defer(BulkIssueJob.decisions, raiseload=True)])
    if job is None or not scope.can_write or (
            scope.path is not None and job.org_scope != actor.org_scope):
        raise not_found("bulk issue job", job_id)
    return job


def bulk_decisions_page(db: Database, actor: Principal, job_id: str, *,
                        decision: str | None = None, page_size: int = 100, after: int = 0
                        ) -> dict[str, Any]:
    """One page of a job's decisions, in their order (employee number), each with its
    `index`, its place in the job's list; `decision` keeps one outcome. While the job runs,
    the decisions of the chunks it has committed.

    A page is an index range of `bulk_issue_decisions` (by place, or by outcome and place):
    neither this process, the database nor the client touches more than the page, however
    many managers the job decided (a job for 1,000,000 holds about 150 MB of decisions).
    """
    rows = bulk_issue_decisions.c
    page = select(rows.place, rows.body).where(rows.job_id == job_id, rows.place > after)
    if decision is not None:
        page = page.where(rows.decision == decision)
    with db.read() as s:
        job = _visible_job(s, actor, job_id)
        found = s.execute(page.order_by(rows.place).limit(page_size + 1)).all()
        total = {None: job.processed, d.BulkOutcome.ISSUED: job.issued,
                 d.BulkOutcome.SKIPPED: job.skipped, d.BulkOutcome.FAILED: job.failed}
        status = job.status
    items = [{"index": place, **orjson.loads(body)} for place, body in found[:page_size]]
    more = len(found) > page_size
    return {"job_id": job_id, "status": status, "items": items,
            "page": {"page_size": page_size, "total": total[decision],
                     "next": items[-1]["index"] if more else None}}

