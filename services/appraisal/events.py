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
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from services.appraisal.models import (
    Contract,
    Departure,
    Manager,
    OrgUnit,
    TargetSet,
    targets_digest,
)
from shared import audit
from shared.db import rows_where_in

log = logging.getLogger("tenure.appraisal.events")

CONSUMER_GROUP = "appraisal"
CONTRACT_TYPES = ("contract.drafted", "contract.issued", "contract.signed", "contract.amended",
                  "contract.terminated", "contract.expired", "contract.renewed",
                  "contract.expiring")
ORG_UNIT_TYPES = ("org_unit.created", "org_unit.moved")
HANDLED_TYPES = ("org_unit.created", "org_unit.moved", "manager.registered", "manager.updated",
                 "targets.set", "contract.reinstated", *CONTRACT_TYPES)
TERMINAL_STATES = frozenset({"terminated", "expired", "renewed", "withdrawn"})
DOCUMENT_KINDS = {"annual_performance_contract": "annual",
                  "tenure_performance_contract": "tenure"}
#: Departure reasons that are not appraisal exits (the contracts service's vocabulary).
APPRAISAL_EXIT = "appraisal_exit"
#: Events a poll hands the batch handler at most (one transaction).
MAX_POLL_RECORDS = 500
UNIT, MANAGER, CONTRACT, TARGET_SET = "org_units", "managers", "contracts", "target_sets"


def utcnow() -> datetime:
    return datetime.now(UTC)


def stamp(row: Manager | Contract | TargetSet) -> None:
    """Set `updated_at` if the event changed the row: one that repeats what the read model
    holds (a signed contract's manager, unchanged since registration; an event delivered
    again under a new id) writes no UPDATE and leaves no audit record of a time alone."""
    # audit.changed asks only the attributes set since the load (`Session.is_modified`
    # asks every one, at twice the cost, for the six rows a signed contract names).
    if audit.changed(row):
        row.updated_at = utcnow()


def consumer_options() -> dict[str, Any]:
    """How the `consume` command builds its consumer (also what the benchmark runs): a poll
    of up to 500 events applied by `handle_contract_events` in one transaction, and fetches
    large enough to fill such a poll (an issued contract's event is ~6.5 kB with its
    documents' targets, so the 1 MiB default per partition held ~150 of them)."""
    return {"handler": handle_contract_event, "batch_handler": handle_contract_events,
            "event_types": HANDLED_TYPES,
            "consumer_config": {"max_poll_records": MAX_POLL_RECORDS,
                                "max_partition_fetch_bytes": 4 * 1024 * 1024}}


def handle_contract_event(session: Session, envelope: dict[str, Any]) -> None:
    """Apply one hr.contracts event to the read model (the consumer's handler)."""
    handle_contract_events(session, [envelope])


def handle_contract_events(session: Session, envelopes: list[dict[str, Any]]) -> None:
    """Apply a run of hr.contracts events in order, in the caller's transaction (the
    consumer's batch handler), with the same result as one event at a time.

    The managers, contracts, target sets and org units the run names are read with one
    query per table first; the rows are written when the session flushes, one statement per
    table and kind of change. The session is flushed before an event touches a row an
    earlier event of the run changed (and after every org unit event, whose subtree moves
    are not named in it), so each row's every state reaches the database as it would one
    event at a time: a value the database refuses fails the run however a later event
    changes it, and the runtime then isolates the event at fault.
    """
    batch = ReadModelBatch(session)
    batch.preload(envelopes)
    changed: set[tuple[str, str]] = set()
    for envelope in envelopes:
        rows = rows_named(envelope)
        if not changed.isdisjoint(rows):
            session.flush()
            changed.clear()
        apply_event(batch, envelope)
        changed.update(rows)
        if envelope["type"] in ORG_UNIT_TYPES:
            session.flush()
            changed.clear()


def apply_event(batch: ReadModelBatch, envelope: dict[str, Any]) -> None:
    event_type = envelope["type"]
    data = envelope.get("data") or {}
    if event_type in ORG_UNIT_TYPES:
        apply_org_unit(batch, data)
    elif event_type in ("manager.registered", "manager.updated"):
        apply_manager(batch, data, envelope)
    elif event_type == "targets.set":
        apply_contract(batch, data, with_documents=False)
        apply_target_set(batch, data, data["manager_id"], data["contract_id"])
    elif event_type == "contract.reinstated":
        apply_reinstatement(batch, data)
    elif event_type in CONTRACT_TYPES:
        apply_contract(batch, data, with_documents=True,
                       ended_by_exit=event_type == "contract.terminated"
                       and bool(data.get("exit")))


# --- what a run of events touches ---------------------------------------------------------------


