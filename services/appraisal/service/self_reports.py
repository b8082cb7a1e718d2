"""The manager's annual self-report (述职): submitted and revised with their own token, a
report received on paper recorded by HR, a disputed actual resolved, deadlines and reminders.

The rules (what a report must say, until when, what review needs) are the domain's
(`domain/self_report.py`); what review records is decided in `lifecycle.py`, where every
transition passes. docs/self-report.md describes the whole flow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.appraisal.domain import self_report as sr
from services.appraisal.models import ActualRecord, Appraisal, Manager, OrgUnit, SelfReport
from services.appraisal.service.common import (
    OPEN_STATES,
    among,
    as_utc,
    check_version,
    line_code,
    require_write,
    resolve_scope,
    utcnow,
    visible_unit,
)
from services.appraisal.service.lifecycle import (
    current_report,
    emit,
    record_step,
    targets_of,
    visible_appraisal,
)
from shared.auth import MANAGER, Principal
from shared.db import Database
from shared.errors import ApiProblem, not_found

MANAGER_MUST_SUBMIT = (
    "The manager must submit their own self-report with their own token. HR may record a "
    "report received on paper: POST /api/v1/appraisals/{id}/self-report/paper")


def _own_appraisal(s: Session, actor: Principal, appraisal_id: str) -> Appraisal:
    """The manager's own appraisal, whatever its state (locked for the change)."""
    if not actor.has(MANAGER) or not actor.manager_id:
        raise ApiProblem(403, "Forbidden", MANAGER_MUST_SUBMIT.replace("{id}", appraisal_id),
                         errors={"role": ["the manager of this appraisal submits"]})
    a = s.scalar(select(Appraisal).where(Appraisal.id == appraisal_id).with_for_update())
    if a is None or a.manager_id != actor.manager_id:
        raise not_found("appraisal", appraisal_id)
    return a


def _readable_appraisal(s: Session, actor: Principal, appraisal_id: str) -> Appraisal:
    """HR and appraisers in scope; the manager their own appraisal in any state."""
    scope = resolve_scope(s, actor)
    if scope.manager_id is None:
        return visible_appraisal(s, scope, appraisal_id)
    a = s.get(Appraisal, appraisal_id)
    if a is None or a.manager_id != scope.manager_id:
        raise not_found("appraisal", appraisal_id)
    return a


def revision_out(r: SelfReport) -> dict[str, Any]:
    return {"revision": r.revision, "text": r.text, "attachments": list(r.attachments or []),
            "actuals": r.actuals, "dispute": r.dispute, "channel": r.channel,
            "received_on": r.received_on, "document_no": r.document_no,
            "submitted_by": r.submitted_by, "submitted_at": as_utc(r.submitted_at),
            "resolution": r.resolution, "resolution_note": r.resolution_note,
            "resolved_by": r.resolved_by, "resolved_at": as_utc(r.resolved_at)}


def status_now(a: Appraisal, today: date) -> str:
    """submitted / on_paper / none as recorded; before review without a report: pending
    until the deadline has passed, none after it."""
    if a.self_report:
        return a.self_report
    return sr.NONE if sr.deadline_passed(a.self_report_due, today) else "pending"


def report_view(s: Session, a: Appraisal, *, with_revisions: bool = True) -> dict[str, Any]:
    """What HR (and the manager) see: the deadline, the status, the current revision and,
    on request, every earlier one."""
    rows = list(s.scalars(select(SelfReport).where(SelfReport.appraisal_id == a.id)
                          .order_by(SelfReport.revision)))
    out: dict[str, Any] = {
        "appraisal_id": a.id, "manager_id": a.manager_id, "year": a.year, "kind": a.kind,
        "appraisal_state": a.state, "due": a.self_report_due,
        "status": status_now(a, utcnow().date()), "dispute": a.self_report_dispute,
        "revision": rows[-1].revision if rows else 0,
        "current": revision_out(rows[-1]) if rows else None,
    }
    if with_revisions:
        out["revisions"] = [revision_out(r) for r in rows]
    return out


