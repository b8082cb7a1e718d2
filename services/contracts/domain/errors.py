"""Domain errors of the contracts service, each carrying its HTTP status and problem title."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar


class DomainError(Exception):
    """A broken business rule.

    The API maps every subclass once, centrally, to RFC 7807 problem+json: `status` and
    `title` are class attributes, `detail` says what happened in this case and `errors`
    names the offending fields (`{"indicators[2].weight": ["..."]}`) so a form can mark them.
    """

    status: ClassVar[int] = 422
    title: ClassVar[str] = "Unprocessable Entity"

    def __init__(self, detail: str = "",
                 *, errors: Mapping[str, Sequence[str]] | None = None) -> None:
        self.detail: str = detail or self.title
        self.errors: dict[str, list[str]] = {k: list(v) for k, v in (errors or {}).items()}
        super().__init__(self.detail)


class IllegalTransition(DomainError):
    """The contract's state does not allow the action (e.g. signing a draft)."""

    status = 409
    title = "Illegal Transition"


class ContractOverlap(DomainError):
    """A new term would overlap a contract the manager already holds."""

    status = 409
    title = "Contract Overlap"


class TargetsInvalid(DomainError):
    """Annual targets break the weighting or level rules; `errors` lists every fault."""

    status = 422
    title = "Targets Invalid"


class TargetsLocked(DomainError):
    """The annual performance contract is signed, so its targets no longer change."""

    status = 409
    title = "Targets Locked"


class RenewalLimitReached(DomainError):
    """Another consecutive term would exceed the template's limit of consecutive terms."""

    status = 409
    title = "Renewal Limit Reached"


class InvalidOrgMove(DomainError):
    """The org tree would get a cycle, a second root, or a unit of the wrong kind."""

    status = 422
    title = "Invalid Org Move"


class SignatoryRequired(DomainError):
    """No rule names the employer's signatory, or an override lacks its reason."""

    status = 422
    title = "Signatory Required"


class InvalidCategory(DomainError, ValueError):
    """An enterprise category that is not a slug; also a ValueError for schema fields."""

    status = 422
    title = "Invalid Category"


class TermInvalid(DomainError):
    """A term of no years, an end before its start, or a template outside its limits."""

    status = 422
    title = "Term Invalid"


class AmendmentInvalid(DomainError):
    """An amendment without its reason or its approver."""

    status = 422
    title = "Amendment Invalid"


class NotTheSignatory(DomainError):
    """The caller may not sign this side of the contract; `detail` names who must."""

    status = 403
    title = "Forbidden"


class SigningConflict(DomainError):
    """The document's signatures do not allow this one now (already signed, out of order)."""

    status = 409
    title = "Signing Conflict"


class PaperSignatureInvalid(DomainError):
    """A paper signature without its party, date or document reference, or with a future date."""

    status = 422
    title = "Paper Signature Invalid"
