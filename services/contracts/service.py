"""Use cases of the contracts service: one unit of work each, events recorded with the rows."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.contracts import domain as d
from services.contracts import repository as repo
from services.contracts.models import (
    BulkIssueJob,
    ContractDocument,
    ContractTemplate,
    ContractVersion,
    Indicator,
    Manager,
    OrgUnit,
    OrgUnitHistory,
    TenureContract,
    outbox,
)
from shared.auth import APPRAISER, HR_ADMIN, SERVICE, Principal
from shared.db import Database, bulk_insert
from shared.errors import ApiProblem, not_found
from shared.outbox import outbox_row, record_event

log = logging.getLogger("tenure.contracts")

DEFAULT_TERM_YEARS = 3
DEFAULT_MAX_CONSECUTIVE_TERMS = 2
DEFAULT_SIGNING_DEADLINE_DAYS = 30
BULK_CHUNK = 500


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def precondition_failed(current: int) -> ApiProblem:
    return ApiProblem(
        412, "Precondition Failed",
        "The resource changed since you read it; read it again and retry",
        headers={"ETag": etag_of(current)},
    )


def etag_of(row_version: int) -> str:
    return f'"v{row_version}"'


def check_version(expected: int | None, current: int) -> None:
    """`expected` comes from If-Match; None means the caller sent none (checked by the API)."""
    if expected is not None and expected != current:
        raise precondition_failed(current)


# --- scope ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What a caller may see: an org subtree (None = whole group) or only one manager."""

    path: str | None
    manager_id: str | None = None
    can_write: bool = False

    def covers(self, unit: OrgUnit) -> bool:
        return self.path is None or unit.path.startswith(self.path)


def resolve_scope(session: Session, principal: Principal) -> Scope:
    can_write = principal.has(HR_ADMIN, SERVICE)
    if principal.has(HR_ADMIN, SERVICE, APPRAISER):
        if principal.org_scope is None:
            return Scope(path=None, can_write=can_write)
        unit = repo.unit_by_id(session, principal.org_scope)
        # A scope naming a unit that does not exist sees nothing rather than everything.
        return Scope(path=unit.path if unit else "/-/", can_write=can_write)
    return Scope(path=None, manager_id=principal.manager_id or "-", can_write=False)


def require_write(scope: Scope) -> None:
    if not scope.can_write:
        raise ApiProblem(403, "Forbidden", "Only HR administrators can change this")


def _visible_unit(session: Session, scope: Scope, unit_id: str, *, lock: bool = False
                  ) -> OrgUnit:
    unit = repo.unit_by_id(session, unit_id, lock=lock)
    if unit is None or not scope.covers(unit) or scope.manager_id is not None:
        raise not_found("org unit", unit_id)
    return unit


def _emit(session: Session, event_type: str, subject: str | None, data: dict[str, Any]) -> None:
    record_event(session, outbox, event_type, subject, data)


# --- org units --------------------------------------------------------------------------------


def unit_view(unit: OrgUnit) -> d.OrgUnitView:
    return d.OrgUnitView(
        id=unit.id, parent_id=unit.parent_id, name=unit.name, kind=d.UnitKind(unit.kind),
        category=unit.category, has_board=unit.has_board, layer=unit.layer,
    )


def unit_data(unit: OrgUnit) -> dict[str, Any]:
    return {
        "org_unit_id": unit.id, "parent_id": unit.parent_id, "code": unit.code,
        "name": unit.name, "kind": unit.kind, "category": unit.category,
        "has_board": unit.has_board, "layer": unit.layer,
    }


def create_org_unit(db: Database, actor: Principal, data: Mapping[str, Any]) -> OrgUnit:
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        parent_id = data.get("parent_id")
        parent = _visible_unit(s, scope, parent_id) if parent_id else None
        if parent is None and scope.path is not None:
            raise ApiProblem(403, "Forbidden", "Only a group-wide HR admin can add a root unit",
                             errors={"parent_id": ["required within your scope"]})
        kind = d.UnitKind(data["kind"])
        if parent is None and kind is not d.UnitKind.GROUP:
            raise ApiProblem(422, "Unprocessable Entity", "A root unit must be of kind group",
                             errors={"kind": ["a unit without parent must be 'group'"]})
        if parent is not None and kind is d.UnitKind.GROUP:
            raise ApiProblem(422, "Unprocessable Entity", "Only the root unit is the group",
                             errors={"kind": ["a unit with a parent cannot be 'group'"]})
        if s.scalar(select(OrgUnit.id).where(OrgUnit.code == data["code"])):
            raise ApiProblem(409, "Conflict", f"An org unit with code {data['code']} exists",
                             errors={"code": ["already used"]})
        now = utcnow()
        unit_id = new_id()
        unit = OrgUnit(
            id=unit_id, parent_id=parent.id if parent else None, code=data["code"],
            name=data["name"], kind=kind.value, category=d.validate_category(data["category"]),
            has_board=bool(data.get("has_board", False)),
            layer=d.layer_for(parent.layer if parent else None),
            path=(parent.path if parent else "/") + unit_id + "/",
            row_version=1, created_at=now, updated_at=now,
        )
        s.add(unit)
        s.flush()
        _emit(s, "org_unit.created", unit.id, unit_data(unit))
        return unit


def update_org_unit(db: Database, actor: Principal, unit_id: str, changes: Mapping[str, Any],
                    expected: int | None) -> OrgUnit:
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        unit = _visible_unit(s, scope, unit_id, lock=True)
        check_version(expected, unit.row_version)
        before = unit_data(unit)
        for key in ("name", "has_board"):
            if key in changes:
                setattr(unit, key, changes[key])
        if "category" in changes:
            unit.category = d.validate_category(changes["category"])
        unit.row_version += 1
        unit.updated_at = utcnow()
        s.add(OrgUnitHistory(org_unit_id=unit.id, change="updated", before=before,
                             after=unit_data(unit), changed_by=actor.subject,
                             changed_at=unit.updated_at))
        return unit


