"""The notifications service end to end: events on a real Kafka broker, the consumer, delivery
worker and relay as real processes on PostgreSQL, the API under gunicorn, a real SMTP server
and a real webhook receiver."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, select

from services.notifications.channels.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_signature,
)
from services.notifications.models import inbox
from shared.events.catalogue import CATALOGUE
from shared.events.envelope import encode_envelope, make_event
from shared.kafka_clients import ensure_topics, make_producer
from tests.conftest import auth
from tests.integration.notifications.servers import SmtpServer, WebhookReceiver
from tests.support.processes import running, service_api

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

UNIT = "0e000000-0000-4000-8000-000000000001"
MANAGER = "0e000000-0000-4000-8000-000000000002"
OTHER_MANAGER = "0e000000-0000-4000-8000-000000000003"
SECRET = "e2e-webhook-secret-0123456789"


def eventually(check: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.2)


class Events:
    """Produces CloudEvents to the test's own copy of the topics, keyed by manager id."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.prefix = prefix
        self.producer = make_producer(bootstrap)

    def send(self, envelope: dict[str, Any], key: str) -> None:
        topic = self.prefix + CATALOGUE[envelope["type"]].topic
        self.producer.send(topic, key=key.encode(), value=encode_envelope(envelope), headers=[
            ("ce_type", envelope["type"].encode()), ("ce_id", envelope["id"].encode())],
        ).get(timeout=30)

    def new(self, event_type: str, data: dict[str, Any], subject: str) -> dict[str, Any]:
        envelope = make_event(event_type, CATALOGUE[event_type].source, subject, data)
        self.send(envelope, subject)
        return envelope

    def close(self) -> None:
        self.producer.close(timeout=5)


@pytest.fixture
def system(kafka_broker: Any, postgres_databases: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    prefix = f"e2e{uuid.uuid4().hex[:6]}."
    bootstrap = kafka_broker.bootstrap_servers
    ensure_topics(bootstrap, [prefix + t for t in ("hr.contracts", "hr.appraisals",
                                                   "hr.notices", "hr.deadletter")])
    smtp = SmtpServer().start()
    database_url = postgres_databases.fresh("notifications")
    env = {
        "NOTIFICATIONS_DATABASE_URL": database_url, "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "TENURE_TOPIC_PREFIX": prefix, "TENURE_VAR_DIR": str(tmp_path), "LOG_JSON": "false",
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port),
        "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "SMTP_SENDER": "tenure@example.com", "SMTP_TIMEOUT": "3",
        "NOTIFICATIONS_RETRY_FIRST_DELAY_SECONDS": "0.5",
        "NOTIFICATIONS_RETRY_CAP_SECONDS": "2", "NOTIFICATIONS_RETRY_MAX_ATTEMPTS": "20",
        "NOTIFICATIONS_DELIVERY_POLL_SECONDS": "0.2",
    }
    flask = [sys.executable, "-m", "flask", "--app", "services.notifications:create_app"]
    with ExitStack() as stack:
        stack.callback(smtp.stop)
        url = stack.enter_context(service_api("notifications", env, tmp_path, workers=1))
        for command in ("consume", "deliver", "relay"):
            stack.enter_context(running([*flask, command], env, tmp_path / f"{command}.log"))
        receiver = stack.enter_context(WebhookReceiver())
        events = Events(bootstrap, prefix)
        stack.callback(events.close)
        engine = create_engine(database_url)
        stack.callback(engine.dispose)
        yield {"url": url, "smtp": smtp, "receiver": receiver, "events": events,
               "engine": engine, "logs": tmp_path}


def applied(engine: Any, event_id: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(inbox.c.event_id).where(inbox.c.event_id == event_id)
                            ).first() is not None


def get(url: str, headers: dict[str, str], expect: int = 200) -> Any:
    resp = requests.get(url, headers=headers, timeout=10)
    assert resp.status_code == expect, resp.text
    return resp.json()


