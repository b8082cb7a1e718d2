"""contracts: an index of who holds an active contract for which post

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 12:40:00

The coverage report counts, for every active manager, whether they hold an active contract
for their current position: a set of (manager_id, position) of the active contracts that
PostgreSQL builds once and probes per manager. It was built by reading every contract's row
(193 MB at 100,000 managers after a year's signatures: 79-159 ms of the report's 205-301 ms
statement). `ix_contracts_active_holders` is a partial index on (manager_id, position) of the
active contracts only, which the set is read from alone (an index-only scan, 11-16 ms). It
costs one index entry when a contract comes into force: `state` is indexed already, so a
change of it was never a HOT update. Built CONCURRENTLY on PostgreSQL
(`create_index_concurrently`): the table may hold years of contracts.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.migrations import create_index_concurrently, drop_index_concurrently

revision: str = '0014'
down_revision: str | Sequence[str] | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_contracts_active_holders"
TABLE = "tenure_contracts"


def _index() -> sa.Index:
    table = sa.Table(TABLE, sa.MetaData(), sa.Column("manager_id", sa.String(36)),
                     sa.Column("position", sa.String(48)), sa.Column("state", sa.String(32)))
    active = sa.text("state = 'active'")
    return sa.Index(NAME, table.c.manager_id, table.c.position,
                    postgresql_where=active, sqlite_where=active)


def upgrade() -> None:
    create_index_concurrently(op, _index())


def downgrade() -> None:
    drop_index_concurrently(op, NAME, TABLE)
