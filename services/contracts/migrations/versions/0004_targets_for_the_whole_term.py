"""targets for the whole term: templates carry tenure targets; contracts say if appraisable

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-03 01:30:00

`contract_templates.tenure_targets` holds the tenure performance contract's targets a
template gives every contract issued from it. `tenure_contracts.appraisable` holds whether
the annual and tenure appraisals can score the contract's documents under the shared rule
(shared/performance_contract.py), written with the targets; existing contracts are judged
here once from their stored documents.
"""
import json
from collections import defaultdict
from typing import Any, Sequence, Union

import sqlalchemy as sa
from alembic import op

from shared.performance_contract import appraisability, line_from_stored

revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _lines(value: Any) -> list[Any]:
    raw = json.loads(value) if isinstance(value, str) else (value or [])
    return [line_from_stored(line) for line in raw]


def upgrade() -> None:
    op.add_column('contract_templates', sa.Column('tenure_targets', sa.JSON(), nullable=False,
                                                  server_default='[]'))
    op.add_column('tenure_contracts', sa.Column('appraisable', sa.JSON(), nullable=True))
    bind = op.get_bind()
    contracts = sa.table('tenure_contracts', sa.column('id', sa.String),
                         sa.column('position', sa.String),
                         sa.column('appraisable', sa.JSON))
    documents = sa.table('contract_documents', sa.column('contract_id', sa.String),
                         sa.column('kind', sa.String), sa.column('year', sa.Integer),
                         sa.column('targets', sa.JSON))
    annual: dict[str, dict[int, list[Any]]] = defaultdict(dict)
    tenure: dict[str, list[Any]] = {}
    for contract_id, kind, year, targets in bind.execute(sa.select(
            documents.c.contract_id, documents.c.kind, documents.c.year, documents.c.targets)):
        if kind == 'annual_performance_contract':
            annual[contract_id][year] = _lines(targets)
        elif kind == 'tenure_performance_contract':
            tenure[contract_id] = _lines(targets)
    for contract_id, position in bind.execute(sa.select(contracts.c.id, contracts.c.position)):
        verdict = appraisability(position, annual.get(contract_id, {}),
                                 tenure.get(contract_id))
        bind.execute(contracts.update().where(contracts.c.id == contract_id)
                     .values(appraisable=verdict.as_dict()))


def downgrade() -> None:
    op.drop_column('tenure_contracts', 'appraisable')
    op.drop_column('contract_templates', 'tenure_targets')
