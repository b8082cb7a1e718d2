"""The coverage report: who in scope holds an active contract.

For a group of 100,000 managers the database does the counting: active managers by unit
and position, with how many hold an active contract (a few rows per unit), and only the
managers the report names one by one, the overdue signatures. Each unit's enterprise,
layer and category are found once per unit; the domain turns the counts into rates and groups
(domain.coverage_from_counts), the same rules `compute_coverage` applies to one row per
manager.
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


def coverage_report(db: Database, actor: Principal, today: date, org_unit_id: str | None,
                    group_by: tuple[str, ...]) -> d.CoverageReport:
    """A manager counts as active when they hold an active contract for their current
    position; one awaiting signature past its deadline, and none active, is overdue."""
    with db.read() as s:
        scope = resolve_scope(s, actor)
        path = scope.path
        if org_unit_id:
            path = _visible_unit(s, scope, org_unit_id).path
        units = repo.coverage_units(s)
        counts = [d.CoverageCount(*units[unit_id], position, managers, active)
                  for unit_id, position, managers, active in repo.coverage_counts(s, path)]
        unsigned = [
            d.CoverageInput(mid, employee_no, name, *units[unit_id], position,
                            d.ContractState.PENDING_SIGNATURE, issued_on, deadline)
            for mid, employee_no, name, unit_id, position, issued_on, deadline
            in repo.overdue_unsigned(s, path, today)
        ]
    return d.coverage_from_counts(counts, d.overdue_signatures(unsigned, today), today,
                                  group_by)
