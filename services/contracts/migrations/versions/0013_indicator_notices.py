"""read notices: one when any indicator changes or goes; a new signature no longer drops every read

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 04:00:00

Every manager's signature checks its targets against the indicator library, which each API
process keeps as reference entries of its read cache (shared/read_cache.py). The service
never changes an indicator once created, but a definition corrected in SQL must reach every
process: one "indicators:*" notice a statement that updates, deletes or truncates them. New
indicators need none (a code not found is never kept). PostgreSQL only, as the read cache.

The row trigger of 0002 also told of a row moved to another contract by comparing NEW with
OLD, which an INSERT does not have: every new signature (0003) sent a second notice with no
payload, which the listeners read as "*", so each signature dropped every cached read of
every process. The comparison is now made on UPDATE only.
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0013'
down_revision: str | Sequence[str] | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "tenure_contract_reads"

READ_STALE = """
CREATE OR REPLACE FUNCTION tenure_contract_read_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'tenure_contracts' THEN
        PERFORM pg_notify('{channel}', OLD.id);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('{channel}', OLD.contract_id);
    ELSE
        PERFORM pg_notify('{channel}', NEW.contract_id);
        IF {moved} THEN
            PERFORM pg_notify('{channel}', OLD.contract_id);
        END IF;
    END IF;
    RETURN NULL;
END $$;
"""
MOVED = "TG_OP = 'UPDATE' AND NEW.contract_id IS DISTINCT FROM OLD.contract_id"
MOVED_0002 = "NEW.contract_id IS DISTINCT FROM OLD.contract_id"

UPGRADE = READ_STALE.format(channel=CHANNEL, moved=MOVED) + f"""
CREATE FUNCTION tenure_indicators_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', 'indicators:*');
    RETURN NULL;
END $$;
CREATE TRIGGER indicators_stale AFTER UPDATE OR DELETE OR TRUNCATE ON indicators
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_indicators_stale();
"""

DOWNGRADE = """
DROP TRIGGER IF EXISTS indicators_stale ON indicators;
DROP FUNCTION IF EXISTS tenure_indicators_stale();
""" + READ_STALE.format(channel=CHANNEL, moved=MOVED_0002)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(UPGRADE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DOWNGRADE)
