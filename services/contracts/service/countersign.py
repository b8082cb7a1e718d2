"""Batch countersignature: the employer's signatory countersigns many contracts in one act.

Each contract is countersigned by the single-contract use case, `signing.sign`, unchanged:
the same rule of who countersigns, the same signature rows, state transitions, events and
audit records. What the batch adds is one transaction for all of them, a result for every
contract, and atomicity per contract: a contract that is refused changes nothing and holds
back none of the others (docs/signing-batch.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from services.contracts import domain as d
from services.contracts import reads
from services.contracts import repository as repo
from services.contracts.models import ContractDocument, ContractSignature, TenureContract
from services.contracts.service.signing import BatchReads, BatchWrites, sign
from shared.auth import EMPLOYER_SIGNATORY, MANAGER, Principal
from shared.db import Database
from shared.errors import TYPE_BASE, ApiProblem, not_found
from shared.fields import page_info

COUNTERSIGNED = "countersigned"
ALREADY_COUNTERSIGNED = "already_countersigned"
REFUSED = "refused"


@dataclass(frozen=True)
class Countersignature:
    """One contract of the request: its place in the list, the row version the caller read
    (like If-Match) and, on paper, the date and reference of the employer's signature."""

    index: int
    contract_id: str
    row_version: int | None = None
    signed_on: date | None = None
    paper_reference: str | None = None

    def signature(self, method: str) -> dict[str, Any]:
        """What the single call's body (schemas.SignIn) would say for this contract."""
        data: dict[str, Any] = {"method": method, "party": d.Party.EMPLOYER.value}
        if method == d.SignatureMethod.PAPER:
            data["signed_on"] = self.signed_on
            data["paper_reference"] = self.paper_reference
        return data


class _ChangedThenRefused(Exception):
    """A contract was refused after its signature had begun to change the session: the
    transaction is no longer clean, so the batch runs again without it."""

    def __init__(self, index: int, outcome: dict[str, Any]) -> None:
        super().__init__(outcome["problem"]["detail"])
        self.index = index
        self.outcome = outcome


def countersignatures(items: Sequence[Mapping[str, Any]]) -> list[Countersignature]:
    """The request's contracts (schemas.CountersignatureIn, already validated), numbered."""
    return [Countersignature(i, item["contract_id"], item.get("row_version"),
                             item.get("signed_on"), item.get("paper_reference"))
            for i, item in enumerate(items)]


def countersign_contracts(db: Database, actor: Principal, method: str,
                          items: Sequence[Countersignature], today: date | None = None
                          ) -> dict[str, Any]:
    """Countersign every contract the caller may, in one transaction; report each one.

    The signing use case refuses before it changes anything (its reads come first, its
    writes last), so a refused contract leaves the transaction as it was and the others go
    on in it. Should a refusal ever come after a change, the batch is rolled back and run
    again without that contract, which is reported refused: per-contract atomicity holds
    either way. A database failure fails the whole batch and changes nothing.
    """
    settled: dict[int, dict[str, Any]] = {}
    while True:
        try:
            outcomes = _countersign_once(db, actor, method, items, settled, today)
        except _ChangedThenRefused as exc:
            settled[exc.index] = exc.outcome
            continue
        counts = {COUNTERSIGNED: 0, ALREADY_COUNTERSIGNED: 0, REFUSED: 0}
        for outcome in outcomes:
            counts[outcome["outcome"]] += 1
        return {**counts, "contracts": outcomes}


