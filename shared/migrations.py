"""Alembic migrations per service, run by a command before the service starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, engine_from_config, pool


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
    from shared.tables import define_audit_table

    bind = op.get_bind()
    define_audit_table(MetaData()).create(bind)
    if bind.dialect.name == "postgresql":
        op.execute(_AUDIT_GUARD)


def drop_audit_table(op: Any) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS tenure_audit_append_only()")
    op.drop_table("audit_log")
