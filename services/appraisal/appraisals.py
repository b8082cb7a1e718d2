"""Appraisals one by one: opening, scoring, states, publishing, appeals, what-if, reminders.

States: open -> actuals_submitted -> scored -> reviewed -> approved -> published; an appeal
takes a published appraisal back to open with its reason, and only the appeal's recorded
decision publishes it again (or restores the published result). The result and its full
trace are kept as `results.py` describes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Text, and_, cast, or_, select
from sqlalchemy.orm import Session

from services.appraisal import domain as d
from services.appraisal.cohort import (
    Candidate,
    Inputs,
    _criteria,
    _existing,
    select_cohort,
)
from services.appraisal.models import (
    ActualRecord,
    Appeal,
    Appraisal,
    AppraisalLog,
    AppraisalRun,
    Contract,
    Manager,
    OrgUnit,
    TargetSet,
    outbox,
)
from services.appraisal.results import (
    expand_trace,
    member_of,
    regrade,
    result_fields,
)
from services.appraisal.service import (
    OPEN_STATES,
    Page,
    Scope,
    check_version,
    line_code,
    load_scheme_book,
    new_id,
    paginate,
    require_write,
    resolve_scope,
    unit_path,
    utcnow,
    visible_manager,
    visible_unit,
)
from shared.auth import APPRAISER, HR_ADMIN, SERVICE, Principal
from shared.db import Database
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
        "published_by": None,
    }
    row.update(extra)
    return row


def log_row(appraisal_id: str, action: str, before: str | None, after: str, actor: str,
            now: datetime, reason: str = "") -> dict[str, Any]:
    return {"appraisal_id": appraisal_id, "action": action, "from_state": before,
            "to_state": after, "actor": actor, "reason": reason, "at": now}


def _log(s: Session, a: Appraisal, action: str, before: str | None, actor: str,
         reason: str = "") -> None:
    s.add(AppraisalLog(**log_row(a.id, action, before, a.state, actor, utcnow(), reason)))


def candidate_of(a: Appraisal, c: Contract, targets: str | None) -> Candidate:
    return Candidate(a.manager_id, c.id, c.org_unit_id, c.enterprise_id, c.layer, c.category,
                     c.position, c.start_date.year, c.end_date.year, targets)


def _visible_appraisal(s: Session, scope: Scope, appraisal_id: str, *, lock: bool = False
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


def _targets_of(s: Session, a: Appraisal) -> str | None:
    """The appraisal's locked lines, as JSON text."""
    doc_year = a.year if a.kind == "annual" else 0
    return s.scalar(select(cast(TargetSet.targets, Text)).where(
        TargetSet.contract_id == a.contract_id, TargetSet.kind == a.kind,
        TargetSet.year == doc_year, TargetSet.locked.is_(True)))


# --- opening -------------------------------------------------------------------------------------


def open_appraisals(db: Database, actor: Principal, data: Mapping[str, Any]) -> dict[str, Any]:
    """Open the year's (or term's) appraisals of a cohort: one per manager with locked
    targets, announced by appraisal.opened (with the actuals and review deadlines)."""
    year, kind = data["year"], data.get("kind", "annual")
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        criteria = _criteria(s, scope, data)
        cands, skips = select_cohort(s, year, kind, scope.path, criteria)
        existing = _existing(s, cands, year, kind)
        opened = []
        now = utcnow()
        for c in cands:
            if (c.manager_id, c.contract_id) in existing:
                continue
            row = new_appraisal(c, year, kind, "open", now,
                                appraiser_ids=list(data.get("appraiser_ids") or []),
                                actuals_due=data.get("actuals_due"),
                                review_due=data.get("review_due"))
            a = Appraisal(**row)
            s.add(a)
            _log(s, a, "open", None, actor.subject)
            opened.append(a)
        s.flush()
        managers = {m.id: m for m in s.scalars(select(Manager).where(
            Manager.id.in_([a.manager_id for a in opened])))} if opened else {}
        for a in opened:
            emit(s, "appraisal.opened", a, managers.get(a.manager_id))
        return {"opened": len(opened), "already_open": len(existing),
                "appraisal_ids": [a.id for a in opened],
                "skipped": [x.as_dict() for x in skips]}


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
            lines = json.loads(_targets_of(s, a) or "[]")
            have = set(s.scalars(select(ActualRecord.indicator_code).where(
                ActualRecord.subject_id.in_([a.manager_id, a.enterprise_id or "-"]),
                ActualRecord.year == a.year, ActualRecord.kind == a.kind)))
            if lines and all(line_code(line) in have for line in lines):
                before = a.state
                a.state = "actuals_submitted"
                a.row_version += 1
                a.updated_at = utcnow()
                _log(s, a, "submit", before, actor, "every line has its actual")


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
        data.update(actuals_due=a.actuals_due, review_due=a.review_due)
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