def move_org_unit(db: Database, actor: Principal, unit_id: str, new_parent_id: str,
                  expected: int | None) -> OrgUnit:
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        unit = _visible_unit(s, scope, unit_id, lock=True)
        check_version(expected, unit.row_version)
        new_parent = _visible_unit(s, scope, new_parent_id)
        d.check_move(unit.id, new_parent.id, [*repo.ancestor_ids(new_parent), new_parent.id])
        if unit.parent_id is None:
            raise d.InvalidOrgMove("The group root cannot be moved")
        before = unit_data(unit)
        old_path, new_path = unit.path, new_parent.path + unit.id + "/"
        delta = new_parent.layer + 1 - unit.layer
        now = utcnow()
        for member in repo.subtree(s, old_path):
            member.path = new_path + member.path[len(old_path):]
            member.layer += delta
            member.updated_at = now
        unit.parent_id = new_parent.id
        unit.row_version += 1
        s.add(OrgUnitHistory(org_unit_id=unit.id, change="moved", before=before,
                             after=unit_data(unit), changed_by=actor.subject, changed_at=now))
        _emit(s, "org_unit.moved", unit.id, {**unit_data(unit), "previous_parent_id":
                                             before["parent_id"], "layer_delta": delta})
        return unit


def get_org_unit(db: Database, actor: Principal, unit_id: str) -> OrgUnit:
    with db.read() as s:
        return _visible_unit(s, resolve_scope(s, actor), unit_id)


def org_unit_history(db: Database, actor: Principal, unit_id: str) -> list[OrgUnitHistory]:
    with db.read() as s:
        _visible_unit(s, resolve_scope(s, actor), unit_id)
        return list(s.scalars(select(OrgUnitHistory).where(OrgUnitHistory.org_unit_id == unit_id)
                              .order_by(OrgUnitHistory.id)))


def list_org_units(db: Database, actor: Principal, filters: Mapping[str, Any]) -> repo.Page:
    with db.read() as s:
        scope = resolve_scope(s, actor)
        if scope.manager_id is not None:
            return repo.Page(items=[], total=0)
        stmt = select(OrgUnit)
        if scope.path:
            stmt = stmt.where(OrgUnit.path.startswith(scope.path))
        if filters.get("subtree_of"):
            root = _visible_unit(s, scope, filters["subtree_of"])
            stmt = stmt.where(OrgUnit.path.startswith(root.path))
        for key in ("parent_id", "layer", "category", "kind"):
            if filters.get(key) is not None:
                stmt = stmt.where(getattr(OrgUnit, key) == filters[key])
        page = repo.paginate(s, stmt.order_by(OrgUnit.layer, OrgUnit.code),
                             filters["page"], filters["page_size"])
        return repo.Page(items=[r[0] for r in page.items], total=page.total)


# --- managers ---------------------------------------------------------------------------------


def manager_data(m: Manager, unit: OrgUnit) -> dict[str, Any]:
    return {
        "manager_id": m.id, "employee_no": m.employee_no, "name": m.name, "email": m.email,
        "language": m.language, "org_unit_id": m.org_unit_id, "layer": unit.layer,
        "category": unit.category, "position": m.position,
        "management_level": m.management_level, "employment_status": m.employment_status,
        "departure_reason": m.departure_reason,
    }


def _visible_manager(s: Session, scope: Scope, manager_id: str, *, lock: bool = False
                     ) -> tuple[Manager, OrgUnit]:
    m = repo.manager_by_id(s, manager_id, lock=lock)
    if m is None:
        raise not_found("manager", manager_id)
    unit = repo.unit_by_id(s, m.org_unit_id)
    assert unit is not None
    if scope.manager_id is not None and scope.manager_id != m.id:
        raise not_found("manager", manager_id)
    if not scope.covers(unit):
        raise not_found("manager", manager_id)
    return m, unit


def create_manager(db: Database, actor: Principal, data: Mapping[str, Any]) -> Manager:
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        unit = _visible_unit(s, scope, data["org_unit_id"])
        if repo.manager_by_employee_no(s, data["employee_no"]) is not None:
            raise ApiProblem(409, "Conflict",
                             f"Employee number {data['employee_no']} is already registered",
                             errors={"employee_no": ["already registered"]})
        position = d.Position(data["position"])
        now = utcnow()
        m = Manager(
            id=new_id(), employee_no=data["employee_no"], name=data["name"],
            email=data["email"], language=data.get("language", "zh"), org_unit_id=unit.id,
            position=position.value,
            management_level=data.get("management_level")
            or d.default_level(position, unit.layer).value,
            employment_status="active", row_version=1, created_at=now, updated_at=now,
        )
        s.add(m)
        try:
            s.flush()
        except IntegrityError as exc:
            raise ApiProblem(409, "Conflict", "Employee number is already registered",
                             errors={"employee_no": ["already registered"]}) from exc
        _emit(s, "manager.registered", m.id, manager_data(m, unit))
        return m


def update_manager(db: Database, actor: Principal, manager_id: str, changes: Mapping[str, Any],
                   expected: int | None) -> Manager:
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        m, unit = _visible_manager(s, scope, manager_id, lock=True)
        check_version(expected, m.row_version)
        if "org_unit_id" in changes:
            unit = _visible_unit(s, scope, changes["org_unit_id"])
            m.org_unit_id = unit.id
        for key in ("name", "email", "language", "management_level"):
            if key in changes:
                setattr(m, key, changes[key])
        if "position" in changes:
            m.position = d.Position(changes["position"]).value
        if "employment_status" in changes:
            m.employment_status = changes["employment_status"]
            m.departure_reason = changes.get("departure_reason")
            if m.employment_status == "departed" and not m.departure_reason:
                raise ApiProblem(422, "Unprocessable Entity", "A departure needs its reason",
                                 errors={"departure_reason": ["required when departed"]})
        m.row_version += 1
        m.updated_at = utcnow()
        _emit(s, "manager.updated", m.id, manager_data(m, unit))
        return m


