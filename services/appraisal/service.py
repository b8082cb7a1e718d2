"""Use cases around the appraisal itself: scope, read model views, schemes, actuals and more.

Scope, the read model's views, schemes, difficulty coefficients, pay bases, departures and
actuals.
Each use case opens one unit of work; events are recorded in the outbox in the same
transaction as the rows. Appraisals, runs and reports live in their own modules.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, any_, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from services.appraisal import domain as d
from services.appraisal.events import record_departure
from services.appraisal.models import (
    ActualRecord,
    Appraisal,
    Contract,
    Departure,
    Difficulty,
    Manager,
    OrgUnit,
    PayBase,
    SchemeRecord,
    TargetSet,
)
from shared import audit
from shared.auth import APPRAISER, GROUP_WIDE_WRITERS, HR_ADMIN, SERVICE, Principal
from shared.db import Database
from shared.errors import ApiProblem, not_found

#: States in which actuals and scores may still change (a run or a single score).
OPEN_STATES = ("open", "actuals_submitted", "scored")
FROZEN_STATES = ("reviewed", "approved", "published")
ACTIVE_CONTRACT_STATES = ("active", "expired", "renewed")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def etag_of(row_version: int) -> str:
    return f'"v{row_version}"'


def check_version(expected: int | None, current: int) -> None:
    if expected is not None and expected != current:
        raise ApiProblem(412, "Precondition Failed",
                         "The resource changed since you read it; read it again and retry",
                         headers={"ETag": etag_of(current)})


@dataclass(frozen=True)
class Page:
    items: Sequence[Any]
    total: int


def paginate(s: Session, stmt: Select[Any], page: int, page_size: int) -> Page:
    total = s.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = s.execute(stmt.limit(page_size).offset((page - 1) * page_size))
    return Page(items=rows.all(), total=int(total or 0))


def among(s: Session, column: Any, ids: Sequence[Any]) -> Any:
    """`column IN ids` for long lists: one array parameter on PostgreSQL (`= ANY(...)`),
    instead of thousands of bound parameters to render and send."""
    if s.get_bind().dialect.name == "postgresql":
        return column == any_(literal(list(ids), ARRAY(column.type)))
    return column.in_(list(ids))


def id_chunk(s: Session) -> int:
    """How many ids one `among` may take: SQLite caps bound parameters."""
    return 50_000 if s.get_bind().dialect.name == "postgresql" else 900


def dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


# --- scope ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What a caller may see: an org subtree (None = whole group) or only one manager."""

    path: str | None
    manager_id: str | None = None
    can_write: bool = False
    subject: str = ""

    def covers_path(self, path: str | None) -> bool:
        if self.manager_id is not None:
            return False
        return self.path is None or (path is not None and path.startswith(self.path))


def resolve_scope(s: Session, principal: Principal) -> Scope:
    can_write = principal.has(HR_ADMIN, SERVICE)
    if principal.has(HR_ADMIN, SERVICE, APPRAISER):
        if principal.org_scope is None:
            return Scope(path=None, can_write=can_write, subject=principal.subject)
        unit = s.get(OrgUnit, principal.org_scope)
        # A scope naming a unit this read model does not know sees nothing.
        return Scope(path=unit.path if unit else "/-/", can_write=can_write,
                     subject=principal.subject)
    return Scope(path=None, manager_id=principal.manager_id or "-", subject=principal.subject)


def audit_units(s: Session, principal: Principal) -> Select[Any] | None:
    """The units whose audit trail the caller reads: None for the whole group."""
    return audit.subtree_units(OrgUnit, resolve_scope(s, principal).path)


def require_write(scope: Scope) -> None:
    if not scope.can_write:
        raise ApiProblem(403, "Forbidden", "Only HR administrators can change this")


def require_group_wide(scope: Scope) -> None:
    require_write(scope)
    if scope.path is not None:
        raise ApiProblem(403, "Forbidden", f"Only {GROUP_WIDE_WRITERS} may change this: it "
                         "is shared by the whole group")


def unit_path(s: Session, unit_id: str | None) -> str | None:
    if not unit_id:
        return None
    unit = s.get(OrgUnit, unit_id)
    return unit.path if unit else None


def visible_unit(s: Session, scope: Scope, unit_id: str) -> OrgUnit:
    unit = s.get(OrgUnit, unit_id)
    if unit is None or not scope.covers_path(unit.path):
        raise not_found("org unit", unit_id)
    return unit


