"""The delivery worker against a real SMTP server and a real HTTP receiver, on both databases."""

# Chinese text uses full-width punctuation on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from services.notifications import worker
from services.notifications.channels.email import SmtpSettings
from services.notifications.channels.webhook import (
    NOTICE_KEY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_signature,
)
from services.notifications.config import NotificationConfig
from services.notifications.domain import BackoffPolicy
from services.notifications.models import (
    Delivery,
    DeliveryHistory,
    InboxItem,
    NoticeRow,
    TemplateOverride,
    outbox,
)
from shared.db import Database
from shared.events.envelope import decode_envelope
from shared.events.schemas import validate_event
from tests.support.contracts_world import Client

from . import world
from .conftest import LOCAL_RECEIVERS
from .servers import SmtpServer, WebhookReceiver, free_port, smtp_server
from .world import NOW, ZHANG

SECRET = "a-shared-secret-of-some-length"


def no_jitter() -> float:
    return 0.0


def settings_for(port: int, connections: int = 1, **backoff: Any) -> NotificationConfig:
    """One SMTP session a batch unless asked (the tests of several at once say so)."""
    smtp = SmtpSettings(host="127.0.0.1", port=port, sender="tenure@example.com",
                        sender_name="任期制管理系统", timeout=3, connections=connections)
    return NotificationConfig(smtp=smtp, backoff=BackoffPolicy(**backoff),
                              webhook_timeout=3, webhook_allowed_hosts=LOCAL_RECEIVERS)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


def deliveries(db: Database) -> list[Delivery]:
    with db.read() as s:
        return list(s.scalars(select(Delivery).order_by(Delivery.channel, Delivery.id)))


def history(db: Database, delivery_id: str) -> list[tuple[str, str | None]]:
    with db.read() as s:
        return [(h.action, h.reason) for h in s.scalars(
            select(DeliveryHistory).where(DeliveryHistory.delivery_id == delivery_id)
            .order_by(DeliveryHistory.id))]


def test_due_deliveries_go_out_by_email_and_signed_webhook_and_are_recorded_sent(
        db: Database, group: Client, smtp: SmtpServer) -> None:
    with WebhookReceiver() as receiver:
        group.post("/api/v1/webhooks", {"recipient_id": ZHANG, "url": receiver.url,
                                        "secret": SECRET}, expect=201)
        world.apply(db, world.appraisal_published(ZHANG, grade="not_competent",
                                                  score="58.40"))
        config = settings_for(smtp.port)
        result = worker.run_once(db, config, NOW, rand=no_jitter)
        assert (result.sent, result.failed, result.given_up) == (4, 0, 0)
        assert worker.run_once(db, config, NOW + timedelta(hours=1)).deliveries == 0
    to_zhang = [m for m in smtp.mailbox.received if m["To"].addresses[0].display_name == "张伟"]
    assert len(smtp.mailbox.received) == 3 and len(to_zhang) == 1  # + hr-east and hr-group
    assert to_zhang[0]["Subject"] == "【任期制】您的2025年度考核结果已公布：不称职"
    # Every e-mail names the grade in its reader's words, never by its code.
    bodies = {m["To"].addresses[0].username: m.get_body(("plain",)).get_content()
              for m in smtp.mailbox.received}
    assert "考核等级：不称职" in bodies[to_zhang[0]["To"].addresses[0].username]
    assert "Grade: not competent" in bodies["hr-group"]
    assert not any("not_competent" in body for body in bodies.values())
    (call,) = receiver.calls
    assert verify_signature(SECRET, call.headers[TIMESTAMP_HEADER], call.body,
                            call.headers[SIGNATURE_HEADER])
    payload = json.loads(call.body)
    assert payload["recipient"]["id"] == ZHANG and payload["facts"]["score"] == "58.40"
    assert call.headers[NOTICE_KEY_HEADER] == payload["notice_key"]
    for delivery in deliveries(db):
        assert (delivery.state, delivery.attempts) == ("sent", 1)
        assert [a for a, _ in history(db, delivery.id)] == ["queued", "sent"]


