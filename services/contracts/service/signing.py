"""Use cases of signing: the manager signs, the employer's signatory countersigns, HR records
signatures made on paper; a document is in force when both sides have signed it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from services.contracts import domain as d
from services.contracts import reads
from services.contracts import repository as repo
from services.contracts.models import (
    ContractDocument,
    ContractSignature,
    Manager,
    OrgUnit,
    TenureContract,
    outbox,
)
from services.contracts.service.common import (
    Scope,
    check_version,
    scope_of,
    scope_unit_id,
    utcnow,
)
from services.contracts.service.contracts import (
    UnitCache,
    appraisable_of,
    check_signable_targets,
    contract_data,
    document_data,
    document_of,
    indicators_of,
    read_contract,
    transition,
)
from services.contracts.service.org import unit_view
from shared import audit
from shared.auth import APPRAISER, HR_ADMIN, SERVICE, Principal
from shared.db import Database, bulk_insert_together, insert_returning, update_rows
from shared.errors import ApiProblem, not_found
from shared.outbox import outbox_row, record_events

_PARTIES_SIGNED: dict[str, frozenset[d.Party]] = {
    d.SigningState.AWAITING_MANAGER: frozenset(),
    d.SigningState.AWAITING_EMPLOYER: frozenset({d.Party.MANAGER}),
    d.SigningState.IN_FORCE: frozenset({d.Party.MANAGER, d.Party.EMPLOYER}),
}
@dataclass(frozen=True)
class Signers:
    """Who signs each side of one contract, found from the rule and the people holding posts."""

    manager: Manager
    countersigner: d.Countersigner
    holders: list[repo.PostHolder]
    must_sign: str  # the sentence that names them, for refusals and for the API

    def as_dict(self) -> dict[str, Any]:
        c = self.countersigner
        return {
            "manager": {"manager_id": self.manager.id, "name": self.manager.name,
                        "how": "with their own token (role manager)"},
            "employer": {
                "description": c.description,
                "position": c.position.value if c.position else None,
                "org_unit_id": c.unit_id, "org_unit_name": c.unit_name,
                "manager_ids": [h.id for h in self.holders],
                "names": [h.name for h in self.holders],
                "role": "manager" if c.position else d.EMPLOYER_SIGNATORY_ROLE,
            },
            "summary": self.must_sign,
        }


def document_words(doc: ContractDocument, amendment_version: int = 0) -> str:
    return d.document_words(doc.kind, doc.year, amendment_version)


def signers_of(s: Session, units: UnitCache, c: TenureContract, m: Manager,
               unit: OrgUnit,
               holders_of: dict[tuple[str, str], list[repo.PostHolder]] | None = None
               ) -> Signers:
    """`holders_of`, when given, keeps the post holders already read (a batch reads those
    of every post its contracts name at once, `BatchReads`); a post not in it is read."""
    counter = _countersigner(units, c, unit)
    holders: list[repo.PostHolder] = []
    if counter.position:
        post = (counter.unit_id, counter.position.value)
        known = {} if holders_of is None else holders_of
        if post not in known:
            known[post] = repo.position_holders(s, *post)
        holders = known[post]
    return Signers(m, counter, holders,
                   d.who_must_sign(m.name, counter, [h.name for h in holders]))


def _countersigner(units: UnitCache, c: TenureContract, unit: OrgUnit) -> d.Countersigner:
    parent = units.parent(unit)
    return d.countersigner(str(c.signatory.get("kind")), unit_view(unit),
                           unit_view(parent) if parent else None)


def contract_signers(db: Database, actor: Principal, contract_id: str) -> dict[str, Any]:
    """Who signs the manager's side and who countersigns for the employer (HR, the manager)."""
    with db.read() as s:
        found = repo.contract_with_people(s, contract_id)
        if found is None:
            raise not_found("contract", contract_id)
        c, m, unit = found
        units = _units_around(s, actor, unit)
        if not _scope(actor, units).sees_contract(unit.path, m.id):
            raise not_found("contract", contract_id)
        return signers_of(s, units, c, m, unit).as_dict()


