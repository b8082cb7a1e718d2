"""Use cases of managers: register, change, read, list."""


from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.contracts import domain as d
from services.contracts import repository as repo
from services.contracts.models import (
    Manager,
    OrgUnit,
)
from services.contracts.service.common import (
    Scope,
    _emit,
    _visible_unit,
    check_version,
    new_id,
    require_write,
    resolve_scope,
    utcnow,
)
from shared.auth import Principal
from shared.db import Database
from shared.errors import ApiProblem, not_found

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
            text=f.get("q"),
        )
        return repo.paginate(s, stmt, f["page"], f["page_size"])
