"""Migration 0014: the coverage report reads who holds an active contract for which post from
a partial index of the active contracts, not from every contract's row; the migration adds
it to an existing database and takes it away on downgrade."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, event, inspect, text

from services.contracts import repository as repo
from shared.db import Database
from shared.migrations import alembic_config
from tests.support.databases import migrations_dir

INDEX = "ix_contracts_active_holders"


def indexes(engine: Any) -> dict[str, list[str | None]]:
    with engine.connect() as conn:
        return {i["name"]: i["column_names"]
                for i in inspect(conn).get_indexes("tenure_contracts")}


def test_the_migration_adds_the_index_of_active_holders_and_takes_it_back(
        database_url_factory: Any) -> None:
    url = database_url_factory("contracts")
    cfg = alembic_config(migrations_dir("contracts"), url)
    engine = create_engine(url)
    try:
        assert indexes(engine)[INDEX] == ["manager_id", "position"]
        command.downgrade(cfg, "0013")
        assert INDEX not in indexes(engine)
        command.upgrade(cfg, "head")
        assert indexes(engine)[INDEX] == ["manager_id", "position"]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_only_active_contracts_are_in_the_index(postgres_databases: Any) -> None:
    engine = create_engine(postgres_databases.fresh("contracts"))
    try:
        with engine.connect() as conn:
            definition = conn.execute(text(
                "SELECT pg_get_indexdef(to_regclass(:name))"), {"name": INDEX}).scalar_one()
        assert definition.endswith("WHERE ((state)::text = 'active'::text)"), definition
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_the_coverage_counts_read_the_active_holders_from_the_index_alone(
        postgres_databases: Any) -> None:
    """The statement `coverage_counts` sends, explained: its set of holders is an index-only
    scan of the partial index (before 0014, a scan of every contract's row)."""
    url = postgres_databases.fresh("contracts")
    db = Database(url)
    sent: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    try:
        event.listen(db.engine, "before_cursor_execute", keep)
        with db.read() as s:
            repo.coverage_counts(s, None)
        event.remove(db.engine, "before_cursor_execute", keep)
        (statement, parameters), = [(q, p) for q, p in sent if "count(*)" in q]
        with db.engine.connect() as conn:
            conn.execute(text("SET enable_seqscan = off"))  # empty tables: any index at all
            plan = "\n".join(conn.exec_driver_sql("EXPLAIN " + statement, parameters).scalars())
        assert f"Index Only Scan using {INDEX} on tenure_contracts" in plan, plan
    finally:
        db.dispose()
