"""Use cases of the notifications service behind the API: one unit of work each.

Applying events (the consumer's side) lives in `events.py`; sending in `worker.py`.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jinja2 import TemplateError
from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from services.notifications import domain as d
from services.notifications import repository as repo
from services.notifications.channels.targets import WebhookTargetRefused, check_registration
from services.notifications.models import (
    ChannelPreference,
    Delivery,
    DeliveryHistory,
    InboxItem,
    NoticeRow,
    Recipient,
    TemplateOverride,
    WebhookEndpoint,
)
from shared.auth import HR_ADMIN, MANAGER, SERVICE, Principal, require_group_wide_writer
from shared.db import Database
from shared.errors import ApiProblem, not_found

OUTSIDE_CHANNELS = (d.Channel.EMAIL, d.Channel.WEBHOOK)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without their zone; they are all UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def etag_of(row_version: int) -> str:
    return f'"v{row_version}"'


def check_version(expected: int | None, current: int) -> None:
    if expected is not None and expected != current:
        raise ApiProblem(412, "Precondition Failed",
                         "The resource changed since you read it; read it again and retry",
                         headers={"ETag": etag_of(current)})


# --- who is asking ----------------------------------------------------------------------------


def inbox_owner(principal: Principal) -> str:
    """A manager reads the inbox of the manager id in their token; anyone else their own."""
    if principal.has(MANAGER) and principal.manager_id:
        return principal.manager_id
    if principal.roles == {MANAGER}:
        # Without its manager id a manager's token names nobody whose inbox it may read.
        raise ApiProblem(403, "Forbidden", "A manager's token must carry manager_id")
    return principal.subject


@dataclass(frozen=True)
class Scope:
    """The org subtree an HR admin acts in; None for the whole group (and for services)."""

    unit_id: str | None

    @property
    def group_wide(self) -> bool:
        return self.unit_id is None

    def covers(self, session: Session, unit_id: str | None) -> bool:
        if self.unit_id is None:
            return True
        if not unit_id:
            return False
        return self.unit_id in repo.path_ids(repo.unit_path(session, unit_id))


def scope_of(principal: Principal) -> Scope:
    """Group-wide only without an org_scope claim; an empty org_scope names no unit and
    sees nothing, as in every service (docs/authorization.md)."""
    return Scope(principal.org_scope)


def audit_units(s: Session, principal: Principal) -> Any:
    """The units whose audit trail the caller reads: None for the whole group."""
    scope = scope_of(principal)
    if scope.group_wide:
        return None
    return repo.units_within(str(scope.unit_id))


def require_group_wide(principal: Principal, what: str) -> None:
    require_group_wide_writer(principal, what)


# --- inbox ------------------------------------------------------------------------------------


def list_inbox(db: Database, principal: Principal, query: Mapping[str, Any]) -> repo.Page:
    owner = inbox_owner(principal)
    stmt = (select(InboxItem, NoticeRow.event_type, NoticeRow.event_id)
            .join(NoticeRow, NoticeRow.id == InboxItem.notice_id)
            .where(InboxItem.recipient_id == owner)
            .order_by(InboxItem.created_at.desc(), InboxItem.id))
    if query.get("unread"):
        stmt = stmt.where(InboxItem.read_at.is_(None))
    if query.get("kind"):
        stmt = stmt.where(InboxItem.kind == query["kind"])
    with db.read() as s:
        return repo.paginate(s, stmt, query["page"], query["page_size"])


def unread_count(db: Database, principal: Principal) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(InboxItem).where(
            InboxItem.recipient_id == inbox_owner(principal), InboxItem.read_at.is_(None))) or 0)


def mark_read(db: Database, principal: Principal, item_id: str, now: datetime | None = None
              ) -> tuple[InboxItem, str, str]:
    """Mark one's own item read (the first reading time stays); others' items do not exist."""
    with db.unit_of_work() as s:
        found = s.execute(select(InboxItem, NoticeRow.event_type, NoticeRow.event_id)
                          .join(NoticeRow, NoticeRow.id == InboxItem.notice_id)
                          .where(InboxItem.id == item_id)).first()
        if found is None or found[0].recipient_id != inbox_owner(principal):
            raise not_found("inbox item", item_id)
        item = found[0]
        if item.read_at is None:
            item.read_at = now or utcnow()
        return item, found[1], found[2]


# --- notices and deliveries (HR) --------------------------------------------------------------


def _visible_notices(stmt: Any, scope: Scope) -> Any:
    if scope.unit_id is None:
        return stmt
    return stmt.where(NoticeRow.org_unit_id.in_(repo.units_within(scope.unit_id))
                      | (NoticeRow.org_unit_id == scope.unit_id))


def list_notices(db: Database, principal: Principal, query: Mapping[str, Any]) -> repo.Page:
    stmt = select(NoticeRow).order_by(NoticeRow.created_at.desc(), NoticeRow.id)
    for key, column in (("recipient_id", NoticeRow.recipient_id),
                        ("event_type", NoticeRow.event_type), ("kind", NoticeRow.kind),
                        ("manager_id", NoticeRow.manager_id), ("event_id", NoticeRow.event_id)):
        if query.get(key):
            stmt = stmt.where(column == query[key])
    if query.get("state"):
        stmt = stmt.where(NoticeRow.id.in_(select(Delivery.notice_id).where(
            Delivery.state == query["state"])))
    stmt = _visible_notices(stmt, scope_of(principal))
    with db.read() as s:
        page = repo.paginate(s, stmt, query["page"], query["page_size"])
        ids = [row[0].id for row in page.items]
        states: dict[str, list[dict[str, Any]]] = {}
        for delivery in s.scalars(select(Delivery).where(Delivery.notice_id.in_(ids))):
            states.setdefault(delivery.notice_id, []).append(
                {"channel": delivery.channel, "state": delivery.state})
    return repo.Page(items=[notice_summary(row[0], states.get(row[0].id, []))
                            for row in page.items], total=page.total)


def notice_summary(row: NoticeRow, deliveries: list[dict[str, Any]]) -> dict[str, Any]:
    out = {c: getattr(row, c) for c in (
        "id", "notice_key", "kind", "role", "recipient_id", "recipient_name", "language",
        "event_id", "event_type", "manager_id", "org_unit_id", "created_at")}
    out["deliveries"] = sorted(deliveries, key=lambda x: x["channel"])
    return out


def _visible_notice(s: Session, principal: Principal, notice_id: str) -> NoticeRow:
    row = s.get(NoticeRow, notice_id)
    if row is None or not scope_of(principal).covers(s, row.org_unit_id):
        raise not_found("notice", notice_id)
    return row


def delivery_out(delivery: Delivery, history: list[DeliveryHistory]) -> dict[str, Any]:
    out = {c: getattr(delivery, c) for c in (
        "id", "notice_id", "notice_key", "channel", "state", "attempts", "generation",
        "next_attempt_at", "last_error", "sent_at", "created_at", "updated_at")}
    out["history"] = [{"at": h.at, "action": h.action, "attempt": h.attempt,
                       "reason": h.reason, "actor": h.actor} for h in history]
    return out


def get_notice(db: Database, principal: Principal, notice_id: str) -> dict[str, Any]:
    with db.read() as s:
        row = _visible_notice(s, principal, notice_id)
        deliveries = list(s.scalars(select(Delivery).where(Delivery.notice_id == row.id)
                                    .order_by(Delivery.channel)))
        history: dict[str, list[DeliveryHistory]] = {}
        for h in s.scalars(select(DeliveryHistory)
                           .where(DeliveryHistory.delivery_id.in_([x.id for x in deliveries]))
                           .order_by(DeliveryHistory.id)):
            history.setdefault(h.delivery_id, []).append(h)
        item = s.scalar(select(InboxItem).where(InboxItem.notice_id == row.id))
    out = notice_summary(row, [])
    out.update(context=row.context, recipient_email=row.recipient_email,
               deliveries=[delivery_out(x, history.get(x.id, [])) for x in deliveries],
               inbox={"id": item.id, "subject": item.subject, "text": item.text,
                      "read_at": item.read_at} if item else None)
    return out


def to_record(row: Delivery | Row[Any]) -> d.DeliveryRecord:
    """The domain's record of a delivery, from its ORM object or a row of its table."""
    return d.DeliveryRecord(
        notice_key=row.notice_key, channel=d.Channel(row.channel),
        state=d.DeliveryState(row.state), attempts=row.attempts,
        next_attempt_at=aware(row.next_attempt_at), last_error=row.last_error,
        sent_at=aware(row.sent_at), generation=row.generation)


