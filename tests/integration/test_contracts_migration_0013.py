"""Migration 0013: a new row of a contract's (a signature) names its contract and nothing
else, and a change to the indicator library is told; downgrade gives back 0012's notices."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from alembic import command

from shared.migrations import alembic_config
from tests.support.databases import migrations_dir

pytestmark = pytest.mark.postgres

CHANNEL = "tenure_contract_reads"


def notices_of(url: str, *statements: str) -> list[str]:
    """The payloads the statements' commits send on the read cache's channel, in order.

    A row of a table with the contract rows' trigger (as contract_signatures has) is
    inserted into a table of the test's own, so that no contract need exist."""
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as listener, \
            psycopg.connect(plain, autocommit=True) as writer:
        listener.execute(f"LISTEN {CHANNEL}")
        writer.execute("CREATE TEMP TABLE contract_rows (contract_id text)")
        writer.execute("CREATE TRIGGER read_stale AFTER INSERT OR UPDATE OR DELETE ON "
                       "pg_temp.contract_rows FOR EACH ROW EXECUTE FUNCTION "
                       "tenure_contract_read_stale()")
        for statement in statements:  # each its own transaction (one would merge repeats)
            writer.execute(statement.encode())
        writer.execute(f"NOTIFY {CHANNEL}, 'end'")
        payloads = []
        for notice in listener.notifies(timeout=10):
            if notice.payload == "end":
                break
            payloads.append(notice.payload)
        return payloads


WRITES = ("INSERT INTO contract_rows VALUES ('c-1')",
          "UPDATE contract_rows SET contract_id = 'c-2'",
          "INSERT INTO indicators (code, name, unit, kind, direction, description, created_at) "
          "VALUES ('ROE', 'Return on equity', '%', 'quantitative', 'higher_is_better', '', "
          "now())",
          "UPDATE indicators SET name = 'Return on net assets' WHERE code = 'ROE'")


def test_a_new_signature_names_its_contract_only_and_the_library_tells_of_its_changes(
        postgres_databases: Any) -> None:
    url = postgres_databases.fresh("contracts")
    cfg = alembic_config(migrations_dir("contracts"), url)
    # The insert names c-1; the move names both contracts; the library's UPDATE tells
    # that indicators changed (its INSERT needs no notice: nothing unknown is kept).
    assert notices_of(url, *WRITES) == ["c-1", "c-2", "c-1", "indicators:*"]
    command.downgrade(cfg, "0012")
    # 0012: the insert also sent an empty notice, which every listener reads as "*".
    assert notices_of(url, "DELETE FROM indicators", *WRITES) == ["c-1", "", "c-2", "c-1"]
    command.upgrade(cfg, "head")
    assert notices_of(url, "DELETE FROM indicators", *WRITES) == [
        "indicators:*", "c-1", "c-2", "c-1", "indicators:*"]
