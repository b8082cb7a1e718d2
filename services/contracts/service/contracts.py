"""Use cases of one tenure contract: draft, issue, sign, amend, renew, end, expire."""


from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from services.contracts import domain as d
from services.contracts import reads
from services.contracts import repository as repo
from services.contracts.models import (
    ContractDocument,
    ContractTemplate,
    ContractVersion,
    Manager,
    OrgUnit,
    TenureContract,
)
from services.contracts.service.common import (
    DEFAULT_MAX_CONSECUTIVE_TERMS,
    DEFAULT_SIGNING_DEADLINE_DAYS,
    DEFAULT_TERM_YEARS,
    Scope,
    _emit,
    check_version,
    new_id,
    require_write,
    resolve_scope,
    scope_of,
    scope_unit_id,
    utcnow,
)
from services.contracts.service.library import (
    _library,
    target_line,
    targets_fit_position,
    validated_targets,
    visible_template,
)
from services.contracts.service.managers import (
    _visible_manager,
)
from services.contracts.service.org import (
    unit_view,
)
from shared.auth import APPRAISER, HR_ADMIN, SERVICE, Principal
from shared.db import Database
from shared.errors import ApiProblem, not_found
from shared.fields import page_info

# --- tenure contracts -------------------------------------------------------------------------


#: Kinds of unit that are their own enterprise (`UnitCache.enterprise_id`).
_OWN_ENTERPRISE = (d.UnitKind.ENTERPRISE.value, d.UnitKind.GROUP.value)


class UnitCache:
    """Units looked up once per unit of work (bulk issue touches the same few many times)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.units: dict[str, OrgUnit] = {}
        self.absent: set[str] = set()  # looked up and not found

    def get(self, unit_id: str) -> OrgUnit:
        if unit_id not in self.units:
            unit = repo.unit_by_id(self.session, unit_id)
            if unit is None:
                raise not_found("org unit", unit_id)
            self.units[unit_id] = unit
        return self.units[unit_id]

    def find(self, unit_id: str) -> OrgUnit | None:
        """The unit, or None when there is no such unit (a stale org scope, say)."""
        if unit_id not in self.units and unit_id not in self.absent:
            self.load([unit_id])
        return self.units.get(unit_id)

    def load(self, unit_ids: Iterable[str | None]) -> None:
        """Fetch the units not cached yet in one query: a unit's ancestors before its
        parent, enterprise and signatory are looked up, so that costs one round trip."""
        missing = {u for u in unit_ids
                   if u is not None and u not in self.units and u not in self.absent}
        self.units.update(repo.units_by_ids(self.session, missing))
        self.absent.update(missing - self.units.keys())

    def preload(self, found: dict[str, OrgUnit], asked: Iterable[str | None]) -> None:
        """Units read by another statement (`asked`, of which `found` exist)."""
        self.units.update(found)
        self.absent.update(u for u in asked if u is not None and u not in found)

    def load_path(self, unit: OrgUnit, *others: str | None) -> None:
        """`unit` and every unit above it (and `others`), in at most one query."""
        self.load_paths([unit], *others)

    def load_paths(self, units: Iterable[OrgUnit], *others: str | None) -> None:
        """Each of `units` and every unit above them (and `others`), in at most one query."""
        above: list[str | None] = list(others)
        for unit in units:
            self.units.setdefault(unit.id, unit)
            above += repo.ancestor_ids(unit)
        self.load(above)

    def load_enterprises(self, units: Iterable[OrgUnit]) -> None:
        """`units`, and every unit above those that are departments, in at most one query:
        where `enterprise_id` looks for each of them (an enterprise is its own)."""
        units = list(units)
        for unit in units:
            self.units.setdefault(unit.id, unit)
        self.load_paths(unit for unit in units if unit.kind not in _OWN_ENTERPRISE)

    def enterprise_id(self, unit: OrgUnit) -> str:
        """The nearest enterprise (or the group) at or above a unit: departments roll up."""
        for uid in reversed([*repo.ancestor_ids(unit), unit.id]):
            if self.get(uid).kind in _OWN_ENTERPRISE:
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


_UNSIGNED = d.SigningState.AWAITING_MANAGER.value


def _document_rows(contract_id: str, start: date, end: date, targets: list[dict[str, Any]],
                   tenure_targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [
        {"id": new_id(), "contract_id": contract_id, "kind": d.DocumentKind.APPOINTMENT_AGREEMENT
         .value, "year": 0, "targets": [], "row_version": 1, "signing_state": _UNSIGNED},
        {"id": new_id(), "contract_id": contract_id,
         "kind": d.DocumentKind.TENURE_PERFORMANCE_CONTRACT.value, "year": 0,
         "targets": tenure_targets, "row_version": 1, "signing_state": _UNSIGNED},
    ]
    rows.extend(
        {"id": new_id(), "contract_id": contract_id,
         "kind": d.DocumentKind.ANNUAL_PERFORMANCE_CONTRACT.value, "year": year,
         "targets": targets, "row_version": 1, "signing_state": _UNSIGNED}
        for year in d.annual_years(start, end)
    )
    return rows


def appraisable_of(position: str, documents: Iterable[Mapping[str, Any] | ContractDocument]
                   ) -> dict[str, Any]:
    """Whether the contract's documents can be appraised under the shared default rule
    (shared/performance_contract.py), as stored in `tenure_contracts.appraisable`."""
    annual: dict[int, list[d.TargetLine]] = {}
    tenure: list[d.TargetLine] | None = None
    for doc in documents:
        kind, year, targets = ((doc["kind"], doc["year"], doc["targets"])
                               if isinstance(doc, Mapping) else (doc.kind, doc.year, doc.targets))
        if kind == d.DocumentKind.ANNUAL_PERFORMANCE_CONTRACT:
            annual[year] = [d.line_from_stored(t) for t in targets or []]
        elif kind == d.DocumentKind.TENURE_PERFORMANCE_CONTRACT:
            tenure = [d.line_from_stored(t) for t in targets or []]
    return d.appraisability(position, annual, tenure).as_dict()


def refresh_appraisable(s: Session, c: TenureContract) -> None:
    """Judge the contract again after its documents' targets changed (set or amended)."""
    c.appraisable = appraisable_of(c.position, repo.documents_of(s, c.id))