def get_manager(db: Database, actor: Principal, manager_id: str) -> tuple[Manager, OrgUnit]:
    with db.read() as s:
        return _visible_manager(s, resolve_scope(s, actor), manager_id)


def list_managers(db: Database, actor: Principal, f: Mapping[str, Any]) -> repo.Page:
    with db.read() as s:
        scope = resolve_scope(s, actor)
        unit_path = _visible_unit(s, scope, f["org_unit_id"]).path if f.get("org_unit_id") \
            else None
        stmt = repo.managers_query(
            scope_path=scope.path, org_unit_path=unit_path, layer=f.get("layer"),
            category=f.get("category"), position=f.get("position"),
            management_level=f.get("management_level"),
            employment_status=f.get("employment_status"), manager_id=scope.manager_id,
        )
        return repo.paginate(s, stmt, f["page"], f["page_size"])


# --- indicators and templates -----------------------------------------------------------------


def create_indicator(db: Database, actor: Principal, data: Mapping[str, Any]) -> Indicator:
    with db.unit_of_work() as s:
        require_write(resolve_scope(s, actor))
        if s.get(Indicator, data["code"]) is not None:
            raise ApiProblem(409, "Conflict", f"Indicator {data['code']} exists",
                             errors={"code": ["already used"]})
        ind = Indicator(
            code=data["code"], name=data["name"], unit=data.get("unit", ""),
            kind=d.IndicatorKind(data["kind"]).value,
            direction=d.Direction(data["direction"]).value,
            description=data.get("description", ""), created_at=utcnow(),
        )
        s.add(ind)
        return ind


def list_indicators(db: Database) -> list[Indicator]:
    with db.read() as s:
        return list(s.scalars(select(Indicator).order_by(Indicator.code)))


def _library(s: Session, lines: Iterable[d.TargetLine]) -> dict[str, d.IndicatorDefinition]:
    codes = {line.indicator_code for line in lines}
    return {
        code: d.IndicatorDefinition(
            code=i.code, name=i.name, unit=i.unit, kind=d.IndicatorKind(i.kind),
            direction=d.Direction(i.direction),
        )
        for code, i in repo.indicator_library(s, codes).items()
    }


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def target_line(raw: Mapping[str, Any]) -> d.TargetLine:
    return d.TargetLine(
        indicator_code=raw["indicator_code"], role=d.TargetRole(raw.get("role", "scored")),
        weight=_dec(raw.get("weight")), base=_dec(raw.get("base")),
        target=_dec(raw.get("target")), challenge=_dec(raw.get("challenge")),
        main=bool(raw.get("main", False)), part=raw.get("part", "individual"),
        max_points=_dec(raw.get("max_points")), milestones=raw.get("milestones"),
        description=raw.get("description", ""),
    )


def stored_targets(lines: Iterable[d.TargetLine], library: Mapping[str, d.IndicatorDefinition]
                   ) -> list[dict[str, Any]]:
    """Targets as stored and sent: the indicator's definition travels with each line."""
    out = []
    for line in lines:
        ind = library[line.indicator_code]
        out.append({
            "indicator_code": line.indicator_code, "name": ind.name, "unit": ind.unit,
            "kind": ind.kind.value, "direction": ind.direction.value, "role": line.role.value,
            "weight": None if line.weight is None else str(line.weight),
            "base": None if line.base is None else str(line.base),
            "target": None if line.target is None else str(line.target),
            "challenge": None if line.challenge is None else str(line.challenge),
            "main": line.main, "part": line.part,
            "max_points": None if line.max_points is None else str(line.max_points),
            "milestones": line.milestones, "description": line.description,
        })
    return out


def _validated_targets(s: Session, raw_lines: Iterable[Mapping[str, Any]],
                       *, allow_empty: bool = False) -> list[dict[str, Any]]:
    lines = [target_line(r) for r in raw_lines]
    if not lines and allow_empty:
        return []
    library = _library(s, lines)
    d.validate_targets(lines, library)
    return stored_targets(lines, library)


def create_template(db: Database, actor: Principal, data: Mapping[str, Any]) -> ContractTemplate:
    with db.unit_of_work() as s:
        require_write(resolve_scope(s, actor))
        now = utcnow()
        t = ContractTemplate(
            id=new_id(), name=data["name"], layer=data.get("layer"),
            category=d.validate_category(data["category"]) if data.get("category") else None,
            position=d.Position(data["position"]).value if data.get("position") else None,
            term_years=data.get("term_years", DEFAULT_TERM_YEARS),
            max_consecutive_terms=data.get("max_consecutive_terms",
                                           DEFAULT_MAX_CONSECUTIVE_TERMS),
            signing_deadline_days=data.get("signing_deadline_days",
                                           DEFAULT_SIGNING_DEADLINE_DAYS),
            targets=_validated_targets(s, data.get("targets", []), allow_empty=True),
            row_version=1, created_at=now, updated_at=now,
        )
        s.add(t)
        return t


def replace_template(db: Database, actor: Principal, template_id: str, data: Mapping[str, Any],
                     expected: int | None) -> ContractTemplate:
    with db.unit_of_work() as s:
        require_write(resolve_scope(s, actor))
        t = repo.template_by_id(s, template_id)
        if t is None:
            raise not_found("template", template_id)
        check_version(expected, t.row_version)
        t.name = data["name"]
        t.layer = data.get("layer")
        t.category = d.validate_category(data["category"]) if data.get("category") else None
        t.position = d.Position(data["position"]).value if data.get("position") else None
        t.term_years = data.get("term_years", DEFAULT_TERM_YEARS)
        t.max_consecutive_terms = data.get("max_consecutive_terms",
                                           DEFAULT_MAX_CONSECUTIVE_TERMS)
        t.signing_deadline_days = data.get("signing_deadline_days",
                                           DEFAULT_SIGNING_DEADLINE_DAYS)
        t.targets = _validated_targets(s, data.get("targets", []), allow_empty=True)
        t.row_version += 1
        t.updated_at = utcnow()
        return t


