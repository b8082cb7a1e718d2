"""Use cases of the org tree: units, moves (with history), listing."""


from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from services.contracts import domain as d
from services.contracts import repository as repo
from services.contracts.models import (
    OrgUnit,
    OrgUnitHistory,
)
from services.contracts.service.common import (
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
from shared.errors import ApiProblem

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
