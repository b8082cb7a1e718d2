"""What a year's score reads beside the targets: actuals, difficulty coefficients, pay bases.

Each row of actuals is checked against the read model's locked targets and kept or reported
by its row number and field; appraisals whose actuals are then complete move on.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy import text as sql_text
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
    among,
    covers_manager,
    id_chunk,
    line_code,
    lines_by_set,
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
from shared.db import Database, bulk_insert
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


@dataclass(frozen=True)
class LockedLine:
    """A line of a manager's locked targets, and the contract whose scheme rates it."""

    line: dict[str, Any]
    layer: int | None
    category: str | None
    position: str | None


class ActualsContext:
    """What checking a batch of actuals needs, loaded once for the whole batch in a few
    set-based queries (managers by id and by employee number, their locked target sets, the
    appraisals' states, the enterprises and their organisational lines): the statements
    an upload sends do not grow with its rows."""

    def __init__(self, s: Session, scope: Scope, rows: Sequence[Mapping[str, Any]]) -> None:
        self.s = s
        self.scope = scope
        self.book = load_scheme_book(s)
        self.managers: dict[str, str | None] = {}
        self.by_employee_no: dict[str, str | None] = {}
        # (manager, year, kind) -> the first locked line of each code; a key is present
        # when the manager has any locked set of that year and kind.
        self.lines: dict[tuple[str, int, str], dict[str, LockedLine]] = {}
        self.frozen: dict[tuple[str, int, str], str] = {}
        self.units: dict[str, str] = {}
        self.enterprise_lines: dict[tuple[str, int, str], dict[str, dict[str, Any]]] = {}
        self._ratings: dict[tuple[Any, ...], Mapping[str, Decimal]] = {}
        self._load(rows)

    def _load(self, rows: Sequence[Mapping[str, Any]]) -> None:
        years = sorted({r["year"] for r in rows if isinstance(r.get("year"), int)})
        ids = {r["manager_id"] for r in rows if r.get("manager_id")}
        numbers = {r["employee_no"] for r in rows
                   if r.get("employee_no") and not r.get("manager_id")}
        enterprises = {r["enterprise_id"] for r in rows if r.get("enterprise_id")}
        known = self._load_managers(ids, numbers)
        if known and years:
            self._load_locked_lines(sorted(known), years)
            self._load_frozen(sorted(known), years)
        if enterprises:
            self._load_enterprises(sorted(enterprises), years)

    def _load_managers(self, ids: set[str], numbers: set[str]) -> set[str]:
        stmt = select(Manager.id, Manager.employee_no, OrgUnit.path).outerjoin(
            OrgUnit, OrgUnit.id == Manager.org_unit_id)
        step = id_chunk(self.s)
        for column, wanted, into in ((Manager.id, sorted(ids), self.managers),
                                     (Manager.employee_no, sorted(numbers),
                                      self.by_employee_no)):
            for start in range(0, len(wanted), step):
                for mid, number, path in self.s.execute(stmt.where(
                        among(self.s, column, wanted[start:start + step]))):
                    key = mid if column is Manager.id else number
                    if key not in into:  # one employee number, several rows: the first
                        into[key] = mid if self.scope.covers_manager_at(mid, path) else None
        return {m for m in (*self.managers.values(), *self.by_employee_no.values()) if m}

    def _load_locked_lines(self, managers: list[str], years: list[int]) -> None:
        stmt = (select(Contract.manager_id, Contract.end_date, Contract.layer,
                       Contract.category, Contract.position, TargetSet.kind, TargetSet.year,
                       TargetSet.id, TargetSet.digest)
                .join(TargetSet, TargetSet.contract_id == Contract.id)
                .where(TargetSet.locked.is_(True), TargetSet.kind.in_(("annual", "tenure")),
                       (TargetSet.kind != "annual") | TargetSet.year.in_(years))
                .order_by(Contract.manager_id, Contract.id, TargetSet.id))
        step = id_chunk(self.s)
        found = []
        for start in range(0, len(managers), step):
            chunk = managers[start:start + step]
            found.extend(self.s.execute(stmt.where(among(self.s, Contract.manager_id, chunk))))
        lines = lines_by_set(self.s, ((r.id, r.digest) for r in found))
        codes: dict[str, list[tuple[str, dict[str, Any]]]] = {}  # by set: (code, line)
        for r in found:
            # the tenure appraisal falls in the term's last year
            at = r.year if r.kind == "annual" else r.end_date.year
            if at not in years:
                continue
            if r.id not in codes:
                codes[r.id] = [(line_code(line), line) for line in lines[r.id]]
            by_code = self.lines.setdefault((r.manager_id, at, r.kind), {})
            for code, line in codes[r.id]:
                if code not in by_code:
                    by_code[code] = LockedLine(line, r.layer, r.category, r.position)

    def _load_frozen(self, managers: list[str], years: list[int]) -> None:
        stmt = select(Appraisal.manager_id, Appraisal.year, Appraisal.kind, Appraisal.state) \
            .where(Appraisal.state.in_(FROZEN_STATES), Appraisal.year.in_(years))
        step = id_chunk(self.s)
        for start in range(0, len(managers), step):
            for mid, year, kind, state in self.s.execute(stmt.where(
                    among(self.s, Appraisal.manager_id, managers[start:start + step]))):
                self.frozen.setdefault((mid, year, kind), state)

    def _load_enterprises(self, enterprises: list[str], years: list[int]) -> None:
        """The enterprises and their organisational lines: any team member's locked
        targets (a tenure line whatever the term's years)."""
        step = id_chunk(self.s)
        stmt = (select(Contract.enterprise_id, TargetSet.kind, TargetSet.year,
                       TargetSet.targets)
                .join(TargetSet, TargetSet.contract_id == Contract.id)
                .where(TargetSet.locked.is_(True))
                .order_by(Contract.enterprise_id, Contract.id, TargetSet.id))
        for start in range(0, len(enterprises), step):
            chunk = enterprises[start:start + step]
            self.units.update((uid, path) for uid, path in self.s.execute(
                select(OrgUnit.id, OrgUnit.path).where(among(self.s, OrgUnit.id, chunk))))
            for eid, kind, year, targets in self.s.execute(
                    stmt.where(among(self.s, Contract.enterprise_id, chunk))):
                for at in (years if kind == "tenure" else [year]):
                    lines = self.enterprise_lines.setdefault((eid, at, kind), {})
                    for line in targets or []:
                        if line.get("part") == "organisational":
                            lines.setdefault(line_code(line), line)

    def manager(self, manager_id: str | None, employee_no: str | None) -> str | None:
        """The manager's id, or None when unknown or out of the caller's scope."""
        if manager_id:
            return self.managers.get(manager_id)
        return self.by_employee_no.get(employee_no or "")

    def locked_lines(self, manager_id: str, year: int, kind: str
                     ) -> dict[str, LockedLine] | None:
        """The manager's locked lines of that year and kind by code; None: no locked set."""
        return self.lines.get((manager_id, year, kind))

    def enterprise_known(self, enterprise_id: str) -> bool:
        return enterprise_id in self.units and self.scope.covers_path(self.units[enterprise_id])

    def enterprise_line(self, enterprise_id: str, year: int, kind: str, code: str
                        ) -> dict[str, Any] | None:
        """An organisational line of the enterprise: any team member's locked targets."""
        return self.enterprise_lines.get((enterprise_id, year, kind), {}).get(code)

    def appraisal_state(self, manager_id: str, year: int, kind: str) -> str | None:
        """The state of the manager's appraisal when it closes its actuals, else None."""
        return self.frozen.get((manager_id, year, kind))

    def ratings_for(self, locked: LockedLine, year: int) -> Mapping[str, Decimal]:
        key = (locked.layer, locked.category, locked.position, year)
        if key not in self._ratings:
            scheme, _ = self.book.resolve(locked.layer, locked.category, locked.position,
                                          year=year)
            self._ratings[key] = scheme.scoring.ratings
        return self._ratings[key]


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
        if not ctx.enterprise_known(enterprise_id):
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
        manager_id = ctx.manager(row.get("manager_id"), row.get("employee_no"))
        if manager_id is None:
            name = "manager_id" if row.get("manager_id") else "employee_no"
            return None, [RowError(n, name, "unknown manager")]
        lines = ctx.locked_lines(manager_id, year, kind)
        locked = lines.get(code) if lines else None
        if locked is None:
            what = "annual targets" if kind == "annual" else "tenure targets"
            msg = (f"no locked {what} for this manager in {year}" if lines is None
                   else f"{code} is not among the locked {what} of {year}")
            return None, [RowError(n, "year" if lines is None else "indicator_code", msg)]
        state = ctx.appraisal_state(manager_id, year, kind)
        if state is not None:
            return None, [RowError(n, "indicator_code",
                                   f"the appraisal is {state}: its actuals are closed "
                                   "(an appeal reopens it)")]
        line = locked.line
        subject, subject_kind = manager_id, "manager"
        ratings = ctx.ratings_for(locked, year)
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
                   dry_run: bool = False, with_saved: bool = False) -> ActualsOutcome:
    """Keep every good row, report every bad one by its row number and field.

    A row for an actual already recorded (same subject, year, kind and indicator) replaces
    it. Rows that fail schema validation arrive as `preset_errors`. Appraisals whose
    actuals are now complete move from open to actuals_submitted. `dry_run` checks every
    row and counts what would be created or replaced, and keeps nothing: HR sees a file's
    errors before any of it counts. `with_saved` reads the kept records back (for the one
    actual the single-row API returns).

    A batch is read in a few set-based queries and written in bulk (new rows in one COPY
    on PostgreSQL, replaced rows in one executemany), so its statements do not grow with
    its rows.
    """
    outcome = ActualsOutcome(errors=list(preset_errors))
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        ctx = ActualsContext(s, scope, rows)
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
        existing = _existing_actuals(s, good)
        outcome.accepted = len(good)
        outcome.updated = len(existing)
        outcome.created = outcome.accepted - outcome.updated
        if dry_run:
            outcome.errors.sort(key=lambda e: (e.row, e.field))
            return outcome
        _write_actuals(s, good, existing, actor.subject)
        note_actuals_complete(s, {(k[0], k[1], k[2]) for k, v in good.items()
                                  if v["subject_kind"] == "manager"}, actor.subject)
        if with_saved:
            saved = dict(_recorded(s, good, ActualRecord))
            outcome.saved = [saved[k] for k in good]
    outcome.errors.sort(key=lambda e: (e.row, e.field))
    return outcome