def get_template(db: Database, template_id: str) -> ContractTemplate:
    with db.read() as s:
        t = repo.template_by_id(s, template_id)
        if t is None:
            raise not_found("template", template_id)
        return t


def list_templates(db: Database) -> list[ContractTemplate]:
    with db.read() as s:
        return list(s.scalars(select(ContractTemplate).order_by(ContractTemplate.name)))


# --- tenure contracts -------------------------------------------------------------------------


class UnitCache:
    """Units looked up once per unit of work (bulk issue touches the same few many times)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.units: dict[str, OrgUnit] = {}

    def get(self, unit_id: str) -> OrgUnit:
        if unit_id not in self.units:
            unit = repo.unit_by_id(self.session, unit_id)
            if unit is None:
                raise not_found("org unit", unit_id)
            self.units[unit_id] = unit
        return self.units[unit_id]

    def enterprise_id(self, unit: OrgUnit) -> str:
        """The nearest enterprise (or the group) at or above a unit: departments roll up."""
        for uid in reversed([*repo.ancestor_ids(unit), unit.id]):
            if self.get(uid).kind in (d.UnitKind.ENTERPRISE.value, d.UnitKind.GROUP.value):
                return uid
        return unit.id

    def parent(self, unit: OrgUnit) -> OrgUnit | None:
        return self.get(unit.parent_id) if unit.parent_id else None


def contract_data(c: TenureContract, m: Manager, unit: OrgUnit, units: UnitCache,
                  documents: Iterable[ContractDocument] | None) -> dict[str, Any]:
    """The facts of a contract as events carry them: enough for the appraisal read model."""
    data: dict[str, Any] = {
        "contract_id": c.id, "manager_id": m.id, "employee_no": m.employee_no,
        "manager_name": m.name, "manager_email": m.email, "manager_language": m.language,
        "position": c.position, "management_level": m.management_level,
        "org_unit_id": unit.id, "org_unit_name": unit.name,
        "enterprise_id": units.enterprise_id(unit), "layer": unit.layer,
        "category": unit.category, "start_date": c.start_date, "end_date": c.end_date,
        "term_years": c.term_years, "term_number": c.term_number, "state": c.state,
        "version": c.version, "signatory": c.signatory,
        "signing_deadline": c.signing_deadline,
    }
    if documents is not None:
        data["documents"] = [document_data(doc) for doc in documents]
    return data


def document_data(doc: ContractDocument) -> dict[str, Any]:
    return {
        "document_id": doc.id, "kind": doc.kind, "year": doc.year or None,
        "signed": doc.signed_at is not None, "targets": doc.targets,
    }


def _existing_terms(contracts: Iterable[TenureContract]) -> list[d.ExistingTerm]:
    return [d.ExistingTerm(contract_id=c.id, start=c.start_date, end=c.end_date,
                           state=d.ContractState(c.state)) for c in contracts]


def _consecutive_terms(contracts: Iterable[TenureContract], start: date) -> int:
    """Terms served back to back up to `start` (a gap of a day or more restarts the count)."""
    by_end = {c.end_date: c for c in contracts
              if c.state in (d.ContractState.ACTIVE, d.ContractState.EXPIRED,
                             d.ContractState.RENEWED)}
    previous = by_end.get(start - timedelta(days=1))
    return previous.term_number if previous is not None else 0


def _signatory(units: UnitCache, unit: OrgUnit, position: d.Position,
               override: Mapping[str, Any] | None) -> dict[str, Any]:
    sig = d.employer_signatory(
        unit_view(unit), position,
        unit_view(p) if (p := units.parent(unit)) else None,
        (override["kind"], override.get("reason") or "") if override else None,
    )
    return {"kind": sig.kind, "description": sig.description,
            "signed_by_position": sig.signed_by_position, "authorised_by": sig.authorised_by,
            "override_reason": sig.override_reason}


def _document_rows(contract_id: str, start: date, end: date,
                   targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [
        {"id": new_id(), "contract_id": contract_id, "kind": d.DocumentKind.APPOINTMENT_AGREEMENT
         .value, "year": 0, "targets": [], "row_version": 1},
        {"id": new_id(), "contract_id": contract_id,
         "kind": d.DocumentKind.TENURE_PERFORMANCE_CONTRACT.value, "year": 0, "targets": [],
         "row_version": 1},
    ]
    rows.extend(
        {"id": new_id(), "contract_id": contract_id,
         "kind": d.DocumentKind.ANNUAL_PERFORMANCE_CONTRACT.value, "year": year,
         "targets": targets, "row_version": 1}
        for year in d.annual_years(start, end)
    )
    return rows


def _terms_snapshot(c: TenureContract) -> dict[str, Any]:
    return {"start_date": c.start_date.isoformat(), "end_date": c.end_date.isoformat(),
            "term_years": c.term_years, "position": c.position, "signatory": c.signatory,
            "org_unit_id": c.org_unit_id}


def _visible_contract(s: Session, scope: Scope, contract_id: str, *, lock: bool = False
                      ) -> tuple[TenureContract, Manager, OrgUnit]:
    found = repo.contract_with_people(s, contract_id, lock=lock)
    if found is None:
        raise not_found("contract", contract_id)
    c, m, unit = found
    if not scope.covers(unit) or (scope.manager_id is not None and scope.manager_id != m.id):
        raise not_found("contract", contract_id)
    return c, m, unit


def create_contract(db: Database, actor: Principal, data: Mapping[str, Any]) -> TenureContract:
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        m, unit = _visible_manager(s, scope, data["manager_id"], lock=True)
        if m.employment_status != "active":
            raise ApiProblem(409, "Conflict", "The manager has departed",
                             errors={"manager_id": ["manager is not active"]})
        template = None
        if data.get("template_id"):
            template = repo.template_by_id(s, data["template_id"])
            if template is None:
                raise ApiProblem(422, "Unprocessable Entity", "No such template",
                                 errors={"template_id": ["does not exist"]})
        term_years = data.get("term_years") or (template.term_years if template
                                                else DEFAULT_TERM_YEARS)
        max_terms = data.get("max_consecutive_terms") or (
            template.max_consecutive_terms if template else DEFAULT_MAX_CONSECUTIVE_TERMS)
        start = data["start_date"]
        end = d.term_end(start, term_years)
        position = d.Position(m.position)
        existing = repo.contracts_of(s, m.id, position.value)
        d.check_no_overlap(_existing_terms(existing), start, end)
        so_far = _consecutive_terms(existing, start)
        d.check_renewal(so_far, max_terms)
        units = UnitCache(s)
        targets = (_validated_targets(s, data["targets"]) if data.get("targets")
                   else (template.targets if template else []))
        c = _new_contract(
            s, units, m, unit, start=start, end=end, term_years=term_years,
            term_number=so_far + 1, max_terms=max_terms, template=template,
            signatory_override=data.get("signatory_override"), actor=actor.subject,
            targets=targets, previous=None,
        )
        _emit(s, "contract.drafted", m.id,
              contract_data(c, m, unit, units, repo.documents_of(s, c.id)))
        return c


def _new_contract(s: Session, units: UnitCache, m: Manager, unit: OrgUnit, *, start: date,
                  end: date, term_years: int, term_number: int, max_terms: int,
                  template: ContractTemplate | None, signatory_override: Mapping[str, Any] | None,
                  actor: str, targets: list[dict[str, Any]],
                  previous: TenureContract | None) -> TenureContract:
    now = utcnow()
    c = TenureContract(
        id=new_id(), manager_id=m.id, org_unit_id=unit.id, position=m.position,
        start_date=start, end_date=end, term_years=term_years, state=d.ContractState.DRAFT.value,
        term_number=term_number, max_consecutive_terms=max_terms,
        previous_contract_id=previous.id if previous else None,
        template_id=template.id if template else None,
        signatory=_signatory(units, unit, d.Position(m.position), signatory_override),
        version=1, row_version=1, reminders_sent=[], created_by=actor,
        created_at=now, updated_at=now,
    )
    s.add(c)
    s.flush()
    s.execute(insert(ContractDocument), _document_rows(c.id, start, end, targets))
    s.add(ContractVersion(contract_id=c.id, version=1, terms=_terms_snapshot(c),
                          reason="drafted", approved_by=None, recorded_by=actor,
                          recorded_at=now))
    return c


def _transition(c: TenureContract, action: d.ContractAction) -> None:
    c.state = d.transition(d.ContractState(c.state), action).value
    c.row_version += 1
    c.updated_at = utcnow()


def issue_contract(db: Database, actor: Principal, contract_id: str, expected: int | None,
                   today: date | None = None) -> TenureContract:
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        c, m, unit = _visible_contract(s, scope, contract_id, lock=True)
        check_version(expected, c.row_version)
        _transition(c, d.ContractAction.ISSUE)
        template = repo.template_by_id(s, c.template_id) if c.template_id else None
        c.issued_on = today or date.today()
        c.signing_deadline = c.issued_on + timedelta(
            days=template.signing_deadline_days if template else DEFAULT_SIGNING_DEADLINE_DAYS)
        _emit(s, "contract.issued", m.id,
              contract_data(c, m, unit, UnitCache(s), repo.documents_of(s, c.id)))
        return c


def sign_contract(db: Database, actor: Principal, contract_id: str, expected: int | None,
                  signed_by: str | None) -> TenureContract:
    """The manager signs (or HR records the signature): the agreement, the tenure contract
    and the first year's annual contract are signed together; its targets lock."""
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        c, m, unit = _visible_contract(s, scope, contract_id, lock=True)
        if not scope.can_write and scope.manager_id != m.id:
            raise ApiProblem(403, "Forbidden", "Only the manager or HR can sign this contract")
        check_version(expected, c.row_version)
        for other in repo.contracts_of(s, m.id, c.position):
            if other.id != c.id and other.state == d.ContractState.ACTIVE:
                raise d.ContractOverlap(
                    f"Manager already has active contract {other.id} for this position")
        documents = repo.documents_of(s, c.id)
        first_annual = next((doc for doc in documents
                             if doc.kind == d.DocumentKind.ANNUAL_PERFORMANCE_CONTRACT), None)
        d.transition(d.ContractState(c.state), d.ContractAction.SIGN)  # legal at all?
        if first_annual is not None:
            _check_signable_targets(s, first_annual)
        _transition(c, d.ContractAction.SIGN)
        now = utcnow()
        c.signed_at = now
        c.signed_by = signed_by or actor.subject
        for doc in documents:
            if doc.year == 0 or doc is first_annual:
                doc.signed_at = now
                doc.row_version += 1
        _emit(s, "contract.signed", m.id, contract_data(c, m, unit, UnitCache(s), documents))
        return c


