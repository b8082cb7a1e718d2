"""The delivery worker: sends due reminders, then due deliveries by e-mail and webhook.

`run_once(db, config, now)` is one pass (tests drive it with their own clock); `run_forever`
loops it until stopped. Deliveries are claimed in a short transaction that pushes their
`next_attempt_at` a lease ahead (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers
share the queue; SQLite serialises the claim with its write lock). Each send then happens
outside any transaction, and its outcome is recorded in one of its own. A worker that dies
mid-send leaves the row due again when the lease runs out: a message may go out twice (the
Message-ID and the X-Tenure-Notice-Key header let receivers drop the copy), never zero times.

A delivery that gives up records `notice.given_up` in the outbox in the same transaction; the
relay publishes it on hr.notices and the consumer turns it into an alert in the inbox of the
HR admins of the manager's scope.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from services.notifications import domain as d
from services.notifications import repository as repo
from services.notifications.channels import DeliveryError
from services.notifications.channels.email import send_notice_email
from services.notifications.channels.webhook import WebhookEndpoint as Endpoint
from services.notifications.channels.webhook import post_notice
from services.notifications.config import NotificationConfig
from services.notifications.events import record_notices
from services.notifications.models import (
    Delivery,
    NoticeRow,
    ScheduledReminder,
    outbox,
)
from services.notifications.service import PENDING, aware, store_record, to_record, utcnow
from shared.db import Database
from shared.events.catalogue import CATALOGUE
from shared.events.envelope import encode_envelope, make_event

log = logging.getLogger("tenure.notifications.worker")


DELIVERIES = Counter("tenure_notice_deliveries", "Delivery attempts recorded, by channel and "
                     "resulting state", ["channel", "state"])


@dataclass
class Pass:
    """What one pass did."""

    reminders: int = 0
    sent: int = 0
    failed: int = 0
    given_up: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def deliveries(self) -> int:
        return self.sent + self.failed + self.given_up


@dataclass(frozen=True)
class Outgoing:
    """Everything a send needs, read before the send so no transaction spans the network."""

    delivery_id: str
    notice_id: str
    channel: d.Channel
    generation: int
    notice: d.Notice
    message: d.RenderedMessage
    endpoint: Endpoint | None


# --- reminders --------------------------------------------------------------------------------


def _reminder(row: ScheduledReminder) -> d.Reminder:
    return d.Reminder(reminder_id=row.reminder_id, kind=d.ReminderKind(row.kind),
                      subject_id=row.subject_id, manager_id=row.manager_id,
                      deadline=row.deadline, days_before=row.days_before, due_on=row.due_on,
                      facts=row.facts or {})


def send_due_reminders(db: Database, now: datetime) -> int:
    """Turn the reminders due today into notices; returns how many were sent."""
    today = now.date()
    with db.unit_of_work() as s:
        lapsed = (update(ScheduledReminder)
                  .where(ScheduledReminder.state == "pending",
                         ScheduledReminder.deadline <= today)
                  .values(state="lapsed").execution_options(synchronize_session=False))
        s.execute(lapsed)
        stmt = (select(ScheduledReminder)
                .where(ScheduledReminder.state == "pending", ScheduledReminder.due_on <= today,
                       ScheduledReminder.deadline > today)
                .order_by(ScheduledReminder.due_on))
        if db.is_postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        rows = {r.reminder_id: r for r in s.scalars(stmt)}
        if not rows:
            return 0
        # The thresholds of the same deadlines already sent decide which pending one is due.
        subjects = list({r.subject_id for r in rows.values()})
        rows.update((r.reminder_id, r) for r in s.scalars(select(ScheduledReminder).where(
            ScheduledReminder.state == "sent", ScheduledReminder.subject_id.in_(subjects),
            ScheduledReminder.deadline > today)))
        sent_ids = {rid for rid, r in rows.items() if r.state == "sent"}
        due = d.due_reminders([_reminder(r) for r in rows.values()], today, sent_ids)
        record_notices(s, [d.reminder_envelope(r, now) for r in due], now)
        for reminder in due:
            rows[reminder.reminder_id].state = "sent"
            rows[reminder.reminder_id].sent_at = now
            # Farther thresholds of the same deadline are passed over for good.
            for other in rows.values():
                if (other.state == "pending" and other.kind == reminder.kind.value
                        and other.subject_id == reminder.subject_id
                        and other.deadline == reminder.deadline
                        and other.days_before > reminder.days_before):
                    other.state = "skipped"
        return len(due)


# --- deliveries -------------------------------------------------------------------------------


def claim_due(db: Database, now: datetime, limit: int, config: NotificationConfig
              ) -> list[str]:
    """Take up to `limit` due deliveries for this worker until the lease runs out."""
    with db.unit_of_work() as s:
        stmt = (select(Delivery.id)
                .where(Delivery.state.in_(PENDING), Delivery.next_attempt_at <= now)
                .order_by(Delivery.next_attempt_at, Delivery.id).limit(limit))
        if db.is_postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        ids = list(s.scalars(stmt))
        if ids:
            s.execute(update(Delivery).where(Delivery.id.in_(ids))
                      .values(next_attempt_at=now + config.delivery_lease)
                      .execution_options(synchronize_session=False))
        return ids


def notice_of(row: NoticeRow, email: str | None = None) -> d.Notice:
    return d.Notice(
        notice_key=row.notice_key, kind=d.NoticeKind(row.kind), role=d.RecipientRole(row.role),
        recipient=d.Recipient(row.recipient_id, row.recipient_name or "",
                              email if email is not None else row.recipient_email,
                              row.language),
        language=row.language, event_id=row.event_id, event_type=row.event_type,
        manager_id=row.manager_id, org_unit_id=row.org_unit_id, context=row.context or {})


def _home_unit(s: Session, row: NoticeRow) -> str | None:
    person = repo.recipient(s, row.recipient_id)
    if person is not None:
        return person.org_unit_id if person.role == "manager" else person.org_scope
    return row.org_unit_id if row.role == "manager" else None


def prepare(db: Database, delivery_id: str, config: NotificationConfig) -> Outgoing | None:
    """Read and render one claimed delivery; None if it is no longer pending."""
    with db.read() as s:
        delivery = s.get(Delivery, delivery_id)
        if delivery is None or delivery.state not in PENDING:
            return None
        row = s.get(NoticeRow, delivery.notice_id)
        assert row is not None
        # The directory's address wins over the one copied at routing: HR may have fixed it
        # before resending.
        person = repo.recipient(s, row.recipient_id)
        notice = notice_of(row, person.email if person is not None and person.email else None)
        message = d.render_notice(notice, repo.TemplateLookup(s), config.portal_url)
        if message.fallback_reason:
            log.warning("template override failed, built-in used: %s", message.fallback_reason,
                        extra={"notice_key": row.notice_key})
        endpoint = None
        if delivery.channel == d.Channel.WEBHOOK:
            hook = repo.webhook_for(s, row.recipient_id, _home_unit(s, row))
            if hook is not None:
                endpoint = Endpoint(hook.url, hook.secret, timeout=config.webhook_timeout,
                                    allowed_hosts=config.webhook_allowed_hosts)
        return Outgoing(delivery.id, row.id, d.Channel(delivery.channel), delivery.generation,
                        notice, message, endpoint)


Sender = Callable[[Outgoing, NotificationConfig], None]


def send(outgoing: Outgoing, config: NotificationConfig) -> None:
    """Hand one message to its channel; raises DeliveryError."""
    if outgoing.channel is d.Channel.EMAIL:
        send_notice_email(config.smtp, outgoing.notice, outgoing.message,
                          generation=outgoing.generation)
    elif outgoing.channel is d.Channel.WEBHOOK:
        if outgoing.endpoint is None:
            raise DeliveryError(False, "no webhook endpoint is configured any more")
        post_notice(outgoing.endpoint, outgoing.notice, outgoing.message)
    else:
        raise DeliveryError(False, f"channel {outgoing.channel} is not sent by the worker")


def given_up_row(notice: d.Notice, notice_id: str, record: d.DeliveryRecord, now: datetime
                 ) -> dict[str, Any]:
    """The outbox row of notice.given_up, with the id derived from the delivery (so a row
    written twice for one give-up would be refused by the unique event id)."""
    event = d.given_up_event(notice, record)
    data = {**event.data, "notice_id": notice_id, "last_error": record.last_error}
    spec = CATALOGUE[event.type]
    envelope = make_event(event.type, spec.source, event.subject, data, version=spec.version,
                          event_id=event.id, time=now)
    return {"event_id": event.id, "event_type": event.type, "topic": spec.topic,
            "key": event.subject, "payload": encode_envelope(envelope).decode(),
            "created_at": now}


def record_outcome(db: Database, outgoing: Outgoing, error: DeliveryError | None,
                   now: datetime, config: NotificationConfig,
                   rand: Callable[[], float] = random.random) -> d.DeliveryState | None:
    """Store what the send did; a give-up also records notice.given_up in the outbox."""
    with db.unit_of_work() as s:
        stmt = select(Delivery).where(Delivery.id == outgoing.delivery_id)
        if db.is_postgres:
            stmt = stmt.with_for_update()
        row = s.scalar(stmt)
        if row is None or row.state not in PENDING:
            return None  # resent or otherwise changed meanwhile: nothing to record
        before = to_record(row)
        if error is None:
            record = d.record_success(before, now)
        else:
            record = d.record_failure(before, now, retryable=error.retryable,
                                      reason=error.reason, policy=config.backoff, rand=rand)
        store_record(s, row, record, now)
        DELIVERIES.labels(row.channel, record.state.value).inc()
        if record.state is d.DeliveryState.GIVEN_UP:
            s.execute(insert(outbox).values(**given_up_row(
                outgoing.notice, outgoing.notice_id, record, now)))
        return record.state


def deliver_due(db: Database, config: NotificationConfig, now: datetime,
                sender: Sender = send, rand: Callable[[], float] = random.random) -> Pass:
    """Claim, send and record one batch of due deliveries."""
    result = Pass()
    for delivery_id in claim_due(db, now, config.delivery_batch, config):
        outgoing = prepare(db, delivery_id, config)
        if outgoing is None:
            continue
        error: DeliveryError | None = None
        try:
            sender(outgoing, config)
        except DeliveryError as exc:
            error = exc
            log.warning("delivery %s by %s failed (%s): %s", delivery_id, outgoing.channel,
                        "retryable" if exc.retryable else "permanent", exc.reason,
                        extra={"notice_key": outgoing.notice.notice_key})
            result.errors.append(exc.reason)
        state = record_outcome(db, outgoing, error, now, config, rand)
        if state is d.DeliveryState.SENT:
            result.sent += 1
        elif state is d.DeliveryState.FAILED:
            result.failed += 1
        elif state is d.DeliveryState.GIVEN_UP:
            result.given_up += 1
            log.error("delivery %s given up: %s", delivery_id, error.reason if error else "",
                      extra={"notice_key": outgoing.notice.notice_key})
    return result


def run_once(db: Database, config: NotificationConfig, now: datetime | None = None,
             sender: Sender = send, rand: Callable[[], float] = random.random) -> Pass:
    """One pass: due reminders become notices, then one batch of due deliveries goes out."""
    now = aware(now) or utcnow()
    reminders = send_due_reminders(db, now)
    result = deliver_due(db, config, now, sender, rand)
    result.reminders = reminders
    return result


def run_forever(db: Database, config: NotificationConfig, stop: threading.Event,
                sender: Sender = send) -> None:
    """Loop until stopped; a full batch is followed at once by the next one."""
    log.info("delivery worker started")
    while not stop.is_set():
        try:
            result = run_once(db, config, sender=sender)
        except Exception:  # a database outage or a bug must not end the worker silently
            log.exception("delivery pass failed; retrying")
            stop.wait(max(config.delivery_poll_seconds, 1.0))
            continue
        if result.deliveries < config.delivery_batch:
            stop.wait(config.delivery_poll_seconds)
    log.info("delivery worker stopped")