_REPLACED = (*ACTUAL_FIELDS, "source", "note")
#: The array type of each replaced column, for PostgreSQL's one-statement UPDATE.
_PG_ARRAYS = {"id": "bigint", "value": "text", "rating": "text", "milestones_met": "integer",
              "veto_hit": "boolean", "points": "text", "source": "text", "note": "text"}
_PG_REPLACE = sql_text(
    "UPDATE actuals AS a SET "
    + ", ".join(f"{name} = v.{name}" for name in _REPLACED)
    + ", recorded_by = :recorded_by, recorded_at = :recorded_at,"
    " row_version = a.row_version + 1 FROM unnest("
    + ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _PG_ARRAYS.items())
    + ") AS v(" + ", ".join(_PG_ARRAYS) + ") WHERE a.id = v.id")


def _write_actuals(s: Session, good: Mapping[tuple[str, int, str, str], dict[str, Any]],
                   existing: Mapping[tuple[str, int, str, str], int], recorded_by: str
                   ) -> None:
    """New actuals in one bulk insert (COPY on PostgreSQL); replaced ones in one UPDATE
    (from arrays on PostgreSQL, an executemany on SQLite) that raises each row_version by
    one."""
    now = utcnow()
    table = ActualRecord.__table__
    new_rows = [{**values, "recorded_by": recorded_by, "recorded_at": now, "row_version": 1}
                for key, values in good.items() if key not in existing]
    bulk_insert(s, table, new_rows)  # type: ignore[arg-type]
    replaced = [(existing[key], values) for key, values in good.items() if key in existing]
    if not replaced:
        return
    if s.get_bind().dialect.name == "postgresql":
        columns: dict[str, Any] = {"id": [rid for rid, _ in replaced]}
        columns.update({name: [values[name] for _, values in replaced] for name in _REPLACED})
        s.execute(_PG_REPLACE, {**columns, "recorded_by": recorded_by, "recorded_at": now})
        return
    c = table.c  # type: ignore[attr-defined]
    s.execute(update(table).where(c.id == bindparam("b_id")).values(
        {**{name: bindparam(f"b_{name}") for name in (*_REPLACED, "recorded_by",
                                                      "recorded_at")},
         "row_version": c.row_version + 1}),
        [{"b_id": rid, **{f"b_{name}": values[name] for name in _REPLACED},
          "b_recorded_by": recorded_by, "b_recorded_at": now} for rid, values in replaced])


