"""Coverage of the tenure system: how many managers, and which enterprises, have signed."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from services.contracts.domain.vocabulary import ContractState

CENT = Decimal("0.01")
GROUP_BY_FIELDS: tuple[str, ...] = ("layer", "category", "position")
METRIC_COLUMNS: tuple[str, ...] = (
    "managers", "active", "signing_rate", "enterprises", "enterprises_in_force",
    "enterprise_share",
)


class CoverageInput(NamedTuple):
    """One manager in scope with the contract that best represents them (or none).

    A named tuple rather than a dataclass: a report builds one per manager (100,000 in a
    large group), and a tuple is built several times faster.
    """

    manager_id: str
    employee_no: str
    name: str
    enterprise_id: str
    layer: int
    category: str
    position: str
    contract_state: ContractState | None
    issued_on: date | None
    signing_deadline: date | None


class CoverageCount(NamedTuple):
    """How many in-scope managers of one enterprise share a layer, category and position,
    and how many of them hold an active contract: what the report is computed from.

    A large group's report is counted by the database (one row per unit and position, not
    per manager); `compute_coverage` makes the same counts from one row per manager.
    """

    enterprise_id: str
    layer: int
    category: str
    position: str
    managers: int
    active: int


@dataclass(frozen=True)
class CoverageGroup:
    """Counts for one group (or the totals, whose key is empty); rates in percent."""

    key: dict[str, Any]
    managers: int
    active: int
    signing_rate: Decimal | None
    enterprises: int
    enterprises_in_force: int
    enterprise_share: Decimal | None


@dataclass(frozen=True)
class OverdueSignature:
    """A contract sent for signature whose signing deadline has passed."""

    manager_id: str
    employee_no: str
    name: str
    enterprise_id: str
    position: str
    issued_on: date | None
    signing_deadline: date
    days_overdue: int


@dataclass(frozen=True)
class CoverageReport:
    as_of: date
    group_by: tuple[str, ...]
    totals: CoverageGroup
    groups: tuple[CoverageGroup, ...] = field(default_factory=tuple)
    overdue: tuple[OverdueSignature, ...] = field(default_factory=tuple)


def percent(part: int, whole: int) -> Decimal | None:
    """part / whole in percent, quantized to 0.01 half up; None when there is no whole."""
    if whole == 0:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(CENT, rounding=ROUND_HALF_UP)


class _Tally:
    """Running counts for one group: managers, active ones, and each enterprise's status."""

    def __init__(self) -> None:
        self.managers = 0
        self.active = 0
        self.enterprise_in_force: dict[str, bool] = {}

    def add(self, enterprise_id: str, managers: int, active: int) -> None:
        self.managers += managers
        self.active += active
        self.enterprise_in_force[enterprise_id] = (
            self.enterprise_in_force.get(enterprise_id, True) and active == managers)

    def group(self, key: dict[str, Any]) -> CoverageGroup:
        enterprises = len(self.enterprise_in_force)
        in_force = sum(self.enterprise_in_force.values())
        return CoverageGroup(
            key=key, managers=self.managers, active=self.active,
            signing_rate=percent(self.active, self.managers), enterprises=enterprises,
            enterprises_in_force=in_force, enterprise_share=percent(in_force, enterprises),
        )


def _key_value(row: CoverageCount, name: str) -> Any:
    value = getattr(row, name)
    return value if name == "layer" or type(value) is str else str(value)


def _check_group_by(group_by: Sequence[str]) -> tuple[str, ...]:
    dims = tuple(group_by)
    unknown = [d for d in dims if d not in GROUP_BY_FIELDS]
    if unknown or len(set(dims)) != len(dims):
        raise ValueError(f"group_by takes distinct fields of {GROUP_BY_FIELDS}, got {dims}")
    return dims


def overdue_signatures(rows: Iterable[CoverageInput], today: date
                       ) -> tuple[OverdueSignature, ...]:
    """Rows pending signature whose deadline is before `today` (on the deadline itself there
    is still time), most overdue first, then by employee number."""
    overdue = [
        OverdueSignature(
            manager_id=row.manager_id, employee_no=row.employee_no, name=row.name,
            enterprise_id=row.enterprise_id, position=str(row.position),
            issued_on=row.issued_on, signing_deadline=row.signing_deadline,
            days_overdue=(today - row.signing_deadline).days,
        )
        for row in rows
        if row.contract_state == ContractState.PENDING_SIGNATURE
        and row.signing_deadline is not None and row.signing_deadline < today
    ]
    overdue.sort(key=lambda o: (-o.days_overdue, o.employee_no, o.manager_id))
    return tuple(overdue)


