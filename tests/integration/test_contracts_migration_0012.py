"""Migration 0012 drops the four indexes that only repeated the leading column of another:
the lookups they served still read an index (the longer one), and the migration takes them
away from an existing database and gives them back on downgrade."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from shared.migrations import alembic_config
from tests.support.databases import migrations_dir

#: What each dropped index served, and the index that serves it now.
LOOKUPS = {
    "ix_tenure_contracts_manager_id": (
        "SELECT id FROM tenure_contracts WHERE manager_id = 'm-1'",
        "ix_contracts_manager_position"),
    "ix_tenure_contracts_org_unit_id": (
        "SELECT id FROM tenure_contracts WHERE org_unit_id = 'u-1'",
        "ix_contracts_unit_state_created"),
    # Not 'active': the active contracts have a partial index of their own (0014).
    "ix_tenure_contracts_state": (
        "SELECT id FROM tenure_contracts WHERE state = 'pending_signature'",
        "ix_contracts_state_end"),
    "ix_contract_documents_contract_id": (
        "SELECT id FROM contract_documents WHERE contract_id = 'c-1'",
        "contract_documents_contract_id_kind_year_key"),
}


def names(engine: Any) -> set[str]:
    with engine.connect() as conn:
        found = inspect(conn)
        return {i["name"] for table in ("tenure_contracts", "contract_documents")
                for i in found.get_indexes(table)} | {
            c["name"] for c in found.get_unique_constraints("contract_documents")}


def test_the_migration_drops_the_repeating_indexes_and_gives_them_back(
        database_url_factory: Any) -> None:
    url = database_url_factory("contracts")
    cfg = alembic_config(migrations_dir("contracts"), url)
    engine = create_engine(url)
    try:
        assert not names(engine) & LOOKUPS.keys()
        command.downgrade(cfg, "0011")
        assert LOOKUPS.keys() <= names(engine)
        command.upgrade(cfg, "head")
        assert not names(engine) & LOOKUPS.keys()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_each_lookup_of_a_dropped_index_reads_the_index_that_leads_with_its_column(
        postgres_databases: Any) -> None:
    engine = create_engine(postgres_databases.fresh("contracts"))
    try:
        with engine.connect() as conn:
            conn.execute(text("SET enable_seqscan = off"))  # empty tables: any index at all
            for dropped, (query, serving) in LOOKUPS.items():
                plan = "\n".join(conn.execute(text(f"EXPLAIN {query}")).scalars())
                assert serving in plan, (dropped, plan)
    finally:
        engine.dispose()
