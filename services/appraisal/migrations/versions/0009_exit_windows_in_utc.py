"""exit decisions: the appeal window's close kept in UTC on SQLite

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 16:30:00

An exit decision's `closes_at` is the start of the day after the appeal window's last day in
the window's zone (Asia/Shanghai by default). It was stored as an aware datetime in that
zone. PostgreSQL keeps the instant; SQLite drops the offset and keeps the wall time, which
the service then read as UTC: on SQLite a window closed eight hours late. The service now
stores the instant in UTC; this revision mends the rows SQLite already holds, from their
`last_day` and `window_zone` exactly as the domain computes the close
(`services/appraisal/domain/exit_decisions.py`, `appeal_window`). PostgreSQL's rows are
right already and are left alone. Downgrading keeps the mended values: they are the
instants the older code meant.
"""
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

decisions = sa.table("exit_decisions", sa.column("id", sa.String),
                     sa.column("last_day", sa.Date), sa.column("window_zone", sa.String),
                     sa.column("closes_at", sa.DateTime(timezone=True)))


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    rows = conn.execute(sa.select(decisions.c.id, decisions.c.last_day,
                                  decisions.c.window_zone)).all()
    for decision_id, last_day, zone in rows:
        closes = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=ZoneInfo(zone))
        conn.execute(decisions.update().where(decisions.c.id == decision_id)
                     .values(closes_at=closes.astimezone(UTC)))


def downgrade() -> None:
    pass