def visible_manager(s: Session, scope: Scope, manager_id: str) -> Manager:
    m = s.get(Manager, manager_id)
    if m is None:
        raise not_found("manager", manager_id)
    if scope.manager_id is not None:
        if scope.manager_id != m.id:
            raise not_found("manager", manager_id)
        return m
    if scope.path is not None and not (unit_path(s, m.org_unit_id) or "").startswith(
            scope.path):
        raise not_found("manager", manager_id)
    return m


# --- read model views ---------------------------------------------------------------------------


def manager_view(s: Session, m: Manager) -> dict[str, Any]:
    contracts = list(s.scalars(select(Contract).where(Contract.manager_id == m.id)
                               .order_by(Contract.start_date)))
    sets = list(s.scalars(select(TargetSet).where(TargetSet.manager_id == m.id)
                          .order_by(TargetSet.year)))
    return {
        "id": m.id, "employee_no": m.employee_no, "name": m.name, "email": m.email,
        "language": m.language, "org_unit_id": m.org_unit_id,
        "enterprise_id": m.enterprise_id, "layer": m.layer, "category": m.category,
        "position": m.position, "management_level": m.management_level,
        "employment_status": m.employment_status, "departure_reason": m.departure_reason,
        "contracts": [{
            "id": c.id, "state": c.state, "start_date": c.start_date, "end_date": c.end_date,
            "term_number": c.term_number, "position": c.position, "layer": c.layer,
            "category": c.category, "ended_by_exit": c.ended_by_exit,
            "end_reason": c.end_reason,
            "target_sets": [{"document_id": t.id, "kind": t.kind, "year": t.year or None,
                             "locked": t.locked, "targets": t.targets}
                            for t in sets if t.contract_id == c.id],
        } for c in contracts],
    }


def get_manager(db: Database, actor: Principal, manager_id: str) -> dict[str, Any]:
    with db.read() as s:
        m = visible_manager(s, resolve_scope(s, actor), manager_id)
        return manager_view(s, m)


def list_managers(db: Database, actor: Principal, f: Mapping[str, Any]) -> Page:
    with db.read() as s:
        scope = resolve_scope(s, actor)
        stmt = select(Manager).join(OrgUnit, OrgUnit.id == Manager.org_unit_id, isouter=True)
        if scope.manager_id is not None:
            stmt = stmt.where(Manager.id == scope.manager_id)
        elif scope.path is not None:
            stmt = stmt.where(OrgUnit.path.startswith(scope.path))
        if f.get("org_unit_id"):
            stmt = stmt.where(OrgUnit.path.startswith(
                visible_unit(s, scope, f["org_unit_id"]).path))
        for key in ("layer", "category", "position", "employment_status"):
            if f.get(key) is not None:
                stmt = stmt.where(getattr(Manager, key) == f[key])
        page = paginate(s, stmt.order_by(Manager.employee_no, Manager.id), f["page"],
                        f["page_size"])
        return Page([r[0] for r in page.items], page.total)


# --- schemes ------------------------------------------------------------------------------------


def load_scheme_book(s: Session) -> d.SchemeBook:
    """The built-in group default (version 1) and every stored version, oldest first."""
    book = d.SchemeBook([d.DEFAULT_SCHEME])
    for record in s.scalars(select(SchemeRecord).order_by(SchemeRecord.id)):
        book.add(d.scheme_from_dict(record.body))
    return book


def scheme_out(scheme: d.Scheme, record: SchemeRecord | None) -> dict[str, Any]:
    return {**d.scheme_to_dict(scheme), "builtin": record is None,
            "created_by": record.created_by if record else None,
            "created_at": record.created_at if record else None}


def list_schemes(db: Database) -> list[dict[str, Any]]:
    with db.read() as s:
        records = {(r.code, r.version): r for r in s.scalars(select(SchemeRecord))}
        return [scheme_out(x, records.get((x.code, x.version))) for x in load_scheme_book(s)]


def get_scheme(db: Database, code: str, version: int | None) -> dict[str, Any]:
    with db.read() as s:
        scheme = load_scheme_book(s).get(code, version)
        record = s.scalar(select(SchemeRecord).where(SchemeRecord.code == scheme.code,
                                                     SchemeRecord.version == scheme.version))
        return scheme_out(scheme, record)