def read_contract_or_countersigned(db: Database, actor: Principal, contract_id: str
                                   ) -> tuple[bytes, int]:
    """The contract as read_contract renders it; also for the employer's signatory of it.

    Only when the ordinary read finds nothing visible (404) is the caller checked as the
    contract's countersigner, so the hot read path costs nothing more.
    """
    try:
        return read_contract(db, actor, contract_id)
    except ApiProblem as exc:
        if exc.status != 404 or actor.has(HR_ADMIN, SERVICE, APPRAISER):
            raise
    with db.read() as s:
        found = repo.contract_with_people(s, contract_id)
        if found is None:
            raise not_found("contract", contract_id)
        c, m, unit = found
        units = _units_around(s, actor, unit)
        signers = signers_of(s, units, c, m, unit)
        try:
            party = d.electronic_party(_caller(actor, unit, units), m.id, signers.countersigner,
                                       {h.id for h in signers.holders}, signers.must_sign)
        except d.NotTheSignatory:
            raise not_found("contract", contract_id) from None
    if party != d.Party.EMPLOYER:
        raise not_found("contract", contract_id)
    return read_contract(db, actor, contract_id, signer=True)


def _units_around(s: Session, actor: Principal, unit: OrgUnit,
                  found: dict[str, OrgUnit] | None = None) -> UnitCache:
    """The contract's unit, every unit above it (its parent names the countersigner, the
    nearest enterprise goes into events) and the caller's scope unit: one query for all,
    or none when the contract's own statement `found` them."""
    units = UnitCache(s)
    if found is not None:
        units.preload(found, [*repo.ancestor_ids(unit), actor.org_scope])
    units.load_path(unit, actor.org_scope)
    return units


def _scope(actor: Principal, units: UnitCache) -> Scope:
    """What `resolve_scope` says, from the units already loaded."""
    unit_id = scope_unit_id(actor)
    top = units.find(unit_id) if unit_id is not None else None
    return scope_of(actor, top.path if top else None)


def _caller(actor: Principal, unit: OrgUnit, units: UnitCache) -> d.Caller:
    """The principal as the signing rules see it; org scope None covers the whole group."""
    top = units.find(actor.org_scope) if actor.org_scope is not None else None
    covers = actor.org_scope is None or (top is not None and unit.path.startswith(top.path))
    return d.Caller(subject=actor.subject, roles=actor.roles, manager_id=actor.manager_id,
                    scope_covers_unit=covers)


def _concerned(actor: Principal, signers: Signers, unit: OrgUnit, units: UnitCache) -> bool:
    """The contract's manager, a holder of the employer's signatory post, or an employer
    signatory whose scope covers the employing unit."""
    if actor.manager_id and (actor.manager_id == signers.manager.id
                             or actor.manager_id in {h.id for h in signers.holders}):
        return True
    return actor.has(d.EMPLOYER_SIGNATORY_ROLE) and _caller(actor, unit, units).scope_covers_unit


def _signing_party(actor: Principal, scope: Scope, signers: Signers, unit: OrgUnit,
                   units: UnitCache, data: Mapping[str, Any], today: date
                   ) -> tuple[d.Party, d.SignatureMethod, date | None, str | None]:
    """Which side the caller signs and how, or the refusal that names who must sign."""
    method = d.SignatureMethod(data.get("method") or d.SignatureMethod.ELECTRONIC)
    if method == d.SignatureMethod.PAPER:
        if not scope.can_write:
            raise d.NotTheSignatory(
                f"Only HR records a signature made on paper. {signers.must_sign}",
                errors={"method": ["paper signatures are recorded by HR"]})
        party, signed_on, reference = d.check_paper_signature(
            data.get("party"), data.get("signed_on"), data.get("paper_reference"), today)
        return party, method, signed_on, reference
    d.check_electronic_fields(data.get("signed_on"), data.get("paper_reference"))
    party = d.electronic_party(_caller(actor, unit, units), signers.manager.id,
                               signers.countersigner, {h.id for h in signers.holders},
                               signers.must_sign)
    if data.get("party") not in (None, party.value):
        raise d.NotTheSignatory(
            f"{actor.subject} signs for the {party} here, not for the {data['party']}. "
            f"{signers.must_sign}", errors={"party": [f"you sign for the {party}"]})
    return party, method, None, None