def _countersign_once(db: Database, actor: Principal, method: str,
                      items: Sequence[Countersignature], settled: Mapping[int, dict[str, Any]],
                      today: date | None) -> list[dict[str, Any]]:
    """One pass over the batch, in one transaction.

    The countersignatures are written together at the end (`BatchWrites`: an UPDATE of
    all documents, an INSERT of all signatures, an UPDATE of all contracts, the audit
    records and the events, one statement each), not contract by contract: no read of one
    contract's signature depends on another contract's rows, except the overlap check of a
    manager's second term for the same post, which is why a contract whose manager and post
    an earlier one of the batch shares has what went before written first. Each paper
    countersignature's audit records still name the employer HR recorded it for: the
    batch keeps each signature's actor with its rows.
    """
    outcomes = dict(settled)
    writes = BatchWrites()
    with db.unit_of_work() as s:
        # Every contract locked first, in the order of their ids, so two batches that share
        # contracts wait for each other instead of deadlocking, and read with what signing
        # needs of it, all at once; then each is signed in the order of the request (which
        # decides, say, which of two terms of one post wins).
        batch = BatchReads(s, actor, [item.contract_id for item in items], writes)
        posts = {cid: (c.manager_id, c.position) for cid, (c, _, _) in batch.found.items()}
        unwritten: set[tuple[str, str]] = set()  # the posts of countersignatures not written
        for item in items:
            if item.index in outcomes:
                continue
            post = posts.get(item.contract_id)
            if post in unwritten:
                writes.write(s)
                unwritten.clear()
            try:
                with s.no_autoflush:
                    c, chosen = sign(s, actor, item.contract_id, None, item.signature(method),
                                     item.row_version, today, batch)
            except (ApiProblem, d.DomainError) as exc:
                if _changed(s, item.contract_id):
                    raise _ChangedThenRefused(item.index, _refused(item, exc)) from exc
                outcomes[item.index] = _not_countersigned(s, item, exc)
                continue
            if post is not None:
                unwritten.add(post)
            outcomes[item.index] = _countersigned(item, c, chosen)
        writes.write(s)
    return [outcomes[item.index] for item in items]


def _changed(s: Session, contract_id: str) -> bool:
    """Whether a refused signature had begun to change its contract's rows (the contract,
    its documents, new signature rows: what signing writes), unwritten in the session."""
    with s.no_autoflush:
        c = s.get(TenureContract, contract_id)
        if c is None:
            return False
        documents = repo.documents_of(s, contract_id)
    return (inspect(c).modified or any(inspect(doc).modified for doc in documents)
            or any(isinstance(obj, ContractSignature) and obj.contract_id == contract_id
                   for obj in s.new))


def _countersigned(item: Countersignature, c: TenureContract,
                   chosen: list[ContractDocument]) -> dict[str, Any]:
    ids = {doc.id for doc in chosen}
    return {"index": item.index, "contract_id": c.id, "outcome": COUNTERSIGNED,
            **_contract_facts(c), "signatures": _employer_signatures(c, ids)}


def _not_countersigned(s: Session, item: Countersignature, exc: Exception) -> dict[str, Any]:
    """Already countersigned (a resent batch), or refused with the single call's problem.

    Only a 409 or 412 can hide a countersignature made earlier, and either comes after the
    caller has been found to be the contract's countersigner (or HR recording paper), so
    saying what state the contract is in tells them nothing they may not know.
    """
    if getattr(exc, "status", None) in (409, 412):
        c = s.get(TenureContract, item.contract_id)
        if c is not None and _countersigned_in_force(s, c):
            return {"index": item.index, "contract_id": c.id,
                    "outcome": ALREADY_COUNTERSIGNED, **_contract_facts(c),
                    "signatures": _employer_signatures(c, None)}
        if c is not None and getattr(exc, "status", None) == 412:
            return _refused(item, exc, current_row_version=c.row_version)
    return _refused(item, exc)


def _countersigned_in_force(s: Session, c: TenureContract) -> bool:
    """In force with the employer's signature, and no amendment awaiting anyone."""
    if c.state != d.ContractState.ACTIVE or not _employer_signatures(c, None):
        return False
    return all(doc.amendment_version is None for doc in repo.documents_of(s, c.id))


def _contract_facts(c: TenureContract) -> dict[str, Any]:
    return {"state": c.state, "row_version": c.row_version,
            "signed_at": c.signed_at.isoformat() if c.signed_at else None}


