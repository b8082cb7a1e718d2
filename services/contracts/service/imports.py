"""Bulk import of org units and managers: a whole HR file in one request.

Rules (docs/bulk-import.md):

* Every row is checked on its own; a bad row is reported by row and field and the good rows
  are kept (`dry_run` checks everything and keeps nothing).
* Idempotent: a unit is matched by its code, a manager by employee number. A row that matches
  what is stored creates nothing and counts as `unchanged` (changes go through PATCH, with
  If-Match), so sending the same file twice creates nothing the second time.
* Units may name their parent by `parent_code` (stored, or defined anywhere in the same
  file: rows are taken in parent order) or by `parent_id`. A row whose parent was rejected is
  rejected too, naming that row.
* Writes go one INSERT per chunk of rows, with the events the single-row endpoints record
  (`org_unit.created`, `manager.registered`) in the outbox in the same transaction.
"""


from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from services.contracts import domain as d
from services.contracts.models import Manager, OrgUnit, outbox
from services.contracts.service.common import (
    BULK_CHUNK,
    Scope,
    new_id,
    require_write,
    resolve_scope,
    utcnow,
)
from services.contracts.service.managers import manager_data
from services.contracts.service.org import unit_data
from shared.auth import Principal
from shared.bulk_rows import RowError
from shared.db import Database, rows_where_in
from shared.outbox import outbox_row, record_events

Rows = Sequence[tuple[int, dict[str, Any]]]


