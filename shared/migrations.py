"""Alembic migrations per service, run by a command before the service starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Index, MetaData, engine_from_config, pool
from sqlalchemy.schema import CreateIndex, DropIndex

from shared.tables import AUDIT_ON_BEHALF_INDEX as ON_BEHALF_INDEX
from shared.tables import define_audit_table


def alembic_config(migrations_dir: Path, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(migrations_dir: Path, url: str, revision: str = "head") -> None:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(migrations_dir, url), revision)


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's migrations/env.py."""
    cfg = context.config
    if context.is_offline_mode():
        context.configure(
            url=cfg.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
            literal_binds=True, render_as_batch=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connectable = engine_from_config(
        cfg.get_section(cfg.config_ini_section, {}), prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata,
            # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


# PostgreSQL refuses any change to a recorded audit row, whoever asks: the trail is
# append-only. `tenure_audit_purge` is the one door for removing rows past their retention
# (docs/audit.md): it sets a transaction-local flag that the trigger lets through for DELETE.
_AUDIT_GUARD = """
CREATE FUNCTION tenure_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('tenure.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION tenure_audit_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_audit_append_only();
"""


def create_audit_table(op: Any) -> None:
    """Create the audit trail (shared/tables.py) in a service's migration, with its guard."""
    bind = op.get_bind()
    define_audit_table(MetaData()).create(bind)
    if bind.dialect.name == "postgresql":
        op.execute(_AUDIT_GUARD)


def _audit_on_behalf_index() -> Any:
    """The index as the trail's definition has it (shared/tables.py), written once."""
    return next(i for i in define_audit_table(MetaData()).indexes
                if i.name == ON_BEHALF_INDEX)


def create_index_concurrently(op: Any, index: Index) -> None:
    """Add an index to a table that may already hold years of rows. On PostgreSQL it is
    built CONCURRENTLY, outside the migration's transaction: a plain CREATE INDEX would
    hold every write of the service until the build ends. A build that failed half-way
    leaves an invalid index behind; it is dropped and built again. A table created after
    the index joined its definition has it already."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        op.execute(CreateIndex(index, if_not_exists=True))
        return
    index.dialect_options["postgresql"]["concurrently"] = True
    with op.get_context().autocommit_block():
        invalid = bind.exec_driver_sql(
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %(name)s AND NOT i.indisvalid", {"name": index.name}
        ).first()
        if invalid:
            op.execute(DropIndex(index, if_exists=True))
        op.execute(CreateIndex(index, if_not_exists=True))


def drop_index_concurrently(op: Any, name: str, table: str) -> None:
    """Drop an index without holding the table's writes: CONCURRENTLY on PostgreSQL,
    outside the migration's transaction. Gone already: nothing to do."""
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index(name, table_name=table, if_exists=True)
        return
    with op.get_context().autocommit_block():
        op.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')


def create_audit_on_behalf_index(op: Any) -> None:
    """The audit trail's index of the people acted for: every write of the service appends
    to the trail, so it is built without holding them."""
    create_index_concurrently(op, _audit_on_behalf_index())


def drop_audit_on_behalf_index(op: Any) -> None:
    op.execute(DropIndex(_audit_on_behalf_index(), if_exists=True))


def drop_audit_table(op: Any) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS tenure_audit_append_only()")
    op.drop_table("audit_log")


#: The column types whose values PostgreSQL may compress (TOAST): the audit trail's before and
#: after, events' payloads, targets, traces, notices' text.
_COMPRESSIBLE_TYPES = ("json", "jsonb", "text")


def compress_with_lz4(op: Any, method: str = "lz4") -> None:
    """Every json, jsonb and text column of the service's tables compressed with lz4 (or
    `method`: "default" to undo), on PostgreSQL 14 or later built with lz4 (nothing
    changes on SQLite or on a server without lz4).

    A value over about 2 KB is compressed when written: an audit record of a creation holds
    the whole row, and each event its payload. lz4 compresses them to
    the same size as PostgreSQL's own method (pglz) for about half the CPU
    (docs/scale-storage.md). Only values written from now on use it (nothing is rewritten;
    both methods read back alike), and the change is a catalogue update, over at once
    whatever the tables hold. A table added by a later migration calls this again."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or not _lz4_available(bind):
        return
    columns = bind.exec_driver_sql(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c "
        "JOIN information_schema.tables t ON t.table_schema = c.table_schema "
        "AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE' "
        "WHERE c.table_schema = current_schema() AND c.data_type = ANY(%(types)s) "
        "ORDER BY c.table_name, c.ordinal_position",
        {"types": list(_COMPRESSIBLE_TYPES)},
    ).all()
    by_table: dict[str, list[str]] = {}
    for table, column in columns:
        by_table.setdefault(table, []).append(column)
    quote = bind.dialect.identifier_preparer.quote
    for table, names in by_table.items():
        op.execute(f"ALTER TABLE {quote(table)} " + ", ".join(
            f"ALTER COLUMN {quote(name)} SET COMPRESSION {method}" for name in names))


def _lz4_available(bind: Any) -> bool:
    """PostgreSQL 14 or later, built --with-lz4 (the setting then offers it)."""
    return bind.exec_driver_sql(
        "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
        "AND 'lz4' = ANY(enumvals)").first() is not None