def _employer_signatures(c: TenureContract, document_ids: set[str] | None
                         ) -> list[dict[str, Any]]:
    """The employer's latest signature of each document (of `document_ids`, or of the
    contract's first documents where None), as the contract shows its signatures."""
    latest: dict[str, dict[str, Any]] = {}
    for body in c.signatures or []:
        if body["party"] != d.Party.EMPLOYER:
            continue
        wanted = (body["amendment_version"] is None if document_ids is None
                  else body["document_id"] in document_ids)
        if wanted:
            latest[body["document_id"]] = body
    return list(latest.values())


def _refused(item: Countersignature, exc: Exception, *,
             current_row_version: int | None = None) -> dict[str, Any]:
    """The problem the single call would answer with, its fields named within the batch
    (`contracts.3.row_version`), as RFC 7807 problem details."""
    status = int(getattr(exc, "status", 422))
    title = str(getattr(exc, "title", "Unprocessable Entity"))
    detail = str(getattr(exc, "detail", "") or exc)
    own: dict[str, list[str]] = dict(getattr(exc, "errors", None) or {})
    if status == 412:
        now = f" (it is at {current_row_version} now)" if current_row_version else ""
        own = {"row_version": [f"the contract changed since you read it{now}"]}
    elif status == 404 or not own:
        own = {"contract_id": [detail]}
    prefix = f"contracts.{item.index}."
    errors = {prefix + name: list(reasons) for name, reasons in own.items()}
    problem: dict[str, Any] = {
        "type": str(getattr(exc, "type", "") or TYPE_BASE + title.lower().replace(" ", "-")),
        "title": title, "status": status, "detail": detail, "errors": errors,
        "invalid_params": [{"name": name, "reason": "; ".join(reasons)}
                           for name, reasons in errors.items()],
    }
    if current_row_version is not None:
        problem["current_row_version"] = current_row_version
    return {"index": item.index, "contract_id": item.contract_id, "outcome": REFUSED,
            "problem": problem}


# --- what awaits the caller's countersignature ------------------------------------------------

def awaiting_countersignature(db: Database, actor: Principal, f: Mapping[str, Any]
                              ) -> tuple[list[dict[str, Any]], int]:
    """`GET /contracts?awaiting=my_countersignature`: a page of the contracts awaiting the
    caller's countersignature (what `countersign_contracts` would countersign for them
    now), each with its unit's name and the documents awaiting the employer, and how many.

    One statement (reads.awaiting_list); never from the read cache, since the answer
    depends on who asks. A token that countersigns nothing electronically (HR, appraisers)
    gets an empty list without a query.
    """
    if f.get("org_unit_id"):
        raise not_found("org unit", f["org_unit_id"])  # countersigners see no org units
    params: dict[str, Any] = {name: f[name] for name in reads.LIST_FILTERS
                              if f.get(name) is not None and f.get(name) != ""}
    shape = set(params)
    if actor.has(MANAGER) and actor.manager_id:
        shape.add("countersigner_id")
        params["countersigner_id"] = actor.manager_id
    if actor.has(EMPLOYER_SIGNATORY):
        shape.add("signatory")
        if actor.org_scope is not None:
            shape.add("signatory_scope_id")
            params["signatory_scope_id"] = actor.org_scope
    if not shape & set(reads.COUNTERSIGNERS):
        return [], 0
    if "year" in params:
        year = params.pop("year")
        params.update(year_start=date(year, 1, 1), year_end=date(year, 12, 31))
    params.update(limit=f["page_size"], offset=(f["page"] - 1) * f["page_size"])
    rows = db.fetch_rows(reads.awaiting_list(frozenset(shape)), params)
    return reads.awaiting_bodies(rows), int(rows[0]["total"])


def awaiting_countersignature_json(db: Database, actor: Principal, f: Mapping[str, Any]
                                   ) -> dict[str, Any]:
    items, total = awaiting_countersignature(db, actor, f)
    return {"items": items, "page": page_info(f["page"], f["page_size"], total)}
