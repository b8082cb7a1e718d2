"""The regulator's figures: grades, bottom-grade adjustments and exits by layer and category.

Grade distribution, bottom-grade adjustments and appraisal exits by reason, as JSON or CSV.

Only published results count (a result under appeal counts as last published until the
appeal is decided). Departures for other reasons are listed beside the exits, never in
them: the domain's `exit_statistics` keeps the two apart.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select

from services.appraisal import domain as d
from services.appraisal.models import Appeal, Appraisal, Departure, OrgUnit
from services.appraisal.service.common import resolve_scope, visible_unit
from shared.auth import Principal
from shared.db import Database
from shared.errors import ApiProblem

GRADES = [g.value for g in d.GRADE_ORDER]
EXIT_RULES = [r.value for r in d.EXIT_RULE_PRECEDENCE]
DEPARTURE_REASONS = [r.value for r in d.DepartureReason]
HUNDRED = Decimal(100)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Record:
    """One published result as `exit_statistics` reads it."""

    manager_id: str
    exit_triggers: tuple[d.ExitTrigger, ...]
    is_exit: bool
    outcome: d.Outcome


def _record(manager_id: str, outcome: str, rules: Sequence[str]) -> Record:
    triggers = tuple(d.ExitTrigger(d.ExitRule(rule), "", {}) for rule in rules)
    out = d.Outcome(outcome)
    return Record(manager_id, triggers, out is d.Outcome.INCOMPETENCE_EXIT, out)


def _pct(part: int, whole: int) -> str:
    if whole == 0:
        return "0.00"
    return str((Decimal(part) * HUNDRED / whole).quantize(CENT))


def appraisal_report(db: Database, actor: Principal, year: int, kind: str,
                     org_unit_id: str | None, group_by: Sequence[str]) -> dict[str, Any]:
    with db.read() as s:
        scope = resolve_scope(s, actor)
        if scope.manager_id is not None:
            raise ApiProblem(403, "Forbidden", "Reports are for HR and appraisers")
        path = scope.path
        if org_unit_id:
            path = visible_unit(s, scope, org_unit_id).path
        # The result that counts: published, or as it was published before an open appeal.
        stmt = (select(Appraisal.id, Appraisal.manager_id, Appraisal.layer,
                       Appraisal.category, Appraisal.position, Appraisal.state,
                       Appraisal.grade, Appraisal.outcome, Appraisal.exit_triggers)
                .join(OrgUnit, OrgUnit.id == Appraisal.org_unit_id, isouter=True)
                .where(Appraisal.year == year, Appraisal.kind == kind,
                       or_(Appraisal.state == "published",
                           Appraisal.published_at.is_not(None))))
        if path is not None:
            stmt = stmt.where(OrgUnit.path.startswith(path))
        rows = s.execute(stmt).all()
        before = {a.appraisal_id: a.result_before for a in s.scalars(select(Appeal).where(
            Appeal.status == "open", Appeal.appraisal_id.in_(
                [r.id for r in rows if r.state != "published"])))} if rows else {}
        dstmt = (select(Departure).join(OrgUnit, OrgUnit.id == Departure.org_unit_id,
                                        isouter=True).where(Departure.year == year))
        if path is not None:
            dstmt = dstmt.where(OrgUnit.path.startswith(path))
        departures = list(s.scalars(dstmt))
    groups: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(
        lambda: {"grades": defaultdict(int), "records": [], "departures": []})
    everything: dict[str, Any] = {"grades": defaultdict(int), "records": [], "departures": []}
    for r in rows:
        grade, outcome, rules = r.grade, r.outcome, r.exit_triggers
        if r.state != "published":
            snap = before.get(r.id)
            if snap is None:
                continue
            grade, outcome, rules = (snap.get("grade"), snap.get("outcome"),
                                     snap.get("exit_triggers"))
        if grade is None or outcome is None:
            continue
        key = tuple(getattr(r, g) for g in group_by)
        for bucket in (groups[key], everything):
            bucket["grades"][grade] += 1
            bucket["records"].append(_record(r.manager_id, outcome, rules or []))
    for dep in departures:
        key = tuple(getattr(dep, g, None) for g in group_by)
        reason = dep.reason if dep.reason in DEPARTURE_REASONS else "other"
        for bucket in (groups[key], everything):
            bucket["departures"].append(d.Departure(dep.manager_id, d.DepartureReason(reason),
                                                    dep.year))
    return {
        "year": year, "kind": kind, "org_unit_id": org_unit_id, "group_by": list(group_by),
        "counted": "published results (as published, while an appeal is open)",
        "groups": [{**dict(zip(group_by, key, strict=True)), **_figures(bucket)}
                   for key, bucket in sorted(groups.items(), key=lambda kv: str(kv[0]))],
        "totals": _figures(everything),
    }


def _figures(bucket: Mapping[str, Any]) -> dict[str, Any]:
    stats = d.exit_statistics(bucket["records"], bucket["departures"])
    size = stats.cohort_size
    grades = {g: bucket["grades"].get(g, 0) for g in GRADES}
    return {
        "appraised": size,
        "grades": grades,
        "grade_percent": {g: _pct(n, size) for g, n in grades.items()},
        "bottom_grade_adjustments": stats.bottom_grade_adjustments,
        "appraisal_exits": stats.appraisal_exits,
        "exit_rate_percent": str(stats.exit_rate_percent),
        "exits_by_reason": {r: stats.by_primary_trigger.get(r, 0) for r in EXIT_RULES},
        "triggers_fired": {r: stats.by_trigger.get(r, 0) for r in EXIT_RULES},
        "departures": stats.departures,
        "departures_by_reason": {r: stats.departures_by_reason.get(r, 0)
                                 for r in DEPARTURE_REASONS},
    }


def report_csv(report: Mapping[str, Any]) -> str:
    """One line per group and a totals line; counts, then percentages."""
    group_by = list(report["group_by"])
    header = [*group_by, "appraised", *GRADES, *(f"{g}_percent" for g in GRADES),
              "bottom_grade_adjustments", "appraisal_exits", "exit_rate_percent",
              *(f"exits_{r}" for r in EXIT_RULES), "departures",
              *(f"departures_{r}" for r in DEPARTURE_REASONS)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)

    def line(keys: list[Any], f: Mapping[str, Any]) -> list[Any]:
        return [*keys, f["appraised"], *(f["grades"][g] for g in GRADES),
                *(f["grade_percent"][g] for g in GRADES), f["bottom_grade_adjustments"],
                f["appraisal_exits"], f["exit_rate_percent"],
                *(f["exits_by_reason"][r] for r in EXIT_RULES), f["departures"],
                *(f["departures_by_reason"][r] for r in DEPARTURE_REASONS)]

    for group in report["groups"]:
        writer.writerow(line(["" if group[g] is None else group[g] for g in group_by], group))
    writer.writerow(line(["total", *([""] * (len(group_by) - 1))], report["totals"]))
    return out.getvalue()