# --- reading --------------------------------------------------------------------------------------


def with_trace(s: Session, a: Appraisal) -> Appraisal:
    """Attach the full trace (`full_trace`) for the API: stored lines joined with the
    locked targets they were scored against."""
    a.full_trace = _expanded(s, a, a.trace)  # type: ignore[attr-defined]
    return a


def _expanded(s: Session, a: Appraisal, stored: dict[str, Any] | None
              ) -> dict[str, Any] | None:
    if not stored or "lines" not in stored:
        return stored
    return expand_trace(stored, d.targets_from_dicts(json.loads(_targets_of(s, a) or "[]")))


def get_appraisal(db: Database, actor: Principal, appraisal_id: str) -> Appraisal:
    with db.read() as s:
        return with_trace(s, _visible_appraisal(s, resolve_scope(s, actor), appraisal_id))


def appraisal_history(db: Database, actor: Principal, appraisal_id: str) -> dict[str, Any]:
    with db.read() as s:
        a = _visible_appraisal(s, resolve_scope(s, actor), appraisal_id)
        log: list[Any] = list(s.scalars(select(AppraisalLog).where(
            AppraisalLog.appraisal_id == appraisal_id).order_by(AppraisalLog.id)))
        run = s.get(AppraisalRun, a.run_id) if a.run_id else None
        if run is not None:
            # A run records itself (who, when, which cohort), not a line per appraisal.
            log.append(AppraisalLog(appraisal_id=a.id, action="score", from_state=None,
                                    to_state="scored", actor=run.requested_by,
                                    reason=f"run {run.id}",
                                    at=run.finished_at or run.started_at or run.created_at))
            log.sort(key=lambda entry: _aware(entry.at))
        appeals = list(s.scalars(select(Appeal).where(
            Appeal.appraisal_id == appraisal_id).order_by(Appeal.filed_at)))
        for appeal in appeals:
            expand_snapshots(s, a, appeal)
        return {"log": log, "appeals": appeals}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def expand_snapshots(s: Session, a: Appraisal, appeal: Appeal) -> Appeal:
    """The results before and after an appeal, with their full traces, for the API."""
    for name in ("result_before", "result_after"):
        snapshot = dict(getattr(appeal, name) or {})
        if isinstance(snapshot.get("result"), str):
            snapshot["result"] = _expanded(s, a, json.loads(snapshot["result"]))
        setattr(appeal, f"{name}_view", snapshot or None)
    return appeal


def list_appraisals(db: Database, actor: Principal, f: Mapping[str, Any]) -> Page:
    with db.read() as s:
        scope = resolve_scope(s, actor)
        stmt = select(Appraisal).join(OrgUnit, OrgUnit.id == Appraisal.org_unit_id,
                                      isouter=True)
        if scope.manager_id is not None:
            stmt = stmt.where(Appraisal.manager_id == scope.manager_id,
                              Appraisal.published_at.is_not(None))
        elif scope.path is not None:
            stmt = stmt.where(OrgUnit.path.startswith(scope.path))
        if f.get("org_unit_id"):
            stmt = stmt.where(OrgUnit.path.startswith(
                visible_unit(s, scope, f["org_unit_id"]).path))
        for key in ("year", "kind", "state", "layer", "category", "position", "grade",
                    "manager_id", "run_id", "outcome"):
            if f.get(key) is not None:
                stmt = stmt.where(getattr(Appraisal, key) == f[key])
        page = paginate(s, stmt.order_by(Appraisal.year.desc(), Appraisal.manager_id),
                        f["page"], f["page_size"])
        return Page([r[0] for r in page.items], page.total)


# --- scoring one appraisal -----------------------------------------------------------------------


def _cohort_grade(s: Session, a: Appraisal, result: d.AppraisalResult,
                  book: d.SchemeBook) -> d.AppraisalResult:
    """Forced distribution for one appraisal scored on its own (after an appeal): the rest
    of its cohort keeps the grades it has; this result is moved down if it falls outside
    the quota among them."""
    if a.kind != "annual":
        return result
    scheme = book.resolve(a.layer, a.category, None, year=a.year)[0]
    others = s.execute(select(Appraisal.manager_id, Appraisal.total,
                              Appraisal.grade_before_distribution, Appraisal.result).where(
        Appraisal.year == a.year, Appraisal.kind == a.kind, Appraisal.layer == a.layer,
        Appraisal.category == a.category, Appraisal.id != a.id,
        Appraisal.total.is_not(None)))
    members = []
    for manager_id, total, grade, res in others:
        comp = (json.loads(res) if res else {}).get("composition") or {}
        members.append(d.CohortMember(
            manager_id, Decimal(total),
            None if comp.get("organisational") is None else Decimal(comp["organisational"]),
            None if comp.get("individual") is None else Decimal(comp["individual"]),
            d.Grade(grade)))
    if not members:
        return result
    dist = d.apply_forced_distribution([*members, member_of(result)], scheme.distribution)
    moved = [c for c in dist.changes if c.manager_id == result.manager_id]
    if not moved:
        return result
    return regrade(result, dist.grades[result.manager_id], moved)