def _awaiting(c: TenureContract, documents: list[ContractDocument]) -> list[ContractDocument]:
    """What a signature of the whole contract covers now.

    Awaiting signature: the appointment agreement, the tenure performance contract and the
    first year's annual contract, together. Active: every amendment awaiting signatures.
    """
    if c.state == d.ContractState.PENDING_SIGNATURE:
        return initial_documents(documents)
    if c.state == d.ContractState.ACTIVE:
        pending = [doc for doc in documents if doc.amendment_version is not None]
        if pending:
            return pending
        raise d.SigningConflict(
            "Nothing of this contract awaits signatures: it is in force. A later year's annual "
            "performance contract is signed at POST /contracts/{id}/documents/{document_id}"
            "/sign; changed targets need an amendment first (POST /contracts/{id}/amendments)",
            errors={"state": ["active, nothing awaits signatures"]})
    d.transition(d.ContractState(c.state), d.ContractAction.SIGN)  # says what it allows
    raise AssertionError("unreachable: only a contract awaiting signature can be signed")


def initial_documents(documents: list[ContractDocument]) -> list[ContractDocument]:
    """The documents signed to bring a contract into force: agreement, tenure contract, and
    the first year's annual contract.

    A tenure performance contract issued without targets is left out: its targets are set
    later in the term (PUT .../documents/{id}/targets) and it is signed on its own under the
    active contract (POST .../documents/{id}/sign), so the tenure appraisal can score it.
    """
    first_annual = next((doc for doc in documents
                         if doc.kind == d.DocumentKind.ANNUAL_PERFORMANCE_CONTRACT), None)
    return [doc for doc in documents
            if (doc.year == 0 and (doc.targets or doc.kind == d.DocumentKind.APPOINTMENT_AGREEMENT))
            or doc is first_annual]


def _check_document_signable(c: TenureContract, doc: ContractDocument,
                             initial: list[ContractDocument]) -> None:
    if c.state == d.ContractState.PENDING_SIGNATURE and doc not in initial:
        raise d.SigningConflict(
            f"{document_words(doc).capitalize()} is signed once the contract is active: first "
            "sign the appointment agreement, the tenure contract and the first year's annual "
            "contract (POST /contracts/{id}/sign)",
            errors={"document_id": ["signed under an active contract"]})
    if c.state not in (d.ContractState.PENDING_SIGNATURE, d.ContractState.ACTIVE):
        d.transition(d.ContractState(c.state), d.ContractAction.SIGN)  # says what it allows


def _signature_body(sig: ContractSignature, doc: ContractDocument) -> dict[str, Any]:
    """One signature as the API shows it (schemas.SignatureOut, keys in its order)."""
    return {
        "document_id": sig.document_id, "document_kind": doc.kind, "year": doc.year or None,
        "amendment_version": sig.amendment_version or None, "party": sig.party,
        "method": sig.method, "signed_by": sig.signed_by,
        "person_manager_id": sig.person_manager_id, "on_behalf_of": sig.on_behalf_of,
        "signed_at": sig.signed_at.isoformat(),
        "paper_signed_on": sig.paper_signed_on.isoformat() if sig.paper_signed_on else None,
        "paper_reference": sig.paper_reference, "recorded_by": sig.recorded_by,
    }


def _on_behalf_of(party: d.Party, signers: Signers) -> str:
    if party == d.Party.MANAGER:
        m = signers.manager
        return f"{m.name} ({m.employee_no}), the manager"
    return f"the employer: {signers.countersigner.description}"


def _signed_by_summary(c: TenureContract) -> str:
    """Who signed the contract into force, for `signed_by`: each side, and how."""
    parts = []
    for party in (d.Party.MANAGER, d.Party.EMPLOYER):
        sig = next((x for x in c.signatures if x["party"] == party
                    and x["amendment_version"] is None), None)
        if sig is None:
            continue
        how = (sig["signed_by"] if sig["method"] == d.SignatureMethod.ELECTRONIC
               else f"on paper ({sig['paper_reference']})")
        parts.append(f"{party}: {how}")
    return "; ".join(parts)[:200]