def _terms_snapshot(c: TenureContract) -> dict[str, Any]:
    return {"start_date": c.start_date.isoformat(), "end_date": c.end_date.isoformat(),
            "term_years": c.term_years, "position": c.position, "signatory": c.signatory,
            "org_unit_id": c.org_unit_id}


def visible_contract(s: Session, scope: Scope, contract_id: str, *, lock: bool = False
                      ) -> tuple[TenureContract, Manager, OrgUnit]:
    found = repo.contract_with_people(s, contract_id, lock=lock)
    if found is None:
        raise not_found("contract", contract_id)
    c, m, unit = found
    if not scope.sees_contract(unit.path, m.id):
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
            template = visible_template(s, scope, data["template_id"])
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
        targets, tenure_targets = _drafted_targets(s, data, template, position.value)
        c = _new_contract(
            s, units, m, unit, start=start, end=end, term_years=term_years,
            term_number=so_far + 1, max_terms=max_terms, template=template,
            signatory_override=data.get("signatory_override"), actor=actor.subject,
            targets=targets, previous=None, tenure_targets=tenure_targets,
        )
        _emit(s, "contract.drafted", m.id,
              contract_data(c, m, unit, units, repo.documents_of(s, c.id)))
        return c


def _drafted_targets(s: Session, data: Mapping[str, Any], template: ContractTemplate | None,
                     position: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The annual and tenure targets of a new draft: the request's, else the template's,
    held to the shared rule for the manager's position (a template for any position may
    not fit this one: 422 naming `template_id`)."""
    tenure_doc = d.DocumentKind.TENURE_PERFORMANCE_CONTRACT
    if data.get("targets"):
        targets = validated_targets(s, data["targets"], position=position)
    else:
        targets = template.targets if template else []
        faults = targets_fit_position(targets, position)
        if faults:
            raise d.TargetsInvalid(
                f"The template's targets cannot be appraised for a {position}: "
                + "; ".join(faults) + ". Give this manager's targets in `targets`, or use a "
                "template for the position", errors={"template_id": faults})
    if data.get("tenure_targets"):
        tenure_targets = validated_targets(s, data["tenure_targets"], field="tenure_targets",
                                           document=tenure_doc, position=position)
    else:
        tenure_targets = (template.tenure_targets or []) if template else []
    return targets, tenure_targets


def _new_contract(s: Session, units: UnitCache, m: Manager, unit: OrgUnit, *, start: date,
                  end: date, term_years: int, term_number: int, max_terms: int,
                  template: ContractTemplate | None, signatory_override: Mapping[str, Any] | None,
                  actor: str, targets: list[dict[str, Any]],
                  previous: TenureContract | None,
                  tenure_targets: list[dict[str, Any]] | None = None) -> TenureContract:
    now = utcnow()
    c_id = new_id()
    rows = _document_rows(c_id, start, end, targets, tenure_targets or [])
    c = TenureContract(
        id=c_id, manager_id=m.id, org_unit_id=unit.id, position=m.position,
        start_date=start, end_date=end, term_years=term_years, state=d.ContractState.DRAFT.value,
        term_number=term_number, max_consecutive_terms=max_terms,
        previous_contract_id=previous.id if previous else None,
        template_id=template.id if template else None,
        signatory=_signatory(units, unit, d.Position(m.position), signatory_override),
        version=1, row_version=1, reminders_sent=[], signatures=[], created_by=actor,
        created_at=now, updated_at=now, appraisable=appraisable_of(m.position, rows),
    )
    s.add(c)
    s.flush()
    s.execute(insert(ContractDocument), rows)
    s.add(ContractVersion(contract_id=c.id, version=1, terms=_terms_snapshot(c),
                          reason="drafted", approved_by=None, recorded_by=actor,
                          recorded_at=now))
    return c


def transition(c: TenureContract, action: d.ContractAction) -> None:
    c.state = d.transition(d.ContractState(c.state), action).value
    c.row_version += 1
    c.updated_at = utcnow()


def issue_contract(db: Database, actor: Principal, contract_id: str, expected: int | None,
                   today: date | None = None) -> TenureContract:
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        c, m, unit = visible_contract(s, scope, contract_id, lock=True)
        check_version(expected, c.row_version)
        transition(c, d.ContractAction.ISSUE)
        template = repo.template_by_id(s, c.template_id) if c.template_id else None
        c.issued_on = today or date.today()
        c.signing_deadline = c.issued_on + timedelta(
            days=template.signing_deadline_days if template else DEFAULT_SIGNING_DEADLINE_DAYS)
        _emit(s, "contract.issued", m.id,
              contract_data(c, m, unit, UnitCache(s), repo.documents_of(s, c.id)))
        return c


def indicators_of(s: Session, documents: Iterable[ContractDocument]
                  ) -> dict[str, d.IndicatorDefinition]:
    """The library's indicators named by the documents' targets, in one query."""
    return _library(s, [target_line(t) for doc in documents for t in doc.targets or []])


def check_signable_targets(s: Session, c: TenureContract, doc: ContractDocument,
                           library: Mapping[str, d.IndicatorDefinition] | None = None) -> None:
    """A document is signed only with targets the appraisal can score (the shared rule).

    `library`: the indicators already looked up for every document signed at once (a
    signature checks them all with one query)."""
    lines = [target_line(t) for t in doc.targets]
    kind = d.DocumentKind(doc.kind)
    try:
        d.validate_targets(lines, _library(s, lines) if library is None else library,
                           field="targets", document=kind,
                           position=c.position, proportion=d.proportion_for(c.position),
                           year=doc.year or None)
    except d.TargetsInvalid as exc:
        name = d.document_name(kind, doc.year or None)
        raise d.TargetsInvalid(
            f"{name[0].upper()}{name[1:]} cannot be signed: its targets are incomplete "
            f"({exc.detail}). Set them first: PUT /api/v1/contracts/{c.id}/documents/"
            f"{doc.id}/targets", errors=exc.errors,
        ) from exc


def end_contract(db: Database, actor: Principal, contract_id: str, action: d.ContractAction,
                 reason: str, expected: int | None) -> TenureContract:
    """Terminate an active contract, or withdraw a draft or unsigned one."""
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        c, m, unit = visible_contract(s, scope, contract_id, lock=True)
        check_version(expected, c.row_version)
        end_in_session(s, c, m, unit, action, reason)
        return c


def end_in_session(s: Session, c: TenureContract, m: Manager, unit: OrgUnit,
                   action: d.ContractAction, reason: str, **extra: Any) -> None:
    previous = c.state
    transition(c, action)
    c.ended_at = utcnow()
    c.end_reason = reason
    data = contract_data(c, m, unit, UnitCache(s), None)
    data.update(reason=reason, previous_state=previous, action=action.value, **extra)
    _emit(s, "contract.terminated", m.id, data)


def reinstate_in_session(s: Session, c: TenureContract, m: Manager, unit: OrgUnit,
                         actor: str, reason: str, **extra: Any) -> str:
    """Bring a contract terminated by an exit back to active (the exit was cancelled): the
    end is cleared, and contract.reinstated tells every service. The caller checked that
    this exit terminated it (`domain.check_reinstatement`) and restores the manager.
    Returns the id of contract.reinstated."""
    c.state = d.check_reinstatement(c.state, terminated_by_exit=True).value
    c.ended_at = None
    c.end_reason = None
    c.row_version += 1
    c.updated_at = utcnow()
    data = contract_data(c, m, unit, UnitCache(s), None)
    data.update(reason=reason, reinstated_by=actor, **extra)
    return _emit(s, "contract.reinstated", m.id, data)


def renew_contract(db: Database, actor: Principal, contract_id: str, expected: int | None,
                   term_years: int | None) -> TenureContract:
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        c, m, unit = visible_contract(s, scope, contract_id, lock=True)
        check_version(expected, c.row_version)
        return renew_in_session(s, c, m, unit, actor.subject, term_years)


def renew_in_session(s: Session, c: TenureContract, m: Manager, unit: OrgUnit, actor: str,
                     term_years: int | None, **extra: Any) -> TenureContract:
    d.check_renewal(c.term_number, c.max_consecutive_terms)
    transition(c, d.ContractAction.RENEW)
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
        tenure_targets=(template.tenure_targets or []) if template else [],
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
        c, m, unit = visible_contract(s, scope, contract_id, lock=True)
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
        amended = _amend_targets(s, c, data, c.version)
        c.row_version += 1
        c.updated_at = utcnow()
        terms = _terms_snapshot(c)
        if amended:
            terms["amended_targets"] = [{"document_id": doc.id, "kind": doc.kind,
                                         "year": doc.year or None, "targets": doc.amended_targets}
                                        for doc in amended]
        s.add(ContractVersion(contract_id=c.id, version=c.version, terms=terms,
                              reason=data["reason"], approved_by=data["approved_by"],
                              recorded_by=actor.subject, recorded_at=c.updated_at))
        payload = contract_data(c, m, unit, units, None)
        payload.update(reason=data["reason"], approved_by=data["approved_by"],
                       documents_to_sign=[document_data(doc) | {
                           "amendment_version": c.version, "amended_targets": doc.amended_targets}
                           for doc in amended])
        _emit(s, "contract.amended", m.id, payload)
        return c


def _amend_targets(s: Session, c: TenureContract, data: Mapping[str, Any], version: int
                   ) -> list[ContractDocument]:
    """Stage amended targets on their documents: both sides sign them again, and until they
    have, the targets signed before stay in force (docs/signing.md, "Amendments")."""
    wanted: list[tuple[str, int, str, list[Mapping[str, Any]]]] = []
    if data.get("tenure_targets"):
        wanted.append((d.DocumentKind.TENURE_PERFORMANCE_CONTRACT.value, 0, "tenure_targets",
                       data["tenure_targets"]))
    for i, annual in enumerate(data.get("annual_targets") or []):
        wanted.append((d.DocumentKind.ANNUAL_PERFORMANCE_CONTRACT.value, annual["year"],
                       f"annual_targets[{i}].indicators", annual["indicators"]))
    if not wanted:
        return []
    if c.state != d.ContractState.ACTIVE:
        raise d.IllegalTransition(
            f"Targets are amended once the contract is in force; while it is {c.state}, set "
            "them with PUT /contracts/{id}/documents/{document_id}/targets before anyone signs",
            errors={"state": [f"'{c.state}': targets are not amended"]})
    by_key = {(doc.kind, doc.year): doc for doc in repo.documents_of(s, c.id)}
    amended = []
    for kind, year, field, lines in wanted:
        doc = by_key.get((kind, year))
        if doc is None:
            raise ApiProblem(422, "Unprocessable Entity",
                             f"The contract has no annual performance contract for {year}",
                             errors={f"{field.removesuffix('.indicators')}.year":
                                     ["not a year of this term"]})
        what = (f"The {year} annual performance contract" if year
                else "The tenure performance contract")
        d.check_targets_amendable(doc.signing_state, doc.amendment_version, what)
        try:
            targets = validated_targets(s, lines, field=field, document=d.DocumentKind(kind),
                                        position=c.position, year=year or None)
        except d.TargetsInvalid as exc:
            raise d.TargetsInvalid(f"{what} cannot be amended so: {exc.detail}",
                                   errors=exc.errors) from exc
        doc.amended_targets = targets
        doc.amendment_version = version
        doc.amendment_state = d.SigningState.AWAITING_MANAGER.value
        doc.row_version += 1
        amended.append(doc)
    return amended


def read_contract(db: Database, actor: Principal, contract_id: str, *,
                  signer: bool = False) -> tuple[bytes, int]:
    """The contract's JSON as the API sends it, and its row version (the ETag).

    One round trip, or none: staff and managers are served from the process's read cache
    when it holds the contract (see shared/read_cache.py for why that is safe). The entry
    keeps the contract's manager and its unit's path, so the caller's right to see it is
    checked without the database; for a caller scoped to a subtree that needs their scope
    unit's path too, which the contract's own statement reads and the cache keeps (the list
    shares it): until the cache has it, the caller reads the database, where the scope is
    checked. Any change to a unit drops every entry ("*").
    `signer`: the caller has just signed it (an employer's signatory sees what they signed).
    """
    scope_unit = scope_unit_id(actor)
    cache = db.read_cache
    generation = None
    if cache is not None:
        cache.start()
        hit = cache.get(contract_id)
        scope_path = cache.get(_PATH + scope_unit) if hit is not None and scope_unit else None
        if hit is not None and (scope_unit is None or scope_path is not None):
            body, row_version, manager_id, unit_path = hit
            if not signer and not scope_of(actor, scope_path).sees_contract(unit_path,
                                                                            manager_id):
                raise not_found("contract", contract_id)
            return body, row_version
        generation = cache.generation()
    rows = db.fetch_rows(reads.ONE_CONTRACT, {
        "contract_id": contract_id, "scope_unit_id": scope_unit,
    })
    if not rows:
        raise not_found("contract", contract_id)
    first = rows[0]
    documents = [reads.document_body(r) for r in rows if r["doc_id"] is not None]
    body = orjson.dumps(reads.contract_body(first, documents))
    if cache is not None:
        cache.put(contract_id, (body, first["row_version"], first["manager_id"],
                                first["unit_path"]), generation)
        if scope_unit is not None and first["scope_path"] is not None:
            cache.put(_PATH + scope_unit, first["scope_path"], generation)
    if not signer and not scope_of(actor, first["scope_path"]).sees_contract(
            first["unit_path"], first["manager_id"]):
        raise not_found("contract", contract_id)
    return body, first["row_version"]


def contract_versions(db: Database, actor: Principal, contract_id: str) -> list[ContractVersion]:
    with db.read() as s:
        visible_contract(s, resolve_scope(s, actor), contract_id)
        return list(s.scalars(select(ContractVersion)
                              .where(ContractVersion.contract_id == contract_id)
                              .order_by(ContractVersion.version)))


def contracts_page_json(db: Database, actor: Principal, f: Mapping[str, Any]
                        ) -> tuple[bytes, str | None]:
    """`GET /contracts` as the JSON body it sends, and the cursor of the next page (None on
    the last page): from the read cache for staff.

    A list page is read far more often than contracts change. Group-wide staff all see the
    same page for the same query, so it is cached under "lists:<query>"; every statement
    that inserts, changes or deletes contracts sends the notice "lists:*" (migration 0008),
    and a change to a manager or unit sends "*", so no process keeps a stale page (the
    rules in shared/read_cache.py).

    Staff scoped to a subtree (a subsidiary's HR) see, for a unit inside their scope,
    exactly the page group-wide staff see for that unit: every contract under the unit is
    under their scope too. So their query is cached as that one (a list that names no unit
    lists their scope unit's subtree, and is cached as the query naming it). Whether the
    unit is inside the scope is told by the two units' paths, which the list's own
    statement reads and the cache keeps ("unit-path:", dropped with everything by any
    change to a unit): until both are known the caller reads the database, which answers
    404 for a unit outside the scope, as before, and nothing outside it is ever cached
    for them. Managers always read the database.
    """
    cache = db.read_cache if actor.has(HR_ADMIN, SERVICE, APPRAISER) else None
    scope_unit = scope_unit_id(actor)
    unit = f.get("org_unit_id") or scope_unit  # the subtree listed; None: the whole group
    inside: bool | None = True  # None: not known until the database has answered
    generation = None
    if cache is not None:
        cache.start()
        if scope_unit is not None:
            inside = _inside(cache.get(_PATH + unit), cache.get(_PATH + scope_unit))
        if inside is False:
            cache = None
    key = "lists:" + "&".join(f"{k}={v}" for k, v in sorted({**f, "org_unit_id": unit}.items())
                              if v is not None)
    if cache is not None:
        hit = cache.get(key) if inside else None
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        generation = cache.generation()
    items, total, next_cursor, (unit_path, scope_path) = _read_list(db, actor, f)
    if f.get("after") is None:
        page = page_info(f["page"], f["page_size"], total or 0)
    else:
        page = {"page_size": f["page_size"], "next": next_cursor}
    out = (orjson.dumps({"items": items, "page": page}), next_cursor)
    if cache is not None and scope_unit is not None:
        unit_path = unit_path if f.get("org_unit_id") else scope_path
        for named, path in ((unit, unit_path), (scope_unit, scope_path)):
            if path is not None:
                cache.put(_PATH + named, path, generation)
        inside = _inside(unit_path, scope_path)
    if cache is not None and inside:
        cache.put(key, out, generation)
    return out


#: The read cache's key of a unit's path.
_PATH = "unit-path:"


def _inside(unit_path: str | None, scope_path: str | None) -> bool | None:
    """Whether a unit lies in a scope's subtree, from their paths; None if either is unknown."""
    if unit_path is None or scope_path is None:
        return None
    return unit_path.startswith(scope_path)


def list_contracts(db: Database, actor: Principal, f: Mapping[str, Any]
                   ) -> tuple[list[dict[str, Any]], int | None, str | None]:
    """A page of contracts as the API sends them; see `_read_list`."""
    items, total, next_cursor, _paths = _read_list(db, actor, f)
    return items, total, next_cursor


def _read_list(db: Database, actor: Principal, f: Mapping[str, Any]
               ) -> tuple[list[dict[str, Any]], int | None, str | None,
                          tuple[str | None, str | None]]:
    """A page of contracts as the API sends them (without documents), the total (None for
    a page after a cursor: it is not counted), the cursor of the next page (None if
    this page is the last), and the paths of the filter unit and of the caller's scope
    unit as the statement read them (None where there is none).

    One statement (reads.contracts_list): the caller's scope and the filter unit are
    resolved inside it, the count and the page come back together, and rows go straight
    to response bodies. A filter unit outside the caller's scope, or unknown, is a 404.
    `after` (an opaque cursor from a previous page) continues the list after that
    contract in the same order, whatever was added meanwhile; every filter and the
    caller's scope apply as on any page, so a cursor only says where to start.
    """
    after = _after_cursor(f.get("after"))
    scope_unit = scope_unit_id(actor)
    scope = scope_of(actor, None)
    if scope.manager_id is not None:
        if f.get("org_unit_id"):
            raise not_found("org unit", f["org_unit_id"])  # managers see no org units
        if f.get("manager_id") not in (None, scope.manager_id):
            return [], 0 if after is None else None, None, (None, None)
    params: dict[str, Any] = {name: f[name] for name in reads.LIST_FILTERS
                              if f.get(name) is not None and f.get(name) != ""}
    if scope.manager_id is not None:
        params["manager_id"] = scope.manager_id
    if scope_unit is not None:
        params["scope_unit_id"] = scope_unit
    shape = frozenset(params) | ({"after"} if after is not None else set())
    size = f["page_size"]
    if after is not None:
        params["after_created_at"], params["after_id"] = after
        # One more than the page: whether a next page exists, without counting.
        limit, offset = size + 1, 0
    else:
        limit, offset = size, (f["page"] - 1) * size
    if "year" in params:
        year = params.pop("year")
        params.update(year_start=date(year, 1, 1), year_end=date(year, 12, 31))
    params.update(limit=limit, offset=offset)
    rows = db.fetch_rows(reads.contracts_list(
        shape, reads.keys_per_unit(shape, db.is_postgres, offset)), params)
    head = rows[0]
    if "org_unit_id" in shape:
        unit_path = head["filter_unit_path"]
        if unit_path is None or not scope_of(
                actor, head.get("list_scope_path")).covers_path(unit_path):
            raise not_found("org unit", f["org_unit_id"])
    total = None if head["total"] is None else int(head["total"])
    paths = (head.get("filter_unit_path"), head.get("list_scope_path"))
    if head["id"] is None:
        return [], total, None, paths
    more = len(rows) > size if after is not None else offset + len(rows) < (total or 0)
    rows = rows[:size]
    last = rows[-1]
    next_cursor = reads.encode_cursor(last["created_at"], last["id"]) if more else None
    return [reads.list_item_body(r) for r in rows], total, next_cursor, paths


def _after_cursor(cursor: str | None) -> tuple[Any, str] | None:
    """The position `after` names, or a 400 naming the field if it is not a cursor."""
    if cursor is None:
        return None
    position = reads.decode_cursor(cursor)
    if position is None:
        raise ApiProblem(400, "Bad Request", "after is not a cursor of this list: send the "
                         "cursor a page returned (its Link header or page.next)",
                         errors={"after": ["not a cursor this API returned"]})
    return position


def set_targets(db: Database, actor: Principal, contract_id: str, document_id: str,
                raw_lines: list[Mapping[str, Any]], expected: int | None) -> ContractDocument:
    with db.unit_of_work() as s:
        scope = resolve_scope(s, actor)
        require_write(scope)
        c, m, unit = visible_contract(s, scope, contract_id, lock=True)
        doc = document_of(s, c, document_id)
        check_version(expected, doc.row_version)
        if doc.kind == d.DocumentKind.APPOINTMENT_AGREEMENT:
            raise ApiProblem(422, "Unprocessable Entity",
                             "The appointment agreement carries no targets",
                             errors={"document_id": ["not a performance contract"]})
        # Once either side has signed, the targets they signed are the targets: an
        # amendment changes them, and both sides sign it again.
        kind = d.DocumentKind(doc.kind)
        d.check_targets_editable(doc.signing_state != d.SigningState.AWAITING_MANAGER, kind,
                                 year=doc.year or None, contract_id=c.id)
        if c.state in d.TERMINAL_STATES:
            raise d.IllegalTransition(f"Targets of a {c.state} contract cannot change")
        doc.targets = validated_targets(s, raw_lines, field="indicators", document=kind,
                                        position=c.position, year=doc.year or None)
        doc.row_version += 1
        refresh_appraisable(s, c)
        _emit(s, "targets.set", m.id, {
            **contract_data(c, m, unit, UnitCache(s), None), **document_data(doc),
            "locked": False})
        return doc


def document_of(s: Session, c: TenureContract, document_id: str) -> ContractDocument:
    doc = s.get(ContractDocument, document_id)
    if doc is None or doc.contract_id != c.id:
        raise not_found("document", document_id)
    return doc


# --- expiry -----------------------------------------------------------------------------------


def run_expiry(db: Database, today: date, thresholds: tuple[int, ...] = (90, 30, 7),
               *, dry_run: bool = False) -> dict[str, Any]:
    """Mark contracts past their end expired; record each 90/30/7-day reminder once.

    The sweep is meant for today: a run for a later day would send real notices about
    contracts that are months from their end. `dry_run` changes and sends nothing and
    returns what a sweep on `today` would send (`would_send`: which contract, which event,
    which reminder, to whom), so HR may look ahead safely.
    """
    expired = expiring = 0
    would_send: list[dict[str, Any]] = []
    with (db.read() if dry_run else db.unit_of_work()) as s:
        units = UnitCache(s)
        for c in repo.active_or_ending(s, today + timedelta(days=max(thresholds))):
            m = repo.manager_by_id(s, c.manager_id)
            unit = units.get(c.org_unit_id)
            assert m is not None
            if d.is_past_end(c.end_date, today):
                expired += 1
                if dry_run:
                    would_send.append(_sweep_notice(c, m, unit, "contract.expired", None, today))
                    continue
                transition(c, d.ContractAction.EXPIRE)
                c.ended_at = utcnow()
                c.end_reason = "term ended"
                _emit(s, "contract.expired", m.id, contract_data(c, m, unit, units, None))
                continue
            due = d.expiry_reminders_due(c.end_date, today, set(c.reminders_sent), thresholds)
            if not due:
                continue
            expiring += len(due)
            if dry_run:
                would_send.extend(_sweep_notice(c, m, unit, "contract.expiring", days_left,
                                                today) for days_left in due)
                continue
            # Reminders for thresholds already passed are recorded as sent without a notice.
            passed = {t for t in thresholds if (c.end_date - today).days <= t}
            c.reminders_sent = sorted(set(c.reminders_sent) | passed)
            for days_left in due:
                data = contract_data(c, m, unit, units, None)
                data.update(days_left=days_left,
                            days_remaining=(c.end_date - today).days)
                _emit(s, "contract.expiring", m.id, data)
    if dry_run:
        return {"dry_run": True, "as_of": today.isoformat(), "expired": expired,
                "expiring": expiring, "would_send": would_send}
    return {"expired": expired, "expiring": expiring}


def _sweep_notice(c: TenureContract, m: Manager, unit: OrgUnit, event_type: str,
                  reminder: int | None, today: date) -> dict[str, Any]:
    """One event a sweep would record, and who the notifications service tells of it:
    the manager, and the HR admins whose scope covers the contract's unit."""
    return {
        "event_type": event_type, "contract_id": c.id, "end_date": c.end_date.isoformat(),
        "reminder_days": reminder, "days_remaining": (c.end_date - today).days,
        "manager": {"id": m.id, "employee_no": m.employee_no, "name": m.name,
                    "email": m.email, "language": m.language},
        "hr_admins_of": {"org_unit_id": unit.id, "org_unit_name": unit.name},
    }
