"""The coverage report: who in scope holds an active contract."""


from __future__ import annotations

from datetime import date

from services.contracts import domain as d
from services.contracts import repository as repo
from services.contracts.models import (
    Manager,
    OrgUnit,
    TenureContract,
)
from services.contracts.service.common import (
    _visible_unit,
    resolve_scope,
)
from services.contracts.service.contracts import (
    UnitCache,
)
from shared.auth import Principal
from shared.db import Database

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
