"""bulk issue outcomes: a count of managers who failed, and the all-or-nothing choice

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-03 01:20:00

Each decision of a bulk issue is now `issued`, `skipped` or `failed` (stored in the job's
decisions JSON); the job counts the failed ones beside the skipped, and remembers whether
the request asked for all-or-nothing.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('bulk_issue_jobs') as batch:
        batch.add_column(sa.Column('failed', sa.Integer(), nullable=False,
                                   server_default='0'))
        batch.add_column(sa.Column('all_or_nothing', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('bulk_issue_jobs') as batch:
        batch.drop_column('all_or_nothing')
        batch.drop_column('failed')
