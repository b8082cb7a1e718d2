"""The delivery worker sends a batch on one SMTP session against a real aiosmtpd server, on
SQLite and PostgreSQL: connections counted at the server, per-message errors, a server that
drops the connection mid-batch, two workers at once, statements per batch."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from services.notifications import worker
from services.notifications.channels.email import SmtpSession
from services.notifications.config import NotificationConfig
from services.notifications.models import Delivery, NoticeRow
from shared.db import Database
from tests.support.contracts_world import Client
from tests.support.statements import sent_statements

from . import world
from .servers import SmtpServer, smtp_server
from .test_delivery_worker import deliveries, no_jitter, settings_for
from .world import NOW, SMITH, ZHANG


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


def publish(db: Database, results: int) -> None:
    """`results` appraisal results of two managers, three e-mails each: the manager, the HR
    admin of the manager's region (east or west) and the one of the group."""
    for i in range(results):
        world.apply(db, world.appraisal_published(ZHANG if i % 2 == 0 else SMITH))


def e_mails(db: Database) -> list[Delivery]:
    return [row for row in deliveries(db) if row.channel == "email"]


def state_by_address(db: Database) -> dict[str, set[str]]:
    with db.read() as s:
        rows = s.execute(select(NoticeRow.recipient_email, Delivery.state)
                         .join(Delivery, Delivery.notice_id == NoticeRow.id)
                         .where(Delivery.channel == "email")).all()
    found: dict[str, set[str]] = {}
    for address, state in rows:
        found.setdefault(address, set()).add(state)
    return found


def test_one_smtp_connection_carries_the_whole_batch(
        db: Database, group: Client, smtp: SmtpServer) -> None:
    publish(db, 4)
    queued = len(e_mails(db))
    result = worker.run_once(db, settings_for(smtp.port), NOW)
    assert result.sent == queued == len(smtp.mailbox.received) == 12
    assert smtp.mailbox.connections == 1
    ids = [m["Message-ID"] for m in smtp.mailbox.received]
    assert len(set(ids)) == len(ids)


def test_a_connection_is_renewed_after_the_messages_per_connection_limit(
        db: Database, group: Client, smtp: SmtpServer) -> None:
    publish(db, 4)
    config = settings_for(smtp.port)
    config = replace(config, smtp=replace(config.smtp, messages_per_connection=5))
    assert worker.run_once(db, config, NOW).sent == 12
    assert smtp.mailbox.connections == 3  # 5 + 5 + 2
    assert len(smtp.mailbox.received) == 12


def test_a_recipient_refused_mid_batch_fails_only_that_delivery_and_the_rest_are_sent(
        db: Database, group: Client, smtp: SmtpServer) -> None:
    smtp.mailbox.refuse = {"hr-east@example.com": "550 5.1.1 No such user",
                           "hr-group@example.com": "452 4.2.2 Mailbox full"}
    publish(db, 4)
    result = worker.run_once(db, settings_for(smtp.port), NOW, rand=no_jitter)
    # 5xx is permanent (given up at once), 4xx retryable (failed, due again after backoff).
    assert (result.sent, result.failed, result.given_up) == (6, 4, 2)
    states = state_by_address(db)
    assert states.pop("hr-east@example.com") == {"given_up"}
    assert states.pop("hr-group@example.com") == {"failed"}
    assert set().union(*states.values()) == {"sent"}  # the managers', HR of the west
    assert smtp.mailbox.connections == 1  # the refusals did not cost the session
    assert {m["To"].addresses[0].addr_spec for m in smtp.mailbox.received} == set(states)
    failed = next(d for d in e_mails(db) if d.state == "failed")
    assert failed.last_error.startswith("recipient refused: 452")


def test_a_server_dropping_the_connection_mid_batch_is_reconnected_and_nothing_is_sent_twice(
        db: Database, group: Client, smtp: SmtpServer) -> None:
    smtp.mailbox.drop_after = 3
    publish(db, 4)
    result = worker.run_once(db, settings_for(smtp.port), NOW)
    assert (result.sent, result.failed, result.given_up) == (12, 0, 0)
    assert smtp.mailbox.dropped == 3 and smtp.mailbox.connections == 4  # 3 + 3 + 3 + 3
    ids = [m["Message-ID"] for m in smtp.mailbox.received]
    assert len(ids) == 12 == len(set(ids))
    assert {(d.state, d.attempts) for d in e_mails(db)} == {("sent", 1)}


def test_a_server_that_drops_every_connection_fails_each_message_once_as_retryable(
        db: Database, group: Client, smtp: SmtpServer) -> None:
    smtp.mailbox.drop_after = 0
    publish(db, 2)
    result = worker.run_once(db, settings_for(smtp.port), NOW, rand=no_jitter)
    assert (result.sent, result.failed) == (0, 6)
    assert smtp.mailbox.connections == 6  # a fresh connection per message, no second try
    assert all(d.last_error.startswith("server disconnected") for d in e_mails(db))


def test_a_down_server_fails_the_batch_after_one_connection_attempt(
        db: Database, group: Client, smtp: SmtpServer) -> None:
    publish(db, 2)
    smtp.stop()
    config = settings_for(smtp.port)
    attempts: list[int] = []

    def counting(outgoing: worker.Outgoing, config: NotificationConfig,
                 mail: SmtpSession) -> None:
        try:
            worker.send(outgoing, config, mail)
        finally:
            attempts.append(mail.connections)

    result = worker.run_once(db, config, NOW, sender=counting, rand=no_jitter)
    assert result.failed == 6
    assert attempts == [1] * 6  # the refused connection is not tried again per message
    assert all(d.last_error.startswith("cannot reach") for d in e_mails(db))