def _check_signable_targets(s: Session, doc: ContractDocument) -> None:
    lines = [target_line(t) for t in doc.targets]
    try:
        d.validate_targets(lines, _library(s, lines))
    except d.TargetsInvalid as exc:
        raise d.TargetsInvalid(
            f"The {doc.year} annual performance contract cannot be signed: its targets are "
            f"incomplete ({exc.detail})", errors=exc.errors,
        ) from exc


def end_contract(db: Database, actor: Principal, contract_id: str, action: d.ContractAction,
                 reason: str, expected: int | None) -> TenureContract:
    """Terminate an active contract, or withdraw a draft or unsigned one."""
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        c, m, unit = _visible_contract(s, scope, contract_id, lock=True)
        check_version(expected, c.row_version)
        end_in_session(s, c, m, unit, action, reason)
        return c


def end_in_session(s: Session, c: TenureContract, m: Manager, unit: OrgUnit,
                   action: d.ContractAction, reason: str, **extra: Any) -> None:
    previous = c.state
    _transition(c, action)
    c.ended_at = utcnow()
    c.end_reason = reason
    data = contract_data(c, m, unit, UnitCache(s), None)
    data.update(reason=reason, previous_state=previous, action=action.value, **extra)
    _emit(s, "contract.terminated", m.id, data)


