"""run batches: a run's cohort in batches that any scoring process may claim

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-03 04:20:00

One row per batch of a running run; scoring processes claim them with FOR UPDATE SKIP LOCKED
and a lease (docs/scale-out.md). The run's process deletes them when it commits.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'appraisal_run_batches',
        sa.Column('run_id', sa.String(length=36), nullable=False),
        sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('work', sa.JSON(), nullable=False),
        sa.Column('claimed_by', sa.String(length=200), nullable=True),
        sa.Column('claims', sa.Integer(), nullable=False),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('rows_new', sa.Text(), nullable=True),
        sa.Column('rows_rescored', sa.Text(), nullable=True),
        sa.Column('result', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('run_id', 'seq'),
    )


def downgrade() -> None:
    op.drop_table('appraisal_run_batches')
