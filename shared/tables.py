"""Tables every service database carries: outbox, inbox (consumer dedup), idempotency keys."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def define_shared_tables(metadata: MetaData) -> tuple[Table, Table, Table]:
    outbox = Table(
        "outbox",
        metadata,
        # Ascending id is the relay order. Writers of one aggregate hold its row lock while
        # they insert, so one key's events get ids in the order they committed.
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("event_type", String(64), nullable=False),
        Column("topic", String(128), nullable=False),
        Column("key", String(64), nullable=True),
        Column("payload", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("sent_at", DateTime(timezone=True), nullable=True),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text, nullable=True),
    )
    Index(
        "ix_outbox_unsent",
        outbox.c.id,
        postgresql_where=outbox.c.sent_at.is_(None),
        sqlite_where=outbox.c.sent_at.is_(None),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("event_id", String(36), primary_key=True),
        Column("consumer_group", String(128), primary_key=True),
        Column("event_type", String(64), nullable=False),
        Column("topic", String(128), nullable=False),
        Column("partition", Integer, nullable=False),
        Column("offset", BigInteger, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False),
    )
    idempotency = Table(
        "idempotency_keys",
        metadata,
        Column("key", String(200), primary_key=True),
        Column("principal", String(200), primary_key=True),
        Column("request_fingerprint", String(64), nullable=False),
        Column("status_code", Integer, nullable=True),  # NULL while the first call runs
        Column("response_body", Text, nullable=True),
        Column("response_headers", Text, nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
    )
    return outbox, inbox, idempotency


AUDIT_TABLE = "audit_log"


#: Added to trails that already existed by a migration of its own in each service
#: (shared.migrations.create_audit_on_behalf_index).
AUDIT_ON_BEHALF_INDEX = "ix_audit_log_on_behalf_of"


def define_audit_table(metadata: MetaData) -> Table:
    """The audit trail: one row per write, append-only (see docs/audit.md).

    `org_unit_id` is where the changed object sits, so HR admins can read the trail of their
    own subtree; None for what the whole group shares (group-wide readers only).
    """
    audit = Table(
        AUDIT_TABLE,
        metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        Column("actor", String(200), nullable=False),
        Column("on_behalf_of", String(200), nullable=True),
        Column("object_type", String(64), nullable=False),
        Column("object_id", String(200), nullable=False),
        Column("action", String(64), nullable=False),
        Column("org_unit_id", String(36), nullable=True),
        Column("request_id", String(128), nullable=True),
        Column("before", JSON, nullable=True),
        Column("after", JSON, nullable=True),
    )
    Index("ix_audit_log_object", audit.c.object_type, audit.c.object_id, audit.c.id)
    Index("ix_audit_log_actor", audit.c.actor, audit.c.id)
    # `?actor=` also finds the records written for that person; most records are nobody's
    # but their writer's, so only those with someone to act for are indexed.
    Index(AUDIT_ON_BEHALF_INDEX, audit.c.on_behalf_of, audit.c.id,
          postgresql_where=audit.c.on_behalf_of.isnot(None),
          sqlite_where=audit.c.on_behalf_of.isnot(None))
    Index("ix_audit_log_occurred_at", audit.c.occurred_at)
    return audit
