"""exit terminations: which exit terminated a contract, and its reinstatement

Revision ID: 0007
Revises: 0002
Create Date: 2026-12-03 01:45:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'exit_terminations',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('contract_id', sa.String(length=36), nullable=False),
        sa.Column('manager_id', sa.String(length=36), nullable=False),
        sa.Column('exit_decision_id', sa.String(length=36), nullable=False),
        sa.Column('appraisal_id', sa.String(length=36), nullable=True),
        sa.Column('confirmed_event_id', sa.String(length=64), nullable=False),
        sa.Column('terminated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('previous_employment_status', sa.String(length=16), nullable=False),
        sa.Column('previous_departure_reason', sa.String(length=32), nullable=True),
        sa.Column('reinstated_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reinstated_by', sa.String(length=200), nullable=True),
        sa.Column('reinstate_reason', sa.Text(), nullable=True),
        sa.Column('cancelled_event_id', sa.String(length=64), nullable=True),
        sa.Column('reinstated_event_id', sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(['contract_id'], ['tenure_contracts.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('exit_terminations', schema=None) as batch_op:
        batch_op.create_index('ix_exit_terminations_contract_id', ['contract_id'])
        batch_op.create_index('ix_exit_terminations_exit_decision_id', ['exit_decision_id'])


def downgrade() -> None:
    op.drop_table('exit_terminations')