def test_an_event_becomes_one_email_one_signed_webhook_and_one_inbox_item(
        system: dict[str, Any]) -> None:
    url, smtp, receiver, events = (system[k] for k in ("url", "smtp", "receiver", "events"))
    engine = system["engine"]
    hr = auth("hr_admin", subject="hr-e2e")
    mine = auth("manager", subject="u-1", manager_id=MANAGER)
    theirs = auth("manager", subject="u-2", manager_id=OTHER_MANAGER)

    events.new("org_unit.created", {"org_unit_id": UNIT, "parent_id": None, "code": "G",
                                    "name": "集团", "layer": 1}, UNIT)
    events.new("manager.registered", {
        "manager_id": MANAGER, "employee_no": "E-1", "name": "张伟",
        "email": "zhang.wei@example.com", "language": "zh", "org_unit_id": UNIT,
        "position": "general_manager"}, MANAGER)
    eventually(lambda: requests.get(f"{url}/api/v1/recipients/{MANAGER}", headers=hr,
                                    timeout=5).status_code == 200, 60, "manager known")
    requests.post(f"{url}/api/v1/webhooks", json={
        "recipient_id": MANAGER, "url": receiver.url, "secret": SECRET}, headers=hr,
        timeout=10).raise_for_status()
    # HR admin without an address: alerts reach the inbox only, so e-mails stay countable.
    requests.post(f"{url}/api/v1/recipients", json={
        "id": "hr-e2e", "role": "hr_admin", "name": "王芳"}, headers=hr,
        timeout=10).raise_for_status()

    published = events.new("appraisal.published", {
        "appraisal_id": str(uuid.uuid4()), "manager_id": MANAGER, "year": 2025,
        "grade": "B", "score": "82.50"}, MANAGER)
    eventually(lambda: smtp.mailbox.received and receiver.calls, 30, "e-mail and webhook")
    (message,) = smtp.mailbox.received
    assert message["To"].addresses[0].addr_spec == "zhang.wei@example.com"
    assert message["Subject"] == "【任期制】您的2025年度考核结果已公布：B"  # noqa: RUF001
    (call,) = receiver.calls
    assert verify_signature(SECRET, call.headers[TIMESTAMP_HEADER], call.body,
                            call.headers[SIGNATURE_HEADER])
    assert json.loads(call.body)["event_id"] == published["id"]
    (item,) = get(f"{url}/api/v1/inbox", mine)["items"]
    assert item["event_id"] == published["id"] and item["kind"] == "appraisal_result"

    # The same event again, then a marker after it on the same partition: once the marker
    # is applied the duplicate has been read, and it added nothing.
    events.send(published, MANAGER)
    marker = events.new("appraisal.opened", {"appraisal_id": str(uuid.uuid4()),
                                             "manager_id": MANAGER, "year": 2026}, MANAGER)
    eventually(lambda: applied(engine, marker["id"]), 30, "marker applied")
    time.sleep(1.0)  # give the worker a few passes to send anything it wrongly would
    assert len(smtp.mailbox.received) == 1 and len(receiver.calls) == 1
    assert get(f"{url}/api/v1/inbox/unread-count", mine)["unread"] == 1

    # Another manager's token sees nothing of it and cannot touch it.
    assert get(f"{url}/api/v1/inbox", theirs)["items"] == []
    resp = requests.post(f"{url}/api/v1/inbox/{item['id']}/read", headers=theirs, timeout=10)
    assert resp.status_code == 404
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert requests.post(f"{url}/api/v1/inbox/{item['id']}/read", headers=mine,
                         timeout=10).json()["read"] is True


def test_mail_waits_out_an_smtp_outage_and_a_rejected_webhook_alerts_hr(
        system: dict[str, Any]) -> None:
    url, smtp, receiver, events = (system[k] for k in ("url", "smtp", "receiver", "events"))
    hr = auth("hr_admin", subject="hr-e2e")
    events.new("manager.registered", {
        "manager_id": MANAGER, "employee_no": "E-1", "name": "John Smith",
        "email": "john.smith@example.com", "language": "en", "org_unit_id": UNIT,
        "position": "general_manager"}, MANAGER)
    eventually(lambda: requests.get(f"{url}/api/v1/recipients/{MANAGER}", headers=hr,
                                    timeout=5).status_code == 200, 60, "manager known")
    requests.post(f"{url}/api/v1/recipients", json={
        "id": "hr-e2e", "role": "hr_admin", "name": "Chen Jie", "language": "en"},
        headers=hr, timeout=10).raise_for_status()
    requests.post(f"{url}/api/v1/webhooks", json={
        "recipient_id": MANAGER, "url": receiver.url, "secret": SECRET}, headers=hr,
        timeout=10).raise_for_status()
    receiver.status = 400  # the receiver refuses: a permanent failure, given up at once
    smtp.stop()

    published = events.new("appraisal.published", {
        "appraisal_id": str(uuid.uuid4()), "manager_id": MANAGER, "year": 2025,
        "grade": "A", "score": "93.00"}, MANAGER)
    notices_url = f"{url}/api/v1/notices?event_id={published['id']}&recipient_id={MANAGER}"

    def delivery(channel: str) -> dict[str, Any] | None:
        found = get(notices_url, hr)["items"]
        if not found:
            return None
        detail = get(f"{url}/api/v1/notices/{found[0]['id']}", hr)
        return next((d for d in detail["deliveries"] if d["channel"] == channel), None)

    retried = eventually(lambda: (d := delivery("email")) and d["attempts"] >= 2 and d, 30,
                         "e-mail retried")
    assert retried["state"] == "failed" and "cannot reach" in retried["last_error"]
    smtp.start()  # same port
    sent = eventually(lambda: (d := delivery("email")) and d["state"] == "sent" and d, 30,
                      "e-mail sent after the outage")
    actions = [h["action"] for h in sent["history"]]
    assert actions[0] == "queued" and actions[-1] == "sent" and actions.count("failed") >= 2
    assert [m["Subject"] for m in smtp.mailbox.received] == [
        "[Tenure] Your 2025 appraisal result: grade A"]

    # The webhook was given up -> notice.given_up -> relay -> hr.notices -> HR's inbox.
    assert eventually(lambda: (d := delivery("webhook")) and d["state"] == "given_up", 30)
    alert = eventually(lambda: [i for i in get(f"{url}/api/v1/inbox", hr)["items"]
                                if i["kind"] == "delivery_given_up_hr"], 30, "HR alerted")
    assert "400" in alert[0]["text"] and len(receiver.calls) == 1
