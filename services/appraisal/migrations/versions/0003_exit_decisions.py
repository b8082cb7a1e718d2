"""exit decisions: a published exit waits out its appeal window; appeals may be late

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-03 01:30:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'exit_decisions',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('appraisal_id', sa.String(length=36), nullable=False),
        sa.Column('manager_id', sa.String(length=36), nullable=False),
        sa.Column('contract_id', sa.String(length=36), nullable=False),
        sa.Column('org_unit_id', sa.String(length=36), nullable=True),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('rule', sa.String(length=48), nullable=True),
        sa.Column('triggers', sa.JSON(), nullable=False),
        sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('window_days', sa.Integer(), nullable=False),
        sa.Column('window_zone', sa.String(length=64), nullable=False),
        sa.Column('last_day', sa.Date(), nullable=False),
        sa.Column('closes_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('appeal_id', sa.String(length=36), nullable=True),
        sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('confirmed_by', sa.String(length=200), nullable=True),
        sa.Column('confirmed_because', sa.String(length=32), nullable=True),
        sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('cancelled_by', sa.String(length=200), nullable=True),
        sa.Column('events', sa.JSON(), nullable=False),
        sa.Column('row_version', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('exit_decisions', schema=None) as batch_op:
        batch_op.create_index('ix_exit_decisions_appraisal_id', ['appraisal_id'])
        batch_op.create_index('ix_exit_decisions_manager_id', ['manager_id'])
        batch_op.create_index('ix_exit_decisions_org_unit_id', ['org_unit_id'])
        batch_op.create_index('ix_exit_decisions_state_closes', ['state', 'closes_at'])
    with op.batch_alter_table('appeals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('late', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('late_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('exit_decision_id', sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('appeals', schema=None) as batch_op:
        batch_op.drop_column('exit_decision_id')
        batch_op.drop_column('late_reason')
        batch_op.drop_column('late')
    op.drop_table('exit_decisions')
