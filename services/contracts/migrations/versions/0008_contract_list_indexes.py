"""contract list indexes, and a notice when any contract list may have changed

Revision ID: 0008
Revises: 0002
Create Date: 2026-12-03 02:00:00

`GET /contracts` filtered by org unit (a subtree) and state counts the matches and reads one
page in creation order. `ix_contracts_unit_state_created` lets PostgreSQL count from the
index alone (no table rows read) and read each unit's page rows in order; the path index
with text_pattern_ops lets a subtree's `path LIKE 'prefix%'` use an index whatever the
database's collation. The statement trigger tells every process's read cache that cached
list pages (keys "lists:...") are stale whenever contracts are inserted, changed or deleted
(one notice a statement, so a bulk issue costs one).
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

CHANNEL = "tenure_contract_reads"

UPGRADE_PG = f"""
CREATE INDEX ix_org_units_path_prefix ON org_units (path text_pattern_ops);
CREATE FUNCTION tenure_contract_lists_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', 'lists:*');
    RETURN NULL;
END $$;
CREATE TRIGGER contract_lists_stale AFTER INSERT OR UPDATE OR DELETE ON tenure_contracts
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_contract_lists_stale();
"""

DOWNGRADE_PG = """
DROP TRIGGER IF EXISTS contract_lists_stale ON tenure_contracts;
DROP FUNCTION IF EXISTS tenure_contract_lists_stale();
DROP INDEX IF EXISTS ix_org_units_path_prefix;
"""


def upgrade() -> None:
    with op.batch_alter_table('tenure_contracts', schema=None) as batch_op:
        batch_op.create_index('ix_contracts_unit_state_created',
                              ['org_unit_id', 'state', 'created_at', 'id'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(UPGRADE_PG)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DOWNGRADE_PG)
    with op.batch_alter_table('tenure_contracts', schema=None) as batch_op:
        batch_op.drop_index('ix_contracts_unit_state_created')
