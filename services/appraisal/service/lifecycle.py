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
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, cast, insert, select, text, update
from sqlalchemy.orm import Session

from services.appraisal import domain as d
from services.appraisal.domain import self_report as sr
from services.appraisal.models import (
    ActualRecord,
    Appeal,
    Appraisal,
    AppraisalLog,
    ExitDecision,
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
    among,
    id_chunk,
    line_code,
    lines_by_set,
    load_scheme_book,
    new_id,
    unit_path,
    utcnow,
)
from services.appraisal.service.results import expand_trace
from shared import audit
from shared.auth import APPRAISER, HR_ADMIN, SERVICE
from shared.db import bulk_insert
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


API = "/api/v1/appraisals"


def steps_to_approved(state: str, appraisal_id: str) -> list[str]:
    """The calls that bring an appraisal from `state` to approved, in order."""
    path = f"{API}/{appraisal_id}"
    steps = {"open": ["score", "review", "approve"],
             "actuals_submitted": ["score", "review", "approve"],
             "scored": ["review", "approve"], "reviewed": ["approve"]}.get(state, [])
    return [f"POST {path}/{step}" for step in steps]


def next_step_hint(action: str, state: str, appraisal_id: str | None) -> str:
    """What to do instead of a refused transition (every 409 says what to do next)."""
    path = f"{API}/{appraisal_id or '<id>'}"
    if state == "published":
        return (f"a published result changes only through an appeal: POST {path}/appeal "
                "(the manager, or HR on their behalf), then score, review and approve it, "
                f"then HR decides the appeal with POST {path}/appeal/decision")
    if action == "appeal":
        return ("only a published result can be appealed; if an appeal is already open, HR "
                f"decides it with POST {path}/appeal/decision")
    order = ("score", "review", "approve", "publish")
    if action in order[1:]:
        needed = [step for step in steps_to_approved(state, appraisal_id or "<id>")
                  if order.index(step.rsplit("/", 1)[1]) < order.index(action)]
        if needed:
            return "first " + ", then ".join(needed)
    return "read the appraisal's state and history, then take the step its state allows"


