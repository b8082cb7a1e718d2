"""Appeals: a published appraisal reopened with its reason, and the appeal's decision.

Filing keeps the published result in the appeal; `rejected` restores it exactly, `upheld`
publishes the re-scored, reviewed and approved result with its events. docs/appeals.md
describes the whole flow: who files, by when, and each step HR takes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from services.appraisal import domain as d
from services.appraisal.models import Appeal, Appraisal, Manager
from services.appraisal.service.common import new_id, require_write, resolve_scope, utcnow
from services.appraisal.service.lifecycle import (
    API,
    IllegalTransition,
    apply_transition,
    emit,
    expand_snapshots,
    live_exit_decision,
    record_step,
    settle_exit,
    steps_to_approved,
    visible_appraisal,
    window_of,
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


def file_appeal(db: Database, actor: Principal, appraisal_id: str, reason: str,
                late_reason: str | None = None) -> Appeal:
    """Reopen one published appraisal, with the reason; the published result is kept in
    the appeal so a rejected appeal restores it exactly.

    The manager (or HR on their behalf) may appeal until the appeal window of the
    publication closes; after it, only HR may accept a late appeal, giving `late_reason`.
    An appeal on an exit holds the exit decision (pending -> held): nothing is terminated
    while it is open; a late one reopens a confirmed exit (confirmed -> reopened).
    """
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        a = visible_appraisal(s, scope, appraisal_id, lock=True)
        if not (scope.can_write or scope.manager_id == a.manager_id):
            raise ApiProblem(403, "Forbidden", "Only the manager or HR can appeal")
        if a.state != "published":
            raise IllegalTransition("appeal", a.state, a.id)
        now = utcnow()
        window = window_of(s, a)
        late = window.has_elapsed(now)
        path = f"{API}/{a.id}/appeal"
        if late and not scope.can_write:
            raise ApiProblem(
                409, "Conflict",
                f"The appeal window closed at the end of {window.last_day} "
                f"({window.zone}): ask HR, who may accept a late appeal for you with "
                f"POST {path} giving reason and late_reason",
                errors={"appeal_deadline": [f"was {window.last_day}"]})
        if late and not (late_reason or "").strip():
            raise ApiProblem(
                409, "Conflict",
                f"The appeal window closed at the end of {window.last_day} "
                f"({window.zone}): to accept this appeal late, send it again with "
                "late_reason (why it is accepted after the deadline)",
                errors={"late_reason": ["required after the appeal deadline"]})
        decision = live_exit_decision(s, a.id)
        appeal = Appeal(id=new_id(), appraisal_id=a.id, reason=reason, filed_by=actor.subject,
                        filed_at=now, status="open", result_before=_snapshot(a), late=late,
                        late_reason=late_reason.strip() if late and late_reason else None,
                        exit_decision_id=decision.id if decision is not None else None)
        s.add(appeal)
        if decision is not None:
            decision.state = d.next_exit_state(decision.state, d.ExitDecisionStep.APPEAL).value
            decision.appeal_id = appeal.id
            decision.row_version += 1
            decision.updated_at = now
        before = a.state
        a.state = "open"
        a.row_version += 1
        a.updated_at = now
        record_step(s, a, "appeal", before, actor.subject,
                    reason if not late else f"{reason} (late: {late_reason})")
        emit(s, "appraisal.appealed", a, s.get(Manager, a.manager_id), reason=reason,
             appeal_id=appeal.id, late=late, late_reason=appeal.late_reason,
             exit_decision_id=appeal.exit_decision_id,
             exit_state=decision.state if decision is not None else None)
        s.flush()
        return expand_snapshots(s, a, appeal)


def decide_appeal(db: Database, actor: Principal, appraisal_id: str, decision: str,
                  note: str) -> Appeal:
    """Close the open appeal: `rejected` restores the published result as it was (an exit
    it held is confirmed); `upheld` publishes the re-scored, reviewed and approved result
    (and its events): an exit it held is cancelled if the new result passes, confirmed
    at once if it still exits (the appeal was heard)."""
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        a = visible_appraisal(s, scope, appraisal_id, lock=True)
        appeal = s.scalar(select(Appeal).where(Appeal.appraisal_id == a.id,
                                               Appeal.status == "open").with_for_update())
        if appeal is None:
            raise ApiProblem(409, "Conflict",
                             "No open appeal on this appraisal: the manager (or HR on their "
                             f"behalf) files one first with POST {API}/{a.id}/appeal",
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
            held = live_exit_decision(s, a.id) if appeal.exit_decision_id else None
            if held is not None and held.state in d.UNDER_APPEAL:
                settle_exit(s, held, d.ExitDecisionStep.APPEAL_REJECTED, actor.subject, a,
                            s.get(Manager, a.manager_id))
        else:
            if a.state != "approved":
                steps = steps_to_approved(a.state, a.id)
                raise ApiProblem(409, "Conflict",
                                 "An upheld appeal publishes the new result, so it must be "
                                 f"approved first (it is {a.state}): "
                                 + ", then ".join(steps) + ", then decide the appeal again",
                                 errors={"state": [f"is {a.state}, needs approved"]})
            appeal.status = "decided"  # so the publish below is allowed
            s.flush()
            apply_transition(s, a, "publish", actor.subject, f"appeal upheld: {note}",
                             upheld_appeal=True)
        appeal.status = "decided"
        appeal.decision = decision
        appeal.decision_note = note
        appeal.decided_by = actor.subject
        appeal.decided_at = now
        appeal.result_after = _snapshot(a)
        s.flush()
        return expand_snapshots(s, a, appeal)
