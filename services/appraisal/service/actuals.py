"""What a year's score reads beside the targets: actuals, difficulty coefficients, pay bases.

Each row of actuals is checked against the read model's locked targets and kept or reported
by its row number and field; appraisals whose actuals are then complete move on.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.appraisal.models import (
    ActualRecord,
    Appraisal,
    Contract,
    Difficulty,
    Manager,
    OrgUnit,
    PayBase,
    TargetSet,
)
from services.appraisal.service.common import (
    FROZEN_STATES,
    Page,
    Scope,
    covers_manager,
    line_code,
    load_scheme_book,
    paginate,
    require_write,
    resolve_scope,
    utcnow,
    visible_unit,
)
from services.appraisal.service.lifecycle import note_actuals_complete
from shared.auth import Principal
from shared.bulk_rows import RowError
from shared.db import Database
from shared.errors import ApiProblem

# --- actuals --------------------------------------------------------------------------------------

#: Which field of an actual an indicator line reads, by role and then by kind.
FIELD_BY_ROLE = {"veto": "veto_hit", "bonus": "points", "penalty": "points"}
FIELD_BY_KIND = {"quantitative": "value", "qualitative": "rating", "key_task": "milestones_met"}
ACTUAL_FIELDS = ("value", "rating", "milestones_met", "veto_hit", "points")
CSV_COLUMNS = ("manager_id", "employee_no", "enterprise_id", "year", "kind",
               "indicator_code", *ACTUAL_FIELDS, "source", "note")


def field_for(line: Mapping[str, Any]) -> str:
    role = str(line.get("role") or "scored")
    if role in FIELD_BY_ROLE:
        return FIELD_BY_ROLE[role]
    return FIELD_BY_KIND.get(str(line.get("kind") or "quantitative"), "value")


@dataclass
class ActualsOutcome:
    accepted: int = 0
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    saved: list[ActualRecord] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "created": self.created, "updated": self.updated,
                "rejected": len({e.row for e in self.errors}),
                "errors": [e.as_dict() for e in self.errors]}


class ActualsContext:
    """What checking a batch of actuals needs, loaded once per batch: managers, their
    contracts' locked target sets, the schemes' ratings and the appraisals' states."""

    def __init__(self, s: Session, scope: Scope) -> None:
        self.s = s
        self.scope = scope
        self.book = load_scheme_book(s)
        self.managers: dict[str, Manager | None] = {}
        self.by_employee_no: dict[str, Manager | None] = {}
        self.sets: dict[tuple[str, int, str], list[tuple[Contract, TargetSet]]] = {}
        self.enterprise_lines: dict[tuple[str, int, str], dict[str, dict[str, Any]]] = {}
        self.frozen: dict[tuple[str, int, str], str | None] = {}

    def manager(self, manager_id: str | None, employee_no: str | None) -> Manager | None:
        if manager_id:
            if manager_id not in self.managers:
                m = self.s.get(Manager, manager_id)
                self.managers[manager_id] = m if m and covers_manager(
                    self.s, self.scope, m) else None
            return self.managers[manager_id]
        if employee_no not in self.by_employee_no:
            m = self.s.scalar(select(Manager).where(Manager.employee_no == employee_no))
            self.by_employee_no[employee_no] = m if m and covers_manager(  # type: ignore[index]
                self.s, self.scope, m) else None
        return self.by_employee_no[employee_no]  # type: ignore[index]

    def locked_sets(self, manager_id: str, year: int, kind: str
                    ) -> list[tuple[Contract, TargetSet]]:
        key = (manager_id, year, kind)
        if key not in self.sets:
            stmt = (select(Contract, TargetSet).join(TargetSet,
                                                     TargetSet.contract_id == Contract.id)
                    .where(Contract.manager_id == manager_id, TargetSet.kind == kind,
                           TargetSet.locked.is_(True)))
            if kind == "annual":
                stmt = stmt.where(TargetSet.year == year)
            rows = [(c, t) for c, t in self.s.execute(stmt)]
            if kind == "tenure":  # the tenure appraisal falls in the term's last year
                rows = [(c, t) for c, t in rows if c.end_date.year == year]
            self.sets[key] = rows
        return self.sets[key]

    def enterprise_line(self, enterprise_id: str, year: int, kind: str, code: str
                        ) -> dict[str, Any] | None:
        """An organisational line of the enterprise: any team member's locked targets."""
        key = (enterprise_id, year, kind)
        if key not in self.enterprise_lines:
            lines: dict[str, dict[str, Any]] = {}
            stmt = (select(TargetSet).join(Contract, Contract.id == TargetSet.contract_id)
                    .where(Contract.enterprise_id == enterprise_id, TargetSet.kind == kind,
                           TargetSet.locked.is_(True)))
            if kind == "annual":
                stmt = stmt.where(TargetSet.year == year)
            for ts in self.s.scalars(stmt):
                for line in ts.targets:
                    if line.get("part") == "organisational":
                        lines.setdefault(line_code(line), line)
            self.enterprise_lines[key] = lines
        return self.enterprise_lines[key].get(code)

    def appraisal_state(self, manager_id: str, year: int, kind: str) -> str | None:
        key = (manager_id, year, kind)
        if key not in self.frozen:
            states = list(self.s.scalars(select(Appraisal.state).where(
                Appraisal.manager_id == manager_id, Appraisal.year == year,
                Appraisal.kind == kind)))
            self.frozen[key] = next((st for st in states if st in FROZEN_STATES), None)
        return self.frozen[key]

    def ratings_for(self, contract: Contract, year: int) -> Mapping[str, Decimal]:
        scheme, _ = self.book.resolve(contract.layer, contract.category, contract.position,
                                      year=year)
        return scheme.scoring.ratings


