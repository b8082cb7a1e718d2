"""signatures: both parties sign each document; amendments of targets await both signatures

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 01:30:00

Documents signed before this revision were signed in one step (often by HR); they stay in
force, with no signature rows: nobody can say now who signed them on which side.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Same channel and function as 0002: a new or changed signature makes the contract's cached
# read stale in every process.
TRIGGERS = """
CREATE TRIGGER contract_read_stale AFTER INSERT OR UPDATE OR DELETE ON contract_signatures
    FOR EACH ROW EXECUTE FUNCTION tenure_contract_read_stale();
"""


def upgrade() -> None:
    op.create_table(
        'contract_signatures',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('contract_id', sa.String(length=36), nullable=False),
        sa.Column('document_id', sa.String(length=36), nullable=False),
        sa.Column('amendment_version', sa.Integer(), nullable=False),
        sa.Column('party', sa.String(length=16), nullable=False),
        sa.Column('method', sa.String(length=16), nullable=False),
        sa.Column('signed_by', sa.String(length=200), nullable=True),
        sa.Column('person_manager_id', sa.String(length=36), nullable=True),
        sa.Column('on_behalf_of', sa.String(length=400), nullable=False),
        sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('paper_signed_on', sa.Date(), nullable=True),
        sa.Column('paper_reference', sa.String(length=200), nullable=True),
        sa.Column('recorded_by', sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(['contract_id'], ['tenure_contracts.id']),
        sa.ForeignKeyConstraint(['document_id'], ['contract_documents.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('document_id', 'amendment_version', 'party'),
    )
    op.create_index(op.f('ix_contract_signatures_contract_id'), 'contract_signatures',
                    ['contract_id'], unique=False)
    op.add_column('tenure_contracts', sa.Column('signatures', sa.JSON(), nullable=False,
                                                server_default=sa.text("'[]'")))
    op.add_column('contract_documents', sa.Column(
        'signing_state', sa.String(length=24), nullable=False,
        server_default='awaiting_manager'))
    op.add_column('contract_documents', sa.Column('amendment_version', sa.Integer(),
                                                  nullable=True))
    op.add_column('contract_documents', sa.Column('amendment_state', sa.String(length=24),
                                                  nullable=True))
    op.add_column('contract_documents', sa.Column('amended_targets', sa.JSON(), nullable=True))
    op.execute("UPDATE contract_documents SET signing_state = 'in_force' "
               "WHERE signed_at IS NOT NULL")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(TRIGGERS)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS contract_read_stale ON contract_signatures")
    with op.batch_alter_table('contract_documents') as batch:
        batch.drop_column('amended_targets')
        batch.drop_column('amendment_state')
        batch.drop_column('amendment_version')
        batch.drop_column('signing_state')
    with op.batch_alter_table('tenure_contracts') as batch:
        batch.drop_column('signatures')
    op.drop_index(op.f('ix_contract_signatures_contract_id'), table_name='contract_signatures')
    op.drop_table('contract_signatures')
