"""contracts and documents: the four indexes another index already leads with, dropped

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 01:30:00

`ix_tenure_contracts_manager_id`, `ix_tenure_contracts_org_unit_id` and
`ix_tenure_contracts_state` repeat the first column of `ix_contracts_manager_position`,
`ix_contracts_unit_state_created` and `ix_contracts_state_end`; `ix_contract_documents_
contract_id` repeats the first column of the unique (contract_id, kind, year). Every lookup
and foreign-key check they served, the longer index serves; each was one more entry to write
for every contract or document inserted, and for every change of a contract that is not a
HOT update (a signature, docs/scale-signing-cpu.md). Dropped CONCURRENTLY on PostgreSQL
(`drop_index_concurrently`), built again the same way on downgrade.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.migrations import create_index_concurrently, drop_index_concurrently

revision: str = '0012'
down_revision: str | Sequence[str] | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: name -> (table, column), as they stood before this migration.
DROPPED = {
    "ix_tenure_contracts_manager_id": ("tenure_contracts", "manager_id"),
    "ix_tenure_contracts_org_unit_id": ("tenure_contracts", "org_unit_id"),
    "ix_tenure_contracts_state": ("tenure_contracts", "state"),
    "ix_contract_documents_contract_id": ("contract_documents", "contract_id"),
}


def upgrade() -> None:
    for name, (table, _) in DROPPED.items():
        drop_index_concurrently(op, name, table)


def downgrade() -> None:
    for name, (table, column) in DROPPED.items():
        create_index_concurrently(op, sa.Index(name, sa.Table(
            table, sa.MetaData(), sa.Column(column, sa.String(36))).c[column]))