def check_actual(ctx: ActualsContext, row: Mapping[str, Any], n: int
                 ) -> tuple[dict[str, Any] | None, list[RowError]]:
    """One row against the read model; returns the row to store or its errors."""
    errors: list[RowError] = []
    year, kind, code = row["year"], row.get("kind") or "annual", row["indicator_code"]
    given = [f for f in ACTUAL_FIELDS if row.get(f) is not None]
    if len(given) != 1:
        field_name = given[1] if len(given) > 1 else "value"
        return None, [RowError(n, field_name, "give exactly one of value, rating, "
                               "milestones_met, veto_hit, points")]
    enterprise_id = row.get("enterprise_id")
    if enterprise_id:
        if row.get("manager_id") or row.get("employee_no"):
            return None, [RowError(n, "enterprise_id",
                                   "an actual is for a manager or an enterprise, not both")]
        unit = ctx.s.get(OrgUnit, enterprise_id)
        if unit is None or not ctx.scope.covers_path(unit.path):
            return None, [RowError(n, "enterprise_id", "unknown enterprise")]
        line = ctx.enterprise_line(enterprise_id, year, kind, code)
        if line is None:
            return None, [RowError(n, "indicator_code",
                                   f"no locked organisational target {code} for this "
                                   f"enterprise in {year}")]
        subject, subject_kind, ratings = enterprise_id, "enterprise", None
    else:
        if not row.get("manager_id") and not row.get("employee_no"):
            return None, [RowError(n, "manager_id",
                                   "give manager_id, employee_no or enterprise_id")]
        m = ctx.manager(row.get("manager_id"), row.get("employee_no"))
        if m is None:
            name = "manager_id" if row.get("manager_id") else "employee_no"
            return None, [RowError(n, name, "unknown manager")]
        sets = ctx.locked_sets(m.id, year, kind)
        found = [(c, line) for c, ts in sets for line in ts.targets if line_code(line) == code]
        if not found:
            what = "annual targets" if kind == "annual" else "tenure targets"
            msg = (f"no locked {what} for this manager in {year}" if not sets
                   else f"{code} is not among the locked {what} of {year}")
            return None, [RowError(n, "indicator_code" if sets else "year", msg)]
        state = ctx.appraisal_state(m.id, year, kind)
        if state is not None:
            return None, [RowError(n, "indicator_code",
                                   f"the appraisal is {state}: its actuals are closed "
                                   "(an appeal reopens it)")]
        contract, line = found[0]
        subject, subject_kind = m.id, "manager"
        ratings = ctx.ratings_for(contract, year)
    wanted = field_for(line)
    if given[0] != wanted:
        errors.append(RowError(n, given[0], f"{code} is a {line.get('role', 'scored')} "
                               f"{line.get('kind', 'quantitative')} line: give {wanted}"))
    elif wanted == "rating" and ratings is not None and row["rating"] not in ratings:
        errors.append(RowError(n, "rating", f"must be one of {', '.join(ratings)}"))
    elif wanted == "milestones_met" and line.get("milestones") is not None \
            and row["milestones_met"] > int(line["milestones"]):
        errors.append(RowError(n, "milestones_met",
                               f"at most the {line['milestones']} milestones of {code}"))
    if errors:
        return None, errors
    return {"subject_id": subject, "subject_kind": subject_kind, "year": year, "kind": kind,
            "indicator_code": code,
            **{f: (str(row[f]) if isinstance(row.get(f), Decimal) else row.get(f))
               for f in ACTUAL_FIELDS},
            "source": row["source"], "note": row.get("note") or ""}, []


