"""The audit trail's index of the people acted for, added to a trail that already exists
(each service's migration after its trail): built, rebuilt when a build failed half-way,
and taken away by the downgrade."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from shared.migrations import ON_BEHALF_INDEX, alembic_config
from shared.tables import AUDIT_TABLE
from tests.support.databases import migrations_dir

BEFORE = {"contracts": "0008", "appraisal": "0007_audit_lean", "notifications": "0002"}


@pytest.mark.parametrize("service", sorted(BEFORE))
def test_the_index_is_added_to_an_existing_trail_and_rebuilt_if_invalid(
        database_url_factory: Any, service: str) -> None:
    url = database_url_factory(service)
    cfg = alembic_config(migrations_dir(service), url)
    engine = create_engine(url)

    def state() -> str:
        """'absent', 'valid' or 'invalid' (PostgreSQL keeps a failed concurrent build)."""
        with engine.connect() as conn:
            names = {i["name"] for i in inspect(conn).get_indexes(AUDIT_TABLE)}
            if ON_BEHALF_INDEX not in names:
                return "absent"
            if engine.dialect.name != "postgresql":
                return "valid"
            valid = conn.execute(text(
                "SELECT indisvalid FROM pg_index WHERE indexrelid = CAST(:n AS regclass)"),
                {"n": ON_BEHALF_INDEX}).scalar()
            return "valid" if valid else "invalid"

    try:
        with engine.begin() as conn:
            conn.execute(text(
                f"INSERT INTO {AUDIT_TABLE} (occurred_at, actor, on_behalf_of, object_type, "
                "object_id, action) VALUES (CURRENT_TIMESTAMP, 'hr-1', 'manager-1', "
                "'contracts', 'c-1', 'updated')"))
        assert state() == "valid"
        command.downgrade(cfg, BEFORE[service])
        assert state() == "absent"
        command.upgrade(cfg, "head")
        assert state() == "valid"
        if engine.dialect.name == "postgresql":
            # A concurrent build that failed half-way leaves the index invalid: never used,
            # yet "IF NOT EXISTS" would skip it. The migration builds it again.
            command.downgrade(cfg, BEFORE[service])
            with engine.begin() as conn:
                conn.execute(text(f"CREATE INDEX {ON_BEHALF_INDEX} ON {AUDIT_TABLE} (id)"))
                conn.execute(text("UPDATE pg_index SET indisvalid = false WHERE indexrelid = "
                                  f"'{ON_BEHALF_INDEX}'::regclass"))
            assert state() == "invalid"
            command.upgrade(cfg, "head")
            assert state() == "valid"
        with engine.connect() as conn:
            index = {i["name"]: i for i in inspect(conn).get_indexes(AUDIT_TABLE)}
            assert index[ON_BEHALF_INDEX]["column_names"] == ["on_behalf_of", "id"]
            assert conn.execute(text(
                f"SELECT count(*) FROM {AUDIT_TABLE} WHERE on_behalf_of = 'manager-1'")
            ).scalar() == 1
    finally:
        engine.dispose()
