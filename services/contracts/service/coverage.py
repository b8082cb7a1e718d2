"""The coverage report: who in scope holds an active contract.

For a group of 100,000 managers this reads one row of plain columns per manager and
contract (no ORM objects: loading three mapped objects a row cost seconds), finds each
unit's enterprise once per unit rather than once per manager, and hands the domain one
light tuple per manager.
"""


from __future__ import annotations

from datetime import date

from services.contracts import domain as d
from services.contracts import repository as repo
from services.contracts.service.common import (
    _visible_unit,
    resolve_scope,
)
from shared.auth import Principal
from shared.db import Database

# --- coverage ---------------------------------------------------------------------------------

_STATE_RANK = {None: 0, "draft": 1, "pending_signature": 2, "active": 3}
_STATES: dict[str | None, d.ContractState | None] = {
    None: None, **{s.value: s for s in d.ContractState}}


def coverage_report(db: Database, actor: Principal, today: date, org_unit_id: str | None,
                    group_by: tuple[str, ...]) -> d.CoverageReport:
    with db.read() as s:
        scope = resolve_scope(s, actor)
        path = scope.path
        if org_unit_id:
            path = _visible_unit(s, scope, org_unit_id).path
        enterprise_of = repo.enterprise_by_unit(s)
        # Each manager once, with the contract that best represents them: active before
        # pending signature before draft (the first row wins a tie: rows come by employee
        # number, then as the database returns them).
        best: dict[str, tuple[object, ...]] = {}
        for row in repo.coverage_columns(s, path):
            held = best.get(row[0])
            if held is None or _STATE_RANK[row[8]] > _STATE_RANK[held[8]]:  # type: ignore[index]
                best[row[0]] = row
        rows = [
            d.CoverageInput(mid, employee_no, name, enterprise_of.get(unit_id, unit_id), layer,
                            category, position,
                            _STATES[state],
                            issued_on, deadline)
            for (mid, employee_no, name, position, unit_id, layer, category, _, state,
                 issued_on, deadline) in best.values()
        ]
        return d.compute_coverage(rows, today, group_by)
