"""One appraisal's life: its row, its states and their log, its events, its full trace.

States: open -> actuals_submitted -> scored -> reviewed -> approved -> published; an appeal
takes a published appraisal back to open with its reason, and only the appeal's recorded
decision publishes it again (or restores the published result). The result and its full
trace are kept as `results.py` describes. Every family of use cases that moves an appraisal
(one by one, a whole run, an appeal, complete actuals) moves it through here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Text, and_, cast, or_, select
from sqlalchemy.orm import Session

from services.appraisal import domain as d
from services.appraisal.domain import self_report as sr
from services.appraisal.models import (
    ActualRecord,
    Appeal,
    Appraisal,
    AppraisalLog,
    Manager,
    OrgUnit,
    SelfReport,
    TargetSet,
    outbox,
)
from services.appraisal.service.cohorts import Candidate
from services.appraisal.service.common import (
    OPEN_STATES,
    Scope,
    line_code,
    new_id,
    unit_path,
    utcnow,
)
from services.appraisal.service.results import expand_trace
from shared.auth import APPRAISER, HR_ADMIN, SERVICE
from shared.errors import ApiProblem, not_found
from shared.outbox import outbox_row, record_event

TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "submit": (("open",), "actuals_submitted"),
    "score": (OPEN_STATES, "scored"),
    "review": (("scored",), "reviewed"),
    "approve": (("reviewed",), "approved"),
    "publish": (("approved",), "published"),
    "appeal": (("published",), "open"),
}


class IllegalTransition(ApiProblem):
    def __init__(self, action: str, state: str) -> None:
        allowed = ", ".join(TRANSITIONS[action][0])
        super().__init__(409, "Conflict",
                         f"Cannot {action} an appraisal that is {state} (only from {allowed})",
                         errors={"state": [f"is {state}"]})


# --- the appraisal row ---------------------------------------------------------------------------


def new_appraisal(c: Candidate, year: int, kind: str, state: str, now: datetime,
                  **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": new_id(), "manager_id": c.manager_id, "contract_id": c.contract_id,
        "year": year, "kind": kind, "state": state, "org_unit_id": c.org_unit_id,
        "enterprise_id": c.enterprise_id, "layer": c.layer, "category": c.category,
        "position": c.position, "scheme_code": None, "scheme_version": None, "total": None,
        "grade": None, "grade_before_distribution": None, "outcome": None,
        "exit_rule": None, "exit_triggers": [], "complete": False, "deferred_pay": None,
        "tenure_outcome": None, "conditions": None, "result": None,
        "run_id": None, "appraiser_ids": [], "actuals_due": None, "review_due": None,
        "reminded": False, "row_version": 1, "created_at": now, "updated_at": now,
        "scored_at": None, "reviewed_by": None, "approved_by": None, "published_at": None,
        "published_by": None, "self_report_due": None, "self_report": None,
        "self_report_dispute": None, "self_report_reminded": None,
    }
    row.update(extra)
    return row


def log_row(appraisal_id: str, action: str, before: str | None, after: str, actor: str,
            now: datetime, reason: str = "") -> dict[str, Any]:
    return {"appraisal_id": appraisal_id, "action": action, "from_state": before,
            "to_state": after, "actor": actor, "reason": reason, "at": now}


def record_step(s: Session, a: Appraisal, action: str, before: str | None, actor: str,
                reason: str = "") -> None:
    s.add(AppraisalLog(**log_row(a.id, action, before, a.state, actor, utcnow(), reason)))


def visible_appraisal(s: Session, scope: Scope, appraisal_id: str, *, lock: bool = False
                      ) -> Appraisal:
    stmt = select(Appraisal).where(Appraisal.id == appraisal_id)
    if lock:
        stmt = stmt.with_for_update()
    a = s.scalar(stmt)
    if a is None:
        raise not_found("appraisal", appraisal_id)
    if scope.manager_id is not None:
        # A manager sees their own appraisal once it is published (or under appeal).
        if a.manager_id != scope.manager_id or (
                a.state != "published" and a.published_at is None):
            raise not_found("appraisal", appraisal_id)
    elif scope.path is not None and not (unit_path(s, a.org_unit_id) or "").startswith(
            scope.path):
        raise not_found("appraisal", appraisal_id)
    return a


def targets_of(s: Session, a: Appraisal) -> str | None:
    """The appraisal's locked lines, as JSON text."""
    doc_year = a.year if a.kind == "annual" else 0
    return s.scalar(select(cast(TargetSet.targets, Text)).where(
        TargetSet.contract_id == a.contract_id, TargetSet.kind == a.kind,
        TargetSet.year == doc_year, TargetSet.locked.is_(True)))