def coverage_from_counts(counts: Iterable[CoverageCount],
                         overdue: Iterable[OverdueSignature], today: date,
                         group_by: Sequence[str] = GROUP_BY_FIELDS) -> CoverageReport:
    """Signing rate and enterprises in force, in total and per group, from counts.

    - Signing rate = managers with an active contract / managers in scope, in percent; a
      group of no managers has no rate (None), not a division by zero.
    - An enterprise is in force, within a group or the totals, when every in-scope manager
      of it there has an active contract: one unsigned manager keeps it out.
    - Groups come sorted by their key; `overdue` is listed as given.
    Several counts for the same enterprise and key add up.
    """
    dims = _check_group_by(group_by)
    totals = _Tally()
    tallies: dict[tuple[Any, ...], _Tally] = {}
    for count in counts:
        totals.add(count.enterprise_id, count.managers, count.active)
        key = tuple([_key_value(count, d) for d in dims])
        tally = tallies.get(key)
        if tally is None:  # not setdefault: that would build a _Tally for every count
            tally = tallies[key] = _Tally()
        tally.add(count.enterprise_id, count.managers, count.active)
    groups = tuple(tallies[key].group(dict(zip(dims, key, strict=True)))
                   for key in sorted(tallies))
    return CoverageReport(as_of=today, group_by=dims, totals=totals.group({}),
                          groups=groups, overdue=tuple(overdue))


def compute_coverage(rows: Iterable[CoverageInput], today: date,
                     group_by: Sequence[str] = GROUP_BY_FIELDS) -> CoverageReport:
    """The report from one row per manager and contract (coverage_from_counts' rules).

    - A manager given in several rows counts once (with the first row's layer, category
      and position) and is active if any of the rows is.
    - Overdue: rows pending signature whose deadline is before `today` (overdue_signatures).
    """
    _check_group_by(group_by)
    rows = list(rows)
    first: dict[str, CoverageInput] = {}
    active: dict[str, bool] = {}
    for row in rows:
        is_active = row.contract_state == ContractState.ACTIVE
        if row.manager_id not in first:
            first[row.manager_id] = row
            active[row.manager_id] = is_active
        elif is_active:
            active[row.manager_id] = True
    counts = [CoverageCount(row.enterprise_id, row.layer, row.category, row.position, 1,
                            int(active[manager_id]))
              for manager_id, row in first.items()]
    return coverage_from_counts(counts, overdue_signatures(rows, today), today, group_by)


def _cell(value: Any) -> Any:
    return "" if value is None else str(value)


def coverage_rows_csv(report: CoverageReport) -> str:
    """The groups as CSV (RFC 4180): the group-by columns, then the counts and rates.

    One row per group in the report's order; a rate without managers is an empty cell. The
    totals are in the JSON report, not here, so every CSV row is a group of the same shape.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*report.group_by, *METRIC_COLUMNS])
    for g in report.groups:
        writer.writerow([*(_cell(g.key[d]) for d in report.group_by),
                         *(_cell(getattr(g, m)) for m in METRIC_COLUMNS)])
    return out.getvalue()


def _group_dict(g: CoverageGroup) -> dict[str, Any]:
    return {"key": dict(g.key), "managers": g.managers, "active": g.active,
            "signing_rate": _decimal(g.signing_rate), "enterprises": g.enterprises,
            "enterprises_in_force": g.enterprises_in_force,
            "enterprise_share": _decimal(g.enterprise_share)}


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def coverage_as_dict(report: CoverageReport) -> dict[str, Any]:
    """The report as JSON-ready data: rates as strings ("33.33"), dates as ISO strings."""
    return {
        "as_of": report.as_of.isoformat(),
        "group_by": list(report.group_by),
        "totals": _group_dict(report.totals),
        "groups": [_group_dict(g) for g in report.groups],
        "overdue": [
            {"manager_id": o.manager_id, "employee_no": o.employee_no, "name": o.name,
             "enterprise_id": o.enterprise_id, "position": o.position,
             "issued_on": o.issued_on.isoformat() if o.issued_on else None,
             "signing_deadline": o.signing_deadline.isoformat(),
             "days_overdue": o.days_overdue}
            for o in report.overdue
        ],
    }