def record_actuals(db: Database, actor: Principal, rows: Sequence[Mapping[str, Any]],
                   *, preset_errors: Iterable[RowError] = (),
                   row_numbers: Sequence[int] | None = None,
                   dry_run: bool = False) -> ActualsOutcome:
    """Keep every good row, report every bad one by its row number and field.

    A row for an actual already recorded (same subject, year, kind and indicator) replaces
    it. Rows that fail schema validation arrive as `preset_errors`. Appraisals whose
    actuals are now complete move from open to actuals_submitted. `dry_run` checks every
    row and counts what would be created or replaced, and keeps nothing: HR sees a file's
    errors before any of it counts.
    """
    outcome = ActualsOutcome(errors=list(preset_errors))
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        ctx = ActualsContext(s, scope)
        good: dict[tuple[str, int, str, str], dict[str, Any]] = {}
        for i, row in enumerate(rows):
            n = row_numbers[i] if row_numbers is not None else i + 1
            checked, errors = check_actual(ctx, row, n)
            if errors:
                outcome.errors.extend(errors)
                continue
            assert checked is not None
            good[(checked["subject_id"], checked["year"], checked["kind"],
                  checked["indicator_code"])] = checked
        now = utcnow()
        existing = _existing_actuals(s, list(good))
        if dry_run:
            outcome.accepted = len(good)
            outcome.updated = sum(1 for key in good if key in existing)
            outcome.created = outcome.accepted - outcome.updated
            outcome.errors.sort(key=lambda e: (e.row, e.field))
            return outcome
        for key, values in good.items():
            record = existing.get(key)
            if record is None:
                record = ActualRecord(**values, recorded_by=actor.subject, recorded_at=now,
                                      row_version=1)
                s.add(record)
                outcome.created += 1
            else:
                for name in (*ACTUAL_FIELDS, "source", "note"):
                    setattr(record, name, values[name])
                record.recorded_by = actor.subject
                record.recorded_at = now
                record.row_version += 1
                outcome.updated += 1
            outcome.saved.append(record)
        outcome.accepted = len(good)
        s.flush()
        note_actuals_complete(s, {(k[0], k[1], k[2]) for k, v in good.items()
                                  if v["subject_kind"] == "manager"}, actor.subject)
    outcome.errors.sort(key=lambda e: (e.row, e.field))
    return outcome


def _existing_actuals(s: Session, keys: list[tuple[str, int, str, str]]
                      ) -> dict[tuple[str, int, str, str], ActualRecord]:
    found: dict[tuple[str, int, str, str], ActualRecord] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        subjects = {k[0] for k in chunk}
        for r in s.scalars(select(ActualRecord).where(ActualRecord.subject_id.in_(subjects))):
            key = (r.subject_id, r.year, r.kind, r.indicator_code)
            if key in chunk:
                found[key] = r
    return found


def actual_out(r: ActualRecord) -> dict[str, Any]:
    return {"id": r.id, "subject_id": r.subject_id, "subject_kind": r.subject_kind,
            "manager_id": r.subject_id if r.subject_kind == "manager" else None,
            "enterprise_id": r.subject_id if r.subject_kind == "enterprise" else None,
            "year": r.year, "kind": r.kind, "indicator_code": r.indicator_code,
            "value": r.value, "rating": r.rating, "milestones_met": r.milestones_met,
            "veto_hit": r.veto_hit, "points": r.points, "source": r.source, "note": r.note,
            "recorded_by": r.recorded_by, "recorded_at": r.recorded_at,
            "row_version": r.row_version}