def resolve_scheme(db: Database, layer: int | None, category: str | None,
                   position: str | None, year: int | None) -> dict[str, Any]:
    with db.read() as s:
        scheme, _ = load_scheme_book(s).resolve(layer, category, position, year=year)
        record = s.scalar(select(SchemeRecord).where(SchemeRecord.code == scheme.code,
                                                     SchemeRecord.version == scheme.version))
        return scheme_out(scheme, record)


def create_scheme(db: Database, actor: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
    """A new scheme, or a new version of one: what it leaves out comes from the version
    before it (or, for a new code, from the group default), so an override states only
    what differs. Versions are never changed in place."""
    with db.unit_of_work() as s:
        require_group_wide(resolve_scope(s, actor))
        book = load_scheme_book(s)
        code = body.get("code")
        if not isinstance(code, str) or not code:
            raise d.SchemeInvalid("code: required", errors={"code": ["required"]})
        known = book.versions(code)
        data = dict(body)
        if known:
            base = book.get(code)
            for key in ("layer", "category", "position", "name", "valid_from_year"):
                data.setdefault(key, d.scheme_to_dict(base)[key])
        else:
            base = book.resolve(None, None, None)[0]
        data.setdefault("version", (max(known) + 1) if known else 1)
        scheme = d.scheme_from_dict(data, base=base)
        if scheme.version in known:
            raise d.SchemeConflict(
                f"Scheme {code} v{scheme.version} exists: a change is a new version",
                errors={"version": [f"v{scheme.version} is taken; next is {max(known) + 1}"]})
        book.add(scheme)
        record = SchemeRecord(code=scheme.code, version=scheme.version,
                              body=d.scheme_to_dict(scheme), created_by=actor.subject,
                              created_at=utcnow())
        s.add(record)
        s.flush()
        return scheme_out(scheme, record)


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
            if m is None or not _covers_manager(s, scope, m):
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


def _covers_manager(s: Session, scope: Scope, m: Manager) -> bool:
    if scope.manager_id is not None:
        return scope.manager_id == m.id
    return scope.path is None or (unit_path(s, m.org_unit_id) or "").startswith(scope.path)


# --- departures -----------------------------------------------------------------------------------


def record_departure_api(db: Database, actor: Principal, data: Mapping[str, Any]
                         ) -> Departure:
    """HR records a departure for another reason (retirement, resignation, misconduct...)."""
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        m = visible_manager(s, scope, data["manager_id"])
        reason = d.DepartureReason(data["reason"]).value
        on = data.get("on") or date.today()
        m.employment_status = "departed"
        m.departure_reason = reason
        row = record_departure(s, m, reason, on, source=f"api:{actor.subject}",
                               note=data.get("note", ""))
        s.flush()
        return row


def list_departures(db: Database, actor: Principal, year: int | None) -> list[Departure]:
    with db.read() as s:
        scope = resolve_scope(s, actor)
        stmt = select(Departure, OrgUnit.path).join(
            OrgUnit, OrgUnit.id == Departure.org_unit_id, isouter=True)
        if year is not None:
            stmt = stmt.where(Departure.year == year)
        return [row for row, path in s.execute(stmt.order_by(Departure.id))
                if scope.covers_path(path) or (scope.path is None and scope.manager_id is None)]


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


def line_code(line: Mapping[str, Any]) -> str:
    return str(line.get("indicator_code") or line.get("code") or "")


@dataclass
class RowError:
    row: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


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
                self.managers[manager_id] = m if m and _covers_manager(
                    self.s, self.scope, m) else None
            return self.managers[manager_id]
        if employee_no not in self.by_employee_no:
            m = self.s.scalar(select(Manager).where(Manager.employee_no == employee_no))
            self.by_employee_no[employee_no] = m if m and _covers_manager(  # type: ignore[index]
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
                   row_numbers: Sequence[int] | None = None) -> ActualsOutcome:
    """Keep every good row, report every bad one by its row number and field.

    A row for an actual already recorded (same subject, year, kind and indicator) replaces
    it. Rows that fail schema validation arrive as `preset_errors`. Appraisals whose
    actuals are now complete move from open to actuals_submitted.
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
        # appraisals builds on this module; imported here, where it is needed, not at the top.
        from services.appraisal.appraisals import note_actuals_complete

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

