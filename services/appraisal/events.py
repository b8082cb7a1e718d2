"""The read model: contract events from hr.contracts kept as this service's own tables.

The appraisal service never reads the contracts database. Org units (with a materialised
path rebuilt from parent ids, for subtree scopes), managers, tenure contracts and the
targets of every annual and tenure performance contract arrive as events; the handler runs
inside the consumer's unit of work, so the change and the inbox row commit together and a
redelivered event is skipped by the inbox. Events of one manager share a partition (the key
is the manager id), so they arrive in order; a stale contract event never moves a contract
out of a terminal state, and locked targets never unlock.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.appraisal.models import (
    Contract,
    Departure,
    Manager,
    OrgUnit,
    TargetSet,
    targets_digest,
)

log = logging.getLogger("tenure.appraisal.events")

CONSUMER_GROUP = "appraisal"
CONTRACT_TYPES = ("contract.drafted", "contract.issued", "contract.signed", "contract.amended",
                  "contract.terminated", "contract.expired", "contract.renewed",
                  "contract.expiring")
HANDLED_TYPES = ("org_unit.created", "org_unit.moved", "manager.registered", "manager.updated",
                 "targets.set", "contract.reinstated", *CONTRACT_TYPES)
TERMINAL_STATES = frozenset({"terminated", "expired", "renewed", "withdrawn"})
DOCUMENT_KINDS = {"annual_performance_contract": "annual",
                  "tenure_performance_contract": "tenure"}
#: Departure reasons that are not appraisal exits (the contracts service's vocabulary).
APPRAISAL_EXIT = "appraisal_exit"


def utcnow() -> datetime:
    return datetime.now(UTC)


def handle_contract_event(session: Session, envelope: dict[str, Any]) -> None:
    """Apply one hr.contracts event to the read model (the consumer's handler)."""
    event_type = envelope["type"]
    data = envelope.get("data") or {}
    if event_type in ("org_unit.created", "org_unit.moved"):
        apply_org_unit(session, data)
    elif event_type in ("manager.registered", "manager.updated"):
        apply_manager(session, data, envelope)
    elif event_type == "targets.set":
        apply_contract(session, data, with_documents=False)
        apply_target_set(session, data, data["manager_id"], data["contract_id"])
    elif event_type == "contract.reinstated":
        apply_reinstatement(session, data)
    elif event_type in CONTRACT_TYPES:
        apply_contract(session, data, with_documents=True,
                       ended_by_exit=event_type == "contract.terminated"
                       and bool(data.get("exit")))


# --- org units --------------------------------------------------------------------------------


def apply_org_unit(s: Session, data: dict[str, Any]) -> OrgUnit:
    unit_id = str(data["org_unit_id"])
    parent_id = data.get("parent_id")
    parent = s.get(OrgUnit, parent_id) if parent_id else None
    # A parent not seen yet (org unit events are keyed by unit, so partitions may race) is
    # still named in the path; its own event later rewrites the prefix of its subtree.
    prefix = parent.path if parent else (f"/{parent_id}/" if parent_id else "/")
    new_path = f"{prefix}{unit_id}/"
    unit = s.get(OrgUnit, unit_id)
    now = utcnow()
    if unit is None:
        unit = OrgUnit(id=unit_id, path=new_path)
        s.add(unit)
    unit.parent_id = parent_id
    unit.code = str(data.get("code") or unit.code or unit_id)
    unit.name = str(data.get("name") or unit.name or "")
    unit.kind = str(data.get("kind") or unit.kind or "enterprise")
    unit.category = str(data.get("category") or unit.category or "")
    unit.layer = int(data.get("layer") or unit.layer or 1)
    unit.updated_at = now
    s.flush()
    # A move (org_unit.moved) changes the layer of the whole subtree by the same delta.
    _rewrite_subtree(s, unit_id, new_path, int(data.get("layer_delta") or 0), now)
    unit.path = new_path
    return unit


def _rewrite_subtree(s: Session, unit_id: str, new_path: str, layer_delta: int,
                     now: datetime) -> None:
    marker = f"/{unit_id}/"
    for member in s.scalars(select(OrgUnit).where(OrgUnit.path.contains(marker),
                                                  OrgUnit.id != unit_id)):
        tail = member.path[member.path.index(marker) + len(marker):]
        member.path = new_path + tail
        member.layer += layer_delta
        member.updated_at = now


def enterprise_of(s: Session, org_unit_id: str | None) -> str | None:
    """The nearest enterprise (or the group) at or above a unit, from the read model."""
    if not org_unit_id:
        return None
    unit = s.get(OrgUnit, org_unit_id)
    if unit is None:
        return None
    ids = [p for p in unit.path.strip("/").split("/") if p]
    kinds = {u.id: u.kind for u in s.scalars(select(OrgUnit).where(OrgUnit.id.in_(ids)))}
    for uid in reversed(ids):
        if kinds.get(uid) in ("enterprise", "group"):
            return uid
    return unit.id


# --- managers ---------------------------------------------------------------------------------


def _manager(s: Session, manager_id: str) -> tuple[Manager, bool]:
    found = s.get(Manager, manager_id)
    if found is not None:
        return found, False
    m = Manager(id=manager_id, employee_no="", name="", language="zh", org_unit_id="",
                employment_status="active", updated_at=utcnow())
    s.add(m)
    return m, True


def apply_manager(s: Session, data: dict[str, Any], envelope: dict[str, Any]) -> Manager:
    m, _ = _manager(s, str(data["manager_id"]))
    was_departed = m.employment_status == "departed"
    for key in ("employee_no", "name", "email", "language", "position", "management_level",
                "layer", "category"):
        if data.get(key) is not None:
            setattr(m, key, data[key])
    if data.get("org_unit_id"):
        m.org_unit_id = str(data["org_unit_id"])
        m.enterprise_id = enterprise_of(s, m.org_unit_id) or m.enterprise_id
    status = data.get("employment_status") or m.employment_status
    m.employment_status = status
    m.departure_reason = data.get("departure_reason") if status == "departed" else None
    m.updated_at = utcnow()
    source = f"event:{envelope['id']}"
    if status == "departed" and not was_departed and m.departure_reason != APPRAISAL_EXIT \
            and s.scalar(select(Departure.id).where(Departure.source == source)) is None:
        record_departure(s, m, m.departure_reason or "other", _event_day(envelope),
                         source=source)
    return m


def _event_day(envelope: dict[str, Any]) -> date:
    raw = str(envelope.get("time") or "")
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).date()
    except ValueError:
        return date.today()