def renew_contract(db: Database, actor: Principal, contract_id: str, expected: int | None,
                   term_years: int | None) -> TenureContract:
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        c, m, unit = _visible_contract(s, scope, contract_id, lock=True)
        check_version(expected, c.row_version)
        return renew_in_session(s, c, m, unit, actor.subject, term_years)


def renew_in_session(s: Session, c: TenureContract, m: Manager, unit: OrgUnit, actor: str,
                     term_years: int | None, **extra: Any) -> TenureContract:
    d.check_renewal(c.term_number, c.max_consecutive_terms)
    _transition(c, d.ContractAction.RENEW)
    start = c.end_date + timedelta(days=1)
    years = term_years or c.term_years
    end = d.term_end(start, years)
    others = [o for o in repo.contracts_of(s, m.id, c.position) if o.id != c.id]
    d.check_no_overlap(_existing_terms(others), start, end)
    template = repo.template_by_id(s, c.template_id) if c.template_id else None
    units = UnitCache(s)
    successor = _new_contract(
        s, units, m, repo.unit_by_id(s, m.org_unit_id) or unit, start=start, end=end,
        term_years=years, term_number=c.term_number + 1,
        max_terms=c.max_consecutive_terms, template=template, signatory_override=None,
        actor=actor, targets=template.targets if template else [], previous=c,
    )
    data = contract_data(c, m, unit, units, None)
    data.update(successor_contract_id=successor.id, **extra)
    _emit(s, "contract.renewed", m.id, data)
    _emit(s, "contract.drafted", m.id,
          contract_data(successor, m, unit, units, repo.documents_of(s, successor.id)))
    return successor


def amend_contract(db: Database, actor: Principal, contract_id: str, expected: int | None,
                   data: Mapping[str, Any]) -> TenureContract:
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        c, m, unit = _visible_contract(s, scope, contract_id, lock=True)
        check_version(expected, c.row_version)
        d.check_amendment(d.ContractState(c.state), data.get("reason", ""),
                          data.get("approved_by", ""))
        units = UnitCache(s)
        if "end_date" in data:
            if data["end_date"] < c.start_date:
                raise ApiProblem(422, "Unprocessable Entity", "The end precedes the start",
                                 errors={"end_date": ["must not be before start_date"]})
            others = [o for o in repo.contracts_of(s, m.id, c.position) if o.id != c.id]
            d.check_no_overlap(_existing_terms(others), c.start_date, data["end_date"])
            c.end_date = data["end_date"]
        if "signatory_override" in data:
            c.signatory = _signatory(units, unit, d.Position(c.position),
                                     data["signatory_override"])
        c.version = d.next_version(c.version)
        c.row_version += 1
        c.updated_at = utcnow()
        s.add(ContractVersion(contract_id=c.id, version=c.version, terms=_terms_snapshot(c),
                              reason=data["reason"], approved_by=data["approved_by"],
                              recorded_by=actor.subject, recorded_at=c.updated_at))
        payload = contract_data(c, m, unit, units, None)
        payload.update(reason=data["reason"], approved_by=data["approved_by"])
        _emit(s, "contract.amended", m.id, payload)
        return c


def get_contract(db: Database, actor: Principal, contract_id: str
                 ) -> tuple[TenureContract, Manager, OrgUnit, list[ContractDocument]]:
    with db.read() as s:
        c, m, unit = _visible_contract(s, resolve_scope(s, actor), contract_id)
        return c, m, unit, repo.documents_of(s, c.id)


def contract_versions(db: Database, actor: Principal, contract_id: str) -> list[ContractVersion]:
    with db.read() as s:
        _visible_contract(s, resolve_scope(s, actor), contract_id)
        return list(s.scalars(select(ContractVersion)
                              .where(ContractVersion.contract_id == contract_id)
                              .order_by(ContractVersion.version)))


def list_contracts(db: Database, actor: Principal, f: Mapping[str, Any]) -> repo.Page:
    with db.read() as s:
        scope = resolve_scope(s, actor)
        unit_path = _visible_unit(s, scope, f["org_unit_id"]).path if f.get("org_unit_id") \
            else None
        if scope.manager_id is not None and f.get("manager_id") not in (None, scope.manager_id):
            return repo.Page(items=[], total=0)
        stmt = repo.contracts_query(
            scope_path=scope.path, org_unit_path=unit_path, layer=f.get("layer"),
            category=f.get("category"), position=f.get("position"), state=f.get("state"),
            year=f.get("year"), manager_id=scope.manager_id or f.get("manager_id"),
        )
        return repo.paginate(s, stmt, f["page"], f["page_size"])


def set_targets(db: Database, actor: Principal, contract_id: str, document_id: str,
                raw_lines: list[Mapping[str, Any]], expected: int | None) -> ContractDocument:
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        c, m, unit = _visible_contract(s, scope, contract_id, lock=True)
        doc = _document(s, c, document_id)
        check_version(expected, doc.row_version)
        if doc.kind == d.DocumentKind.APPOINTMENT_AGREEMENT:
            raise ApiProblem(422, "Unprocessable Entity",
                             "The appointment agreement carries no targets",
                             errors={"document_id": ["not a performance contract"]})
        d.check_targets_editable(doc.signed_at is not None)
        if c.state in d.TERMINAL_STATES:
            raise d.IllegalTransition(f"Targets of a {c.state} contract cannot change")
        doc.targets = _validated_targets(s, raw_lines)
        doc.row_version += 1
        _emit(s, "targets.set", m.id, {
            **contract_data(c, m, unit, UnitCache(s), None), **document_data(doc),
            "locked": False})
        return doc