@contextmanager
def _writing(db: Database | Session) -> Iterator[Session]:
    """A unit of work of its own, or the caller's session, which commits (a batch of
    countersignatures, service/countersign.py, signs many contracts in one transaction)."""
    if isinstance(db, Session):
        yield db
        return
    with db.unit_of_work() as s:
        yield s


@dataclass(frozen=True)
class Signed:
    """What one signature wrote: the contract, its manager and unit, every document of it
    (in ONE_CONTRACT's order) and those this signature covered."""

    contract: TenureContract
    manager: Manager
    unit: OrgUnit
    documents: list[ContractDocument]
    chosen: list[ContractDocument]

    def contract_json(self) -> bytes:
        """The contract as `GET /contracts/{id}` sends it, from the rows just committed."""
        return reads.contract_json_of(self.contract, self.manager, self.unit, self.documents)


@dataclass(frozen=True)
class Written:
    """What one signature wrote: its contract, every document of it, its new signature rows,
    and who its audit records name (on paper, HR for the person who signed)."""

    contract: TenureContract
    documents: list[ContractDocument]
    signatures: list[ContractSignature]
    actor: audit.Actor


class BatchWrites:
    """The rows and events of a batch's signatures, kept until the batch writes them all
    together: one UPDATE of the documents, one INSERT of the signatures, one UPDATE of the
    contracts, the audit records and the events, each one statement for the whole batch
    (`_write_rows`), where a flush of the ORM's unit of work took two fifths of a batch's
    CPU and each contract sent an INSERT of its events (and, on paper, its own flush, so
    that its records named whom it was signed for: each kept signature keeps its actor)."""

    def __init__(self) -> None:
        self.signed: list[Written] = []
        self.events: list[dict[str, Any]] = []

    def add(self, written: Written, events: list[dict[str, Any]]) -> None:
        self.signed.append(written)
        self.events.extend(events)

    def write(self, s: Session) -> None:
        """Write what was kept, in the order it happened; the caller's transaction commits."""
        if self.signed:
            _write_rows(s, self.signed)
        record_events(s, outbox, self.events)
        self.signed, self.events = [], []


class BatchReads:
    """What a batch of signatures reads for all its contracts at once, instead of each
    signature reading its own: the contracts with their managers and units (locked, in the
    order of their ids), their documents and the overlap check's answers, the units above
    them and the holders of every signatory post they name. A batch of 100 sends five
    reads instead of four a contract.

    The overlap check's answer is kept only for a contract whose manager and post no other
    contract of the batch shares: an earlier one of those may come into force in the same
    transaction, so that signature reads it again after what went before is written.
    """

    def __init__(self, s: Session, actor: Principal, contract_ids: list[str],
                 writes: BatchWrites | None = None) -> None:
        self.writes = writes
        self.found = repo.contracts_with_people_locked(s, contract_ids)
        contracts = [c for c, _, _ in self.found.values()]
        posts = Counter((c.manager_id, c.position) for c in contracts)
        answers = repo.documents_and_active_contract_ids(s, contracts)
        self.documents = {c.id: answers[c.id] for c in contracts
                          if posts[(c.manager_id, c.position)] == 1}
        self.units = UnitCache(s)
        self.units.load_paths((unit for _, _, unit in self.found.values()), actor.org_scope)
        self.holders = repo.holders_of_posts(s, self._posts())

    def _posts(self) -> set[tuple[str, str]]:
        """The signatory post of each contract whose countersigner holds one; a contract
        whose rule cannot be applied is left to its own signature, which refuses it."""
        posts: set[tuple[str, str]] = set()
        for c, _m, unit in self.found.values():
            try:
                counter = _countersigner(self.units, c, unit)
            except (ApiProblem, d.DomainError):
                continue
            if counter.position:
                posts.add((counter.unit_id, counter.position.value))
        return posts


