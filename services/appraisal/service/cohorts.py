"""Who a run appraises and what the domain reads for them, fetched in batches."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Text, and_, cast, select
from sqlalchemy.orm import Session

from services.appraisal import domain as d
from services.appraisal.models import (
    ActualRecord,
    Appraisal,
    Contract,
    Difficulty,
    Manager,
    OrgUnit,
    PayBase,
    TargetSet,
)
from services.appraisal.service.common import (
    ACTIVE_CONTRACT_STATES,
    Scope,
    among,
    id_chunk,
    visible_unit,
)

ONE = Decimal(1)
FINAL_STATES = ("approved", "published")  # results later years and tenure appraisals read

# --- who is appraised -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A manager's contract whose targets are appraised for the year (or the term)."""

    manager_id: str
    contract_id: str
    org_unit_id: str | None
    enterprise_id: str | None
    layer: int | None
    category: str | None
    position: str | None
    start_year: int
    end_year: int
    targets: str | None  # the locked lines as JSON text (None: no locked targets)


@dataclass(frozen=True)
class Skip:
    manager_id: str
    contract_id: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"manager_id": self.manager_id, "contract_id": self.contract_id,
                "reason": self.reason}


def select_cohort(s: Session, year: int, kind: str, scope_path: str | None,
                  criteria: Mapping[str, Any]) -> tuple[list[Candidate], list[Skip]]:
    """Every contract in scope whose term covers the year (annual) or ends in it (tenure),
    one per manager (the latest term), with its locked targets, and who is left out why.

    Targets come from a few templates: on PostgreSQL each row carries only a digest of its
    locked lines and each distinct text is fetched once."""
    conn = s.connection()
    postgres = conn.dialect.name == "postgresql"
    lines = cast(TargetSet.targets, Text)
    doc_year = year if kind == "annual" else 0
    base = (select()
            .select_from(Contract)
            .join(Manager, Manager.id == Contract.manager_id)
            .join(OrgUnit, OrgUnit.id == Contract.org_unit_id, isouter=True)
            .join(TargetSet, and_(TargetSet.contract_id == Contract.id,
                                  TargetSet.kind == kind, TargetSet.year == doc_year,
                                  TargetSet.locked.is_(True)), isouter=True)
            .where(Contract.state.in_((*ACTIVE_CONTRACT_STATES, "terminated"))))
    if kind == "annual":
        base = base.where(Contract.start_date <= date(year, 12, 31),
                          Contract.end_date >= date(year, 1, 1))
    else:
        base = base.where(Contract.end_date >= date(year, 1, 1),
                          Contract.end_date <= date(year, 12, 31))
    if scope_path is not None:
        base = base.where(OrgUnit.path.startswith(scope_path))
    if criteria.get("org_unit_path"):
        base = base.where(OrgUnit.path.startswith(criteria["org_unit_path"]))
    for key, column in (("layer", Contract.layer), ("category", Contract.category),
                        ("position", Contract.position)):
        if criteria.get(key) is not None:
            base = base.where(column == criteria[key])
    if criteria.get("manager_ids"):
        base = base.where(Contract.manager_id.in_(list(criteria["manager_ids"])))
    stmt = base.add_columns(
        Contract.id, Contract.manager_id, Contract.org_unit_id, Contract.enterprise_id,
        Contract.layer, Contract.category, Contract.position, Contract.start_date,
        Contract.end_date, Contract.state, Manager.employment_status,
        Manager.departure_reason, (TargetSet.digest if postgres else lines).label("lines"))
    latest: dict[str, Any] = {}
    for row in conn.execute(stmt).all():
        held = latest.get(row.manager_id)
        if held is None or (row.state != "terminated", row.start_date) > (
                held.state != "terminated", held.start_date):
            latest[row.manager_id] = row
    if postgres:
        texts = {digest: conn.execute(select(lines).where(TargetSet.digest == digest)
                                      .limit(1)).scalar_one()
                 for digest in {r.lines for r in latest.values() if r.lines is not None}}
        targets = {r.id: texts[r.lines] for r in latest.values() if r.lines is not None}
    else:
        targets = {r.id: r.lines for r in latest.values() if r.lines is not None}
    chosen, skips = [], []
    for r in sorted(latest.values(), key=lambda r: r.manager_id):
        if r.employment_status == "departed":
            skips.append(Skip(r.manager_id, r.id,
                              f"departed ({r.departure_reason or 'other'})"))
        elif r.state == "terminated":
            skips.append(Skip(r.manager_id, r.id, "contract terminated"))
        elif r.id not in targets or (kind == "annual" and targets[r.id].strip() == "[]"):
            skips.append(Skip(r.manager_id, r.id, f"no locked {kind} targets for {year}"))
        else:
            chosen.append(Candidate(r.manager_id, r.id, r.org_unit_id, r.enterprise_id,
                                    r.layer, r.category, r.position, r.start_date.year,
                                    r.end_date.year, targets[r.id]))
    return chosen, skips