class ReadModelBatch:
    """The rows a run of events reads and writes, kept by id for the run.

    `preload` reads every manager, contract, target set and org unit the events name with
    one query per table (and one more for the units above them), so applying the
    events asks the database nothing more: an id not found is remembered as absent, a row
    the run creates is remembered as soon as it is added, and an id nobody preloaded is
    still read on first use. Every row is the session's own instance, so a query a handler
    still makes (a moved unit's subtree) sees and changes the same objects.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.units: dict[str, OrgUnit | None] = {}
        self.managers: dict[str, Manager | None] = {}
        self.contracts: dict[str, Contract | None] = {}
        self.target_sets: dict[str, TargetSet | None] = {}

    def preload(self, envelopes: Iterable[dict[str, Any]]) -> None:
        named: dict[str, set[str]] = {UNIT: set(), MANAGER: set(), CONTRACT: set(),
                                      TARGET_SET: set()}
        for envelope in envelopes:
            for kind, row_id in rows_named(envelope):
                named[kind].add(row_id)
        self._load(OrgUnit, self.units, named[UNIT])
        self._load(Manager, self.managers, named[MANAGER])
        self._load(Contract, self.contracts, named[CONTRACT])
        # Their lines stay in the database: an event's lines are told from the stored ones by
        # their digest (apply_target_set), and most events (a set locked by its signature,
        # every set of a bulk issue, which is new) never need them.
        self._load(TargetSet, self.target_sets, named[TARGET_SET], defer(TargetSet.targets))
        # The units above them: where a manager's enterprise is looked up.
        self._load(OrgUnit, self.units, {uid for unit in list(self.units.values()) if unit
                                         for uid in _path_ids(unit.path)})

    def _load(self, model: Any, found: dict[str, Any], ids: Iterable[str],
              *options: Any) -> None:
        """The rows of `ids` not read yet, in one statement joining the ids as an array:
        chunks of 500 sent as `IN (...)` were prepared by psycopg after five, and the
        generic plan, costed while a bulk issue or import grew the table faster than
        autovacuum analysed it, scanned the whole table for each (205 ms a chunk of
        managers at 100,000; `shared.db.rows_where_in`)."""
        missing = {i for i in ids if i not in found}
        for (row,) in rows_where_in(self.session, select(model).options(*options), model.id,
                                    missing):
            found[row.id] = row
        for i in missing:
            found.setdefault(i, None)

    def _get(self, model: Any, found: dict[str, Any], key: str) -> Any:
        if key not in found:
            found[key] = self.session.get(model, key)
        return found[key]

    def add(self, row: OrgUnit | Manager | Contract | TargetSet) -> None:
        self.session.add(row)
        found: dict[str, Any] = {OrgUnit: self.units, Manager: self.managers,
                                 Contract: self.contracts,
                                 TargetSet: self.target_sets}[type(row)]
        found[row.id] = row

    def unit(self, unit_id: str) -> OrgUnit | None:
        return self._get(OrgUnit, self.units, unit_id)

    def units_named(self, ids: list[str]) -> dict[str, OrgUnit | None]:
        self._load(OrgUnit, self.units, ids)
        return {i: self.units[i] for i in ids}

    def manager(self, manager_id: str) -> Manager | None:
        return self._get(Manager, self.managers, manager_id)

    def contract(self, contract_id: str) -> Contract | None:
        return self._get(Contract, self.contracts, contract_id)

    def target_set(self, document_id: str) -> TargetSet | None:
        return self._get(TargetSet, self.target_sets, document_id)


def rows_named(envelope: dict[str, Any]) -> set[tuple[str, str]]:
    """The read-model rows an event reads or writes, by (table, id): its unit (and parent)
    for an org unit event; the manager and their unit for a manager event; the manager,
    contract and each document's target set for a contract event."""
    data = envelope.get("data") or {}
    event_type = envelope["type"]
    if event_type in ORG_UNIT_TYPES:
        return {(UNIT, str(u)) for u in (data.get("org_unit_id"), data.get("parent_id")) if u}
    rows = {(MANAGER, str(data["manager_id"]))} if data.get("manager_id") else set()
    if event_type in ("manager.registered", "manager.updated"):
        if data.get("org_unit_id"):
            rows.add((UNIT, str(data["org_unit_id"])))
        return rows
    if data.get("contract_id"):
        rows.add((CONTRACT, str(data["contract_id"])))
    if data.get("document_id"):
        rows.add((TARGET_SET, str(data["document_id"])))
    for doc in data.get("documents") or []:
        if isinstance(doc, dict) and doc.get("document_id"):
            rows.add((TARGET_SET, str(doc["document_id"])))
    return rows


def _path_ids(path: str) -> list[str]:
    return [p for p in path.strip("/").split("/") if p]


# --- org units --------------------------------------------------------------------------------


