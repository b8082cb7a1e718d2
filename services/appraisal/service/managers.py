"""The read model's managers (kept from contract events): one, a list, and departures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.appraisal import domain as d
from services.appraisal.events import record_departure
from services.appraisal.models import Contract, Departure, Manager, OrgUnit, TargetSet
from services.appraisal.service.common import (
    Page,
    load_scheme_book,
    paginate,
    require_write,
    resolve_scope,
    visible_manager,
    visible_unit,
)
from shared.auth import Principal
from shared.db import Database


def manager_view(s: Session, m: Manager) -> dict[str, Any]:
    contracts = list(s.scalars(select(Contract).where(Contract.manager_id == m.id)
                               .order_by(Contract.start_date)))
    book = load_scheme_book(s)
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
            "appraisable": appraisable_view(book, c,
                                            [t for t in sets if t.contract_id == c.id]),
        } for c in contracts],
    }


def appraisable_view(book: d.SchemeBook, c: Contract, sets: Sequence[TargetSet]
                     ) -> dict[str, Any]:
    """Whether this service can score the contract under the schemes that apply to it."""
    annual = {t.year: t.targets for t in sets if t.kind == "annual"}
    tenure = next((t.targets for t in sets if t.kind == "tenure"), None)
    return d.contract_appraisability(
        lambda year: book.resolve(c.layer, c.category, c.position, year=year)[0],
        c.position, annual, tenure, c.end_date.year).as_dict()


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