def _recorded(s: Session, keys: Iterable[tuple[str, int, str, str]], what: Any
              ) -> Iterator[tuple[tuple[str, int, str, str], Any]]:
    """`what` (a column or the record) of each recorded actual among `keys`, read by
    subject and year in a few queries and matched against the keys as a set."""
    wanted = set(keys)
    subjects = sorted({k[0] for k in wanted})
    years = sorted({k[1] for k in wanted})
    t = ActualRecord
    stmt = select(t.subject_id, t.year, t.kind, t.indicator_code, what)
    step = id_chunk(s)
    for start in range(0, len(subjects), step):
        for subject, year, kind, code, found in s.execute(stmt.where(
                among(s, t.subject_id, subjects[start:start + step]), t.year.in_(years))):
            if (subject, year, kind, code) in wanted:
                yield (subject, year, kind, code), found


def _existing_actuals(s: Session, keys: Iterable[tuple[str, int, str, str]]
                      ) -> dict[tuple[str, int, str, str], int]:
    """The ids of the actuals among `keys` that are already recorded."""
    return dict(_recorded(s, keys, ActualRecord.id))


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
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if not header:
        raise ApiProblem(422, "Unprocessable Entity", "The CSV file has no header row",
                         errors={"file": ["a header row naming the columns is required"]})
    if unknown:
        raise ApiProblem(422, "Unprocessable Entity",
                         f"Unknown CSV columns: {', '.join(unknown)}",
                         errors={"file": [f"columns allowed: {', '.join(CSV_COLUMNS)}"]})
    rows, numbers = [], []
    # A column named twice keeps its last cell, empty or not.
    last = [i for i, h in enumerate(header) if i == len(header) - 1 - header[::-1].index(h)]
    for line in reader:
        if not line:
            continue  # a blank line
        # Cells past the header's columns are dropped, as are empty ones.
        rows.append({header[i]: cell for i in last
                     if i < len(line) and (cell := line[i].strip())})
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
