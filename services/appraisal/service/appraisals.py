"""Appraisals one by one: opening, reading, scoring, state changes, what-if, reminders.

How an appraisal moves from state to state, and what each step records, is `lifecycle.py`;
a whole cohort is scored by a run (`runs.py`), an appeal reopens one (`appeals.py`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.appraisal import domain as d
from services.appraisal.models import (
    Appeal,
    Appraisal,
    AppraisalLog,
    AppraisalRun,
    Contract,
    Manager,
    OrgUnit,
)
from services.appraisal.service.cohorts import (
    Candidate,
    Inputs,
    cohort_criteria,
    existing_appraisals,
    select_cohort,
)
from services.appraisal.service.common import (
    Page,
    as_utc,
    check_version,
    load_scheme_book,
    paginate,
    require_write,
    resolve_scope,
    utcnow,
    visible_manager,
    visible_unit,
)
from services.appraisal.service.lifecycle import (
    ROLES_FOR,
    TRANSITIONS,
    IllegalTransition,
    apply_transition,
    emit,
    expand_snapshots,
    new_appraisal,
    record_step,
    targets_of,
    visible_appraisal,
    with_trace,
)
from services.appraisal.service.results import (
    expand_trace,
    member_of,
    regrade,
    result_fields,
)
from services.appraisal.service.self_reports import report_view
from shared.auth import Principal
from shared.db import Database
from shared.errors import ApiProblem, not_found

# --- opening -------------------------------------------------------------------------------------


def open_appraisals(db: Database, actor: Principal, data: Mapping[str, Any]) -> dict[str, Any]:
    """Open the year's (or term's) appraisals of a cohort: one per manager with locked
    targets, announced by appraisal.opened (with the actuals and review deadlines)."""
    year, kind = data["year"], data.get("kind", "annual")
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        criteria = cohort_criteria(s, scope, data)
        cands, skips = select_cohort(s, year, kind, scope.path, criteria)
        existing = existing_appraisals(s, cands, year, kind)
        opened = []
        now = utcnow()
        for c in cands:
            if (c.manager_id, c.contract_id) in existing:
                continue
            row = new_appraisal(c, year, kind, "open", now,
                                appraiser_ids=list(data.get("appraiser_ids") or []),
                                actuals_due=data.get("actuals_due"),
                                review_due=data.get("review_due"),
                                self_report_due=data.get("self_report_due"))
            a = Appraisal(**row)
            s.add(a)
            record_step(s, a, "open", None, actor.subject)
            opened.append(a)
        s.flush()
        managers = {m.id: m for m in s.scalars(select(Manager).where(
            Manager.id.in_([a.manager_id for a in opened])))} if opened else {}
        for a in opened:
            emit(s, "appraisal.opened", a, managers.get(a.manager_id))
        return {"opened": len(opened), "already_open": len(existing),
                "appraisal_ids": [a.id for a in opened],
                "skipped": [x.as_dict() for x in skips]}


# --- reading --------------------------------------------------------------------------------------


def get_appraisal(db: Database, actor: Principal, appraisal_id: str) -> Appraisal:
    """The appraisal with its full trace, and the manager's self-report beside the score."""
    with db.read() as s:
        a = with_trace(s, visible_appraisal(s, resolve_scope(s, actor), appraisal_id))
        a.self_report_view = report_view(s, a, with_revisions=False)  # type: ignore[attr-defined]
        return a


def appraisal_history(db: Database, actor: Principal, appraisal_id: str) -> dict[str, Any]:
    with db.read() as s:
        a = visible_appraisal(s, resolve_scope(s, actor), appraisal_id)
        log: list[Any] = list(s.scalars(select(AppraisalLog).where(
            AppraisalLog.appraisal_id == appraisal_id).order_by(AppraisalLog.id)))
        run = s.get(AppraisalRun, a.run_id) if a.run_id else None
        if run is not None:
            # A run records itself (who, when, which cohort), not a line per appraisal.
            log.append(AppraisalLog(appraisal_id=a.id, action="score", from_state=None,
                                    to_state="scored", actor=run.requested_by,
                                    reason=f"run {run.id}",
                                    at=run.finished_at or run.started_at or run.created_at))
            log.sort(key=lambda entry: as_utc(entry.at))
        appeals = list(s.scalars(select(Appeal).where(
            Appeal.appraisal_id == appraisal_id).order_by(Appeal.filed_at)))
        for appeal in appeals:
            expand_snapshots(s, a, appeal)
        return {"log": log, "appeals": appeals}


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


def candidate_of(a: Appraisal, c: Contract, targets: str | None) -> Candidate:
    return Candidate(a.manager_id, c.id, c.org_unit_id, c.enterprise_id, c.layer, c.category,
                     c.position, c.start_date.year, c.end_date.year, targets)


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
        a = visible_appraisal(s, scope, appraisal_id, lock=True)
        check_version(expected, a.row_version)
        if a.state not in TRANSITIONS["score"][0]:
            raise IllegalTransition("score", a.state, a.id)
        contract = s.get(Contract, a.contract_id)
        if contract is None:
            raise not_found("contract", a.contract_id)
        cand = candidate_of(a, contract, targets_of(s, a))
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
        record_step(s, a, "score", before, actor.subject)
        s.flush()
        return with_trace(s, a)


def apply_result(a: Appraisal, result: d.AppraisalResult | d.TenureResult) -> None:
    for key, value in result_fields(result).items():
        setattr(a, key, value)


# --- state changes --------------------------------------------------------------------------------


def transition(db: Database, actor: Principal, appraisal_id: str, action: str,
               expected: int | None, note: str = "", conditions: str | None = None
               ) -> Appraisal:
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        if not actor.has(*ROLES_FOR[action]):
            raise ApiProblem(403, "Forbidden",
                             f"This needs one of the roles: {', '.join(ROLES_FOR[action])}")
        a = visible_appraisal(s, scope, appraisal_id, lock=True)
        check_version(expected, a.row_version)
        apply_transition(s, a, action, actor.subject, note, conditions)
        s.flush()
        return with_trace(s, a)


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
