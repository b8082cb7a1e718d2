"""self-reports: the manager's annual report, its revisions, deadline and dispute

Revision ID: 0004
Revises: 0001
Create Date: 2026-12-03 01:30:00

Appraisals get the report's deadline, what review recorded about it, its dispute's state
and the nearest reminder sent; each revision of a report is one row of self_reports.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'self_reports',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('appraisal_id', sa.String(length=36), nullable=False),
        sa.Column('manager_id', sa.String(length=36), nullable=False),
        sa.Column('revision', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('attachments', sa.JSON(), nullable=False),
        sa.Column('actuals', sa.String(length=16), nullable=False),
        sa.Column('dispute', sa.JSON(), nullable=True),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('received_on', sa.Date(), nullable=True),
        sa.Column('document_no', sa.String(length=200), nullable=True),
        sa.Column('submitted_by', sa.String(length=200), nullable=False),
        sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('resolution', sa.String(length=16), nullable=True),
        sa.Column('resolution_note', sa.Text(), nullable=True),
        sa.Column('resolved_by', sa.String(length=200), nullable=True),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('appraisal_id', 'revision',
                            name='uq_self_reports_appraisal_revision'),
    )
    with op.batch_alter_table('self_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_self_reports_appraisal_id'), ['appraisal_id'],
                              unique=False)
    with op.batch_alter_table('appraisals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('self_report_due', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('self_report', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('self_report_dispute', sa.String(length=16),
                                      nullable=True))
        batch_op.add_column(sa.Column('self_report_reminded', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('appraisals', schema=None) as batch_op:
        batch_op.drop_column('self_report_reminded')
        batch_op.drop_column('self_report_dispute')
        batch_op.drop_column('self_report')
        batch_op.drop_column('self_report_due')
    with op.batch_alter_table('self_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_self_reports_appraisal_id'))
    op.drop_table('self_reports')