def record_columns(record: d.DeliveryRecord, now: datetime) -> dict[str, Any]:
    """The delivery's columns a transition sets."""
    return {"state": record.state.value, "attempts": record.attempts,
            "generation": record.generation, "next_attempt_at": record.next_attempt_at,
            "last_error": record.last_error, "sent_at": record.sent_at, "updated_at": now}


def history_rows(delivery_id: str, record: d.DeliveryRecord) -> list[dict[str, Any]]:
    """The delivery_history rows of the audit entries a transition added."""
    return [{"delivery_id": delivery_id, "at": entry.at, "action": entry.action,
             "attempt": record.attempts, "reason": entry.reason, "actor": entry.actor}
            for entry in record.history]


def store_record(s: Session, row: Delivery, record: d.DeliveryRecord, now: datetime) -> None:
    """Write a transition back, with the audit entries it added."""
    s.add_all(DeliveryHistory(**h) for h in history_rows(row.id, record))
    for column, value in record_columns(record, now).items():
        setattr(row, column, value)


def resend_delivery(db: Database, principal: Principal, delivery_id: str, reason: str,
                    now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    with db.unit_of_work() as s:
        stmt = select(Delivery).where(Delivery.id == delivery_id)
        if db.is_postgres:
            stmt = stmt.with_for_update()
        row = s.scalar(stmt)
        notice = s.get(NoticeRow, row.notice_id) if row is not None else None
        if row is None or notice is None or not scope_of(principal).covers(
                s, notice.org_unit_id):
            # Name only what the caller asked for: the notice of a delivery out of their
            # scope is not theirs to learn of.
            raise not_found("delivery", delivery_id)
        try:
            record = d.resend(to_record(row), now, reason=reason, actor=principal.subject)
        except d.InvalidTransition as exc:
            raise ApiProblem(409, "Conflict", str(exc),
                             errors={"state": [f"the delivery is {row.state}"]}) from None
        except ValueError as exc:
            raise ApiProblem(422, "Unprocessable Entity", str(exc),
                             errors={"reason": [str(exc)]}) from None
        store_record(s, row, record, now)
        s.flush()
        history = list(s.scalars(select(DeliveryHistory)
                                 .where(DeliveryHistory.delivery_id == row.id)
                                 .order_by(DeliveryHistory.id)))
        return delivery_out(row, history)


# --- recipients, preferences, webhooks ---------------------------------------------------------


def _check_unit_in_scope(s: Session, scope: Scope, unit_id: str | None, field: str) -> None:
    if scope.group_wide:
        return
    if not unit_id or not scope.covers(s, unit_id):
        raise ApiProblem(403, "Forbidden", f"{field} must be within your org scope",
                         errors={field: ["outside your org scope"]})


def _recipient_unit(row: Recipient) -> str | None:
    return row.org_unit_id if row.role == "manager" else row.org_scope


def register_recipient(db: Database, principal: Principal, data: Mapping[str, Any],
                       now: datetime | None = None) -> Recipient:
    now = now or utcnow()
    with db.unit_of_work() as s:
        scope = scope_of(principal)
        unit = data.get("org_unit_id") if data["role"] == "manager" else data.get("org_scope")
        _check_unit_in_scope(s, scope, unit,
                             "org_unit_id" if data["role"] == "manager" else "org_scope")
        if s.get(Recipient, data["id"]) is not None:
            raise ApiProblem(409, "Conflict", f"Recipient {data['id']} is already registered",
                             errors={"id": ["already registered"]})
        row = Recipient(
            id=data["id"], role=data["role"], name=data["name"], email=data.get("email"),
            language=d.normalise_language(data.get("language")),
            employee_no=data.get("employee_no"),
            org_unit_id=data.get("org_unit_id") if data["role"] == "manager" else None,
            org_scope=data.get("org_scope") if data["role"] != "manager" else None,
            active=data.get("active", True), source="api", row_version=1,
            created_at=now, updated_at=now)
        s.add(row)
        s.flush()
        return row


def _visible_recipient(s: Session, principal: Principal, person_id: str) -> Recipient:
    row = s.get(Recipient, person_id)
    if row is None:
        raise not_found("recipient", person_id)
    scope = scope_of(principal)
    if not scope.group_wide and not scope.covers(s, _recipient_unit(row)):
        raise not_found("recipient", person_id)
    return row


def list_recipients(db: Database, principal: Principal, query: Mapping[str, Any]) -> repo.Page:
    stmt = select(Recipient).order_by(Recipient.role, Recipient.name, Recipient.id)
    if query.get("role"):
        stmt = stmt.where(Recipient.role == query["role"])
    if query.get("q"):
        stmt = stmt.where(Recipient.name.contains(query["q"], autoescape=True))
    if query.get("org_unit_id"):
        stmt = stmt.where((Recipient.org_unit_id == query["org_unit_id"])
                          | (Recipient.org_scope == query["org_unit_id"]))
    scope = scope_of(principal)
    if not scope.group_wide:
        within = repo.units_within(str(scope.unit_id))
        stmt = stmt.where(Recipient.org_unit_id.in_(within) | Recipient.org_scope.in_(within)
                          | (Recipient.org_unit_id == scope.unit_id)
                          | (Recipient.org_scope == scope.unit_id))
    with db.read() as s:
        page = repo.paginate(s, stmt, query["page"], query["page_size"])
    return repo.Page(items=[row[0] for row in page.items], total=page.total)


def get_recipient(db: Database, principal: Principal, person_id: str) -> Recipient:
    with db.read() as s:
        return _visible_recipient(s, principal, person_id)


def update_recipient(db: Database, principal: Principal, person_id: str,
                     changes: Mapping[str, Any], expected: int | None,
                     now: datetime | None = None) -> Recipient:
    with db.unit_of_work() as s:
        row = _visible_recipient(s, principal, person_id)
        check_version(expected, row.row_version)
        scope = scope_of(principal)
        if "org_scope" in changes and row.role != "manager":
            _check_unit_in_scope(s, scope, changes["org_scope"], "org_scope")
            row.org_scope = changes["org_scope"]
        if "org_unit_id" in changes and row.role == "manager":
            _check_unit_in_scope(s, scope, changes["org_unit_id"], "org_unit_id")
            row.org_unit_id = changes["org_unit_id"]
        for key in ("name", "email", "employee_no", "active"):
            if key in changes:
                setattr(row, key, changes[key])
        if "language" in changes:
            row.language = d.normalise_language(changes["language"])
        row.row_version += 1
        row.updated_at = now or utcnow()
        return row


def _preference_owner(s: Session, principal: Principal, person_id: str) -> None:
    """HR admins and services for anyone in scope; anyone else for themselves only."""
    if principal.has(HR_ADMIN, SERVICE):
        _visible_recipient(s, principal, person_id)
    elif inbox_owner(principal) != person_id or s.get(Recipient, person_id) is None:
        raise not_found("recipient", person_id)


def get_preferences(db: Database, principal: Principal, person_id: str) -> dict[str, Any]:
    with db.read() as s:
        _preference_owner(s, principal, person_id)
        row = s.get(ChannelPreference, person_id)
        prefs = d.ChannelPreferences(row.email, row.webhook) if row else d.ChannelPreferences()
    return {"recipient_id": person_id, "email": prefs.email, "webhook": prefs.webhook,
            "inbox": True}


def set_preferences(db: Database, principal: Principal, person_id: str,
                    data: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    with db.unit_of_work() as s:
        _preference_owner(s, principal, person_id)
        row = s.get(ChannelPreference, person_id)
        if row is None:
            row = ChannelPreference(recipient_id=person_id)
            s.add(row)
        row.email = data["email"]
        row.webhook = data["webhook"]
        row.updated_by = principal.subject
        row.updated_at = now
    return {"recipient_id": person_id, "email": data["email"], "webhook": data["webhook"],
            "inbox": True}


def check_webhook_url(url: str, allowed_hosts: frozenset[str]) -> None:
    """The SSRF guard at registration (channels/targets.py): 422 naming the url field."""
    try:
        check_registration(url, allowed_hosts)
    except WebhookTargetRefused as exc:
        raise ApiProblem(422, "Unprocessable Entity", f"The webhook URL is refused: it {exc}",
                         errors={"url": [str(exc)]}) from None


def create_webhook(db: Database, principal: Principal, data: Mapping[str, Any],
                   now: datetime | None = None, allowed_hosts: frozenset[str] = frozenset()
                   ) -> tuple[WebhookEndpoint, str]:
    """Register a receiver; the secret (given or generated) is shown in this answer only."""
    now = now or utcnow()
    check_webhook_url(data["url"], allowed_hosts)
    with db.unit_of_work() as s:
        scope = scope_of(principal)
        owner_filter: Any
        if data.get("recipient_id"):
            person = _visible_recipient(s, principal, data["recipient_id"])
            owner_filter = WebhookEndpoint.recipient_id == person.id
        else:
            _check_unit_in_scope(s, scope, data["org_unit_id"], "org_unit_id")
            owner_filter = WebhookEndpoint.org_unit_id == data["org_unit_id"]
        if s.scalar(select(WebhookEndpoint.id).where(owner_filter)) is not None:
            raise ApiProblem(409, "Conflict", "A webhook is already registered for this owner; "
                             "delete it first", errors={"recipient_id" if data.get(
                                 "recipient_id") else "org_unit_id": ["already has a webhook"]})
        secret = data.get("secret") or secrets.token_urlsafe(32)
        row = WebhookEndpoint(id=new_id(), recipient_id=data.get("recipient_id"),
                              org_unit_id=data.get("org_unit_id"), url=data["url"],
                              secret=secret, created_by=principal.subject, created_at=now)
        s.add(row)
        s.flush()
        return row, secret


def _webhooks_visible(stmt: Any, scope: Scope) -> Any:
    if scope.group_wide:
        return stmt
    within = repo.units_within(str(scope.unit_id))
    people = select(Recipient.id).where(Recipient.org_unit_id.in_(within)
                                        | Recipient.org_scope.in_(within))
    return stmt.where(WebhookEndpoint.org_unit_id.in_(within)
                      | WebhookEndpoint.recipient_id.in_(people))


def list_webhooks(db: Database, principal: Principal) -> list[WebhookEndpoint]:
    stmt = _webhooks_visible(select(WebhookEndpoint).order_by(WebhookEndpoint.created_at),
                             scope_of(principal))
    with db.read() as s:
        return list(s.scalars(stmt))


def delete_webhook(db: Database, principal: Principal, webhook_id: str) -> None:
    with db.unit_of_work() as s:
        stmt = _webhooks_visible(select(WebhookEndpoint).where(WebhookEndpoint.id == webhook_id),
                                 scope_of(principal))
        row = s.scalar(stmt)
        if row is None:
            raise not_found("webhook", webhook_id)
        s.delete(row)


# --- templates --------------------------------------------------------------------------------


def _kind_and_language(kind: str, language: str) -> tuple[d.NoticeKind, str]:
    try:
        notice_kind = d.NoticeKind(kind)
    except ValueError:
        raise not_found("notice kind", kind) from None
    if language not in d.SUPPORTED_LANGUAGES:
        raise not_found("template language", language)
    return notice_kind, language


def template_out(kind: d.NoticeKind, language: str, row: TemplateOverride | None
                 ) -> dict[str, Any]:
    source = (d.TemplateSource(row.subject, row.body, row.html) if row
              else d.default_source(kind, language))
    return {"kind": kind.value, "language": language, "subject": source.subject,
            "body": source.body, "html": source.html,
            "source": "override" if row else "default",
            "variables": list(d.variables_for(kind)),
            "row_version": row.row_version if row else 0,
            "updated_by": row.updated_by if row else None,
            "updated_at": row.updated_at if row else None}


def list_templates(db: Database) -> list[dict[str, Any]]:
    with db.read() as s:
        rows = {(r.kind, r.language): r for r in s.scalars(select(TemplateOverride))}
    return [template_out(kind, lang, rows.get((kind.value, lang)))
            for kind in d.NoticeKind for lang in d.SUPPORTED_LANGUAGES]


def get_template(db: Database, kind: str, language: str) -> dict[str, Any]:
    notice_kind, language = _kind_and_language(kind, language)
    with db.read() as s:
        return template_out(notice_kind, language,
                            s.get(TemplateOverride, (notice_kind.value, language)))


def template_problem(exc: d.TemplateInvalid) -> ApiProblem:
    where = f"line {exc.line}: " if exc.line else ""
    return ApiProblem(422, "Unprocessable Entity", f"The template is invalid: {exc}",
                      errors={exc.field: [where + exc.message]}, field=exc.field, line=exc.line)


def put_template(db: Database, principal: Principal, kind: str, language: str,
                 data: Mapping[str, Any], expected: int | None,
                 now: datetime | None = None) -> dict[str, Any]:
    """Validate, then store HR's version of a template (If-Match guards a concurrent edit)."""
    require_group_wide(principal, "change notice templates")
    notice_kind, language = _kind_and_language(kind, language)
    try:
        d.validate_template(notice_kind, data["subject"], data["body"], data.get("html"))
    except d.TemplateInvalid as exc:
        raise template_problem(exc) from None
    now = now or utcnow()
    with db.unit_of_work() as s:
        row = s.get(TemplateOverride, (notice_kind.value, language))
        if row is None:
            check_version(expected, 0)
            row = TemplateOverride(kind=notice_kind.value, language=language, row_version=1,
                                   subject=data["subject"], body=data["body"],
                                   html=data.get("html"), updated_by=principal.subject,
                                   updated_at=now)
            s.add(row)
        else:
            check_version(expected, row.row_version)
            row.subject, row.body, row.html = data["subject"], data["body"], data.get("html")
            row.row_version += 1
            row.updated_by = principal.subject
            row.updated_at = now
        s.flush()
        return template_out(notice_kind, language, row)


def delete_template(db: Database, principal: Principal, kind: str, language: str) -> None:
    """Drop the override: the built-in template is used again."""
    require_group_wide(principal, "change notice templates")
    notice_kind, language = _kind_and_language(kind, language)
    with db.unit_of_work() as s:
        row = s.get(TemplateOverride, (notice_kind.value, language))
        if row is not None:
            s.delete(row)  # through the ORM, so the audit trail keeps what was dropped


def preview_template(db: Database, kind: str, language: str, data: Mapping[str, Any]
                     ) -> dict[str, Any]:
    """Render given sources (or the template in force) against the sample, or a context."""
    notice_kind, language = _kind_and_language(kind, language)
    sources: d.TemplateSource | None = None
    if data.get("subject") is not None or data.get("body") is not None:
        if data.get("subject") is None or data.get("body") is None:
            missing = "subject" if data.get("subject") is None else "body"
            raise ApiProblem(422, "Unprocessable Entity",
                             "A preview of new sources needs both subject and body",
                             errors={missing: ["required with the other source"]})
        sources = d.TemplateSource(data["subject"], data["body"], data.get("html"))
    else:
        with db.read() as s:
            row = s.get(TemplateOverride, (notice_kind.value, language))
        if row is not None:
            sources = d.TemplateSource(row.subject, row.body, row.html)
    try:
        message = d.preview(notice_kind, language, sources, data.get("context"))
    except d.TemplateInvalid as exc:
        raise template_problem(exc) from None
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
        # A given context can break a template that is valid against the sample.
        raise ApiProblem(422, "Unprocessable Entity",
                         f"The template cannot render with this context: {exc}",
                         errors={"context": [str(exc)]}) from None
    return {"kind": notice_kind.value, "language": language, "subject": message.subject,
            "text": message.text, "html": message.html}