def test_a_delivery_changed_while_its_batch_was_sent_is_not_recorded(
        db: Database, group: Client, smtp: SmtpServer) -> None:
    publish(db, 1)
    first, *others = e_mails(db)

    def meanwhile(outgoing: worker.Outgoing, config: NotificationConfig,
                  mail: SmtpSession) -> None:
        worker.send(outgoing, config, mail)
        if outgoing.delivery_id == first.id:  # another worker recorded it after its lease
            with db.unit_of_work() as s:
                s.execute(update(Delivery).where(Delivery.id == first.id)
                          .values(state="sent", attempts=7))

    result = worker.run_once(db, settings_for(smtp.port), NOW, sender=meanwhile)
    assert result.sent == len(others) == 2
    stored = {d.id: d for d in e_mails(db)}
    assert (stored[first.id].state, stored[first.id].attempts) == ("sent", 7)
    assert {(stored[d.id].state, stored[d.id].attempts) for d in others} == {("sent", 1)}


def test_a_batch_past_half_its_lease_leaves_the_rest_unsent_for_a_later_pass(
        db: Database, group: Client, smtp: SmtpServer) -> None:
    publish(db, 1)
    config = replace(settings_for(smtp.port), delivery_lease=timedelta(seconds=2))

    def slow(outgoing: worker.Outgoing, config: NotificationConfig, mail: SmtpSession) -> None:
        worker.send(outgoing, config, mail)
        time.sleep(0.6)  # a relay that takes its time

    result = worker.run_once(db, config, NOW, sender=slow)
    assert 1 <= result.sent < 3 and len(smtp.mailbox.received) == result.sent
    waiting = [d for d in e_mails(db) if d.state == "queued"]
    assert len(waiting) == 3 - result.sent and {d.attempts for d in waiting} == {0}
    # Due again once the lease runs out, and sent then.
    later = worker.run_once(db, settings_for(smtp.port), NOW + timedelta(seconds=2))
    assert later.sent == len(waiting) and len(smtp.mailbox.received) == 3


def test_a_batch_is_read_and_recorded_in_the_same_number_of_statements_whatever_its_size(
        db: Database, group: Client, smtp: SmtpServer) -> None:
    if not db.is_postgres:
        # SQLite inserts the audit rows one by one (RETURNING without insertmanyvalues).
        pytest.skip("the production database batches the audit rows' insert")
    config = settings_for(smtp.port)
    with sent_statements(db.engine) as statements:
        per_batch = []
        for results, at in ((1, NOW), (8, NOW.replace(hour=10))):
            publish(db, results)
            statements.clear()
            assert worker.run_once(db, config, at).sent == 3 * results
            per_batch.append(len(statements))
    assert per_batch[0] == per_batch[1]


def test_two_workers_on_postgresql_never_send_one_delivery_twice(
        db: Database, group: Client, smtp: SmtpServer) -> None:
    if not db.is_postgres:
        pytest.skip("SKIP LOCKED claims are PostgreSQL's; SQLite serialises the claim")
    smtp.mailbox.drop_after = 4  # reconnects mid-batch on top
    publish(db, 12)
    config = replace(settings_for(smtp.port), delivery_batch=7)
    results: list[worker.Pass] = []

    def work() -> None:
        while (result := worker.run_once(db, config, NOW)).deliveries:
            results.append(result)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.sent for r in results) == 36 and not any(r.failed for r in results)
    ids = [m["Message-ID"] for m in smtp.mailbox.received]
    assert len(ids) == 36 == len(set(ids))
    assert {(d.state, d.attempts) for d in e_mails(db)} == {("sent", 1)}


def test_a_batch_goes_out_over_several_sessions_at_once_each_message_once(
        db: Database, group: Client, smtp: SmtpServer) -> None:
    smtp.mailbox.hold_until = 4  # no DATA is answered until four sessions are in DATA
    publish(db, 4)
    result = worker.run_once(db, settings_for(smtp.port, connections=4), NOW)
    assert (result.sent, result.failed) == (12, 0)
    assert smtp.mailbox.most_at_once == 4 and smtp.mailbox.connections == 4
    ids = [m["Message-ID"] for m in smtp.mailbox.received]
    assert len(ids) == 12 == len(set(ids))
    assert {(d.state, d.attempts) for d in e_mails(db)} == {("sent", 1)}


def test_a_lane_stopped_by_a_bug_leaves_its_rest_due_and_the_others_are_recorded(
        db: Database, group: Client, smtp: SmtpServer) -> None:
    publish(db, 4)
    broken = e_mails(db)[0].id

    def buggy(outgoing: worker.Outgoing, config: NotificationConfig, mail: SmtpSession) -> None:
        if outgoing.delivery_id == broken:
            raise RuntimeError("a bug in the sender")
        worker.send(outgoing, config, mail)

    with pytest.raises(RuntimeError):
        worker.run_once(db, settings_for(smtp.port, connections=4), NOW, sender=buggy)
    # The broken delivery's lane stopped there; what the lanes sent is recorded as sent,
    # and the rest stays queued (due again when the lease runs out), none of it lost.
    stored = {d.id: d for d in e_mails(db)}
    sent = {d.id for d in stored.values() if d.state == "sent"}
    assert len(sent) == len(smtp.mailbox.received) >= 8
    assert stored[broken].state == "queued" and stored[broken].attempts == 0
    assert {stored[i].state for i in stored.keys() - sent} == {"queued"}
    received = {m["X-Tenure-Notice-Key"] for m in smtp.mailbox.received}
    assert received == {stored[i].notice_key for i in sent}