def sign(db: Database | Session, actor: Principal, contract_id: str, document_id: str | None,
         data: Mapping[str, Any], expected: int | None, today: date | None = None,
         batch: BatchReads | None = None) -> tuple[TenureContract, list[ContractDocument]]:
    """Record one party's signature of the whole contract (`document_id` None) or of one
    document (see `sign_contract` for the rules); the contract and the documents signed."""
    signed = sign_contract(db, actor, contract_id, document_id, data, expected, today, batch)
    return signed.contract, signed.chosen


def sign_contract(db: Database | Session, actor: Principal, contract_id: str,
                  document_id: str | None, data: Mapping[str, Any], expected: int | None,
                  today: date | None = None, batch: BatchReads | None = None) -> Signed:
    """Record one party's signature of the whole contract (`document_id` None) or of one
    document; bring into force what both sides have now signed.

    Two signatures per contract make this the busiest write of the year, so it keeps its
    round trips few and fixed, however many documents and targets are signed: the contract
    (locked) with its manager, its unit and the units above it (one statement on
    PostgreSQL), the signatory post's holders, the documents with the overlap check, the
    indicators (unless the process keeps them: repo.indicator_definitions); then one UPDATE
    of the documents, one INSERT of the signatures, one UPDATE of the contract (Core
    statements, `_write_rows`; inside a caller's transaction, the caller's flush), and one
    INSERT of its audit records with all its events (on SQLite, and inside a caller's
    transaction, one of each; tests/integration/test_signing_statements.py counts them).
    Reads come first and writes last, so the session never flushes half a signature to run
    a query. In a batch (`batch`, read once for all its contracts) a signature reads nothing
    more of its own, and with the batch's `writes` it writes nothing either: it hands its
    rows and events over, written with the rest of the batch's (`BatchWrites`).
    """
    today = today or date.today()
    with _writing(db) as s:
        if batch is not None:
            found = batch.found.get(contract_id)
            if found is None:
                raise not_found("contract", contract_id)
            c, m, unit = found
            units = batch.units
        else:
            locked = repo.locked_contract_with_people_and_units(s, contract_id,
                                                                actor.org_scope)
            if locked is None:
                raise not_found("contract", contract_id)
            c, m, unit, on_path = locked
            units = _units_around(s, actor, unit, on_path)
        scope = _scope(actor, units)
        if actor.has(HR_ADMIN, SERVICE, APPRAISER) and not scope.sees_contract(unit.path, m.id):
            raise not_found("contract", contract_id)
        signers = signers_of(s, units, c, m, unit, batch.holders if batch is not None else None)
        if not actor.has(HR_ADMIN, SERVICE, APPRAISER) and not _concerned(actor, signers,
                                                                           unit, units):
            # Someone with no part in this contract learns nothing of it, not even who signs.
            raise not_found("contract", contract_id)
        party, method, signed_on, reference = _signing_party(actor, scope, signers, unit,
                                                             units, data, today)
        check_version(expected, c.row_version)
        # Read after the lock, by its own statement: a join in the locking query would
        # return the documents as they were before a signature committed meanwhile. The
        # overlap check (the manager's other active contract) rides along.
        read = batch.documents.get(c.id) if batch is not None else None
        documents, other = read if read is not None else \
            repo.documents_and_active_contract_id(s, c)
        initial = initial_documents(documents)
        if document_id is None:
            chosen = _awaiting(c, documents)
        else:
            doc = document_of(s, c, document_id)
            _check_document_signable(c, doc, initial)
            chosen = [doc]
        if document_id is None:
            # Signing "the contract" signs what this side has not signed yet.
            left = [doc for doc in chosen if party not in _PARTIES_SIGNED[d.SigningState(
                doc.amendment_state if doc.amendment_version else doc.signing_state)]]
            chosen = left or chosen[:1]
        if c.state == d.ContractState.PENDING_SIGNATURE:
            d.transition(d.ContractState(c.state), d.ContractAction.SIGN)  # legal at all?
            if other is not None:
                raise d.ContractOverlap(
                    f"Manager already has active contract {other} for this position; "
                    "it must end before this one can be signed")
        events: list[dict[str, Any]] = []
        signed, signatures = _record(s, c, m, unit, units, signers, chosen, party, method,
                                     signed_on, reference, actor, events)
        _bring_into_force(c, m, unit, units, documents, initial, signed, events)
        if party == d.Party.MANAGER:
            events.append(outbox_row("contract.countersignature_requested", m.id, {
                **contract_data(c, m, unit, units, None),
                "documents": [document_data(doc) | {"amendment_version": av or None}
                              for doc, av in signed],
                "countersigner": signers.countersigner.description,
                "signatory_manager_id": signers.holders[0].id if signers.holders else None,
                "signatory_manager_ids": [h.id for h in signers.holders],
                "signatory_name": signers.holders[0].name if signers.holders else None,
            }))
        written = Written(c, documents, signatures, audit.current_actor())
        if batch is not None and batch.writes is not None:
            batch.writes.add(written, events)  # the batch writes them
            return Signed(c, m, unit, documents, chosen)
        if isinstance(db, Session):
            s.add_all(signatures)  # flushed with the rest of the caller's transaction
            record_events(s, outbox, events)  # one statement, in the order they happened
        else:
            _write_rows(s, [written], events)
    return Signed(c, m, unit, documents, chosen)