def sign_document(db: Database, actor: Principal, contract_id: str, document_id: str,
                  expected: int | None) -> ContractDocument:
    """Sign a later year's annual performance contract; its targets lock."""
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        c, m, unit = _visible_contract(s, scope, contract_id, lock=True)
        if not scope.can_write and scope.manager_id != m.id:
            raise ApiProblem(403, "Forbidden", "Only the manager or HR can sign this contract")
        doc = _document(s, c, document_id)
        check_version(expected, doc.row_version)
        if c.state != d.ContractState.ACTIVE:
            raise d.IllegalTransition(
                f"An annual contract is signed under an active tenure contract, not {c.state}")
        d.check_targets_editable(doc.signed_at is not None)
        _check_signable_targets(s, doc)
        doc.signed_at = utcnow()
        doc.row_version += 1
        _emit(s, "targets.set", m.id, {
            **contract_data(c, m, unit, UnitCache(s), None), **document_data(doc),
            "locked": True})
        return doc


def _document(s: Session, c: TenureContract, document_id: str) -> ContractDocument:
    doc = s.get(ContractDocument, document_id)
    if doc is None or doc.contract_id != c.id:
        raise not_found("document", document_id)
    return doc


# --- expiry -----------------------------------------------------------------------------------


def run_expiry(db: Database, today: date, thresholds: tuple[int, ...] = (90, 30, 7)
               ) -> dict[str, int]:
    """Mark contracts past their end expired; record each 90/30/7-day reminder once."""
    expired = expiring = 0
    with db.unit_of_work() as s:
        units = UnitCache(s)
        for c in repo.active_or_ending(s, today + timedelta(days=max(thresholds))):
            m = repo.manager_by_id(s, c.manager_id)
            unit = units.get(c.org_unit_id)
            assert m is not None
            if d.is_past_end(c.end_date, today):
                _transition(c, d.ContractAction.EXPIRE)
                c.ended_at = utcnow()
                c.end_reason = "term ended"
                _emit(s, "contract.expired", m.id, contract_data(c, m, unit, units, None))
                expired += 1
                continue
            due = d.expiry_reminders_due(c.end_date, today, set(c.reminders_sent), thresholds)
            if not due:
                continue
            # Reminders for thresholds already passed are recorded as sent without a notice.
            passed = {t for t in thresholds if (c.end_date - today).days <= t}
            c.reminders_sent = sorted(set(c.reminders_sent) | passed)
            for days_left in due:
                data = contract_data(c, m, unit, units, None)
                data.update(days_left=days_left,
                            days_remaining=(c.end_date - today).days)
                _emit(s, "contract.expiring", m.id, data)
                expiring += 1
    return {"expired": expired, "expiring": expiring}


# --- bulk issue -------------------------------------------------------------------------------


def start_bulk_issue(db: Database, actor: Principal, data: Mapping[str, Any]) -> BulkIssueJob:
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        if repo.template_by_id(s, data["template_id"]) is None:
            raise ApiProblem(422, "Unprocessable Entity", "No such template",
                             errors={"template_id": ["does not exist"]})
        criteria = dict(data.get("filter") or {})
        if criteria.get("org_unit_id"):
            _visible_unit(s, scope, criteria["org_unit_id"])
        job = BulkIssueJob(
            id=new_id(), template_id=data["template_id"], criteria=criteria,
            start_date=data["start_date"], status="queued", total=0, processed=0, issued=0,
            skipped=0, decisions=[], requested_by=actor.subject,
            org_scope=actor.org_scope, created_at=utcnow(),
        )
        s.add(job)
        return job


def start_bulk_issue_worker(db: Database, job_id: str) -> threading.Thread:
    """Run the job beside the request; its progress lives in the job row."""
    worker = threading.Thread(target=run_bulk_issue, args=(db, job_id),
                              name=f"bulk-issue-{job_id}", daemon=True)
    worker.start()
    return worker


def run_bulk_issue(db: Database, job_id: str, today: date | None = None) -> None:
    today = today or date.today()
    try:
        _run_bulk_issue(db, job_id, today)
    except Exception as exc:  # the job records any failure; the requester reads it there
        log.exception("bulk issue failed", extra={"job_id": job_id})
        with db.unit_of_work() as s:
            s.execute(update(BulkIssueJob).where(BulkIssueJob.id == job_id).values(
                status="failed", error=f"{type(exc).__name__}: {exc}", finished_at=utcnow()))


def _run_bulk_issue(db: Database, job_id: str, today: date) -> None:
    with db.unit_of_work() as s:
        job = s.get(BulkIssueJob, job_id)
        if job is None or job.status not in ("queued",):
            return
        job.status = "running"
        template = repo.template_by_id(s, job.template_id)
        assert template is not None
        scope_path = repo.unit_by_id(s, job.org_scope).path if job.org_scope else None
        crit = job.criteria
        unit_path = (repo.unit_by_id(s, crit["org_unit_id"]).path  # type: ignore[union-attr]
                     if crit.get("org_unit_id") else None)
        rows = s.execute(repo.managers_query(
            scope_path=scope_path, org_unit_path=unit_path, layer=crit.get("layer"),
            category=crit.get("category"), position=crit.get("position"),
            management_level=crit.get("management_level"),
        )).all()
        managers = {m.id: (m, u) for m, u in rows}
        ids = list(managers)
        contracts_by_manager: dict[str, list[TenureContract]] = {}
        for chunk_start in range(0, len(ids), 900):
            for c in s.scalars(select(TenureContract).where(
                    TenureContract.manager_id.in_(ids[chunk_start:chunk_start + 900]))):
                contracts_by_manager.setdefault(c.manager_id, []).append(c)
        start = job.start_date
        existing = {mid: _existing_terms(c for c in contracts_by_manager.get(mid, [])
                                         if c.position == managers[mid][0].position)
                    for mid in ids}
        consecutive = {mid: _consecutive_terms(
            [c for c in contracts_by_manager.get(mid, [])
             if c.position == managers[mid][0].position], start) for mid in ids}
        candidates = [d.BulkCandidate(
            manager_id=m.id, employee_no=m.employee_no, position=d.Position(m.position),
            layer=u.layer, category=u.category, active=m.employment_status == "active",
        ) for m, u in rows]
        template_view = d.ContractTemplateView(
            id=template.id, name=template.name, layer=template.layer,
            category=template.category,
            position=d.Position(template.position) if template.position else None,
            term_years=template.term_years, max_consecutive_terms=template.max_consecutive_terms,
            signing_deadline_days=template.signing_deadline_days,
            targets=tuple(target_line(t) for t in template.targets),
        )
        decisions = d.plan_bulk_issue(candidates, template_view, start, existing, consecutive)
        job.total = len(decisions)
        job.decisions = [{"manager_id": x.manager_id, "employee_no": x.employee_no,
                          "issued": x.issue, "reason": x.reason} for x in decisions]
        job.skipped = sum(1 for x in decisions if not x.issue)
        job.processed = job.skipped
        to_issue = [x.manager_id for x in decisions if x.issue]
        template_data = {
            "id": template.id, "term_years": template.term_years,
            "max_terms": template.max_consecutive_terms,
            "deadline_days": template.signing_deadline_days, "targets": template.targets,
        }
        actor = job.requested_by
    end = d.term_end(start, template_data["term_years"])
    for chunk_start in range(0, len(to_issue), BULK_CHUNK):
        chunk = to_issue[chunk_start:chunk_start + BULK_CHUNK]
        with db.unit_of_work() as s:
            units = UnitCache(s)
            for _m, u in (managers[mid] for mid in chunk):
                units.units.setdefault(u.id, u)
            _issue_chunk(s, units, [managers[mid] for mid in chunk], consecutive, start, end,
                         template_data, actor, today)
            s.execute(update(BulkIssueJob).where(BulkIssueJob.id == job_id).values(
                processed=BulkIssueJob.processed + len(chunk),
                issued=BulkIssueJob.issued + len(chunk)))
    with db.unit_of_work() as s:
        s.execute(update(BulkIssueJob).where(BulkIssueJob.id == job_id).values(
            status="done", finished_at=utcnow()))


