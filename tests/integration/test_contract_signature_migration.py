"""Migration 0003 (signatures) goes down and up again on both databases, its trigger included."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from shared.migrations import alembic_config, upgrade
from tests.support.databases import migrations_dir


@pytest.mark.postgres
def test_signatures_migration_reverses_and_reapplies_on_postgresql(
        postgres_databases: Any) -> None:
    url = postgres_databases.fresh("contracts")
    config = alembic_config(migrations_dir("contracts"), url)
    command.downgrade(config, "0002")
    engine = create_engine(url)
    try:
        assert "contract_signatures" not in inspect(engine).get_table_names()
        assert "signing_state" not in {c["name"] for c in
                                       inspect(engine).get_columns("contract_documents")}
        upgrade(migrations_dir("contracts"), url)
        with engine.connect() as conn:
            triggers = set(conn.scalars(text(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'contract_signatures'::regclass "
                "AND NOT tgisinternal")))
        assert triggers == {"contract_read_stale"}
    finally:
        engine.dispose()


def test_signatures_migration_reverses_and_reapplies_on_sqlite(sqlite_databases: Any) -> None:
    url = sqlite_databases.fresh("contracts")
    command.downgrade(alembic_config(migrations_dir("contracts"), url), "0002")
    upgrade(migrations_dir("contracts"), url)
    engine = create_engine(url)
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("contract_documents")}
        assert {"signing_state", "amendment_version", "amendment_state",
                "amended_targets"} <= columns
    finally:
        engine.dispose()