def note_actuals_complete(s: Session, keys: Iterable[tuple[str, int, str]], actor: str) -> None:
    """Open appraisals whose every line now has its actual move to actuals_submitted."""
    keys = list(keys)
    if not keys:
        return
    conditions = [and_(Appraisal.manager_id == m, Appraisal.year == y, Appraisal.kind == k)
                  for m, y, k in keys]
    for start in range(0, len(conditions), 200):
        for a in s.scalars(select(Appraisal).where(Appraisal.state == "open",
                                                   or_(*conditions[start:start + 200]))):
            lines = json.loads(targets_of(s, a) or "[]")
            have = set(s.scalars(select(ActualRecord.indicator_code).where(
                ActualRecord.subject_id.in_([a.manager_id, a.enterprise_id or "-"]),
                ActualRecord.year == a.year, ActualRecord.kind == a.kind)))
            if lines and all(line_code(line) in have for line in lines):
                before = a.state
                a.state = "actuals_submitted"
                a.row_version += 1
                a.updated_at = utcnow()
                record_step(s, a, "submit", before, actor, "every line has its actual")


def current_report(s: Session, appraisal_id: str) -> SelfReport | None:
    """The latest revision of the manager's self-report, if any."""
    return s.scalar(select(SelfReport).where(SelfReport.appraisal_id == appraisal_id)
                    .order_by(SelfReport.revision.desc()).limit(1))


def self_report_at_review(s: Session, a: Appraisal) -> str:
    """What the appraisal records about the manager's self-report when it is reviewed
    (submitted, on_paper or none), or the 409 saying what to wait for or resolve first."""
    code = None
    if a.self_report_dispute == sr.OPEN:
        current = current_report(s, a.id)
        code = (current.dispute or {}).get("indicator_code") if current else None
    try:
        return sr.review_status(a.self_report_due, utcnow().date(), a.self_report,
                                a.self_report_dispute, code)
    except d.DomainError as exc:  # refused per appraisal, also within a whole run's review
        raise ApiProblem(exc.status, exc.title, exc.detail, errors=exc.errors) from exc


# --- events ---------------------------------------------------------------------------------------


def event_data(a: Appraisal, m: Manager | None) -> dict[str, Any]:
    """What every appraisal event carries: the appraisal and the manager to notify."""
    return {
        "appraisal_id": a.id, "manager_id": a.manager_id, "contract_id": a.contract_id,
        "year": a.year, "kind": a.kind, "state": a.state, "org_unit_id": a.org_unit_id,
        "layer": a.layer, "category": a.category, "position": a.position,
        "employee_no": m.employee_no if m else None,
        "manager_name": m.name if m else None, "manager_email": m.email if m else None,
        "manager_language": m.language if m else None,
        "appraiser_ids": list(a.appraiser_ids or []),
    }


def emit(s: Session, event_type: str, a: Appraisal, m: Manager | None,
         sink: list[dict[str, Any]] | None = None, **extra: Any) -> None:
    """Record an event in the outbox now, or into `sink` for one bulk insert later."""
    data = event_data(a, m)
    unit = s.get(OrgUnit, a.org_unit_id) if a.org_unit_id else None
    data["org_unit_name"] = unit.name if unit is not None else None
    if event_type == "appraisal.opened":
        data.update(actuals_due=a.actuals_due, review_due=a.review_due,
                    self_report_due=a.self_report_due)
    data.update(extra)
    if sink is None:
        record_event(s, outbox, event_type, a.manager_id, data)
    else:
        sink.append(outbox_row(event_type, a.manager_id, data))


