"""Who may see what, versions, paging and the scheme book: what every use case starts with."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, overload

from sqlalchemy import Select, any_, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from services.appraisal import domain as d
from services.appraisal.models import Manager, OrgUnit, SchemeRecord, TargetSet
from shared import audit
from shared.auth import APPRAISER, GROUP_WIDE_WRITERS, HR_ADMIN, SERVICE, Principal
from shared.errors import ApiProblem, not_found

#: States in which actuals and scores may still change (a run or a single score).
OPEN_STATES = ("open", "actuals_submitted", "scored")
FROZEN_STATES = ("reviewed", "approved", "published")
ACTIVE_CONTRACT_STATES = ("active", "expired", "renewed")


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def as_utc(moment: datetime) -> datetime: ...


@overload
def as_utc(moment: None) -> None: ...


def as_utc(moment: datetime | None) -> datetime | None:
    """A timestamp as aware UTC: SQLite hands back naive ones (written as UTC)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def etag_of(row_version: int) -> str:
    return f'"v{row_version}"'


def check_version(expected: int | None, current: int) -> None:
    if expected is not None and expected != current:
        raise ApiProblem(412, "Precondition Failed",
                         "The resource changed since you read it; read it again and retry",
                         headers={"ETag": etag_of(current)})


@dataclass(frozen=True)
class Page:
    items: Sequence[Any]
    total: int


def paginate(s: Session, stmt: Select[Any], page: int, page_size: int) -> Page:
    total = s.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = s.execute(stmt.limit(page_size).offset((page - 1) * page_size))
    return Page(items=rows.all(), total=int(total or 0))


def among(s: Session, column: Any, ids: Sequence[Any]) -> Any:
    """`column IN ids` for long lists: one array parameter on PostgreSQL (`= ANY(...)`),
    instead of thousands of bound parameters to render and send."""
    if s.get_bind().dialect.name == "postgresql":
        return column == any_(literal(list(ids), ARRAY(column.type)))
    return column.in_(list(ids))


def id_chunk(s: Session) -> int:
    """How many ids one `among` may take: SQLite caps bound parameters."""
    return 50_000 if s.get_bind().dialect.name == "postgresql" else 900


# --- scope ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What a caller may see: an org subtree (None = whole group) or only one manager."""

    path: str | None
    manager_id: str | None = None
    can_write: bool = False
    subject: str = ""

    def covers_path(self, path: str | None) -> bool:
        if self.manager_id is not None:
            return False
        return self.path is None or (path is not None and path.startswith(self.path))

    def covers_manager_at(self, manager_id: str, path: str | None) -> bool:
        """Whether the caller sees the manager whose unit lies at `path`."""
        if self.manager_id is not None:
            return self.manager_id == manager_id
        return self.path is None or (path or "").startswith(self.path)


def resolve_scope(s: Session, principal: Principal) -> Scope:
    can_write = principal.has(HR_ADMIN, SERVICE)
    if principal.has(HR_ADMIN, SERVICE, APPRAISER):
        if principal.org_scope is None:
            return Scope(path=None, can_write=can_write, subject=principal.subject)
        unit = s.get(OrgUnit, principal.org_scope)
        # A scope naming a unit this read model does not know sees nothing.
        return Scope(path=unit.path if unit else "/-/", can_write=can_write,
                     subject=principal.subject)
    return Scope(path=None, manager_id=principal.manager_id or "-", subject=principal.subject)


def audit_units(s: Session, principal: Principal) -> Select[Any] | None:
    """The units whose audit trail the caller reads: None for the whole group."""
    return audit.subtree_units(OrgUnit, resolve_scope(s, principal).path)


def require_write(scope: Scope) -> None:
    if not scope.can_write:
        raise ApiProblem(403, "Forbidden", "Only HR administrators can change this")


def require_group_wide(scope: Scope) -> None:
    require_write(scope)
    if scope.path is not None:
        raise ApiProblem(403, "Forbidden", f"Only {GROUP_WIDE_WRITERS} may change this: it "
                         "is shared by the whole group")


def unit_path(s: Session, unit_id: str | None) -> str | None:
    if not unit_id:
        return None
    unit = s.get(OrgUnit, unit_id)
    return unit.path if unit else None


def visible_unit(s: Session, scope: Scope, unit_id: str) -> OrgUnit:
    unit = s.get(OrgUnit, unit_id)
    if unit is None or not scope.covers_path(unit.path):
        raise not_found("org unit", unit_id)
    return unit


def visible_manager(s: Session, scope: Scope, manager_id: str) -> Manager:
    m = s.get(Manager, manager_id)
    if m is None:
        raise not_found("manager", manager_id)
    if scope.manager_id is not None:
        if scope.manager_id != m.id:
            raise not_found("manager", manager_id)
        return m
    if scope.path is not None and not (unit_path(s, m.org_unit_id) or "").startswith(
            scope.path):
        raise not_found("manager", manager_id)
    return m


def covers_manager(s: Session, scope: Scope, m: Manager) -> bool:
    path = unit_path(s, m.org_unit_id) if scope.path is not None else None
    return scope.covers_manager_at(m.id, path)


# --- what every appraisal reads ---------------------------------------------------------------


def load_scheme_book(s: Session) -> d.SchemeBook:
    """The built-in group default (version 1) and every stored version, oldest first."""
    book = d.SchemeBook([d.DEFAULT_SCHEME])
    for record in s.scalars(select(SchemeRecord).order_by(SchemeRecord.id)):
        book.add(d.scheme_from_dict(record.body))
    return book


def lines_by_set(s: Session, sets: Iterable[tuple[str, str]]) -> dict[str, list[Any]]:
    """The lines of target sets given as (id, digest), by id.

    Targets come from a few templates, so each distinct digest's lines are read and parsed
    once (in one query), not thousands of times; a set stored without a digest is read on
    its own."""
    by_digest: dict[str, list[str]] = {}
    loose: list[str] = []
    for set_id, digest in sets:
        if digest:
            by_digest.setdefault(digest, []).append(set_id)
        else:
            loose.append(set_id)
    out: dict[str, list[Any]] = {}
    step = id_chunk(s)
    digests = sorted(by_digest)
    for start in range(0, len(digests), step):
        first = (select(func.min(TargetSet.id))
                 .where(among(s, TargetSet.digest, digests[start:start + step]))
                 .group_by(TargetSet.digest))
        for digest, lines in s.execute(select(TargetSet.digest, TargetSet.targets)
                                       .where(TargetSet.id.in_(first))):
            for set_id in by_digest[digest]:
                out[set_id] = lines or []
    for start in range(0, len(loose), step):
        for set_id, lines in s.execute(select(TargetSet.id, TargetSet.targets).where(
                among(s, TargetSet.id, loose[start:start + step]))):
            out[set_id] = lines or []
    return out


def line_code(line: Mapping[str, Any]) -> str:
    return str(line.get("indicator_code") or line.get("code") or "")
