"""Who may see what, versions and ETags: what every use case starts with."""


from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from services.contracts import repository as repo
from services.contracts.models import (
    OrgUnit,
    outbox,
)
from shared import audit
from shared.auth import APPRAISER, HR_ADMIN, SERVICE, Principal
from shared.errors import ApiProblem, not_found
from shared.outbox import record_event

log = logging.getLogger("tenure.contracts")

DEFAULT_TERM_YEARS = 3
DEFAULT_MAX_CONSECUTIVE_TERMS = 2
DEFAULT_SIGNING_DEADLINE_DAYS = 30
BULK_CHUNK = 500


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def precondition_failed(current: int) -> ApiProblem:
    return ApiProblem(
        412, "Precondition Failed",
        "The resource changed since you read it; read it again and retry",
        headers={"ETag": etag_of(current)},
    )


def etag_of(row_version: int) -> str:
    return f'"v{row_version}"'


def check_version(expected: int | None, current: int) -> None:
    """`expected` comes from If-Match; None means the caller sent none (checked by the API)."""
    if expected is not None and expected != current:
        raise precondition_failed(current)




# --- scope ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What a caller may see: an org subtree (None = whole group) or only one manager."""

    path: str | None
    manager_id: str | None = None
    can_write: bool = False

    def covers(self, unit: OrgUnit) -> bool:
        return self.covers_path(unit.path)

    def covers_path(self, unit_path: str) -> bool:
        return self.path is None or unit_path.startswith(self.path)

    def sees_contract(self, unit_path: str, manager_id: str) -> bool:
        return self.covers_path(unit_path) and self.manager_id in (None, manager_id)


def scope_unit_id(principal: Principal) -> str | None:
    """The unit at the top of the caller's subtree, when their scope is one."""
    return principal.org_scope if principal.has(HR_ADMIN, SERVICE, APPRAISER) else None


def scope_of(principal: Principal, scope_unit_path: str | None) -> Scope:
    """The caller's scope, given the path of `scope_unit_id(principal)` (None if unknown)."""
    can_write = principal.has(HR_ADMIN, SERVICE)
    if principal.has(HR_ADMIN, SERVICE, APPRAISER):
        if principal.org_scope is None:
            return Scope(path=None, can_write=can_write)
        # A scope naming a unit that does not exist sees nothing rather than everything.
        return Scope(path=scope_unit_path or "/-/", can_write=can_write)
    return Scope(path=None, manager_id=principal.manager_id or "-", can_write=False)


def resolve_scope(session: Session, principal: Principal) -> Scope:
    unit_id = scope_unit_id(principal)
    unit = repo.unit_by_id(session, unit_id) if unit_id is not None else None
    return scope_of(principal, unit.path if unit else None)


def audit_units(session: Session, principal: Principal) -> Select[Any] | None:
    """The units whose audit trail the caller reads: None for the whole group."""
    return audit.subtree_units(OrgUnit, resolve_scope(session, principal).path)


def require_write(scope: Scope) -> None:
    if not scope.can_write:
        raise ApiProblem(403, "Forbidden", "Only HR administrators can change this")


def _visible_unit(session: Session, scope: Scope, unit_id: str, *, lock: bool = False
                  ) -> OrgUnit:
    unit = repo.unit_by_id(session, unit_id, lock=lock)
    if unit is None or not scope.covers(unit) or scope.manager_id is not None:
        raise not_found("org unit", unit_id)
    return unit


def _emit(session: Session, event_type: str, subject: str | None, data: dict[str, Any]) -> str:
    return str(record_event(session, outbox, event_type, subject, data)["event_id"])