def _content(s: Session, a: Appraisal, data: Mapping[str, Any]) -> sr.SelfReportContent:
    raw = data.get("dispute")
    dispute = None if raw is None else sr.Dispute(
        raw["indicator_code"], raw.get("reason") or "",
        None if raw.get("claimed_value") is None else str(raw["claimed_value"]))
    codes = {line_code(line) for line in json.loads(targets_of(s, a) or "[]")}
    return sr.check_content(data["text"],
                            [(x["name"], x["reference"]) for x in data.get("attachments") or []],
                            data["actuals"], dispute, codes)


def _add_revision(s: Session, a: Appraisal, current: SelfReport | None,
                  content: sr.SelfReportContent, actor: str, channel: str,
                  received_on: date | None = None, document_no: str | None = None
                  ) -> SelfReport:
    row = SelfReport(appraisal_id=a.id, manager_id=a.manager_id,
                     revision=(current.revision if current else 0) + 1, text=content.text,
                     attachments=[x.as_dict() for x in content.attachments],
                     actuals=content.actuals,
                     dispute=content.dispute.as_dict() if content.dispute else None,
                     channel=channel, received_on=received_on, document_no=document_no,
                     submitted_by=actor, submitted_at=utcnow())
    s.add(row)
    a.self_report = sr.ON_PAPER if channel == "paper" else sr.SUBMITTED
    # Each revision stands alone: a dispute in it is open until HR resolves that revision's.
    a.self_report_dispute = sr.OPEN if content.dispute else None
    what = "received on paper" if channel == "paper" else "submitted"
    record_step(s, a, "self_report", a.state, actor,
                f"self-report revision {row.revision} {what}, actuals {content.actuals}"
                + (f" ({content.dispute.indicator_code})" if content.dispute else ""))
    emit(s, "self_report.submitted", a, s.get(Manager, a.manager_id), revision=row.revision,
         actuals=content.actuals, channel=channel, due_date=a.self_report_due,
         disputed_indicator=content.dispute.indicator_code if content.dispute else None,
         dispute_reason=content.dispute.reason if content.dispute else None)
    return row


def submit_self_report(db: Database, actor: Principal, appraisal_id: str,
                       data: Mapping[str, Any], expected: int | None) -> dict[str, Any]:
    """The manager submits (or revises) their report with their own token, until the
    deadline or the review, whichever comes first. Every revision is kept."""
    with db.unit_of_work() as s:
        a = _own_appraisal(s, actor, appraisal_id)
        current = current_report(s, a.id)
        check_version(expected, current.revision if current else 0)
        sr.check_may_submit(a.self_report_due, utcnow().date(), a.state)
        _add_revision(s, a, current, _content(s, a, data), actor.subject, "manager")
        s.flush()
        return report_view(s, a)


def record_paper_self_report(db: Database, actor: Principal, appraisal_id: str,
                             data: Mapping[str, Any], expected: int | None
                             ) -> dict[str, Any]:
    """HR records a report the manager handed in on paper, marked as such with the date it
    was received and its document number; never as the manager's own submission, and
    never over one the manager submitted themselves."""
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        a = visible_appraisal(s, scope, appraisal_id, lock=True)
        current = current_report(s, a.id)
        check_version(expected, current.revision if current else 0)
        if current is not None and current.channel == "manager":
            raise ApiProblem(409, "Conflict",
                             "The manager submitted their own self-report; it cannot be "
                             "replaced by a paper copy. The manager may revise it until the "
                             "deadline", errors={"channel": ["the manager submitted"]})
        sr.check_paper_receipt(data["received_on"], a.self_report_due, utcnow().date(),
                               a.state)
        _add_revision(s, a, current, _content(s, a, data), actor.subject, "paper",
                      data["received_on"], data["document_no"])
        s.flush()
        return report_view(s, a)


def get_self_report(db: Database, actor: Principal, appraisal_id: str) -> dict[str, Any]:
    with db.read() as s:
        return report_view(s, _readable_appraisal(s, actor, appraisal_id))