def score_one(db: Database, actor: Principal, appraisal_id: str, expected: int | None
              ) -> Appraisal:
    """Score one appraisal now (e.g. reopened by an appeal), within its cohort's quota."""
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        a = _visible_appraisal(s, scope, appraisal_id, lock=True)
        check_version(expected, a.row_version)
        if a.state not in TRANSITIONS["score"][0]:
            raise IllegalTransition("score", a.state)
        contract = s.get(Contract, a.contract_id)
        if contract is None:
            raise not_found("contract", a.contract_id)
        cand = candidate_of(a, contract, _targets_of(s, a))
        if cand.targets is None:
            raise ApiProblem(409, "Conflict", "The appraisal's targets are not locked",
                             errors={"targets": ["not locked"]})
        book = load_scheme_book(s)
        inputs = Inputs(s, a.year, a.kind, book)
        inputs.load([cand])
        result = inputs.appraise(cand)
        if isinstance(result, d.AppraisalResult):
            result = _cohort_grade(s, a, result, book)
        apply_result(a, result)
        before = a.state
        a.state = "scored"
        a.scored_at = a.updated_at = utcnow()
        a.row_version += 1
        _log(s, a, "score", before, actor.subject)
        s.flush()
        return with_trace(s, a)


def apply_result(a: Appraisal, result: d.AppraisalResult | d.TenureResult) -> None:
    for key, value in result_fields(result).items():
        setattr(a, key, value)


# --- transitions ----------------------------------------------------------------------------------

ROLES_FOR = {"submit": (HR_ADMIN, SERVICE), "review": (HR_ADMIN, APPRAISER),
             "approve": (HR_ADMIN,), "publish": (HR_ADMIN,)}


def transition(db: Database, actor: Principal, appraisal_id: str, action: str,
               expected: int | None, note: str = "", conditions: str | None = None
               ) -> Appraisal:
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        if not actor.has(*ROLES_FOR[action]):
            raise ApiProblem(403, "Forbidden",
                             f"This needs one of the roles: {', '.join(ROLES_FOR[action])}")
        a = _visible_appraisal(s, scope, appraisal_id, lock=True)
        check_version(expected, a.row_version)
        apply_transition(s, a, action, actor.subject, note, conditions)
        s.flush()
        return with_trace(s, a)


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
    _log(s, a, action, before, actor, note)


# --- appeals --------------------------------------------------------------------------------------

SNAPSHOT = ("scheme_code", "scheme_version", "total", "grade", "grade_before_distribution",
            "outcome", "exit_rule", "exit_triggers", "complete", "deferred_pay",
            "tenure_outcome", "conditions", "result", "published_at",
            "published_by", "reviewed_by", "approved_by", "scored_at")


def _snapshot(a: Appraisal) -> dict[str, Any]:
    out = {}
    for key in SNAPSHOT:
        value = getattr(a, key)
        out[key] = value.isoformat() if isinstance(value, datetime) else value
    return out


def file_appeal(db: Database, actor: Principal, appraisal_id: str, reason: str) -> Appeal:
    """Reopen one published appraisal, with the reason; the published result is kept in
    the appeal so a rejected appeal restores it exactly."""
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        a = _visible_appraisal(s, scope, appraisal_id, lock=True)
        if not (scope.can_write or scope.manager_id == a.manager_id):
            raise ApiProblem(403, "Forbidden", "Only the manager or HR can appeal")
        if a.state != "published":
            raise IllegalTransition("appeal", a.state)
        appeal = Appeal(id=new_id(), appraisal_id=a.id, reason=reason, filed_by=actor.subject,
                        filed_at=utcnow(), status="open", result_before=_snapshot(a))
        s.add(appeal)
        before = a.state
        a.state = "open"
        a.row_version += 1
        a.updated_at = utcnow()
        _log(s, a, "appeal", before, actor.subject, reason)
        emit(s, "appraisal.appealed", a, s.get(Manager, a.manager_id), reason=reason,
             appeal_id=appeal.id)
        s.flush()
        return expand_snapshots(s, a, appeal)


