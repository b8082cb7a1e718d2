"""Bulk issue from a template: one job, planned once, written in chunks."""


from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select, update
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
from shared.db import Database, bulk_insert
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
    """Plan, issue chunk by chunk, then record how each manager's decision ended.

    A manager who cannot be issued (a business refusal, e.g. no rule names their signatory)
    is `failed` with the refusal's words and never fails the others, unless the job is
    all-or-nothing. A refusal is no fault of the program, so it is logged without a
    traceback; an unexpected error is logged with one and fails the job, and the decisions
    still say which chunks were issued before it.
    """
    today = today or date.today()
    progress = _Progress()
    try:
        _run_bulk_issue(db, job_id, today, progress)
    except d.DomainError as exc:
        log.warning("bulk issue refused: %s", exc.detail, extra={"job_id": job_id})
        _finish(db, job_id, progress, error=f"{type(exc).__name__}: {exc.detail}")
    except Exception as exc:  # the job records any failure; the requester reads it there
        log.exception("bulk issue failed", extra={"job_id": job_id})
        _finish(db, job_id, progress, error=f"{type(exc).__name__}: {exc}")


class _Progress:
    """The decisions of a running job, and which planned managers are issued so far."""

    def __init__(self) -> None:
        self.decisions: list[dict[str, Any]] = []
        self.issued: set[str] = set()


def _decision_row(x: d.BulkDecision) -> dict[str, Any]:
    # `pending` until the manager's chunk commits; `issued` stays for older clients.
    return {"manager_id": x.manager_id, "employee_no": x.employee_no,
            "decision": "pending" if x.issue else x.outcome.value, "issued": False,
            "reason": x.reason, "detail": x.detail}


def _finish(db: Database, job_id: str, progress: _Progress, error: str | None = None
            ) -> None:
    """Settle every decision and the job's status from them (see `d.bulk_job_status`)."""
    decisions = []
    for row in progress.decisions:
        if row["decision"] == "pending":
            if row["manager_id"] in progress.issued:
                row = {**row, "decision": d.BulkOutcome.ISSUED.value, "issued": True}
            else:
                row = {**row, "decision": d.BulkOutcome.FAILED.value, "reason": "error",
                       "detail": "The issue stopped on an unexpected error before this "
                                 "manager; issue again for the managers left"}
        decisions.append(row)
    status = (d.BulkJobStatus.FAILED if error is not None
              else d.bulk_job_status(row["decision"] for row in decisions))
    failed = sum(1 for row in decisions if row["decision"] == d.BulkOutcome.FAILED)
    with db.unit_of_work() as s:
        values: dict[str, Any] = {"status": status.value, "error": error,
                                  "finished_at": utcnow()}
        if decisions:
            values.update(decisions=decisions, failed=failed,
                          processed=len(decisions))
        s.execute(update(BulkIssueJob).where(BulkIssueJob.id == job_id).values(**values))