def record_departure(s: Session, m: Manager, reason: str, on: date, *, source: str,
                     note: str = "") -> Departure:
    """A departure for another reason than appraisal; reports never count it as an exit."""
    row = Departure(manager_id=m.id, reason=reason, year=on.year, on=on, layer=m.layer,
                    category=m.category, org_unit_id=m.org_unit_id or None, note=note,
                    source=source[:64], recorded_at=utcnow())
    s.add(row)
    return row


# --- contracts and targets ----------------------------------------------------------------------


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def apply_contract(s: Session, data: dict[str, Any], *, with_documents: bool,
                   ended_by_exit: bool = False) -> Contract:
    manager_id = str(data["manager_id"])
    m, _ = _manager(s, manager_id)
    for src, dst in (("employee_no", "employee_no"), ("manager_name", "name"),
                     ("manager_email", "email"), ("manager_language", "language"),
                     ("management_level", "management_level")):
        if data.get(src) is not None:
            setattr(m, dst, data[src])
    if not m.org_unit_id and data.get("org_unit_id"):
        m.org_unit_id = str(data["org_unit_id"])
    for key in ("layer", "category", "position", "enterprise_id"):
        if data.get(key) is not None and getattr(m, key) is None:
            setattr(m, key, data[key])
    m.updated_at = utcnow()

    contract_id = str(data["contract_id"])
    c = s.get(Contract, contract_id)
    incoming = str(data["state"])
    if c is None:
        c = Contract(id=contract_id, manager_id=manager_id, term_number=1, version=1,
                     ended_by_exit=False)
        s.add(c)
    elif c.state in TERMINAL_STATES and incoming not in TERMINAL_STATES:
        log.info("stale event for ended contract %s ignored", contract_id)
        return c
    c.state = incoming
    c.org_unit_id = data.get("org_unit_id") or c.org_unit_id
    c.enterprise_id = data.get("enterprise_id") or c.enterprise_id
    c.layer = data.get("layer") if data.get("layer") is not None else c.layer
    c.category = data.get("category") or c.category
    c.position = data.get("position") or c.position
    c.start_date = _date(data["start_date"])
    c.end_date = _date(data["end_date"])
    c.term_years = data.get("term_years") or c.term_years
    c.term_number = data.get("term_number") or c.term_number or 1
    c.version = data.get("version") or c.version or 1
    if incoming in TERMINAL_STATES:
        c.end_reason = data.get("reason") or c.end_reason
    c.ended_by_exit = bool(c.ended_by_exit or ended_by_exit)
    c.updated_at = utcnow()
    if with_documents:
        for doc in data.get("documents") or []:
            apply_target_set(s, doc, manager_id, contract_id)
    return c


def apply_reinstatement(s: Session, data: dict[str, Any]) -> Contract:
    """A contract an exit terminated is active again (the exit was cancelled): the one
    event that takes a contract out of a terminal state; the manager is back in post."""
    c = apply_contract(s, data, with_documents=False)
    c.state = str(data["state"])
    c.end_reason = None
    c.ended_by_exit = False
    m, _ = _manager(s, str(data["manager_id"]))
    if m.departure_reason == APPRAISAL_EXIT or m.employment_status == "departed":
        m.employment_status = str(data.get("employment_status") or "active")
        m.departure_reason = None
    return c


def apply_target_set(s: Session, doc: dict[str, Any], manager_id: str,
                     contract_id: str) -> TargetSet | None:
    kind = DOCUMENT_KINDS.get(str(doc.get("kind")))
    if kind is None:
        return None  # the appointment agreement carries no targets
    doc_id = str(doc["document_id"])
    ts = s.get(TargetSet, doc_id)
    locked = bool(doc.get("locked", doc.get("signed", False)))
    if ts is None:
        ts = TargetSet(id=doc_id, contract_id=contract_id, manager_id=manager_id, kind=kind,
                       year=int(doc.get("year") or 0) if kind == "annual" else 0,
                       locked=False, targets=[], digest=targets_digest([]))
        s.add(ts)
    if ts.locked and not (locked and doc.get("amendment_version")):
        # Signed targets are what the appraisal is held to; only an amendment that both sides
        # signed again (targets.set with its amendment_version) replaces them.
        return ts
    ts.targets = list(doc.get("targets") or [])
    ts.digest = targets_digest(ts.targets)
    ts.locked = locked
    ts.updated_at = utcnow()
    return ts