def _write_rows(s: Session, signed: list[Written],
                events: list[dict[str, Any]] | None = None) -> None:
    """What signatures changed, written by Core statements instead of a flush of the unit
    of work (a third of a manager's call went into the flush): the documents in one UPDATE,
    the new signatures in one INSERT returning their ids, the contracts in one UPDATE, and
    the audit records the flush would have made, in one INSERT; for one signature or a
    batch's. `events`, when given, are written by the audit records' statement (one round
    trip for both on PostgreSQL, `bulk_insert_together`), in the order they happened.

    The session is then told the rows are as written and lets go of the contracts and their
    documents, so the commit flushes nothing; they stay readable for the answer.
    """
    changed = [(obj, audit.written_columns(obj), w.actor)
               for w in signed for obj in (w.contract, *w.documents)]
    changed = [(obj, columns, actor) for obj, columns, actor in changed if columns]
    entries = [(actor, audit.pending_entry(obj, columns)) for obj, columns, actor in changed]
    by_table: dict[Any, list[dict[str, Any]]] = {}
    for obj, columns, _ in changed:
        by_table.setdefault(type(obj).__table__, []).append(
            {"id": obj.id, **{k: getattr(obj, k) for k in columns}})
    for table, rows in by_table.items():
        update_rows(s, table, rows)
    table = ContractSignature.__table__
    signatures = [(sig, w.actor) for w in signed for sig in w.signatures]
    rows = [{col.key: getattr(sig, col.key) for col in table.columns if col.key != "id"}
            for sig, _ in signatures]
    ids = {(document_id, version): key for key, document_id, version in insert_returning(
        s, table, rows, ("id", "document_id", "amendment_version"))}
    for sig, _ in signatures:
        sig.id = ids[(sig.document_id, sig.amendment_version)]
    created = [(actor, audit.pending_entry(sig)) for sig, actor in signatures]
    records = audit.rows_each([(actor, e) for actor, e in (*created, *entries) if e is not None],
                              converted=True)
    bulk_insert_together(s, [(audit.AUDIT, records), (outbox, events or [])])
    for obj, columns, _ in changed:
        for column in columns:
            set_committed_value(obj, column, getattr(obj, column))
        s.expunge(obj)


