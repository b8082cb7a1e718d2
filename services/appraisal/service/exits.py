"""Exit decisions after publication: the daily close of elapsed appeal windows, and HR's queues.

A published exit waits out its appeal window (domain/exit_decisions.py). The job here
confirms every pending decision whose window has closed (exit.confirmed: the contracts
service terminates the contract then). It is idempotent and safe to run in several processes
at once: each decision is locked and re-read before it moves (on PostgreSQL the rows another
run holds are skipped, not waited for), and a decision that is no longer pending is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.appraisal import domain as d
from services.appraisal.models import Appeal, Appraisal, ExitDecision, Manager, OrgUnit
from services.appraisal.service.common import (
    Page,
    paginate,
    resolve_scope,
    utcnow,
    visible_unit,
)
from services.appraisal.service.lifecycle import settle_exit
from shared.auth import Principal
from shared.db import Database
from shared.errors import not_found

#: Who confirms an exit whose window closed (the decision's confirmed_by).
WINDOW_ACTOR = "appeal-window"
BATCH = 200


def _lock_pending(s: Session, stmt: Any) -> Any:
    """FOR UPDATE SKIP LOCKED on PostgreSQL: a concurrent run takes other rows."""
    if s.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=True)
    return stmt


def close_elapsed_windows(db: Database, now: datetime | None = None, *,
                          limit: int | None = None) -> dict[str, Any]:
    """Confirm every pending exit decision whose appeal window closed before `now` (default:
    the current time), in batches of one unit of work each; returns what it confirmed."""
    at = now or utcnow()
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    confirmed: list[str] = []
    while limit is None or len(confirmed) < limit:
        size = BATCH if limit is None else min(BATCH, limit - len(confirmed))
        with db.unit_of_work() as s:
            stmt = select(ExitDecision).where(
                ExitDecision.state == d.ExitDecisionState.PENDING.value,
                ExitDecision.closes_at <= at).order_by(ExitDecision.closes_at,
                                                       ExitDecision.id).limit(size)
            batch = list(s.scalars(_lock_pending(s, stmt)))
            for decision in batch:
                if decision.state != d.ExitDecisionState.PENDING.value:
                    continue  # an appeal got there first
                a = s.get(Appraisal, decision.appraisal_id)
                if a is None:
                    continue
                settle_exit(s, decision, d.ExitDecisionStep.WINDOW_CLOSED, WINDOW_ACTOR, a,
                            s.get(Manager, a.manager_id))
                confirmed.append(decision.id)
        if len(batch) < size:
            break
    return {"as_of": at.isoformat(), "confirmed": len(confirmed), "exit_decision_ids": confirmed}


# --- HR's queues and a manager's own ---------------------------------------------------------


def _scoped(s: Session, actor: Principal, stmt: Any, manager_col: Any, unit_col: Any,
            f: Mapping[str, Any]) -> Any:
    scope = resolve_scope(s, actor)
    stmt = stmt.join(OrgUnit, OrgUnit.id == unit_col, isouter=True)
    if scope.manager_id is not None:
        stmt = stmt.where(manager_col == scope.manager_id)
    elif scope.path is not None:
        stmt = stmt.where(OrgUnit.path.startswith(scope.path))
    if f.get("org_unit_id"):
        stmt = stmt.where(OrgUnit.path.startswith(visible_unit(s, scope, f["org_unit_id"]).path))
    if f.get("manager_id"):
        stmt = stmt.where(manager_col == f["manager_id"])
    return stmt


def list_exit_decisions(db: Database, actor: Principal, f: Mapping[str, Any]) -> Page:
    """Exit decisions in the caller's scope (a manager sees their own), the soonest deadline
    first; filter by state, year, kind, unit, manager, or a deadline before a date."""
    with db.read() as s:
        stmt = _scoped(s, actor, select(ExitDecision), ExitDecision.manager_id,
                       ExitDecision.org_unit_id, f)
        for key in ("state", "year", "kind"):
            if f.get(key) is not None:
                stmt = stmt.where(getattr(ExitDecision, key) == f[key])
        if f.get("deadline_before") is not None:
            stmt = stmt.where(ExitDecision.last_day < f["deadline_before"])
        page = paginate(s, stmt.order_by(ExitDecision.closes_at, ExitDecision.id),
                        f["page"], f["page_size"])
        return Page([r[0] for r in page.items], page.total)


def get_exit_decision(db: Database, actor: Principal, decision_id: str) -> ExitDecision:
    with db.read() as s:
        stmt = _scoped(s, actor, select(ExitDecision), ExitDecision.manager_id,
                       ExitDecision.org_unit_id, {}).where(ExitDecision.id == decision_id)
        found = s.scalar(stmt)
        if found is None:
            raise not_found("exit decision", decision_id)
        return found


def list_appeals(db: Database, actor: Principal, f: Mapping[str, Any]) -> Page:
    """Appeals in the caller's scope (a manager sees their own), oldest first; filter by
    status (open or decided), lateness, year, kind, unit or manager."""
    with db.read() as s:
        base = select(Appeal, Appraisal).join(Appraisal, Appraisal.id == Appeal.appraisal_id)
        stmt = _scoped(s, actor, base, Appraisal.manager_id, Appraisal.org_unit_id, f)
        if f.get("status") is not None:
            stmt = stmt.where(Appeal.status == f["status"])
        if f.get("late") is not None:
            stmt = stmt.where(Appeal.late.is_(bool(f["late"])))
        for key in ("year", "kind"):
            if f.get(key) is not None:
                stmt = stmt.where(getattr(Appraisal, key) == f[key])
        page = paginate(s, stmt.order_by(Appeal.filed_at, Appeal.id), f["page"], f["page_size"])
        items = []
        for appeal, a in page.items:
            items.append({
                "id": appeal.id, "appraisal_id": a.id, "manager_id": a.manager_id,
                "year": a.year, "kind": a.kind, "appraisal_state": a.state,
                "reason": appeal.reason, "filed_by": appeal.filed_by,
                "filed_at": appeal.filed_at, "status": appeal.status, "late": appeal.late,
                "late_reason": appeal.late_reason, "exit_decision_id": appeal.exit_decision_id,
                "decision": appeal.decision, "decided_by": appeal.decided_by,
                "decided_at": appeal.decided_at})
        return Page(items, page.total)