def _issue_chunk(s: Session, units: UnitCache, members: list[tuple[Manager, OrgUnit]],
                 consecutive: Mapping[str, int], start: date, end: date,
                 template: Mapping[str, Any], actor: str, today: date) -> None:
    """Insert one chunk of contracts already issued for signature, with their events.

    Rows are plain dicts written by COPY on PostgreSQL: building ORM objects and sending one
    statement per row was most of the cost of a 10,000-manager issue."""
    now = utcnow()
    deadline = today + timedelta(days=template["deadline_days"])
    contracts, documents, versions, events = [], [], [], []
    signatories: dict[tuple[str, str], dict[str, Any]] = {}
    for m, unit in members:
        key = (unit.id, m.position)
        if key not in signatories:
            signatories[key] = _signatory(units, unit, d.Position(m.position), None)
        row = {
            "id": new_id(), "manager_id": m.id, "org_unit_id": unit.id, "position": m.position,
            "start_date": start, "end_date": end, "term_years": template["term_years"],
            "state": d.ContractState.PENDING_SIGNATURE.value,
            "term_number": consecutive.get(m.id, 0) + 1,
            "max_consecutive_terms": template["max_terms"], "previous_contract_id": None,
            "template_id": template["id"], "signatory": signatories[key], "issued_on": today,
            "signing_deadline": deadline, "signed_at": None, "signed_by": None,
            "ended_at": None, "end_reason": None, "version": 1, "row_version": 1,
            "reminders_sent": [], "created_by": actor, "created_at": now, "updated_at": now,
        }
        contract = SimpleNamespace(**row)
        docs = _document_rows(row["id"], start, end, template["targets"])
        contracts.append(row)
        documents.extend(docs)
        versions.append({"contract_id": row["id"], "version": 1,
                         "terms": _terms_snapshot(contract),  # type: ignore[arg-type]
                         "reason": "issued in bulk", "approved_by": None, "recorded_by": actor,
                         "recorded_at": now})
        doc_views = [SimpleNamespace(**doc, signed_at=None) for doc in docs]
        events.append(outbox_row("contract.issued", m.id, contract_data(
            contract, m, unit, units, doc_views)))  # type: ignore[arg-type]
    bulk_insert(s, TenureContract.__table__, contracts)
    bulk_insert(s, ContractDocument.__table__, documents)
    bulk_insert(s, ContractVersion.__table__, versions)
    bulk_insert(s, outbox, events)


def get_bulk_job(db: Database, actor: Principal, job_id: str) -> BulkIssueJob:
    with db.read() as s:
        scope = resolve_scope(s, actor)
        job = s.get(BulkIssueJob, job_id)
        if job is None or not scope.can_write or (
                scope.path is not None and job.org_scope != actor.org_scope):
            raise not_found("bulk issue job", job_id)
        return job


# --- coverage ---------------------------------------------------------------------------------

_STATE_RANK = {"active": 3, "pending_signature": 2, "draft": 1}


def coverage_report(db: Database, actor: Principal, today: date, org_unit_id: str | None,
                    group_by: tuple[str, ...]) -> d.CoverageReport:
    with db.read() as s:
        scope = resolve_scope(s, actor)
        path = scope.path
        if org_unit_id:
            path = _visible_unit(s, scope, org_unit_id).path
        units = UnitCache(s)
        best: dict[str, tuple[Manager, OrgUnit, TenureContract | None]] = {}
        for m, unit, c in repo.coverage_rows(s, path):
            units.units.setdefault(unit.id, unit)
            held = best.get(m.id)
            if held is None or (c is not None and (held[2] is None or _STATE_RANK[c.state]
                                                   > _STATE_RANK[held[2].state])):
                best[m.id] = (m, unit, c)
        rows = [
            d.CoverageInput(
                manager_id=m.id, employee_no=m.employee_no, name=m.name,
                enterprise_id=units.enterprise_id(unit), layer=unit.layer,
                category=unit.category, position=m.position,
                contract_state=d.ContractState(c.state) if c else None,
                issued_on=c.issued_on if c else None,
                signing_deadline=c.signing_deadline if c else None,
            )
            for m, unit, c in best.values()
        ]
        return d.compute_coverage(rows, today, group_by)
