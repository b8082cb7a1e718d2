"""Domain errors of the appraisal service, each carrying its HTTP status and problem title."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar


class DomainError(Exception):
    """A broken business rule.

    The API maps every subclass once, centrally, to RFC 7807 problem+json: `status` and
    `title` are class attributes, `detail` says what happened in this case and `errors`
    names the offending fields (`{"scoring.base_share": ["..."]}`) so a form can mark them.
    """

    status: ClassVar[int] = 422
    title: ClassVar[str] = "Unprocessable Entity"

    def __init__(self, detail: str = "",
                 *, errors: Mapping[str, Sequence[str]] | None = None) -> None:
        self.detail: str = detail or self.title
        self.errors: dict[str, list[str]] = {k: list(v) for k, v in (errors or {}).items()}
        super().__init__(self.detail)


class SchemeInvalid(DomainError, ValueError):
    """An appraisal scheme breaks a rule; `errors` names every faulty field by its path."""

    status = 422
    title = "Scheme Invalid"


class SchemeNotFound(DomainError, LookupError):
    """No scheme applies (not even a group default), or a code/version that does not exist."""

    status = 404
    title = "Scheme Not Found"


class SchemeConflict(DomainError):
    """Two schemes claim the same (layer, category, position), or a version is reused."""

    status = 409
    title = "Scheme Conflict"


class AppraisalInputInvalid(DomainError, ValueError):
    """Targets, actuals or history that cannot be scored as given (e.g. rating 'Z')."""

    status = 422
    title = "Appraisal Input Invalid"


class CohortInvalid(DomainError, ValueError):
    """A cohort that cannot be distributed: duplicate managers or mixed schemes."""

    status = 422
    title = "Cohort Invalid"


def fail(error: type[DomainError], field: str, message: str) -> DomainError:
    """One-fault error whose detail repeats the field, for the many single checks."""
    return error(f"{field}: {message}", errors={field: [message]})