def list_actuals(db: Database, actor: Principal, f: Mapping[str, Any]) -> Page:
    with db.read() as s:
        scope = resolve_scope(s, actor)
        stmt = select(ActualRecord)
        if scope.manager_id is not None:
            stmt = stmt.where(ActualRecord.subject_id == scope.manager_id)
        elif scope.path is not None:
            managers = select(Manager.id).join(OrgUnit, OrgUnit.id == Manager.org_unit_id) \
                .where(OrgUnit.path.startswith(scope.path))
            units = select(OrgUnit.id).where(OrgUnit.path.startswith(scope.path))
            stmt = stmt.where(ActualRecord.subject_id.in_(managers)
                              | ActualRecord.subject_id.in_(units))
        for key, column in (("manager_id", ActualRecord.subject_id),
                            ("enterprise_id", ActualRecord.subject_id),
                            ("year", ActualRecord.year), ("kind", ActualRecord.kind),
                            ("indicator_code", ActualRecord.indicator_code)):
            if f.get(key) is not None:
                stmt = stmt.where(column == f[key])
        page = paginate(s, stmt.order_by(ActualRecord.subject_id, ActualRecord.year,
                                         ActualRecord.indicator_code),
                        f["page"], f["page_size"])
        return Page([actual_out(r[0]) for r in page.items], page.total)


def parse_actuals_csv(text: str) -> tuple[list[dict[str, Any]], list[int], list[RowError]]:
    """CSV rows as dicts keyed by column, with their line numbers (the header is line 1).

    Unknown columns are an error of the whole file; empty cells are absent values.
    """
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if not header:
        raise ApiProblem(422, "Unprocessable Entity", "The CSV file has no header row",
                         errors={"file": ["a header row naming the columns is required"]})
    if unknown:
        raise ApiProblem(422, "Unprocessable Entity",
                         f"Unknown CSV columns: {', '.join(unknown)}",
                         errors={"file": [f"columns allowed: {', '.join(CSV_COLUMNS)}"]})
    rows, numbers = [], []
    for raw in reader:
        values = {k.strip(): (v.strip() if isinstance(v, str) else v)
                  for k, v in raw.items() if k is not None}
        rows.append({k: v for k, v in values.items() if v not in ("", None)})
        numbers.append(reader.line_num)
    return rows, numbers, []


# --- difficulty coefficients and pay bases --------------------------------------------------------


def set_difficulty(db: Database, actor: Principal, org_unit_id: str, year: int,
                   coefficient: Decimal) -> dict[str, Any]:
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        visible_unit(s, scope, org_unit_id)
        row = s.get(Difficulty, (org_unit_id, year))
        if row is None:
            row = Difficulty(org_unit_id=org_unit_id, year=year)
            s.add(row)
        row.coefficient = str(coefficient)
        row.set_by = actor.subject
        row.set_at = utcnow()
        return {"org_unit_id": org_unit_id, "year": year, "coefficient": row.coefficient,
                "set_by": row.set_by, "set_at": row.set_at}


def list_difficulty(db: Database, actor: Principal, year: int | None) -> list[dict[str, Any]]:
    with db.read() as s:
        scope = resolve_scope(s, actor)
        stmt = select(Difficulty, OrgUnit.path).join(OrgUnit, OrgUnit.id == Difficulty.org_unit_id)
        if year is not None:
            stmt = stmt.where(Difficulty.year == year)
        return [{"org_unit_id": r.org_unit_id, "year": r.year, "coefficient": r.coefficient,
                 "set_by": r.set_by, "set_at": r.set_at}
                for r, path in s.execute(stmt.order_by(Difficulty.year, Difficulty.org_unit_id))
                if scope.covers_path(path)]


def record_pay_bases(db: Database, actor: Principal, rows: Sequence[Mapping[str, Any]]
                     ) -> dict[str, Any]:
    """Base figures for performance pay, from the payroll system; each row stands alone."""
    accepted, errors = 0, []
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        for i, row in enumerate(rows, start=1):
            m = s.get(Manager, row["manager_id"])
            if m is None or not covers_manager(s, scope, m):
                errors.append({"row": i, "field": "manager_id", "message": "unknown manager"})
                continue
            pb = s.get(PayBase, (m.id, row["year"]))
            if pb is None:
                pb = PayBase(manager_id=m.id, year=row["year"])
                s.add(pb)
            pb.amount = str(row["amount"])
            pb.source = row["source"]
            pb.recorded_at = utcnow()
            accepted += 1
    return {"accepted": accepted, "rejected": len(errors), "errors": errors}
