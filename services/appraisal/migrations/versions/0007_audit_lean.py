"""audit lean: appraisal steps store what they change, not the trace again

Revision ID: 0007_audit_lean
Revises: 0006
Create Date: 2026-12-03 07:20:00

- The scoring trace (`appraisals.result`) is kept out of line on PostgreSQL
  (toast_tuple_target = 128): a review, approval or publication writes a new version of a
  row of a few hundred bytes that points to the unchanged trace, instead of copying the trace
  into each version. Rows written from now on are stored so; older ones when next written.
- `ix_appraisals_manager_id` goes: the unique key (manager_id, contract_id, year, kind)
  starts with the manager and serves every lookup by manager.
- `ix_appraisals_year_kind_state` becomes `ix_appraisals_year_kind`, and pages keep 30% free
  (fillfactor = 70): review, approve and publish change no indexed column, so each new row
  version goes in the same page as a HOT update (no new entry in any index; the dead version
  is pruned in the page without waiting for VACUUM).
(The leaner audit records themselves are a change of code, shared/audit.py.)
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0007_audit_lean'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('appraisals', schema=None) as batch_op:
        batch_op.drop_index('ix_appraisals_manager_id')
        batch_op.drop_index('ix_appraisals_year_kind_state')
        batch_op.create_index('ix_appraisals_year_kind', ['year', 'kind'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE appraisals SET (toast_tuple_target = 128, fillfactor = 70)')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE appraisals RESET (toast_tuple_target, fillfactor)')
    with op.batch_alter_table('appraisals', schema=None) as batch_op:
        batch_op.drop_index('ix_appraisals_year_kind')
        batch_op.create_index('ix_appraisals_year_kind_state', ['year', 'kind', 'state'],
                              unique=False)
        batch_op.create_index('ix_appraisals_manager_id', ['manager_id'], unique=False)
