"""lz4 compression of large values: audit records, event payloads and the other json and text
columns

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 20:30:00

Values over about 2 KB written from now on are compressed with lz4 instead of PostgreSQL's
pglz, at a fraction of the database's CPU (docs/scale-storage.md; `compress_with_lz4`).
Nothing is rewritten. A no-op on SQLite and on a PostgreSQL server without lz4.
"""
from collections.abc import Sequence

from alembic import op

from shared.migrations import compress_with_lz4

revision: str = '0010'
down_revision: str | Sequence[str] | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    compress_with_lz4(op)


def downgrade() -> None:
    compress_with_lz4(op, "default")