def apply_org_unit(batch: ReadModelBatch, data: dict[str, Any]) -> OrgUnit:
    s = batch.session
    unit_id = str(data["org_unit_id"])
    parent_id = data.get("parent_id")
    parent = batch.unit(str(parent_id)) if parent_id else None
    # A parent not seen yet (org unit events are keyed by unit, so partitions may race) is
    # still named in the path; its own event later rewrites the prefix of its subtree.
    prefix = parent.path if parent else (f"/{parent_id}/" if parent_id else "/")
    new_path = f"{prefix}{unit_id}/"
    unit = batch.unit(unit_id)
    now = utcnow()
    if unit is None:
        unit = OrgUnit(id=unit_id, path=new_path)
        batch.add(unit)
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


def enterprise_of(batch: ReadModelBatch, org_unit_id: str | None) -> str | None:
    """The nearest enterprise (or the group) at or above a unit, from the read model."""
    if not org_unit_id:
        return None
    unit = batch.unit(org_unit_id)
    if unit is None:
        return None
    above = batch.units_named(_path_ids(unit.path))
    for uid in reversed(list(above)):
        found = above[uid]
        if found is not None and found.kind in ("enterprise", "group"):
            return uid
    return unit.id


# --- managers ---------------------------------------------------------------------------------


def _manager(batch: ReadModelBatch, manager_id: str) -> tuple[Manager, bool]:
    found = batch.manager(manager_id)
    if found is not None:
        return found, False
    m = Manager(id=manager_id, employee_no="", name="", language="zh", org_unit_id="",
                employment_status="active", updated_at=utcnow())
    batch.add(m)
    return m, True


def apply_manager(batch: ReadModelBatch, data: dict[str, Any], envelope: dict[str, Any]
                  ) -> Manager:
    s = batch.session
    m, _ = _manager(batch, str(data["manager_id"]))
    was_departed = m.employment_status == "departed"
    for key in ("employee_no", "name", "email", "language", "position", "management_level",
                "layer", "category"):
        if data.get(key) is not None:
            setattr(m, key, data[key])
    if data.get("org_unit_id"):
        m.org_unit_id = str(data["org_unit_id"])
        m.enterprise_id = enterprise_of(batch, m.org_unit_id) or m.enterprise_id
    status = data.get("employment_status") or m.employment_status
    m.employment_status = status
    m.departure_reason = data.get("departure_reason") if status == "departed" else None
    stamp(m)
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


def apply_contract(batch: ReadModelBatch, data: dict[str, Any], *, with_documents: bool,
                   ended_by_exit: bool = False) -> Contract:
    manager_id = str(data["manager_id"])
    m, _ = _manager(batch, manager_id)
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
    stamp(m)

    contract_id = str(data["contract_id"])
    c = batch.contract(contract_id)
    incoming = str(data["state"])
    if c is None:
        c = Contract(id=contract_id, manager_id=manager_id, term_number=1, version=1,
                     ended_by_exit=False)
        batch.add(c)
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
    stamp(c)
    if with_documents:
        for doc in data.get("documents") or []:
            apply_target_set(batch, doc, manager_id, contract_id)
    return c


def apply_reinstatement(batch: ReadModelBatch, data: dict[str, Any]) -> Contract:
    """A contract an exit terminated is active again (the exit was cancelled): the one
    event that takes a contract out of a terminal state; the manager is back in post."""
    c = apply_contract(batch, data, with_documents=False)
    c.state = str(data["state"])
    c.end_reason = None
    c.ended_by_exit = False
    m, _ = _manager(batch, str(data["manager_id"]))
    if m.departure_reason == APPRAISAL_EXIT or m.employment_status == "departed":
        m.employment_status = str(data.get("employment_status") or "active")
        m.departure_reason = None
    stamp(c)  # what this event changes beyond what apply_contract did
    stamp(m)
    return c


def apply_target_set(batch: ReadModelBatch, doc: dict[str, Any], manager_id: str,
                     contract_id: str) -> TargetSet | None:
    kind = DOCUMENT_KINDS.get(str(doc.get("kind")))
    if kind is None:
        return None  # the appointment agreement carries no targets
    doc_id = str(doc["document_id"])
    ts = batch.target_set(doc_id)
    locked = bool(doc.get("locked", doc.get("signed", False)))
    if ts is None:
        ts = TargetSet(id=doc_id, contract_id=contract_id, manager_id=manager_id, kind=kind,
                       year=int(doc.get("year") or 0) if kind == "annual" else 0,
                       locked=False, targets=[], digest=targets_digest([]))
        batch.add(ts)
    if ts.locked and not (locked and doc.get("amendment_version")):
        # Signed targets are what the appraisal is held to; only an amendment that both sides
        # signed again (targets.set with its amendment_version) replaces them.
        return ts
    lines = list(doc.get("targets") or [])
    digest = targets_digest(lines)
    if digest != ts.digest:
        # Other lines than those stored: the stored ones are read first (the preload left
        # them in the database) so that the audit record holds both versions.
        _ = ts.targets
        ts.targets = lines
        ts.digest = digest
    ts.locked = locked
    stamp(ts)
    return ts