def resolve_dispute(db: Database, actor: Principal, appraisal_id: str, decision: str,
                    note: str, expected: int | None) -> dict[str, Any]:
    """HR resolves the disputed actual before review: `upheld` once the corrected actual is
    recorded and the appraisal scored with it; `overruled` keeps the recorded actual."""
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        a = visible_appraisal(s, scope, appraisal_id, lock=True)
        current = current_report(s, a.id)
        if current is None or not current.dispute:
            raise ApiProblem(409, "Conflict", "The self-report disputes no actual: nothing to "
                             "resolve; review the appraisal",
                             errors={"dispute": ["none"]})
        check_version(expected, current.revision)
        if a.self_report_dispute != sr.OPEN:
            raise ApiProblem(409, "Conflict",
                             f"The dispute was already {a.self_report_dispute}; the manager's "
                             "next revision would open a new one",
                             errors={"dispute": [str(a.self_report_dispute)]})
        if a.state in sr.CLOSED_STATES:
            raise ApiProblem(409, "Conflict", f"The appraisal is {a.state}; an appeal reopens "
                             "it", errors={"state": [f"is {a.state}"]})
        code = current.dispute["indicator_code"]
        recorded = s.scalars(select(ActualRecord.recorded_at).where(
            ActualRecord.subject_id.in_([a.manager_id, a.enterprise_id or "-"]),
            ActualRecord.year == a.year, ActualRecord.kind == a.kind,
            ActualRecord.indicator_code == code)).all()
        latest = max((as_utc(t) for t in recorded), default=None)
        sr.check_resolution(decision, as_utc(current.submitted_at),
                            latest, as_utc(a.scored_at), code)
        current.resolution = decision
        current.resolution_note = note
        current.resolved_by = actor.subject
        current.resolved_at = utcnow()
        a.self_report_dispute = decision
        record_step(s, a, "self_report_dispute", a.state, actor.subject,
                    f"dispute of {code} {decision}: {note}")
        s.flush()
        return report_view(s, a)


def set_self_report_deadline(db: Database, actor: Principal, data: Mapping[str, Any]
                             ) -> dict[str, Any]:
    """Set or move the self-report deadline of a cohort's appraisals not yet reviewed (a
    year and kind; optionally a subtree, layer, category, position or managers). Moving it
    starts its reminders afresh."""
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        stmt = select(Appraisal).where(
            Appraisal.year == data["year"], Appraisal.kind == data.get("kind", "annual"),
            Appraisal.state.in_(OPEN_STATES))
        path = scope.path
        if data.get("org_unit_id"):
            path = visible_unit(s, scope, data["org_unit_id"]).path
        if path is not None:
            stmt = stmt.join(OrgUnit, OrgUnit.id == Appraisal.org_unit_id).where(
                OrgUnit.path.startswith(path))
        for key in ("layer", "category", "position"):
            if data.get(key) is not None:
                stmt = stmt.where(getattr(Appraisal, key) == data[key])
        if data.get("manager_ids"):
            stmt = stmt.where(among(s, Appraisal.manager_id, data["manager_ids"]))
        changed = 0
        for a in s.scalars(stmt.with_for_update(of=Appraisal)):
            if a.self_report_due != data["self_report_due"]:
                a.self_report_due = data["self_report_due"]
                a.self_report_reminded = None
                changed += 1
        return {"self_report_due": data["self_report_due"], "appraisals": changed}


def remind_self_reports_due(db: Database, today: date,
                            days: Sequence[int] = sr.REMINDER_DAYS) -> dict[str, int]:
    """self_report.due to each manager whose report is still missing, 7 and 1 days before
    its deadline (the nearest threshold passed, once each); a daily job calls this."""
    sent = 0
    with db.unit_of_work() as s:
        due = list(s.scalars(select(Appraisal).where(
            Appraisal.self_report.is_(None), Appraisal.self_report_due.is_not(None),
            Appraisal.self_report_due >= today, Appraisal.state.in_(OPEN_STATES))
            .with_for_update()))
        managers = {m.id: m for m in s.scalars(select(Manager).where(
            Manager.id.in_([a.manager_id for a in due])))} if due else {}
        for a in due:
            threshold = sr.reminder_due(a.self_report_due, today, a.self_report_reminded, days)
            if threshold is None:
                continue
            emit(s, "self_report.due", a, managers.get(a.manager_id),
                 due_date=a.self_report_due,
                 days_left=(a.self_report_due - today).days,  # type: ignore[operator]
                 reminder_days=threshold)
            a.self_report_reminded = threshold
            sent += 1
    return {"reminded": sent}