@dataclass
class ImportOutcome:
    created: int = 0
    unchanged: int = 0
    dry_run: bool = False
    errors: list[RowError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        rejected = len({e.row for e in self.errors})
        return {"accepted": self.created + self.unchanged, "created": self.created,
                "unchanged": self.unchanged, "rejected": rejected, "dry_run": self.dry_run,
                "errors": [e.as_dict() for e in sorted(self.errors, key=lambda e: e.row)]}


def _chunks(values: Sequence[Any], size: int = BULK_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _units_where(s: Session, column: Any, values: Iterable[str]) -> dict[str, OrgUnit]:
    """Stored units whose `column` is in `values`, keyed by that column."""
    return {getattr(unit, column.key): unit
            for unit, in rows_where_in(s, select(OrgUnit), column, values)}


# --- org units --------------------------------------------------------------------------------


def import_org_units(db: Database, actor: Principal, rows: Rows, errors: list[RowError],
                     *, dry_run: bool = False) -> ImportOutcome:
    """Create the units of `rows` that are not stored yet, parents before children."""
    outcome = ImportOutcome(dry_run=dry_run, errors=list(errors))
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        stored = _units_where(s, OrgUnit.code, [r["code"] for _, r in rows]
                              + [r["parent_code"] for _, r in rows if r.get("parent_code")])
        by_id = _units_where(s, OrgUnit.id, [r["parent_id"] for _, r in rows
                                             if r.get("parent_id")])
        pending: dict[str, tuple[int, dict[str, Any]]] = {}
        for n, row in rows:
            if row["code"] in pending:
                outcome.errors.append(RowError(n, "code", "appears twice in this file "
                                               f"(first on row {pending[row['code']][0]})"))
            elif row["code"] in stored:
                outcome.unchanged += 1
            else:
                pending[row["code"]] = (n, row)
        placed = _place_units(scope, pending, stored, by_id, outcome)
        outcome.created = len(placed)
        if not dry_run:
            _write(s, OrgUnit, [(u, None) for u in placed], "org_unit.created",
                   lambda u, _: unit_data(SimpleNamespace(**u)))  # type: ignore[arg-type]
    return outcome


def _write(s: Session, model: Any, rows: Sequence[tuple[dict[str, Any], Any]],
           event_type: str, data_of: Any) -> None:
    """One INSERT a chunk for the rows, one for their events (`data_of(row, extra)`)."""
    for chunk in _chunks(rows):
        s.execute(insert(model), [row for row, _ in chunk])
        record_events(s, outbox, [outbox_row(event_type, row["id"], data_of(row, extra))
                                  for row, extra in chunk])


def _place_units(scope: Scope, pending: dict[str, tuple[int, dict[str, Any]]],
                 stored: dict[str, OrgUnit], by_id: dict[str, OrgUnit],
                 outcome: ImportOutcome) -> list[dict[str, Any]]:
    """The new units' rows in parent order; faults go to `outcome.errors`.

    Rounds: each round places every row whose parent is stored or placed in an earlier
    round, so a file may list children before their parents. A row whose parent is neither
    stored nor in the file, or lies outside the caller's scope, or was rejected, is rejected.
    """
    now = utcnow()
    known: dict[str, Any] = dict(stored)  # code -> OrgUnit or placed row (as a namespace)
    rejected: dict[str, int] = {}
    placed: list[dict[str, Any]] = []
    while pending:
        progress = False
        for code, (n, row) in list(pending.items()):
            parent, fault = _parent_of(row, known, by_id, pending, rejected)
            if fault is None and parent is None and row.get("parent_code") in pending:
                continue  # the parent is placed in a later round
            del pending[code]
            progress = True
            if fault is None:
                fault = _unit_fault(scope, row, parent)
            if fault is not None:
                outcome.errors.append(RowError(n, *fault))
                rejected[code] = n
                continue
            unit_id = new_id()
            unit = {
                "id": unit_id, "parent_id": parent.id if parent else None, "code": code,
                "name": row["name"], "kind": row["kind"], "category": row["category"],
                "has_board": bool(row.get("has_board", False)),
                "layer": d.layer_for(parent.layer if parent else None),
                "path": (parent.path if parent else "/") + unit_id + "/",
                "row_version": 1, "created_at": now, "updated_at": now,
            }
            placed.append(unit)
            known[code] = SimpleNamespace(**unit)
        if not progress:
            for code, (n, row) in pending.items():
                outcome.errors.append(RowError(
                    n, "parent_code", f"{code} and its parent {row['parent_code']} lie on a "
                    "cycle of parents in this file"))
            break
    return placed


def _parent_of(row: dict[str, Any], known: dict[str, Any], by_id: dict[str, OrgUnit],
               pending: dict[str, Any], rejected: dict[str, int]
               ) -> tuple[Any, tuple[str, str] | None]:
    """(parent or None, fault or None) for one row; (None, None) also for a root."""
    if row.get("parent_id"):
        parent = by_id.get(row["parent_id"])
        if parent is None:
            return None, ("parent_id", f"no org unit {row['parent_id']}")
        return parent, None
    code = row.get("parent_code")
    if not code:
        return None, None
    if code in known:
        return known[code], None
    if code in rejected:
        return None, ("parent_code", f"the parent {code} was rejected (row {rejected[code]})")
    if code in pending:
        return None, None
    return None, ("parent_code", f"no org unit with code {code}, stored or in this file")


def _unit_fault(scope: Scope, row: dict[str, Any], parent: Any) -> tuple[str, str] | None:
    if parent is None and scope.path is not None:
        return "parent_code", "only a group-wide HR admin can add a root unit"
    if parent is not None and not scope.covers_path(parent.path):
        return "parent_code", "the parent is outside your scope"
    try:
        d.check_unit_kind(row["kind"], parent.kind if parent else None)
    except d.InvalidOrgMove as exc:
        name, messages = next(iter((exc.errors or {"kind": [str(exc)]}).items()))
        return ("parent_code" if name == "parent_id" and row.get("parent_code") else name,
                messages[0])
    return None


# --- managers ---------------------------------------------------------------------------------


def import_managers(db: Database, actor: Principal, rows: Rows, errors: list[RowError],
                    *, dry_run: bool = False) -> ImportOutcome:
    """Register the managers of `rows` whose employee number is not stored yet."""
    outcome = ImportOutcome(dry_run=dry_run, errors=list(errors))
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        numbers = [r["employee_no"] for _, r in rows]
        stored = {no for no, in rows_where_in(s, select(Manager.employee_no),
                                               Manager.employee_no, numbers)}
        by_code = _units_where(s, OrgUnit.code, [r["org_unit_code"] for _, r in rows
                                                 if r.get("org_unit_code")])
        by_id = _units_where(s, OrgUnit.id, [r["org_unit_id"] for _, r in rows
                                             if r.get("org_unit_id")])
        now = utcnow()
        seen: dict[str, int] = {}
        new: list[tuple[dict[str, Any], OrgUnit]] = []
        for n, row in rows:
            number = row["employee_no"]
            if number in seen:
                outcome.errors.append(RowError(n, "employee_no", "appears twice in this file "
                                               f"(first on row {seen[number]})"))
                continue
            seen[number] = n
            if number in stored:
                outcome.unchanged += 1
                continue
            unit = (by_code.get(row["org_unit_code"]) if row.get("org_unit_code")
                    else by_id.get(row["org_unit_id"]))
            if unit is None or not scope.covers(unit):
                where = "org_unit_code" if row.get("org_unit_code") else "org_unit_id"
                outcome.errors.append(RowError(n, where, f"no org unit {row[where]} in your "
                                               "scope"))
                continue
            position = d.Position(row["position"])
            new.append(({
                "id": new_id(), "employee_no": number, "name": row["name"],
                "email": row["email"], "language": row.get("language", "zh"),
                "org_unit_id": unit.id, "position": position.value,
                "management_level": row.get("management_level")
                or d.default_level(position, unit.layer).value,
                "employment_status": "active", "departure_reason": None, "row_version": 1,
                "created_at": now, "updated_at": now,
            }, unit))
        outcome.created = len(new)
        if not dry_run:
            _write(s, Manager, new, "manager.registered",
                   lambda m, unit: manager_data(SimpleNamespace(**m), unit))  # type: ignore[arg-type]
    return outcome