def _record(s: Session, c: TenureContract, m: Manager, unit: OrgUnit, units: UnitCache,
            signers: Signers, chosen: list[ContractDocument], party: d.Party,
            method: d.SignatureMethod, signed_on: date | None, reference: str | None,
            actor: Principal, events: list[dict[str, Any]]
            ) -> tuple[list[tuple[ContractDocument, int]], list[ContractSignature]]:
    """One signature row per document, each checked, and the documents' new states; the
    documents signed and the new signature rows, for the caller to write.

    Every document is checked (in order, so the first refusal is the one a document-by-
    document pass would give) before anything is written; each document's
    `contract.signature_recorded` joins `events`.
    """
    electronic = method == d.SignatureMethod.ELECTRONIC
    to_check = [doc for doc in chosen if not doc.amendment_version
                and doc.kind != d.DocumentKind.APPOINTMENT_AGREEMENT
                and party == d.Party.MANAGER]
    library = indicators_of(s, to_check) if to_check else {}
    for doc in chosen:
        av = doc.amendment_version or 0
        if doc in to_check:
            check_signable_targets(s, c, doc, library)
        d.check_may_sign(party, _PARTIES_SIGNED[d.SigningState(
            doc.amendment_state if av else doc.signing_state)], document_words(doc, av))
    now = utcnow()
    person = (signers.manager.id if party == d.Party.MANAGER
              else actor.manager_id if electronic else None)
    behalf = _on_behalf_of(party, signers)
    if not electronic:
        # HR writes what someone else signed on paper: the audit trail says for whom.
        audit.on_behalf_of(person or behalf)
    facts = contract_data(c, m, unit, units, None)  # the contract itself does not change here
    done: list[tuple[ContractDocument, int]] = []
    signatures: list[ContractSignature] = []
    bodies = list(c.signatures or [])
    for doc in chosen:
        av = doc.amendment_version or 0
        state = doc.amendment_state if av else doc.signing_state
        sig = ContractSignature(
            contract_id=c.id, document_id=doc.id, amendment_version=av, party=party.value,
            method=method.value, signed_by=actor.subject if electronic else None,
            person_manager_id=person, on_behalf_of=behalf[:400],
            signed_at=now, paper_signed_on=signed_on, paper_reference=reference,
            recorded_by=None if electronic else actor.subject,
        )
        signatures.append(sig)
        new_state = d.signing_state(_PARTIES_SIGNED[d.SigningState(state)] | {party}).value
        if av:
            doc.amendment_state = new_state
        else:
            doc.signing_state = new_state
        doc.row_version += 1
        body = _signature_body(sig, doc)
        bodies.append(body)
        events.append(outbox_row("contract.signature_recorded", m.id, {
            **facts, **body,
            "document_state": new_state,
            "countersigner": signers.countersigner.description,
        }))
        done.append((doc, av))
    c.signatures = bodies
    c.row_version += 1
    c.updated_at = now
    return done, signatures


def _bring_into_force(c: TenureContract, m: Manager, unit: OrgUnit, units: UnitCache,
                      documents: list[ContractDocument], initial: list[ContractDocument],
                      signed: list[tuple[ContractDocument, int]],
                      events: list[dict[str, Any]]) -> None:
    """Documents both sides have signed come into force; the contract when its first set is.

    An amendment in force replaces the document's targets (the version signed before stayed
    in force until now); the appraisal service hears it as targets.set, locked.
    """
    now = utcnow()
    for doc, av in signed:
        if av and doc.amendment_state == d.SigningState.IN_FORCE:
            doc.targets = list(doc.amended_targets or [])
            doc.amended_targets = None
            doc.amendment_version = None
            doc.amendment_state = None
            # `documents` are every document of the contract, this one among them.
            c.appraisable = appraisable_of(c.position, documents)
            events.append(outbox_row("targets.set", m.id, {
                **contract_data(c, m, unit, units, None), **document_data(doc),
                "locked": True, "amendment_version": av}))
        elif not av and doc.signing_state == d.SigningState.IN_FORCE:
            doc.signed_at = now
            if c.state == d.ContractState.ACTIVE:
                events.append(outbox_row("targets.set", m.id, {
                    **contract_data(c, m, unit, units, None), **document_data(doc),
                    "locked": True}))
    if c.state == d.ContractState.PENDING_SIGNATURE and all(
            doc.signing_state == d.SigningState.IN_FORCE for doc in initial):
        transition(c, d.ContractAction.SIGN)
        c.signed_at = now
        c.signed_by = _signed_by_summary(c)
        events.append(outbox_row("contract.signed", m.id,
                                 contract_data(c, m, unit, units, documents)))
