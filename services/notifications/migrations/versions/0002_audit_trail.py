"""audit trail

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 01:30:00

`audit_log`, the append-only trail of every write (docs/audit.md), created by the helper
every service's migration uses.
"""
from collections.abc import Sequence

from alembic import op

from shared.migrations import create_audit_table, drop_audit_table

revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_audit_table(op)


def downgrade() -> None:
    drop_audit_table(op)
