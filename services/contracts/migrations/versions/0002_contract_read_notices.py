"""contract read notices: triggers that tell every process which contract reads went stale

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:30:00

PostgreSQL only (the SQLite default runs without the read cache). The notice is sent when
the writing transaction commits, whichever process or statement made the change.
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

CHANNEL = "tenure_contract_reads"

UPGRADE = f"""
CREATE FUNCTION tenure_contract_read_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'tenure_contracts' THEN
        PERFORM pg_notify('{CHANNEL}', OLD.id);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('{CHANNEL}', OLD.contract_id);
    ELSE
        PERFORM pg_notify('{CHANNEL}', NEW.contract_id);
        IF NEW.contract_id IS DISTINCT FROM OLD.contract_id THEN
            PERFORM pg_notify('{CHANNEL}', OLD.contract_id);
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION tenure_contract_reads_all_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', '*');
    RETURN NULL;
END $$;

CREATE TRIGGER contract_read_stale AFTER UPDATE OR DELETE ON tenure_contracts
    FOR EACH ROW EXECUTE FUNCTION tenure_contract_read_stale();
CREATE TRIGGER contract_read_stale AFTER UPDATE OR DELETE ON contract_documents
    FOR EACH ROW EXECUTE FUNCTION tenure_contract_read_stale();
-- New documents (an amendment that lengthens a term) may belong to a cached contract; a bulk
-- issue inserts tens of thousands at once, so one notice a statement.
CREATE TRIGGER contract_reads_all_stale AFTER INSERT ON contract_documents
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_contract_reads_all_stale();
-- A manager's name or a unit's layer and category appear in every contract read.
CREATE TRIGGER contract_reads_all_stale AFTER UPDATE OR DELETE ON managers
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_contract_reads_all_stale();
CREATE TRIGGER contract_reads_all_stale AFTER UPDATE OR DELETE ON org_units
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_contract_reads_all_stale();
"""

DOWNGRADE = """
DROP TRIGGER IF EXISTS contract_reads_all_stale ON org_units;
DROP TRIGGER IF EXISTS contract_reads_all_stale ON managers;
DROP TRIGGER IF EXISTS contract_reads_all_stale ON contract_documents;
DROP TRIGGER IF EXISTS contract_read_stale ON contract_documents;
DROP TRIGGER IF EXISTS contract_read_stale ON tenure_contracts;
DROP FUNCTION IF EXISTS tenure_contract_reads_all_stale();
DROP FUNCTION IF EXISTS tenure_contract_read_stale();
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(UPGRADE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DOWNGRADE)
