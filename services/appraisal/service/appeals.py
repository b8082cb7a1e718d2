"""Appeals: a published appraisal reopened with its reason, and the appeal's decision.

Filing keeps the published result in the appeal; `rejected` restores it exactly, `upheld`
publishes the re-scored, reviewed and approved result with its events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from services.appraisal.models import Appeal, Appraisal, Manager
from services.appraisal.service.common import new_id, require_write, resolve_scope, utcnow
from services.appraisal.service.lifecycle import (
    IllegalTransition,
    apply_transition,
    emit,
    expand_snapshots,
    record_step,
    visible_appraisal,
)
from shared.auth import Principal
from shared.db import Database
from shared.errors import ApiProblem

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
        a = visible_appraisal(s, scope, appraisal_id, lock=True)
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
        record_step(s, a, "appeal", before, actor.subject, reason)
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
        a = visible_appraisal(s, scope, appraisal_id, lock=True)
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
            record_step(s, a, "appeal_rejected", before, actor.subject, note)
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
