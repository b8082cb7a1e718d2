"""Migration 0009: an exit decision's appeal window close, written by the code before it in
the window's zone, reads as the same instant afterwards on both databases (SQLite had kept
the zone's wall time without its offset, which the service read as UTC)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import command

from shared.migrations import alembic_config
from tests.support.databases import migrations_dir

decisions = sa.table("exit_decisions", *(sa.column(name) for name in (
    "id", "appraisal_id", "manager_id", "contract_id", "year", "kind", "state", "triggers",
    "published_at", "window_days", "window_zone", "last_day", "events", "row_version",
    "created_at", "updated_at")), sa.column("closes_at", sa.DateTime(timezone=True)))


def test_a_window_close_written_in_its_zone_reads_as_that_instant_after_the_upgrade(
        database_url_factory: Any) -> None:
    url = database_url_factory("appraisal")
    cfg = alembic_config(migrations_dir("appraisal"), url)
    engine = sa.create_engine(url)
    shanghai = ZoneInfo("Asia/Shanghai")
    now = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)
    closes = datetime(2026, 12, 20, 0, 0, tzinfo=shanghai)  # after 19 December there
    try:
        command.downgrade(cfg, "0008")
        with engine.begin() as conn:
            conn.execute(decisions.insert().values(
                id="d-1", appraisal_id="a-1", manager_id="m-1", contract_id="c-1", year=2026,
                kind="annual", state="pending", triggers="[]", published_at=now,
                window_days=15, window_zone="Asia/Shanghai", last_day=date(2026, 12, 19),
                closes_at=closes, events="[]", row_version=1, created_at=now,
                updated_at=now))
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            stored = conn.execute(sa.select(decisions.c.closes_at)).scalar_one()
        if stored.tzinfo is None:  # SQLite: the service reads its datetimes as UTC
            stored = stored.replace(tzinfo=UTC)
        assert stored == closes == datetime.combine(date(2026, 12, 19), time(16), tzinfo=UTC)
    finally:
        engine.dispose()