def _run_bulk_issue(db: Database, job_id: str, today: date, progress: _Progress) -> None:
    with db.unit_of_work() as s:
        job = s.get(BulkIssueJob, job_id)
        if job is None or job.status not in ("queued",):
            return
        job.status = "running"
        template = repo.template_by_id(s, job.template_id)
        assert template is not None
        scope_path = repo.unit_by_id(s, job.org_scope).path if job.org_scope else None
        crit = job.criteria
        unit_path = (repo.unit_by_id(s, crit["org_unit_id"]).path  # type: ignore[union-attr]
                     if crit.get("org_unit_id") else None)
        rows = s.execute(repo.managers_query(
            scope_path=scope_path, org_unit_path=unit_path, layer=crit.get("layer"),
            category=crit.get("category"), position=crit.get("position"),
            management_level=crit.get("management_level"),
        )).all()
        managers = {m.id: (m, u) for m, u in rows}
        ids = list(managers)
        contracts_by_manager: dict[str, list[TenureContract]] = {}
        for chunk_start in range(0, len(ids), 900):
            for c in s.scalars(select(TenureContract).where(
                    TenureContract.manager_id.in_(ids[chunk_start:chunk_start + 900]))):
                contracts_by_manager.setdefault(c.manager_id, []).append(c)
        start = job.start_date
        existing = {mid: _existing_terms(c for c in contracts_by_manager.get(mid, [])
                                         if c.position == managers[mid][0].position)
                    for mid in ids}
        consecutive = {mid: _consecutive_terms(
            [c for c in contracts_by_manager.get(mid, [])
             if c.position == managers[mid][0].position], start) for mid in ids}
        candidates = [d.BulkCandidate(
            manager_id=m.id, employee_no=m.employee_no, position=d.Position(m.position),
            layer=u.layer, category=u.category, active=m.employment_status == "active",
        ) for m, u in rows]
        template_view = d.ContractTemplateView(
            id=template.id, name=template.name, layer=template.layer,
            category=template.category,
            position=d.Position(template.position) if template.position else None,
            term_years=template.term_years, max_consecutive_terms=template.max_consecutive_terms,
            signing_deadline_days=template.signing_deadline_days,
            targets=tuple(target_line(t) for t in template.targets),
            tenure_targets=tuple(target_line(t) for t in template.tenure_targets or []),
        )
        planned = d.plan_bulk_issue(candidates, template_view, start, existing, consecutive)
        units = UnitCache(s)
        signatories, failures = _signatories(
            units, [managers[x.manager_id] for x in planned if x.issue])
        decisions = d.refuse_failures(planned, failures, job.all_or_nothing)
        progress.decisions = [_decision_row(x) for x in decisions]
        job.total = len(decisions)
        job.decisions = progress.decisions
        job.skipped = sum(1 for x in decisions if x.outcome is d.BulkOutcome.SKIPPED)
        job.failed = sum(1 for x in decisions if x.outcome is d.BulkOutcome.FAILED)
        job.processed = job.skipped + job.failed
        to_issue = [x.manager_id for x in decisions if x.issue]
        template_data = {
            "id": template.id, "term_years": template.term_years,
            "max_terms": template.max_consecutive_terms,
            "deadline_days": template.signing_deadline_days, "targets": template.targets,
            "tenure_targets": template.tenure_targets or [],
        }
        actor = job.requested_by
    end = d.term_end(start, template_data["term_years"])
    for chunk_start in range(0, len(to_issue), BULK_CHUNK):
        chunk = to_issue[chunk_start:chunk_start + BULK_CHUNK]
        with db.unit_of_work() as s:
            units = UnitCache(s)
            for _m, u in (managers[mid] for mid in chunk):
                units.units.setdefault(u.id, u)
            _issue_chunk(s, units, [managers[mid] for mid in chunk], signatories, consecutive,
                         start, end, template_data, actor, today)
            s.execute(update(BulkIssueJob).where(BulkIssueJob.id == job_id).values(
                processed=BulkIssueJob.processed + len(chunk),
                issued=BulkIssueJob.issued + len(chunk)))
        progress.issued.update(chunk)
    _finish(db, job_id, progress)


def _signatories(units: UnitCache, members: list[tuple[Manager, OrgUnit]]
                 ) -> tuple[dict[tuple[str, str], dict[str, Any]], dict[str, tuple[str, str]]]:
    """The employer's signatory of each (unit, position) planned, once each; and the
    managers for whom no rule names one, with the refusal's reason code and words."""
    signatories: dict[tuple[str, str], dict[str, Any]] = {}
    refused: dict[tuple[str, str], d.DomainError] = {}
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
    return signatories, failures


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
    100,000 managers holds about 15 MB of them, and a poll for progress needs none."""
    with db.read() as s:
        scope = resolve_scope(s, actor)
        job = s.get(BulkIssueJob, job_id, options=() if decisions else
                    [defer(BulkIssueJob.decisions, raiseload=True)])
        if job is None or not scope.can_write or (
                scope.path is not None and job.org_scope != actor.org_scope):
            raise not_found("bulk issue job", job_id)
        if not decisions:  # left out of the response; never written back
            set_committed_value(job, "decisions", None)
        return job
