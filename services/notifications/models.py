"""SQLAlchemy mappings of the notifications service's own database."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.notifications.domain.delivery import DeliveryState
from shared import audit
from shared.tables import BigId, define_audit_table, define_shared_tables

# A person id: a manager's UUID from the contracts service, or an HR admin's / appraiser's
# token subject (which another identity system may spell differently).
PERSON_ID = 200


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class OrgUnit(Base):
    """Read model of the org tree, from org_unit.created / org_unit.moved.

    `path` is "/root/.../self/", so "units under an HR admin's scope" is a prefix match and
    "scopes above a unit" are the ids in its path. A unit named as a parent before its own
    event arrived (topics keep order per key, not across keys) is a placeholder at the root
    until that event places it; its subtree moves with it.
    """

    __tablename__ = "org_units"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    parent_id: Mapped[str | None] = mapped_column(String(36), index=True)
    path: Mapped[str] = mapped_column(String(2000), index=True)
    code: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    layer: Mapped[int | None] = mapped_column(Integer)
    placeholder: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Recipient(Base):
    """Who can receive notices: managers (from events) and HR admins / appraisers (by API).

    `org_unit_id` is where a manager works; `org_scope` is the top of an HR admin's or
    appraiser's subtree (None: the whole group).
    """

    __tablename__ = "recipients"

    id: Mapped[str] = mapped_column(String(PERSON_ID), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8), default="zh")
    employee_no: Mapped[str | None] = mapped_column(String(64))
    org_unit_id: Mapped[str | None] = mapped_column(String(36), index=True)
    org_scope: Mapped[str | None] = mapped_column(String(36), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(16))  # "event" or "api"
    row_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ChannelPreference(Base):
    """A person's opt-outs; no row means the defaults (e-mail and webhook on)."""

    __tablename__ = "channel_preferences"

    recipient_id: Mapped[str] = mapped_column(String(PERSON_ID), primary_key=True)
    email: Mapped[bool] = mapped_column(Boolean, default=True)
    webhook: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebhookEndpoint(Base):
    """A receiver for one person, or for every person of an org unit and the units below."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    recipient_id: Mapped[str | None] = mapped_column(String(PERSON_ID), unique=True)
    org_unit_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TemplateOverride(Base):
    """HR's version of a kind's template in one language; stored only once it validated."""

    __tablename__ = "template_overrides"

    kind: Mapped[str] = mapped_column(String(48), primary_key=True)
    language: Mapped[str] = mapped_column(String(8), primary_key=True)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    row_version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class NoticeRow(Base):
    """One message to one person about one event; `notice_key` makes redelivery harmless."""

    __tablename__ = "notices"
    __table_args__ = (
        Index("ix_notices_recipient_created", "recipient_id", "created_at"),
        Index("ix_notices_created", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    notice_key: Mapped[str] = mapped_column(String(36), unique=True)
    kind: Mapped[str] = mapped_column(String(48))
    role: Mapped[str] = mapped_column(String(16))
    recipient_id: Mapped[str] = mapped_column(String(PERSON_ID))
    recipient_name: Mapped[str] = mapped_column(String(200), default="")
    recipient_email: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8))
    event_id: Mapped[str] = mapped_column(String(64), index=True)
    event_type: Mapped[str] = mapped_column(String(64), index=True)
    manager_id: Mapped[str | None] = mapped_column(String(36), index=True)
    org_unit_id: Mapped[str | None] = mapped_column(String(36), index=True)
    context: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class InboxItem(Base):
    """A notice in its recipient's inbox, rendered when it arrived; read once opened."""

    __tablename__ = "inbox_items"
    __table_args__ = (
        Index("ix_inbox_recipient_created", "recipient_id", "created_at"),
        Index("ix_inbox_recipient_unread", "recipient_id", "read_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    notice_id: Mapped[str] = mapped_column(ForeignKey("notices.id"), unique=True)
    recipient_id: Mapped[str] = mapped_column(String(PERSON_ID))
    kind: Mapped[str] = mapped_column(String(48))
    subject: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


#: The states of a delivery still to be sent: queued, or failed and to be tried again.
PENDING = (DeliveryState.QUEUED.value, DeliveryState.FAILED.value)
#: The same as literal SQL, for the worker's claim and the partial index that serves it: a
#: planner uses a partial index only for a query it can prove lies inside the index, which
#: a bound parameter (or a generic plan of a prepared statement) never is.
IS_PENDING = text("state IN (" + ", ".join(f"'{state}'" for state in PENDING) + ")")
#: The partial index the claim walks in order, so a claim reads the rows it takes and not
#: the whole backlog (docs/scale-delivery.md).
PENDING_DUE_INDEX = "ix_deliveries_pending_due"


class Delivery(Base):
    """One notice on one outside channel (e-mail or webhook) and where it stands.

    The worker claims due rows by pushing `next_attempt_at` a lease ahead, so a worker that
    dies mid-send leaves its rows due again once the lease runs out.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("notice_key", "channel", name="uq_deliveries_notice_channel"),
        Index("ix_deliveries_due", "state", "next_attempt_at"),
        Index(PENDING_DUE_INDEX, "next_attempt_at", "id", postgresql_where=IS_PENDING,
              sqlite_where=IS_PENDING),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    notice_id: Mapped[str] = mapped_column(ForeignKey("notices.id"), index=True)
    notice_key: Mapped[str] = mapped_column(String(36))
    channel: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DeliveryHistory(Base):
    """Audit of every step of a delivery: queued, failed (why), sent, given up, resent (who)."""

    __tablename__ = "delivery_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    action: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(200))


class ScheduledReminder(Base):
    """A reminder before a deadline; `reminder_id` is stable so scheduling twice is harmless."""

    __tablename__ = "reminders"
    __table_args__ = (Index("ix_reminders_pending_due", "state", "due_on"),)

    reminder_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    subject_id: Mapped[str] = mapped_column(String(36), index=True)
    manager_id: Mapped[str | None] = mapped_column(String(36))
    deadline: Mapped[date] = mapped_column(Date)
    days_before: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))  # pending, sent, skipped, cancelled
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


outbox, inbox, idempotency_keys = define_shared_tables(Base.metadata)
audit_log = define_audit_table(Base.metadata)
# Every ORM write to these tables is recorded in audit_log (docs/audit.md).
audit.track(Base.metadata, skip=("deliveries", "delivery_history"))