def test_a_down_smtp_server_is_retried_after_the_backoff_then_delivered(
        db: Database, group: Client) -> None:
    port = free_port()
    world.apply(db, world.appraisal_published(ZHANG))
    config = settings_for(port)
    first = worker.run_once(db, config, NOW, rand=no_jitter)
    assert (first.sent, first.failed) == (0, 3)
    failed = deliveries(db)[0]
    assert failed.state == "failed" and failed.attempts == 1
    assert failed.next_attempt_at.replace(tzinfo=UTC) == NOW + timedelta(seconds=30)
    assert "cannot reach" in failed.last_error
    assert worker.run_once(db, config, NOW + timedelta(seconds=29)).deliveries == 0
    with smtp_server(port) as server:
        later = worker.run_once(db, config, NOW + timedelta(seconds=30), rand=no_jitter)
    assert later.sent == 3 and len(server.mailbox.received) == 3
    assert [a for a, _ in history(db, failed.id)] == ["queued", "failed", "sent"]


def test_a_permanent_rejection_gives_up_and_alerts_hr_through_the_outbox(
        db: Database, group: Client, smtp: SmtpServer) -> None:
    smtp.mailbox.refuse_with = "550 5.1.1 No such user"
    world.apply(db, world.appraisal_published(ZHANG))
    result = worker.run_once(db, settings_for(smtp.port), NOW)
    assert result.given_up == 3
    with db.read() as s:
        rows = list(s.execute(select(outbox).order_by(outbox.c.id)))
    assert {r.event_type for r in rows} == {"notice.given_up"} and len(rows) == 3
    given_up = [decode_envelope(r.payload) for r in rows]
    for envelope in given_up:
        validate_event(envelope)  # what the relay publishes passes the catalogue's schema
    mine = next(e for e in given_up if e["data"]["recipient_id"] == ZHANG)
    assert mine["data"]["reason"].startswith("recipient refused: 550")
    # The consumer reads it back from hr.notices: HR of the manager's scope is alerted.
    world.apply(db, mine)
    with db.read() as s:
        alerts = s.execute(select(InboxItem.recipient_id, InboxItem.text)
                           .where(InboxItem.kind == "delivery_given_up_hr")).all()
    assert sorted(r for r, _ in alerts) == ["hr-east", "hr-group"]
    assert all("550" in text for _, text in alerts)


def test_tries_run_out_after_the_policy_maximum(db: Database, group: Client) -> None:
    world.apply(db, world.appraisal_published(ZHANG))
    config = settings_for(free_port(), max_attempts=3)
    now = NOW
    for _ in range(3):
        worker.run_once(db, config, now, rand=no_jitter)
        now += timedelta(hours=1)
    states = {(d.state, d.attempts) for d in deliveries(db)}
    assert states == {("given_up", 3)}
    assert "(after 3 tries)" in history(db, deliveries(db)[0].id)[-1][1]


def test_a_resend_needs_a_reason_is_audited_and_gets_a_distinct_message_id(
        db: Database, group: Client, smtp: SmtpServer) -> None:
    smtp.mailbox.refuse_with = "550 5.1.1 No such user"
    world.apply(db, world.appraisal_published(ZHANG))
    worker.run_once(db, settings_for(smtp.port), NOW)
    with db.read() as s:
        delivery = s.scalar(select(Delivery).join(NoticeRow, NoticeRow.id == Delivery.notice_id)
                            .where(NoticeRow.recipient_id == ZHANG))
    path = f"/api/v1/deliveries/{delivery.id}/resend"
    group.post(path, {}, expect=422)
    resent = group.post(path, {"reason": "address corrected by HR"}, expect=200).get_json()
    assert (resent["state"], resent["generation"], resent["attempts"]) == ("queued", 1, 0)
    assert resent["history"][-1]["action"] == "resent"
    assert resent["history"][-1]["actor"] == "hr-group"
    assert resent["history"][-1]["reason"] == "address corrected by HR"
    group.post(path, {"reason": "again please"}, expect=409)  # already queued
    smtp.mailbox.refuse_with = None
    worker.run_once(db, settings_for(smtp.port), datetime.now(UTC))
    (received,) = smtp.mailbox.received
    assert received["Message-ID"] == f"<{delivery.notice_key}.r1@tenure.notifications>"


