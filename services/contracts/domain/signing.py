"""Two-sided signing: who signs each side of a contract's documents, and when one is in force.

A document (the appointment agreement, the tenure performance contract, an annual
performance contract, or an amendment of one's targets) is signed by two parties:

- the **manager**, with their own token (role `manager`, `manager_id` = the contract's
  manager). Nobody else signs as the manager;
- the **employer**, countersigning after the manager: the signatory the layer rule names
  (`signatory.employer_signatory`) signs as a principal of their own (see `countersigner`).

A document is in force only when both have signed. HR may record either party's signature
made on paper, but only explicitly (method `paper`, the date on the paper and the document
number or scan reference); it is recorded as a paper signature entered by HR, never as the
manager's own electronic signature. docs/signing.md tells the whole story.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from services.contracts.domain.errors import (
    NotTheSignatory,
    PaperSignatureInvalid,
    SigningConflict,
)
from services.contracts.domain.org import OrgUnitView
from services.contracts.domain.vocabulary import DocumentKind, Position, UnitKind

#: The token role of a signatory who is no manager of the group (the supervisor's signatory,
#: or whoever an override names). Its org scope must cover the employing unit.
EMPLOYER_SIGNATORY_ROLE = "employer_signatory"
MANAGER_ROLE = "manager"
PAPER_REFERENCE_MAX = 200


_KIND_WORDS = {
    DocumentKind.APPOINTMENT_AGREEMENT: "appointment agreement",
    DocumentKind.TENURE_PERFORMANCE_CONTRACT: "tenure performance contract",
    DocumentKind.ANNUAL_PERFORMANCE_CONTRACT: "annual performance contract",
}


def document_words(kind: str, year: int | None, amendment_version: int = 0) -> str:
    """'the 2026 annual performance contract', 'amendment version 3 of the tenure ...'."""
    words = _KIND_WORDS.get(DocumentKind(kind), kind)
    text = f"the {year} {words}" if year else f"the {words}"
    return f"amendment version {amendment_version} of {text}" if amendment_version else text


class Party(StrEnum):
    """The two sides of every document."""

    MANAGER = "manager"
    EMPLOYER = "employer"


class SignatureMethod(StrEnum):
    ELECTRONIC = "electronic"  # the signer's own token
    PAPER = "paper"  # signed on paper; HR records it with the date and the reference


class SigningState(StrEnum):
    """Where a document (or a pending amendment of it) stands; the manager signs first."""

    AWAITING_MANAGER = "awaiting_manager"
    AWAITING_EMPLOYER = "awaiting_employer"
    IN_FORCE = "in_force"


@dataclass(frozen=True)
class Countersigner:
    """Who holds the employer's pen, as a principal of the system.

    With a `position`, the manager currently holding that position at `unit_id` signs with
    their own manager token. Without one (the supervisor, an override), a token with role
    `employer_signatory` whose org scope covers the employing unit signs.
    """

    position: Position | None
    unit_id: str
    unit_name: str
    description: str


def _enterprise(unit: OrgUnitView, parent: OrgUnitView | None) -> OrgUnitView:
    """A department's staff are employed by the enterprise above it."""
    if unit.kind == UnitKind.DEPARTMENT and parent is not None:
        return parent
    return unit


def countersigner(signatory_kind: str, unit: OrgUnitView, parent: OrgUnitView | None
                  ) -> Countersigner:
    """The principal who countersigns for the employer, from the contract's signatory kind.

    - `board`: the chair of the enterprise signs for its board;
    - `general_manager`: the general manager of the enterprise (a department's: the
      enterprise above it);
    - `parent_enterprise`: the general manager of the parent enterprise;
    - `supervisor` (the group HQ's owner, outside the system) and `override`: a token with
      role `employer_signatory` scoped to (a unit above) the employing unit.
    """
    if signatory_kind == "board":
        return Countersigner(Position.CHAIR, unit.id, unit.name,
                             f"the chair of {unit.name}, for its board")
    if signatory_kind == "general_manager":
        enterprise = _enterprise(unit, parent)
        return Countersigner(Position.GENERAL_MANAGER, enterprise.id, enterprise.name,
                             f"the general manager of {enterprise.name}")
    if signatory_kind == "parent_enterprise" and parent is not None:
        return Countersigner(Position.GENERAL_MANAGER, parent.id, parent.name,
                             f"the general manager of the parent enterprise {parent.name}")
    who = ("the supervisor's signatory" if signatory_kind == "supervisor"
           else "the signatory named by the override")
    return Countersigner(None, unit.id, unit.name,
                         f"{who}, with a token of role {EMPLOYER_SIGNATORY_ROLE} whose org "
                         f"scope covers {unit.name}")


@dataclass(frozen=True)
class Caller:
    """The principal asking to sign, as the signing rules need to see them."""

    subject: str
    roles: frozenset[str]
    manager_id: str | None
    scope_covers_unit: bool  # their org scope (None = the whole group) covers the unit


