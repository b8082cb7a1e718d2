"""audit trail: an index of the people acted for

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 14:00:00

`ix_audit_log_on_behalf_of`, so that `GET /api/v1/audit?actor=` finds the records written
on a person's behalf through an index (docs/audit.md; `create_audit_on_behalf_index`).
"""
from collections.abc import Sequence

from alembic import op

from shared.migrations import create_audit_on_behalf_index, drop_audit_on_behalf_index

revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_audit_on_behalf_index(op)


def downgrade() -> None:
    drop_audit_on_behalf_index(op)
