"""Bulk issue from a template: one job, planned once, written in chunks."""


from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

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
            skipped=0, decisions=[], requested_by=actor.subject,
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
    today = today or date.today()
    try:
        _run_bulk_issue(db, job_id, today)
    except Exception as exc:  # the job records any failure; the requester reads it there
        log.exception("bulk issue failed", extra={"job_id": job_id})
        with db.unit_of_work() as s:
            s.execute(update(BulkIssueJob).where(BulkIssueJob.id == job_id).values(
                status="failed", error=f"{type(exc).__name__}: {exc}", finished_at=utcnow()))


def _run_bulk_issue(db: Database, job_id: str, today: date) -> None:
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
        )
        decisions = d.plan_bulk_issue(candidates, template_view, start, existing, consecutive)
        job.total = len(decisions)
        job.decisions = [{"manager_id": x.manager_id, "employee_no": x.employee_no,
                          "issued": x.issue, "reason": x.reason} for x in decisions]
        job.skipped = sum(1 for x in decisions if not x.issue)
        job.processed = job.skipped
        to_issue = [x.manager_id for x in decisions if x.issue]
        template_data = {
            "id": template.id, "term_years": template.term_years,
            "max_terms": template.max_consecutive_terms,
            "deadline_days": template.signing_deadline_days, "targets": template.targets,
        }
        actor = job.requested_by
    end = d.term_end(start, template_data["term_years"])
    for chunk_start in range(0, len(to_issue), BULK_CHUNK):
        chunk = to_issue[chunk_start:chunk_start + BULK_CHUNK]
        with db.unit_of_work() as s:
            units = UnitCache(s)
            for _m, u in (managers[mid] for mid in chunk):
                units.units.setdefault(u.id, u)
            _issue_chunk(s, units, [managers[mid] for mid in chunk], consecutive, start, end,
                         template_data, actor, today)
            s.execute(update(BulkIssueJob).where(BulkIssueJob.id == job_id).values(
                processed=BulkIssueJob.processed + len(chunk),
                issued=BulkIssueJob.issued + len(chunk)))
    with db.unit_of_work() as s:
        s.execute(update(BulkIssueJob).where(BulkIssueJob.id == job_id).values(
            status="done", finished_at=utcnow()))


def _issue_chunk(s: Session, units: UnitCache, members: list[tuple[Manager, OrgUnit]],
                 consecutive: Mapping[str, int], start: date, end: date,
                 template: Mapping[str, Any], actor: str, today: date) -> None:
    """Insert one chunk of contracts already issued for signature, with their events.

    Rows are plain dicts written by COPY on PostgreSQL: building ORM objects and sending one
    statement per row was most of the cost of a 10,000-manager issue."""
    now = utcnow()
    deadline = today + timedelta(days=template["deadline_days"])
    contracts, documents, versions, events = [], [], [], []
    signatories: dict[tuple[str, str], dict[str, Any]] = {}
    for m, unit in members:
        key = (unit.id, m.position)
        if key not in signatories:
            signatories[key] = _signatory(units, unit, d.Position(m.position), None)
        row = {
            "id": new_id(), "manager_id": m.id, "org_unit_id": unit.id, "position": m.position,
            "start_date": start, "end_date": end, "term_years": template["term_years"],
            "state": d.ContractState.PENDING_SIGNATURE.value,
            "term_number": consecutive.get(m.id, 0) + 1,
            "max_consecutive_terms": template["max_terms"], "previous_contract_id": None,
            "template_id": template["id"], "signatory": signatories[key], "issued_on": today,
            "signing_deadline": deadline, "signed_at": None, "signed_by": None,
            "ended_at": None, "end_reason": None, "version": 1, "row_version": 1,
            "reminders_sent": [], "created_by": actor, "created_at": now, "updated_at": now,
        }
        contract = SimpleNamespace(**row)
        docs = _document_rows(row["id"], start, end, template["targets"])
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


def get_bulk_job(db: Database, actor: Principal, job_id: str) -> BulkIssueJob:
    with db.read() as s:
        scope = resolve_scope(s, actor)
        job = s.get(BulkIssueJob, job_id)
        if job is None or not scope.can_write or (
                scope.path is not None and job.org_scope != actor.org_scope):
            raise not_found("bulk issue job", job_id)
        return job
