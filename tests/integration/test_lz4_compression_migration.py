"""lz4 for large values (each service's migration after its last): every json, jsonb and text
column compresses what it is given with lz4 on PostgreSQL, values written before and after
read back alike, and the downgrade gives the columns back to the server's default."""

from __future__ import annotations

import json
from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from shared.migrations import alembic_config
from shared.tables import AUDIT_TABLE
from tests.support.databases import migrations_dir

BEFORE = {"contracts": "0010", "appraisal": "0009", "notifications": "0003"}

#: A whole contract row as an audit record holds it: over 2 KB, so PostgreSQL compresses it.
ROW = {"id": "c-1", "terms": {"targets": [
    {"indicator_code": f"NET_PROFIT_{i}", "name": f"净利润 {i}", "unit": "万元",
     "weight": "12.5", "base": str(1000 + i), "target": str(1200 + i),
     "challenge": str(1500 + i)} for i in range(60)]}}


def _columns(conn: Any) -> dict[str, str]:
    """Every json, jsonb and text column of the service's tables, with its compression
    ('' for the server's default, 'l' for lz4)."""
    return {f"{table}.{column}": method for table, column, method in conn.execute(text(
        "SELECT c.relname, a.attname, a.attcompression FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND a.attnum > 0 "
        "AND NOT a.attisdropped AND a.atttypid IN ('json'::regtype, 'jsonb'::regtype, "
        "'text'::regtype)"))}


def _write(conn: Any, object_id: str) -> None:
    conn.execute(text(
        f"INSERT INTO {AUDIT_TABLE} (occurred_at, actor, object_type, object_id, action, "
        "before, after) VALUES (CURRENT_TIMESTAMP, 'hr-1', 'contract', :id, 'updated', "
        ":row, :row)"), {"id": object_id, "row": json.dumps(ROW, ensure_ascii=False)})


@pytest.mark.parametrize("service", sorted(BEFORE))
def test_large_values_are_compressed_with_lz4_and_read_back_alike(
        database_url_factory: Any, service: str) -> None:
    url = database_url_factory(service)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _write(conn, "after-upgrade")
        if engine.dialect.name != "postgresql":
            with engine.connect() as conn:  # SQLite has no compression: the migration is a no-op
                stored = conn.execute(text(f"SELECT before FROM {AUDIT_TABLE}")).scalar()
            assert json.loads(stored) == ROW
            return
        with engine.connect() as conn:
            columns = _columns(conn)
            assert {"audit_log.before", "audit_log.after", "outbox.payload"} <= set(columns)
            assert set(columns.values()) == {"l"}, columns
        command.downgrade(alembic_config(migrations_dir(service), url), BEFORE[service])
        with engine.begin() as conn:
            assert set(_columns(conn).values()) == {""}
            _write(conn, "after-downgrade")
        with engine.connect() as conn:
            stored = dict(conn.execute(text(
                f"SELECT object_id, pg_column_compression(before) FROM {AUDIT_TABLE}")).all())
            assert stored == {"after-upgrade": "lz4", "after-downgrade": "pglz"}
            for (before,) in conn.execute(text(f"SELECT before FROM {AUDIT_TABLE}")):
                assert (json.loads(before) if isinstance(before, str) else before) == ROW
        command.upgrade(alembic_config(migrations_dir(service), url), "head")
        with engine.connect() as conn:
            assert set(_columns(conn).values()) == {"l"}
    finally:
        engine.dispose()
