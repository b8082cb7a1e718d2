"""bulk issue: each manager's decision a row of its own

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 00:40:00

`bulk_issue_decisions` (job, place, outcome, the decision as JSON text), written with the
chunk that decided it, so that `GET /bulk-issues/{id}/decisions` reads a page by an index
range, while the job runs and after, instead of the database walking the job's whole list
for every page (docs/scale-bulk-issue.md). The decisions of the jobs run before are copied
from their lists, in order; a decision from before outcomes existed (migration 0005) is
`issued` or `skipped` as its `issued` says. The job keeps its list, as before.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | Sequence[str] | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COPY = {
    "postgresql": (
        "INSERT INTO bulk_issue_decisions (job_id, place, decision, body) "
        "SELECT j.id, e.ord, coalesce(e.elem->>'decision', CASE WHEN (e.elem->>'issued') = "
        "'true' THEN 'issued' ELSE 'skipped' END), e.elem::text FROM bulk_issue_jobs AS j "
        "CROSS JOIN LATERAL json_array_elements(j.decisions) WITH ORDINALITY AS e(elem, ord)"),
    "sqlite": (
        "INSERT INTO bulk_issue_decisions (job_id, place, decision, body) "
        "SELECT j.id, e.key + 1, coalesce(json_extract(e.value, '$.decision'), CASE WHEN "
        "json_extract(e.value, '$.issued') THEN 'issued' ELSE 'skipped' END), json(e.value) "
        "FROM bulk_issue_jobs AS j, json_each(j.decisions) AS e"),
}


def upgrade() -> None:
    op.create_table(
        'bulk_issue_decisions',
        sa.Column('job_id', sa.String(length=36), sa.ForeignKey('bulk_issue_jobs.id'),
                  nullable=False),
        sa.Column('place', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('decision', sa.String(length=16), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('job_id', 'place'),
    )
    op.create_index('ix_bulk_issue_decisions_outcome', 'bulk_issue_decisions',
                    ['job_id', 'decision', 'place'])
    op.execute(_COPY[op.get_bind().dialect.name])


def downgrade() -> None:
    op.drop_index('ix_bulk_issue_decisions_outcome', table_name='bulk_issue_decisions')
    op.drop_table('bulk_issue_decisions')
