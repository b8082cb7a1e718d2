"""Self-report events on a real notifications database: the reminder reaches the manager's
inbox, the submission reaches the HR admins whose scope holds the manager's unit."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from services.notifications.models import InboxItem, NoticeRow
from shared.db import Database
from tests.support.contracts_world import Client

from . import world
from .world import PLANT, ZHANG


def _notices(db: Database, event_id: str) -> dict[tuple[str, str], str]:
    with db.read() as s:
        rows = s.execute(select(NoticeRow.recipient_id, NoticeRow.kind, InboxItem.subject)
                         .join(InboxItem, InboxItem.notice_id == NoticeRow.id)
                         .where(NoticeRow.event_id == event_id)).all()
    return {(r, k): subject for r, k, subject in rows}


def test_a_self_report_reminder_lands_in_the_managers_inbox_in_their_language(
        db: Database, group: Client) -> None:
    due = world.event("self_report.due", {
        "appraisal_id": str(uuid.uuid4()), "manager_id": ZHANG, "year": 2025,
        "org_unit_id": PLANT, "due_date": "2026-03-09", "days_left": 7, "reminder_days": 7})
    world.apply(db, due)
    assert _notices(db, due["id"]) == {
        (ZHANG, "self_report_due"): "【任期制】请于 2026-03-09 前提交您的2025年度述职报告"}


def test_a_submitted_self_report_reaches_the_hr_admins_of_the_scope_only(
        db: Database, group: Client) -> None:
    submitted = world.event("self_report.submitted", {
        "appraisal_id": str(uuid.uuid4()), "manager_id": ZHANG, "year": 2025,
        "org_unit_id": PLANT, "revision": 1, "actuals": "disputed", "channel": "manager",
        "disputed_indicator": "PROFIT", "dispute_reason": "audited 1,200"})
    world.apply(db, submitted)
    got = _notices(db, submitted["id"])
    assert set(got) == {("hr-group", "self_report_submitted_hr"),
                        ("hr-east", "self_report_submitted_hr")}
    assert got[("hr-group", "self_report_submitted_hr")].endswith("(an actual is disputed)")