# --- what the domain reads ------------------------------------------------------------------------


_FEW_VALUED: dict[tuple[Any, ...], d.Actual] = {}


def _actual(code: str, value: str | None, rating: str | None, met: int | None,
            hit: bool | None, points: str | None) -> d.Actual:
    if value is None and points is None:
        # Ratings, red lines and milestones take a handful of values: one (immutable)
        # Actual each, not one per manager.
        key = (code, rating, met, hit)
        found = _FEW_VALUED.get(key)
        if found is None:
            if len(_FEW_VALUED) > 100_000:
                _FEW_VALUED.clear()
            found = _FEW_VALUED[key] = d.Actual(code, None, rating, met,
                                                None if hit is None else bool(hit))
        return found
    return d.Actual(code, None if value is None else Decimal(value), rating, met,
                    None if hit is None else bool(hit),
                    None if points is None else Decimal(points))


ACTUALS_SQL = ("SELECT subject_id, indicator_code, value, rating, milestones_met, veto_hit, "
               "points FROM actuals WHERE subject_id = ANY(%s) AND year = %s AND kind = %s")


class Inputs:
    """Targets, actuals, history, difficulty and pay bases for a batch of candidates,
    fetched with one query each, and the scheme that applies to each."""

    def __init__(self, s: Session, year: int, kind: str, book: d.SchemeBook) -> None:
        self.s = s
        self.year = year
        self.kind = kind
        self.book = book
        self._targets: dict[Any, tuple[d.IndicatorTarget, ...]] = {}
        self.actuals: dict[str, dict[str, d.Actual]] = {}
        self.history: dict[str, list[d.PastYear]] = {}
        self.deferred: dict[str, Decimal] = {}
        self.difficulty: dict[str, Decimal] = {}
        self.pay: dict[str, Decimal] = {}

    def targets(self, text: str | None) -> tuple[d.IndicatorTarget, ...]:
        # Targets come from templates: many managers share the very same lines, so they
        # are parsed once per distinct JSON text.
        found = self._targets.get(text or "")
        if found is None:
            found = d.targets_from_dicts(json.loads(text) if text else [])
            if len(self._targets) > 10_000:
                self._targets.clear()
            self._targets[text or ""] = found
        return found

    def load(self, batch: Sequence[Candidate]) -> None:
        s, year, kind = self.s, self.year, self.kind
        managers = [c.manager_id for c in batch]
        enterprises = sorted({c.enterprise_id for c in batch if c.enterprise_id})
        self.actuals = defaultdict(dict)
        conn = s.connection()  # Core rows: no ORM work for plain columns
        subjects = [*managers, *enterprises]
        if conn.dialect.name == "postgresql":
            # The hottest read of a run (8 rows a manager): plain driver tuples.
            with conn.connection.driver_connection.cursor() as cur:
                cur.execute(ACTUALS_SQL, (subjects, year, kind))
                rows = cur.fetchall()
        else:
            rows = conn.execute(select(
                ActualRecord.subject_id, ActualRecord.indicator_code, ActualRecord.value,
                ActualRecord.rating, ActualRecord.milestones_met, ActualRecord.veto_hit,
                ActualRecord.points).where(
                    among(s, ActualRecord.subject_id, subjects),
                    ActualRecord.year == year, ActualRecord.kind == kind)).all()
        for subject, code, value, rating, met, hit, points in rows:
            self.actuals[subject][code] = _actual(code, value, rating, met, hit, points)
        self.history = defaultdict(list)
        self.deferred = {}
        past = select(Appraisal.manager_id, Appraisal.year, Appraisal.total, Appraisal.grade,
                      Appraisal.deferred_pay).where(
            among(s, Appraisal.manager_id, managers), Appraisal.kind == "annual",
            Appraisal.state.in_(FINAL_STATES))
        past = past.where(Appraisal.year < year) if kind == "annual" else past.where(
            Appraisal.year <= year)
        for manager_id, past_year, total, grade, deferred in conn.execute(past):
            self.history[manager_id].append(d.PastYear(past_year, Decimal(total),
                                                       d.Grade(grade)))
            if kind == "tenure" and deferred is not None:
                self.deferred[manager_id] = self.deferred.get(manager_id, Decimal(0)) \
                    + Decimal(deferred)
        self.difficulty = {u: Decimal(c) for u, c in conn.execute(
            select(Difficulty.org_unit_id, Difficulty.coefficient).where(
                among(s, Difficulty.org_unit_id, enterprises), Difficulty.year == year))}
        self.pay = {m: Decimal(a) for m, a in conn.execute(
            select(PayBase.manager_id, PayBase.amount).where(
                among(s, PayBase.manager_id, managers), PayBase.year == year))}

    def scheme_for(self, c: Candidate) -> d.Scheme:
        return self.book.resolve(c.layer, c.category, c.position, year=self.year)[0]

    def actuals_for(self, c: Candidate, targets: Sequence[d.IndicatorTarget],
                    overrides: Mapping[str, d.Actual] | None = None) -> dict[str, d.Actual]:
        """The manager's own actuals; an organisational line without one takes the
        enterprise's (shared by its team); `overrides` (what-if) win over both."""
        own = self.actuals.get(c.manager_id, {})
        shared = self.actuals.get(c.enterprise_id or "", {})
        out: dict[str, d.Actual] = {}
        for t in targets:
            found = own.get(t.code)
            if found is None and t.part is d.TargetPart.ORGANISATIONAL:
                found = shared.get(t.code)
            if overrides and t.code in overrides:
                found = overrides[t.code]
            if found is not None:
                out[t.code] = found
        return out

    def appraise(self, c: Candidate, overrides: Mapping[str, d.Actual] | None = None
                 ) -> d.AppraisalResult | d.TenureResult:
        scheme = self.scheme_for(c)
        targets = self.targets(c.targets)
        actuals = self.actuals_for(c, targets, overrides)
        term = d.Term(c.start_year, c.end_year)
        if self.kind == "tenure":
            annual = [p for p in self.history.get(c.manager_id, []) if p.year in term]
            if not annual:
                raise d.AppraisalInputInvalid(
                    "No approved annual appraisal in the term to conclude it with",
                    errors={"annual": ["no approved or published annual appraisal in the "
                                       f"term {c.start_year}-{c.end_year}"]})
            return d.appraise_tenure(scheme, annual, targets, actuals,
                                     manager_id=c.manager_id, term=term,
                                     deferred_total=self.deferred.get(c.manager_id))
        return d.appraise(scheme, targets, actuals, manager_id=c.manager_id, year=self.year,
                          position=c.position,
                          difficulty=self.difficulty.get(c.enterprise_id or "", ONE),
                          history=self.history.get(c.manager_id, ()), term=term,
                          base_pay=self.pay.get(c.manager_id))


