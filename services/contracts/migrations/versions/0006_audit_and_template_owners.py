"""audit trail, and templates owned by a unit

Revision ID: 0006
Revises: 0002
Create Date: 2026-12-03 01:30:00

`audit_log` is the append-only trail of every write (docs/audit.md). A template's
`org_unit_id` names the unit that owns it; existing templates stay the group's (NULL), which
only group-wide writers may change (docs/authorization.md).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.migrations import create_audit_table, drop_audit_table

revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_audit_table(op)
    with op.batch_alter_table('contract_templates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('org_unit_id', sa.String(length=36), nullable=True))
        batch_op.create_index('ix_contract_templates_org_unit_id', ['org_unit_id'])
        batch_op.create_foreign_key('fk_contract_templates_org_unit_id', 'org_units',
                                    ['org_unit_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('contract_templates', schema=None) as batch_op:
        batch_op.drop_constraint('fk_contract_templates_org_unit_id', type_='foreignkey')
        batch_op.drop_index('ix_contract_templates_org_unit_id')
        batch_op.drop_column('org_unit_id')
    drop_audit_table(op)