def decide_appeal(db: Database, actor: Principal, appraisal_id: str, decision: str,
                  note: str) -> Appeal:
    """Close the open appeal: `rejected` restores the published result as it was;
    `upheld` publishes the re-scored, reviewed and approved result (and its events)."""
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        a = _visible_appraisal(s, scope, appraisal_id, lock=True)
        appeal = s.scalar(select(Appeal).where(Appeal.appraisal_id == a.id,
                                               Appeal.status == "open").with_for_update())
        if appeal is None:
            raise ApiProblem(409, "Conflict", "No open appeal on this appraisal",
                             errors={"appeal": ["none open"]})
        before = a.state
        now = utcnow()
        if decision == "rejected":
            snapshot = dict(appeal.result_before or {})
            for key in SNAPSHOT:
                value = snapshot.get(key)
                if key in ("published_at", "scored_at") and isinstance(value, str):
                    value = datetime.fromisoformat(value)
                setattr(a, key, value)
            a.state = "published"
            a.row_version += 1
            a.updated_at = now
            _log(s, a, "appeal_rejected", before, actor.subject, note)
        else:
            if a.state != "approved":
                raise ApiProblem(409, "Conflict",
                                 "An upheld appeal publishes the new result: score, review "
                                 f"and approve it first (it is {a.state})",
                                 errors={"state": [f"is {a.state}, needs approved"]})
            appeal.status = "decided"  # so the publish below is allowed
            s.flush()
            apply_transition(s, a, "publish", actor.subject, f"appeal upheld: {note}")
        appeal.status = "decided"
        appeal.decision = decision
        appeal.decision_note = note
        appeal.decided_by = actor.subject
        appeal.decided_at = now
        appeal.result_after = _snapshot(a)
        s.flush()
        return expand_snapshots(s, a, appeal)


# --- what-if --------------------------------------------------------------------------------------


def what_if(db: Database, actor: Principal, data: Mapping[str, Any]) -> dict[str, Any]:
    """The score and grade a manager would get now with these actuals; nothing is saved.

    Recorded actuals fill the lines the request leaves out; no forced distribution (that
    needs the whole cohort)."""
    year, kind = data["year"], data.get("kind", "annual")
    with db.read() as s:
        scope = resolve_scope(s, actor)
        m = visible_manager(s, scope, data["manager_id"])
        cands, skips = select_cohort(s, year, kind, None, {"manager_ids": [m.id]})
        if not cands:
            why = skips[0].reason if skips else f"no contract covering {year}"
            raise ApiProblem(409, "Conflict", f"Nothing to appraise: {why}",
                             errors={"manager_id": [why]})
        cand = cands[0]
        inputs = Inputs(s, year, kind, load_scheme_book(s))
        inputs.load([cand])
        targets = inputs.targets(cand.targets)
        known = {t.code for t in targets}
        overrides: dict[str, d.Actual] = {}
        for i, raw in enumerate(data.get("actuals") or []):
            actual = d.actual_from_dict(raw, f"actuals[{i}]")
            if actual.code not in known:
                raise d.AppraisalInputInvalid(
                    f"actuals[{i}].indicator_code: {actual.code} is not among the targets",
                    errors={f"actuals[{i}].indicator_code": ["not among the targets"]})
            overrides[actual.code] = actual
        result = inputs.appraise(cand, overrides)
        fields = result_fields(result)
        return {"manager_id": m.id, "contract_id": cand.contract_id, "year": year,
                "kind": kind, "score": fields["total"], "grade": fields["grade"],
                "outcome": fields["outcome"], "tenure_outcome": fields["tenure_outcome"],
                "scheme_code": fields["scheme_code"],
                "scheme_version": fields["scheme_version"],
                "forced_distribution_applied": False, "saved": False,
                "result": expand_trace(json.loads(fields["result"]), targets)}



# --- reminders -----------------------------------------------------------------------------------


def remind_actuals_due(db: Database, today: date, days: int) -> dict[str, int]:
    """actuals.due, once, for each open appraisal whose actuals are due within `days`."""
    sent = 0
    with db.unit_of_work() as s:
        due = list(s.scalars(select(Appraisal).where(
            Appraisal.state == "open", Appraisal.reminded.is_(False),
            Appraisal.actuals_due.is_not(None)).with_for_update()))
        managers = {m.id: m for m in s.scalars(select(Manager).where(
            Manager.id.in_([a.manager_id for a in due])))} if due else {}
        for a in due:
            left = (a.actuals_due - today).days  # type: ignore[operator]
            if 0 <= left <= days:
                emit(s, "actuals.due", a, managers.get(a.manager_id), due_date=a.actuals_due,
                     days_left=left)
                a.reminded = True
                sent += 1
    return {"reminded": sent}