def cohort_key(c: Candidate) -> tuple[int | None, str | None]:
    """Forced distribution compares managers of one layer and category in a year."""
    return (c.layer, c.category)


def cohort_criteria(s: Session, scope: Scope, data: Mapping[str, Any]) -> dict[str, Any]:
    criteria = {k: data.get(k) for k in ("layer", "category", "position", "manager_ids")}
    if data.get("org_unit_id"):
        criteria["org_unit_path"] = visible_unit(s, scope, data["org_unit_id"]).path
    return criteria


def existing_appraisals(s: Session, cands: Sequence[Candidate], year: int, kind: str
                        ) -> dict[tuple[str, str], tuple[str, str]]:
    """(manager, contract) -> (appraisal id, state) of the appraisals already there."""
    found: dict[tuple[str, str], tuple[str, str]] = {}
    ids = [c.manager_id for c in cands]
    step = id_chunk(s)
    conn = s.connection()
    for start in range(0, len(ids), step):
        for manager_id, contract_id, appraisal_id, state in conn.execute(select(
                Appraisal.manager_id, Appraisal.contract_id, Appraisal.id, Appraisal.state
        ).where(among(s, Appraisal.manager_id, ids[start:start + step]),
                Appraisal.year == year, Appraisal.kind == kind)):
            found[(manager_id, contract_id)] = (appraisal_id, state)
    return found