def publish_events(s: Session, a: Appraisal, m: Manager | None,
                   sink: list[dict[str, Any]] | None = None) -> list[str]:
    """appraisal.published; exit.triggered when triggers fired; tenure.concluded for a
    tenure appraisal. Returns the event types recorded."""
    result = a.trace or {}
    scored = {"score": a.total, "grade": a.grade, "outcome": a.outcome,
              "scheme_code": a.scheme_code, "scheme_version": a.scheme_version}
    emit(s, "appraisal.published", a, m, sink, **scored, tenure_outcome=a.tenure_outcome)
    sent = ["appraisal.published"]
    triggers = [{"rule": t["rule"], "description": t.get("reason", ""),
                 "evidence": t.get("evidence", {})}
                for t in result.get("exit_triggers") or []]
    if triggers and a.outcome == d.Outcome.INCOMPETENCE_EXIT.value:
        first = next((t for t in triggers if t["rule"] == a.exit_rule), triggers[0])
        emit(s, "exit.triggered", a, m, sink, **scored, trigger=first["rule"],
             rule=first["rule"],
             rule_description=first["description"], reason=first["description"],
             triggers=triggers)
        sent.append("exit.triggered")
    if a.kind == "tenure":
        emit(s, "tenure.concluded", a, m, sink, **{**scored, "outcome": a.tenure_outcome},
             appraisal_outcome=a.outcome, conditions=a.conditions, triggers=triggers,
             deferred=(result.get("deferred") or None))
        sent.append("tenure.concluded")
    return sent


# --- transitions ----------------------------------------------------------------------------------

ROLES_FOR = {"submit": (HR_ADMIN, SERVICE), "review": (HR_ADMIN, APPRAISER),
             "approve": (HR_ADMIN,), "publish": (HR_ADMIN,)}


def apply_transition(s: Session, a: Appraisal, action: str, actor: str, note: str = "",
                     conditions: str | None = None, manager: Manager | None = None,
                     sink: list[dict[str, Any]] | None = None) -> None:
    allowed, target = TRANSITIONS[action]
    if a.state not in allowed:
        raise IllegalTransition(action, a.state)
    if action == "review" and not a.complete:
        stored = a.trace or {}
        missing = [line[0] for line in stored.get("lines", [])
                   if "missing_actual" in (line[5] or [])]
        missing += [i["code"] for i in stored.get("targets", [])
                    if "missing_actual" in (i.get("flags") or [])]
        raise ApiProblem(409, "Conflict",
                         f"Actuals are missing for {', '.join(missing)}: record them and "
                         "score again before the review", errors={"actuals": missing})
    if action == "review":
        a.self_report = self_report_at_review(s, a)
    if action == "publish" and s.scalar(select(Appeal.id).where(
            Appeal.appraisal_id == a.id, Appeal.status == "open")):
        raise ApiProblem(409, "Conflict", "An appeal is open: publish through its decision",
                         errors={"appeal": ["open"]})
    before = a.state
    now = utcnow()
    a.state = target
    a.row_version += 1
    a.updated_at = now
    if action == "review":
        a.reviewed_by = actor
        if conditions is not None and a.kind == "tenure":
            a.conditions = conditions
    elif action == "approve":
        a.approved_by = actor
        if conditions is not None and a.kind == "tenure":
            a.conditions = conditions
    elif action == "publish":
        a.published_at = now
        a.published_by = actor
        publish_events(s, a, manager or s.get(Manager, a.manager_id), sink)
    record_step(s, a, action, before, actor, note)


# --- the full trace -------------------------------------------------------------------------------


def with_trace(s: Session, a: Appraisal) -> Appraisal:
    """Attach the full trace (`full_trace`) for the API: stored lines joined with the
    locked targets they were scored against."""
    a.full_trace = expanded_trace(s, a, a.trace)  # type: ignore[attr-defined]
    return a


def expanded_trace(s: Session, a: Appraisal, stored: dict[str, Any] | None
                   ) -> dict[str, Any] | None:
    if not stored or "lines" not in stored:
        return stored
    return expand_trace(stored, d.targets_from_dicts(json.loads(targets_of(s, a) or "[]")))


def expand_snapshots(s: Session, a: Appraisal, appeal: Appeal) -> Appeal:
    """The results before and after an appeal, with their full traces, for the API."""
    for name in ("result_before", "result_after"):
        snapshot = dict(getattr(appeal, name) or {})
        if isinstance(snapshot.get("result"), str):
            snapshot["result"] = expanded_trace(s, a, json.loads(snapshot["result"]))
        setattr(appeal, f"{name}_view", snapshot or None)
    return appeal