class IllegalTransition(ApiProblem):
    def __init__(self, action: str, state: str, appraisal_id: str | None = None) -> None:
        allowed = ", ".join(TRANSITIONS[action][0])
        super().__init__(409, "Conflict",
                         f"Cannot {action} an appraisal that is {state} (only from {allowed}): "
                         + next_step_hint(action, state, appraisal_id),
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


def record_steps(s: Session, steps: list[dict[str, Any]]) -> None:
    """Write many log entries (`log_row`s) at once, each audited as `record_step`'s would
    be (`created`, the whole entry with its id). On PostgreSQL the ids are drawn from the
    table's sequence in one statement and the entries and their records go by COPY: as ORM
    objects, a whole run's review spent a fifth of its time inserting them (a statement of
    thousands of parameters, parsed again by the driver for every chunk). SQLite gets one
    INSERT of many rows returning their ids."""
    if not steps:
        return
    conn = s.connection()
    table = AppraisalLog.__table__
    if conn.dialect.name == "postgresql":
        ids = conn.execute(text(
            "SELECT nextval(pg_get_serial_sequence('appraisal_log', 'id')) "
            "FROM generate_series(1, :n) ORDER BY 1"), {"n": len(steps)}).scalars().all()
        rows = [{"id": entry_id, **step} for entry_id, step in zip(ids, steps, strict=True)]
        bulk_insert(s, table, rows)  # type: ignore[arg-type]
    else:
        # SQLite: one INSERT of many rows returning each id with its appraisal (SQLite does
        # not promise RETURNING in the order of the rows; each entry of a call names a
        # different appraisal).
        if len({step["appraisal_id"] for step in steps}) != len(steps):
            raise ValueError("record_steps takes one entry per appraisal")
        ids = {appraisal_id: entry_id for entry_id, appraisal_id in conn.execute(
            insert(table).returning(table.c.id, table.c.appraisal_id), steps)}
        rows = [{"id": ids[step["appraisal_id"]], **step} for step in steps]
    columns = [c.key for c in table.columns]  # the order a record shows
    audit.record_many(s, ({"object_type": AppraisalLog.__tablename__,
                           "object_id": str(row["id"]), "action": "created",
                           "after": {key: row[key] for key in columns}} for row in rows))


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
    """Open appraisals whose every line now has its actual move to actuals_submitted.

    Set-based, for uploads of many managers: the open appraisals, their locked lines and
    the codes recorded for them are read in a few queries, and the moves are written in
    one UPDATE and one bulk insert into the log, each move and entry with its audit record
    (as a lone step's: the changed columns of the appraisal, the whole entry)."""
    wanted = set(keys)
    if not wanted:
        return
    step = id_chunk(s)
    managers = sorted({k[0] for k in wanted})
    years = sorted({k[1] for k in wanted})
    found: list[Any] = []
    for start in range(0, len(managers), step):
        found.extend(a for a in s.execute(
            select(Appraisal.id, Appraisal.manager_id, Appraisal.enterprise_id,
                   Appraisal.contract_id, Appraisal.year, Appraisal.kind,
                   Appraisal.org_unit_id, Appraisal.updated_at)
            .where(Appraisal.state == "open", Appraisal.year.in_(years),
                   among(s, Appraisal.manager_id, managers[start:start + step])))
            if (a.manager_id, a.year, a.kind) in wanted)
    if not found:
        return
    lines = _locked_targets(s, sorted({a.contract_id for a in found}))
    subjects = sorted({a.manager_id for a in found} | {a.enterprise_id for a in found
                                                        if a.enterprise_id})
    have: dict[tuple[str, int, str], set[str]] = {}
    for start in range(0, len(subjects), step):
        for subject, year, kind, code in s.execute(
                select(ActualRecord.subject_id, ActualRecord.year, ActualRecord.kind,
                       ActualRecord.indicator_code)
                .where(ActualRecord.year.in_(years),
                       among(s, ActualRecord.subject_id, subjects[start:start + step]))):
            have.setdefault((subject, year, kind), set()).add(code)
    complete = []
    for a in found:
        targets = lines.get((a.contract_id, a.kind, a.year if a.kind == "annual" else 0))
        recorded = have.get((a.manager_id, a.year, a.kind), set()) | have.get(
            (a.enterprise_id or "-", a.year, a.kind), set())
        if targets and all(line_code(line) in recorded for line in targets):
            complete.append(a)
    if not complete:
        return
    now = utcnow()
    moved: dict[str, int] = {}  # appraisal -> its row version after the move
    for start in range(0, len(complete), step):
        moved.update(s.execute(
            update(Appraisal).where(
                among(s, Appraisal.id, [a.id for a in complete[start:start + step]]),
                Appraisal.state == "open")
            .values(state="actuals_submitted", row_version=Appraisal.row_version + 1,
                    updated_at=now).returning(Appraisal.id, Appraisal.row_version)
            .execution_options(synchronize_session=False)).all())
    done = [a for a in complete if a.id in moved]
    record_steps(s, [log_row(a.id, "submit", "open", "actuals_submitted", actor, now,
                             "every line has its actual") for a in done])
    audit.record_many(s, ({"object_type": Appraisal.__tablename__, "object_id": a.id,
                           "action": "updated", "org_unit_id": a.org_unit_id,
                           "before": {"state": "open", "row_version": moved[a.id] - 1,
                                      "updated_at": a.updated_at},
                           "after": {"state": "actuals_submitted",
                                     "row_version": moved[a.id], "updated_at": now}}
                          for a in done))


def _locked_targets(s: Session, contract_ids: list[str]
                    ) -> dict[tuple[str, str, int], list[Any]]:
    """The locked lines of these contracts by (contract, kind, year; 0 for the tenure)."""
    found = []
    step = id_chunk(s)
    for start in range(0, len(contract_ids), step):
        found.extend(s.execute(
            select(TargetSet.contract_id, TargetSet.kind, TargetSet.year, TargetSet.id,
                   TargetSet.digest)
            .where(TargetSet.locked.is_(True),
                   among(s, TargetSet.contract_id, contract_ids[start:start + step]))))
    lines = lines_by_set(s, ((r.id, r.digest) for r in found))
    out: dict[tuple[str, str, int], list[Any]] = {}
    for r in found:
        out.setdefault((r.contract_id, r.kind, r.year), lines[r.id])
    return out


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


def unit_name(s: Session, org_unit_id: str | None) -> str | None:
    """The unit's name for an event, read once per unit of work: a whole run's publication
    names the same units thousands of times (`note_unit_names` loads them all at once)."""
    if not org_unit_id:
        return None
    names: dict[str, str | None] = s.info.setdefault("unit_names", {})
    if org_unit_id not in names:
        unit = s.get(OrgUnit, org_unit_id)
        names[org_unit_id] = unit.name if unit is not None else None
    return names[org_unit_id]


def note_unit_names(s: Session, org_unit_ids: set[str]) -> None:
    """Read the names of many units in one query, for the events that will name them."""
    names: dict[str, str | None] = s.info.setdefault("unit_names", {})
    wanted = org_unit_ids - names.keys()
    names.update(dict.fromkeys(wanted))
    names.update({row.id: row.name for row in s.execute(
        select(OrgUnit.id, OrgUnit.name).where(OrgUnit.id.in_(wanted)))})


def emit(s: Session, event_type: str, a: Appraisal, m: Manager | None,
         sink: list[dict[str, Any]] | None = None, **extra: Any) -> str:
    """Record an event in the outbox now, or into `sink` for one bulk insert later; returns
    the event's id."""
    data = event_data(a, m)
    data["org_unit_name"] = unit_name(s, a.org_unit_id)
    if event_type == "appraisal.opened":
        data.update(actuals_due=a.actuals_due, review_due=a.review_due,
                    self_report_due=a.self_report_due)
    data.update(extra)
    if sink is None:
        return str(record_event(s, outbox, event_type, a.manager_id, data)["event_id"])
    sink.append(outbox_row(event_type, a.manager_id, data))
    return str(sink[-1]["event_id"])


def trace_needed(action: str, a: Appraisal, *, upheld_appeal: bool = False) -> bool:
    """Whether a step reads the appraisal's stored trace (`result`, its largest column):
    a review refused for missing actuals names them from it; a publication quotes it in
    an exit decision, a tenure conclusion or an upheld appeal's settlement. Whole-run
    actions load the trace only for these (`runs.act_on_run`)."""
    if action == "review":
        return not a.complete
    if action == "publish":
        return (upheld_appeal or a.kind == "tenure"
                or a.outcome == d.Outcome.INCOMPETENCE_EXIT.value)
    return False


def publish_events(s: Session, a: Appraisal, m: Manager | None,
                   sink: list[dict[str, Any]] | None = None, actor: str | None = None,
                   *, upheld_appeal: bool = False,
                   decisions: list[ExitDecision] | None = None) -> list[str]:
    """appraisal.published; for an exit, its exit decision (exit.triggered: pending through
    the appeal window); tenure.concluded for a tenure appraisal. A publication that closes an
    upheld appeal settles the exit decision the appeal held instead (exit.confirmed or
    exit.cancelled). Returns the event types recorded."""
    scored = {"score": a.total, "grade": a.grade, "outcome": a.outcome,
              "scheme_code": a.scheme_code, "scheme_version": a.scheme_version}
    emit(s, "appraisal.published", a, m, sink, **scored, tenure_outcome=a.tenure_outcome)
    sent = ["appraisal.published"]
    exits = a.outcome == d.Outcome.INCOMPETENCE_EXIT.value
    # The trace is read only where an event quotes it (triggers, deferrals); most
    # publications send appraisal.published alone, and a whole run's does not load traces.
    result = (a.trace or {}) if trace_needed("publish", a, upheld_appeal=upheld_appeal) else {}
    triggers = [{"rule": t["rule"], "description": t.get("reason", ""),
                 "evidence": t.get("evidence", {})}
                for t in result.get("exit_triggers") or []]
    # Only an upheld appeal's publication can find a decision its appeal holds.
    held = s.scalar(select(ExitDecision).where(
        ExitDecision.appraisal_id == a.id,
        ExitDecision.state.in_([str(x) for x in d.UNDER_APPEAL])).with_for_update()
    ) if upheld_appeal else None
    if held is not None:
        step = d.ExitDecisionStep.UPHELD_STILL_EXITS if exits else \
            d.ExitDecisionStep.UPHELD_PASSES
        if exits:
            held.triggers, held.rule = triggers, a.exit_rule
        sent += settle_exit(s, held, step, actor or a.published_by or "", a, m, sink)
    elif exits:
        decision = open_exit_decision(s, a, triggers, decisions)
        emit_decision(s, "exit.triggered", decision, a, m, sink, **scored)
        sent.append("exit.triggered")
    if a.kind == "tenure":
        emit(s, "tenure.concluded", a, m, sink, **{**scored, "outcome": a.tenure_outcome},
             appraisal_outcome=a.outcome, conditions=a.conditions, triggers=triggers,
             deferred=(result.get("deferred") or None))
        sent.append("tenure.concluded")
    return sent


# --- exit decisions -------------------------------------------------------------------------------


def window_of(s: Session, a: Appraisal, published_at: datetime | None = None
              ) -> d.AppealWindow:
    """The appeal window of the appraisal's last publication, under its own scheme's rules
    (the scheme book is read once per unit of work)."""
    book = s.info.get("scheme_book")
    if book is None:
        book = s.info["scheme_book"] = load_scheme_book(s)
    try:
        rules = book.get(a.scheme_code or d.GROUP_DEFAULT_CODE, a.scheme_version).exits
    except d.SchemeNotFound:
        rules = d.DEFAULT_SCHEME.exits
    when = published_at or a.published_at or utcnow()
    if when.tzinfo is None:  # SQLite returns naive UTC
        when = when.replace(tzinfo=UTC)
    return d.appeal_window(when, rules.appeal_window_days, rules.appeal_window_zone)


def open_exit_decision(s: Session, a: Appraisal, triggers: list[dict[str, Any]],
                       decisions: list[ExitDecision] | None = None) -> ExitDecision:
    """A new exit decision, pending until its appeal window closes: added to the session, or
    kept in `decisions` for `record_decisions` to write with the rest of a chunk's."""
    now = utcnow()
    window = window_of(s, a)
    decision = ExitDecision(
        id=new_id(), appraisal_id=a.id, manager_id=a.manager_id, contract_id=a.contract_id,
        org_unit_id=a.org_unit_id, year=a.year, kind=a.kind,
        state=d.ExitDecisionState.PENDING.value, rule=a.exit_rule, triggers=triggers,
        published_at=window.published_at, window_days=window.days, window_zone=window.zone,
        # In UTC: SQLite keeps a datetime's wall time without its offset (migration 0009).
        last_day=window.last_day, closes_at=window.closes_at.astimezone(UTC), events=[],
        row_version=1,
        created_at=now, updated_at=now)
    if decisions is None:
        s.add(decision)
    else:
        decisions.append(decision)
    return decision


def record_decisions(s: Session, decisions: list[ExitDecision]) -> None:
    """Write a chunk's new exit decisions (`open_exit_decision`'s) in one statement, each
    audited as a flush would have audited it (`created`, the row as set). Through the ORM,
    the unit of work's insert of a whole run's decisions, its bookkeeping and the audit
    capture took an eighth of a whole run's publication at 20,000 managers. The decisions
    are not in the session: a whole run's chunk reads none of them back."""
    if not decisions:
        return
    columns = [column.key for column in ExitDecision.__table__.columns]
    bulk_insert(s, ExitDecision.__table__,  # type: ignore[arg-type]
                [{key: getattr(decision, key) for key in columns} for decision in decisions])
    audit.record_many(s, (audit.pending_entry(decision) for decision in decisions),
                      converted=True)


def decision_facts(decision: ExitDecision) -> dict[str, Any]:
    """What every exit.* event says about the decision."""
    triggers = list(decision.triggers or [])
    first = next((t for t in triggers if t.get("rule") == decision.rule),
                 triggers[0] if triggers else {})
    rule = decision.rule or first.get("rule") or (
        "tenure_not_passed" if decision.kind == "tenure" else "unspecified")
    closes = decision.closes_at
    if closes.tzinfo is None:
        closes = closes.replace(tzinfo=UTC)
    return {"exit_decision_id": decision.id, "exit_state": decision.state,
            "trigger": rule, "rule": rule, "rule_description": first.get("description", ""),
            "reason": first.get("description", ""), "triggers": triggers,
            "appeal_deadline": decision.last_day.isoformat(),
            "appeal_closes_at": closes.astimezone(UTC).isoformat(),
            "appeal_window_days": decision.window_days,
            "appeal_window_zone": decision.window_zone}


def emit_decision(s: Session, event_type: str, decision: ExitDecision, a: Appraisal,
                  m: Manager | None, sink: list[dict[str, Any]] | None = None,
                  **extra: Any) -> str:
    """An exit.* event about the decision, remembered in the decision's own list."""
    event_id = emit(s, event_type, a, m, sink, **{**decision_facts(decision), **extra})
    decision.events = [*(decision.events or []),
                       {"type": event_type, "id": event_id, "at": utcnow().isoformat()}]
    return event_id


def settle_exit(s: Session, decision: ExitDecision, step: d.ExitDecisionStep, actor: str,
                a: Appraisal, m: Manager | None, sink: list[dict[str, Any]] | None = None
                ) -> list[str]:
    """Move the decision by `step`; exit.confirmed when it is confirmed for the first time
    (the contract is terminated), exit.cancelled when it is cancelled (the contract is
    reinstated if it had been terminated). Returns the event types recorded."""
    before = decision.state
    after = d.next_exit_state(before, step)
    now = utcnow()
    decision.state = after.value
    decision.row_version += 1
    decision.updated_at = now
    scored = {"score": a.total, "grade": a.grade, "outcome": a.outcome,
              "tenure_outcome": a.tenure_outcome}
    if d.terminates_contract(before, after):
        decision.confirmed_at, decision.confirmed_by = now, actor
        decision.confirmed_because = step.value
        emit_decision(s, "exit.confirmed", decision, a, m, sink, because=step.value,
                      confirmed_at=now.isoformat(), confirmed_by=actor, **scored)
        return ["exit.confirmed"]
    if after is d.ExitDecisionState.CANCELLED:
        decision.cancelled_at, decision.cancelled_by = now, actor
        confirmed = next((e["id"] for e in decision.events or []
                          if e["type"] == "exit.confirmed"), None)
        emit_decision(s, "exit.cancelled", decision, a, m, sink, because=step.value,
                      appeal_id=decision.appeal_id, cancelled_at=now.isoformat(),
                      cancelled_by=actor,
                      contract_terminated=d.reinstates_contract(before, after),
                      confirmed_event_id=confirmed, **scored)
        return ["exit.cancelled"]
    return []


def live_exit_decision(s: Session, appraisal_id: str) -> ExitDecision | None:
    """The appraisal's exit decision that is not cancelled (at most one), locked."""
    return s.scalar(select(ExitDecision).where(
        ExitDecision.appraisal_id == appraisal_id,
        ExitDecision.state.in_([str(x) for x in d.LIVE_STATES]))
        .order_by(ExitDecision.created_at.desc()).limit(1).with_for_update())


# --- transitions ----------------------------------------------------------------------------------

ROLES_FOR = {"submit": (HR_ADMIN, SERVICE), "review": (HR_ADMIN, APPRAISER),
             "approve": (HR_ADMIN,), "publish": (HR_ADMIN,)}


def apply_transition(s: Session, a: Appraisal, action: str, actor: str, note: str = "",
                     conditions: str | None = None, manager: Manager | None = None,
                     sink: list[dict[str, Any]] | None = None, *,
                     upheld_appeal: bool = False, open_appeal: bool | None = None,
                     steps: list[dict[str, Any]] | None = None) -> None:
    """Move one appraisal on, or refuse before touching it. `open_appeal`, when the caller
    already knows it (a whole run's publication asks once for all), saves the query;
    `steps` collects the log entry for `record_steps` instead of adding it at once."""
    values = transition_values(s, a, action, actor, conditions, open_appeal)
    before = a.state
    for column, value in values.items():
        setattr(a, column, value)
    finish_transition(s, a, action, before, actor, note, manager, sink,
                      upheld_appeal=upheld_appeal, steps=steps)


def transition_values(s: Session, a: Appraisal, action: str, actor: str,
                      conditions: str | None = None, open_appeal: bool | None = None,
                      now: datetime | None = None) -> dict[str, Any]:
    """The columns a step changes and their new values, or the refusal (raised before
    anything is touched): wrong state, missing actuals, the self-report, an open appeal.
    A whole run's action gives every appraisal one `now`, so one UPDATE writes them all."""
    allowed, target = TRANSITIONS[action]
    if a.state not in allowed:
        raise IllegalTransition(action, a.state, a.id)
    if action == "review" and not a.complete:
        stored = a.trace or {}
        missing = [line[0] for line in stored.get("lines", [])
                   if "missing_actual" in (line[5] or [])]
        missing += [i["code"] for i in stored.get("targets", [])
                    if "missing_actual" in (i.get("flags") or [])]
        raise ApiProblem(409, "Conflict",
                         f"Actuals are missing for {', '.join(missing)}: record them and "
                         "score again before the review", errors={"actuals": missing})
    values: dict[str, Any] = {}
    if action == "review":
        values["self_report"] = self_report_at_review(s, a)
    if action == "publish" and (open_appeal if open_appeal is not None else s.scalar(
            select(Appeal.id).where(Appeal.appraisal_id == a.id, Appeal.status == "open"))):
        raise ApiProblem(409, "Conflict",
                         "An appeal is open: its decision publishes the result. Decide it with "
                         f"POST {API}/{a.id}/appeal/decision: upheld publishes this approved "
                         "result, rejected restores the one published before",
                         errors={"appeal": ["open"]})
    now = now or utcnow()
    values.update(state=target, row_version=a.row_version + 1, updated_at=now)
    if action in ("review", "approve"):
        values["reviewed_by" if action == "review" else "approved_by"] = actor
        if conditions is not None and a.kind == "tenure":
            values["conditions"] = conditions
    elif action == "publish":
        values.update(published_at=now, published_by=actor)
    return values


def finish_transition(s: Session, a: Appraisal, action: str, before: str, actor: str,
                      note: str = "", manager: Manager | None = None,
                      sink: list[dict[str, Any]] | None = None, *, upheld_appeal: bool = False,
                      steps: list[dict[str, Any]] | None = None,
                      decisions: list[ExitDecision] | None = None) -> None:
    """What follows a step once the appraisal holds its new values: a publication's events
    and exit decision (added now, or collected in `decisions` for `record_decisions`), and
    the log entry (added now, or collected in `steps` for `record_steps`)."""
    if action == "publish":
        publish_events(s, a, manager or s.get(Manager, a.manager_id), sink, actor,
                       upheld_appeal=upheld_appeal, decisions=decisions)
    if steps is None:
        record_step(s, a, action, before, actor, note)
    else:
        steps.append(log_row(a.id, action, before, a.state, actor, a.updated_at, note))


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