def who_must_sign(manager_name: str, counter: Countersigner,
                  holder_names: Collection[str]) -> str:
    """The sentence every refusal ends with: who signs which side, and what to do instead."""
    if counter.position is not None:
        holders = (f" (now: {', '.join(sorted(holder_names))})" if holder_names
                   else " (nobody holds that position now: amend the contract with a "
                        "signatory override, or have HR record the employer's paper signature)")
    else:
        holders = ""
    return (f"The manager's side is signed by {manager_name} with their own token; the "
            f"employer's side is countersigned by {counter.description}{holders}. HR records a "
            "signature made on paper with method 'paper'.")


def electronic_party(caller: Caller, contract_manager_id: str, counter: Countersigner,
                     holder_ids: Collection[str], must_sign: str) -> Party:
    """The side this caller signs electronically, or NotTheSignatory saying who must.

    The manager signs with a manager token carrying their own manager_id. The employer's
    countersigner is the current holder of the named position (a manager token carrying
    their manager_id), or, where no position is named, a token with role
    employer_signatory whose scope covers the employing unit. An HR token signs neither.
    """
    is_manager_token = MANAGER_ROLE in caller.roles and caller.manager_id is not None
    if is_manager_token and caller.manager_id == contract_manager_id:
        return Party.MANAGER
    if counter.position is not None:
        if is_manager_token and caller.manager_id in holder_ids:
            return Party.EMPLOYER
    elif EMPLOYER_SIGNATORY_ROLE in caller.roles and caller.scope_covers_unit:
        return Party.EMPLOYER
    raise NotTheSignatory(
        f"{caller.subject} may not sign this contract. {must_sign}",
        errors={"authorization": ["not the manager nor the employer's signatory"]},
    )


def signing_state(signed: Collection[Party]) -> SigningState:
    """In force only when both parties have signed."""
    if Party.MANAGER not in signed:
        return SigningState.AWAITING_MANAGER
    if Party.EMPLOYER not in signed:
        return SigningState.AWAITING_EMPLOYER
    return SigningState.IN_FORCE


def check_may_sign(party: Party, signed: Collection[Party], what: str) -> None:
    """Each party signs once, and the employer countersigns after the manager (409)."""
    if party in signed:
        nxt = ("nothing is left to sign" if len(set(signed)) == 2
               else "it now awaits the employer's countersignature")
        raise SigningConflict(
            f"The {party} has already signed {what}; {nxt}",
            errors={"party": [f"the {party} has already signed"]},
        )
    if party == Party.EMPLOYER and Party.MANAGER not in signed:
        raise SigningConflict(
            f"The employer countersigns {what} after the manager: the manager signs first "
            "(with their own token, or HR records their paper signature)",
            errors={"party": ["the manager has not signed yet"]},
        )


def check_paper_signature(party: str | None, signed_on: date | None, reference: str | None,
                          today: date) -> tuple[Party, date, str]:
    """A paper signature names the party it stands for, the date on the paper (not in the
    future) and the document number or scan reference; every fault is reported at once."""
    errors: dict[str, list[str]] = {}
    if party is None:
        errors["party"] = ["say whose paper signature this is: manager or employer"]
    elif party not in set(Party):
        errors["party"] = ["must be manager or employer"]
    if signed_on is None:
        errors["signed_on"] = ["the date the paper was signed is required"]
    elif signed_on > today:
        errors["signed_on"] = [f"must not be after today ({today.isoformat()})"]
    ref = (reference or "").strip()
    if not ref:
        errors["paper_reference"] = ["the document number or scan reference is required"]
    elif len(ref) > PAPER_REFERENCE_MAX:
        errors["paper_reference"] = [f"at most {PAPER_REFERENCE_MAX} characters"]
    if errors:
        raise PaperSignatureInvalid(
            "A paper signature needs the party it stands for, the date on the paper and the "
            "document number or scan reference", errors=errors)
    assert party is not None and signed_on is not None
    return Party(party), signed_on, ref


def check_electronic_fields(signed_on: date | None, reference: str | None) -> None:
    """The paper's date and reference belong to a paper signature only (422)."""
    errors = {}
    if signed_on is not None:
        errors["signed_on"] = ["only a paper signature carries the date on the paper"]
    if reference is not None:
        errors["paper_reference"] = ["only a paper signature carries a paper reference"]
    if errors:
        raise PaperSignatureInvalid(
            "An electronic signature is dated when it is made; give method 'paper' to record "
            "a signature made on paper", errors=errors)


def check_targets_amendable(state: SigningState | str, pending_amendment: int | None,
                            what: str) -> None:
    """Signed targets change only by an amendment that both sides sign again (409 otherwise).

    Meanwhile the version in force stays in force: one amendment of a document awaits
    signatures at a time.
    """
    if SigningState(state) != SigningState.IN_FORCE:
        remedy = ("set its targets with PUT .../targets before anyone signs it"
                  if state == SigningState.AWAITING_MANAGER
                  else "have the employer countersign it first, then amend it")
        raise SigningConflict(
            f"{what} is not in force yet, so there is nothing to amend: {remedy}",
            errors={"targets": [f"{what} is {SigningState(state)}"]},
        )
    if pending_amendment is not None:
        raise SigningConflict(
            f"{what} already has amendment version {pending_amendment} awaiting signatures: "
            "have both sides sign it (POST .../sign) before amending it again",
            errors={"targets": [f"amendment version {pending_amendment} awaits signatures"]},
        )
