"""deliveries: a partial index of the pending ones, in the order the worker claims them

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 22:30:00

`ix_deliveries_pending_due` on (next_attempt_at, id) where the state is queued or failed:
the worker's claim walks it in order and stops after the rows it takes, instead of sorting
every due delivery for each claim (docs/scale-delivery.md). Built CONCURRENTLY on
PostgreSQL (`create_index_concurrently`); the deliveries table may hold millions of rows.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.migrations import create_index_concurrently

revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As it stood when this migration was written (services/notifications/models.py).
PENDING_SQL = "state IN ('queued', 'failed')"


def _index() -> sa.Index:
    deliveries = sa.Table("deliveries", sa.MetaData(), sa.Column("id", sa.String(36)),
                          sa.Column("state", sa.String(16)),
                          sa.Column("next_attempt_at", sa.DateTime(timezone=True)))
    return sa.Index("ix_deliveries_pending_due", deliveries.c.next_attempt_at, deliveries.c.id,
                    postgresql_where=sa.text(PENDING_SQL), sqlite_where=sa.text(PENDING_SQL))


def upgrade() -> None:
    create_index_concurrently(op, _index())


def downgrade() -> None:
    op.drop_index("ix_deliveries_pending_due", table_name="deliveries", if_exists=True)
