"""The queries the notifications service needs, behind plain functions over a Session."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, String, func, literal, select, update
from sqlalchemy.orm import Session

from services.notifications import domain as d
from services.notifications.models import (
    ChannelPreference,
    OrgUnit,
    Recipient,
    TemplateOverride,
    WebhookEndpoint,
)


@dataclass(frozen=True)
class Page:
    items: Sequence[Any]
    total: int


def paginate(session: Session, stmt: Select[Any], page: int, page_size: int) -> Page:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = session.execute(stmt.limit(page_size).offset((page - 1) * page_size))
    return Page(items=rows.all(), total=int(total or 0))


# --- the org tree -----------------------------------------------------------------------------


def unit_path(session: Session, unit_id: str) -> str:
    """The unit's "/root/.../self/" path; a unit nobody told us about stands alone."""
    path = session.scalar(select(OrgUnit.path).where(OrgUnit.id == unit_id))
    return path or f"/{unit_id}/"


def path_ids(path: str) -> list[str]:
    return [p for p in path.strip("/").split("/") if p]


def place_org_unit(session: Session, unit_id: str, parent_id: str | None, now: datetime,
                   **facts: Any) -> OrgUnit:
    """Create or move a unit under its parent; the whole subtree follows (one UPDATE).

    A parent not seen yet is added as a placeholder at the root: its own event will place it
    later, and the units placed under it meanwhile move with it.
    """
    parent_path: str | None = "/"
    if parent_id:
        parent = session.get(OrgUnit, parent_id)
        if parent is None:
            parent = OrgUnit(id=parent_id, parent_id=None, path=f"/{parent_id}/",
                             placeholder=True, updated_at=now)
            session.add(parent)
            session.flush()
        # A move under its own subtree cannot be right (the contracts service refuses it):
        # keep the tree as it is rather than make a cycle.
        parent_path = None if f"/{unit_id}/" in parent.path else parent.path
    unit = session.get(OrgUnit, unit_id)
    if unit is None:
        unit = OrgUnit(id=unit_id, parent_id=parent_id, path=(parent_path or "/") + unit_id + "/",
                       placeholder=False, updated_at=now)
        session.add(unit)
    elif parent_path is not None:
        new_path = parent_path + unit_id + "/"
        if unit.path != new_path:
            old_path = unit.path
            session.execute(
                update(OrgUnit)
                .where(OrgUnit.path.startswith(old_path, autoescape=True), OrgUnit.id != unit_id)
                .values(path=literal(new_path, String) + func.substr(OrgUnit.path,
                                                                     len(old_path) + 1))
                .execution_options(synchronize_session=False))
            unit.path = new_path
        unit.parent_id = parent_id
    unit.placeholder = False
    for key in ("code", "name", "layer"):
        if facts.get(key) is not None:
            setattr(unit, key, facts[key])
    unit.updated_at = now
    session.flush()
    return unit


def units_within(scope_id: str) -> Select[Any]:
    """Ids of the units in a scope's subtree (the scope itself included)."""
    return select(OrgUnit.id).where(OrgUnit.path.contains(f"/{scope_id}/", autoescape=True))


# --- people -----------------------------------------------------------------------------------


def recipient(session: Session, person_id: str) -> Recipient | None:
    return session.get(Recipient, person_id)


def recipients(session: Session, ids: Iterable[str]) -> dict[str, Row[Any]]:
    """The directory entries of many people at once (a delivery batch's recipients), as
    rows of the table: read to address and route, never changed."""
    ids = list(set(ids))
    if not ids:
        return {}
    table = Recipient.__table__
    return {r.id: r for r in session.execute(select(table).where(table.c.id.in_(ids)))}


def as_domain(row: Recipient) -> d.Recipient:
    return d.Recipient(id=row.id, name=row.name or "", email=row.email,
                       language=d.normalise_language(row.language))


def preferences_of(session: Session, ids: Iterable[str]) -> dict[str, d.ChannelPreferences]:
    ids = list(set(ids))
    if not ids:
        return {}
    rows = session.scalars(select(ChannelPreference).where(ChannelPreference.recipient_id.in_(ids)))
    return {r.recipient_id: d.ChannelPreferences(email=r.email, webhook=r.webhook) for r in rows}


def webhook_for(session: Session, recipient_id: str, home_unit: str | None
                ) -> WebhookEndpoint | None:
    """The person's own endpoint, else the one of the nearest unit at or above their unit."""
    own = session.scalar(select(WebhookEndpoint).where(
        WebhookEndpoint.recipient_id == recipient_id))
    if own is not None or not home_unit:
        return own
    chain = path_ids(unit_path(session, home_unit))
    found = {w.org_unit_id: w for w in session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.org_unit_id.in_(chain)))}
    for unit_id in reversed(chain):
        if unit_id in found:
            return found[unit_id]
    return None


def template_overrides(session: Session) -> dict[tuple[str, str], d.TemplateSource]:
    """Every override by (kind, language): a few dozen rows at most, read once per batch."""
    return {(row.kind, row.language): d.TemplateSource(row.subject, row.body, row.html)
            for row in session.scalars(select(TemplateOverride))}


class TemplateLookup:
    """Overrides by (kind, language), each read at most once per instance."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.cache: dict[tuple[str, str], d.TemplateSource | None] = {}

    def __call__(self, kind: d.NoticeKind, language: str) -> d.TemplateSource | None:
        key = (str(kind), language)
        if key not in self.cache:
            row = self.session.get(TemplateOverride, key)
            self.cache[key] = (d.TemplateSource(row.subject, row.body, row.html)
                               if row is not None else None)
        return self.cache[key]