def test_hr_override_shapes_the_email_and_a_broken_one_falls_back_to_the_built_in(
        db: Database, group: Client, smtp: SmtpServer) -> None:
    group.put("/api/v1/templates/appraisal_result/zh", {
        "subject": "考核结果：{{ grade }}（{{ year }}年度）",
        "body": "{{ recipient_name }}：\n您的得分为 {{ score }}。"}, expect=200)
    world.apply(db, world.appraisal_published(ZHANG, grade="B", score="81.00"))
    worker.run_once(db, settings_for(smtp.port), NOW)
    mine = [m for m in smtp.mailbox.received if m["To"].addresses[0].display_name == "张伟"]
    assert mine[0]["Subject"] == "考核结果：B（2025年度）"
    assert "您的得分为 81.00。" in mine[0].get_body(("plain",)).get_content()
    # An override stored behind the API's back that cannot render never stops a notice.
    with db.unit_of_work() as s:
        row = s.get(TemplateOverride, ("appraisal_result", "zh"))
        row.subject = "{{ grade.missing.attribute }}"
    smtp.mailbox.received.clear()
    world.apply(db, world.appraisal_published(ZHANG, grade="D", score="40.00"))
    worker.run_once(db, settings_for(smtp.port), NOW)
    mine = [m for m in smtp.mailbox.received if m["To"].addresses[0].display_name == "张伟"]
    assert mine[0]["Subject"] == "【任期制】您的2025年度考核结果已公布：D"


def test_a_due_reminder_becomes_a_notice_once_and_the_next_threshold_later(
        db: Database, group: Client, smtp: SmtpServer) -> None:
    appraisal = "0d000000-0000-4000-8000-000000000009"
    world.apply(db, world.event("appraisal.opened", {
        "appraisal_id": appraisal, "manager_id": ZHANG, "year": 2025,
        "actuals_due": "2026-03-31", "appraiser_ids": ["hr-east"]}))
    config = settings_for(smtp.port)
    day = datetime(2026, 3, 20, 8, tzinfo=UTC)
    assert worker.run_once(db, config, day).reminders == 1
    assert worker.run_once(db, config, day + timedelta(hours=2)).reminders == 0
    assert worker.run_once(db, config, datetime(2026, 3, 29, 8, tzinfo=UTC)).reminders == 1
    assert worker.run_once(db, config, datetime(2026, 4, 2, 8, tzinfo=UTC)).reminders == 0
    with db.read() as s:
        found = sorted(n.context["days_left"] for n in s.scalars(
            select(NoticeRow).where(NoticeRow.kind == "actuals_due")))
    assert found == [2, 11]
    subjects = [m["Subject"] for m in smtp.mailbox.received]
    assert len(subjects) == 2 and all(m["To"].addresses[0].addr_spec == "hr-east@example.com"
                                      for m in smtp.mailbox.received)


def test_two_workers_at_once_send_each_delivery_exactly_once(
        db: Database, group: Client, smtp: SmtpServer) -> None:
    for _ in range(8):
        world.apply(db, world.appraisal_published(ZHANG))
    config = replace(settings_for(smtp.port), delivery_batch=5)
    results: list[worker.Pass] = []

    def work() -> None:
        for _ in range(4):
            results.append(worker.run_once(db, config, NOW))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.sent for r in results) == 24
    ids = [m["Message-ID"] for m in smtp.mailbox.received]
    assert len(ids) == 24 == len(set(ids))
