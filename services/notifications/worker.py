"""The delivery worker: sends due reminders, then due deliveries by e-mail and webhook.

`run_once(db, config, now)` is one pass (tests drive it with their own clock); `run_forever`
loops it until stopped. Deliveries are claimed in a short transaction that pushes their
`next_attempt_at` a lease ahead (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers
share the queue; SQLite serialises the claim with its write lock). The batch is then read and
rendered in one read transaction, sent outside any transaction (its e-mails on one SMTP
session), and its outcomes are recorded together in one transaction. A worker that dies
mid-batch leaves the rows due again when the lease runs out: a message may go out twice (the
Message-ID and the X-Tenure-Notice-Key header let receivers drop the copy), never zero times.
See docs/scale-delivery.md.

A delivery that gives up records `notice.given_up` in the outbox in the same transaction; the
relay publishes it on hr.notices and the consumer turns it into an alert in the inbox of the
HR admins of the manager's scope.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from prometheus_client import Counter
from sqlalchemy import Row, Select, insert, select, update

from services.notifications import domain as d
from services.notifications import repository as repo
from services.notifications.channels import DeliveryError
from services.notifications.channels.email import SmtpSession, send_notice_email
from services.notifications.channels.webhook import WebhookEndpoint as Endpoint
from services.notifications.channels.webhook import post_notice
from services.notifications.config import NotificationConfig
from services.notifications.events import record_notices
from services.notifications.models import (
    IS_PENDING,
    PENDING,
    Delivery,
    DeliveryHistory,
    NoticeRow,
    ScheduledReminder,
    outbox,
)
from services.notifications.service import (
    aware,
    history_rows,
    record_columns,
    to_record,
    utcnow,
)
from shared.db import Database, bulk_insert, update_rows
from shared.events.catalogue import CATALOGUE
from shared.events.envelope import encode_envelope, make_event

log = logging.getLogger("tenure.notifications.worker")
T = TypeVar("T")


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


def due_deliveries(now: datetime, limit: int, postgres: bool) -> Select[tuple[str]]:
    """The ids of the next `limit` due deliveries, oldest due first.

    The states are literal SQL (IS_PENDING) so that the partial index of pending rows
    serves the query in its order: a claim then reads about `limit` rows, where a sort of
    every due row made each claim cost as much as the whole backlog (tens of milliseconds
    at 30,000 queued; docs/scale-delivery.md).
    """
    stmt = (select(Delivery.id)
            .where(IS_PENDING, Delivery.next_attempt_at <= now)
            .order_by(Delivery.next_attempt_at, Delivery.id).limit(limit))
    return stmt.with_for_update(skip_locked=True) if postgres else stmt


def claim_due(db: Database, now: datetime, limit: int, config: NotificationConfig
              ) -> list[str]:
    """Take up to `limit` due deliveries for this worker until the lease runs out."""
    with db.unit_of_work() as s:
        ids = list(s.scalars(due_deliveries(now, limit, db.is_postgres)))
        if ids:
            table = Delivery.__table__  # a Core UPDATE: the session holds none of them
            s.execute(update(table).where(table.c.id.in_(ids))
                      .values(next_attempt_at=now + config.delivery_lease))
        return ids


def notice_of(row: NoticeRow | Row[Any], email: str | None = None) -> d.Notice:
    return d.Notice(
        notice_key=row.notice_key, kind=d.NoticeKind(row.kind), role=d.RecipientRole(row.role),
        recipient=d.Recipient(row.recipient_id, row.recipient_name or "",
                              email if email is not None else row.recipient_email,
                              row.language),
        language=row.language, event_id=row.event_id, event_type=row.event_type,
        manager_id=row.manager_id, org_unit_id=row.org_unit_id, context=row.context or {})


def _home_unit(row: NoticeRow | Row[Any], person: Row[Any] | None) -> str | None:
    if person is not None:
        return person.org_unit_id if person.role == "manager" else person.org_scope
    return row.org_unit_id if row.role == "manager" else None


def prepare_batch(db: Database, delivery_ids: Sequence[str], config: NotificationConfig
                  ) -> list[Outgoing]:
    """Read and render the claimed deliveries still pending, in claim order.

    One read transaction and a fixed number of queries for the whole batch (deliveries,
    their notices, the recipients in the directory, the template overrides); only a webhook
    still looks up its endpoint one by one.
    """
    if not delivery_ids:
        return []
    deliveries, notices_table = Delivery.__table__, NoticeRow.__table__
    with db.read() as s:
        # Rows of the tables, read for rendering only: no ORM objects to build and track.
        found = {row.id: row for row in s.execute(select(deliveries).where(
            deliveries.c.id.in_(delivery_ids), deliveries.c.state.in_(PENDING)))}
        notices = {row.id: row for row in s.execute(select(notices_table).where(
            notices_table.c.id.in_({row.notice_id for row in found.values()})))}
        people = repo.recipients(s, {row.recipient_id for row in notices.values()})
        overrides = repo.template_overrides(s)
        batch = []
        for delivery_id in delivery_ids:
            delivery = found.get(delivery_id)
            if delivery is None:
                continue  # no longer pending
            row = notices[delivery.notice_id]
            # The directory's address wins over the one copied at routing: HR may have fixed
            # it before resending.
            person = people.get(row.recipient_id)
            notice = notice_of(row, person.email if person is not None and person.email
                               else None)
            message = d.render_notice(notice, overrides, config.portal_url)
            if message.fallback_reason:
                log.warning("template override failed, built-in used: %s",
                            message.fallback_reason, extra={"notice_key": row.notice_key})
            endpoint = None
            if delivery.channel == d.Channel.WEBHOOK:
                hook = repo.webhook_for(s, row.recipient_id, _home_unit(row, person))
                if hook is not None:
                    endpoint = Endpoint(hook.url, hook.secret, timeout=config.webhook_timeout,
                                        allowed_hosts=config.webhook_allowed_hosts)
            batch.append(Outgoing(delivery.id, row.id, d.Channel(delivery.channel),
                                  delivery.generation, notice, message, endpoint))
        return batch


Sender = Callable[[Outgoing, NotificationConfig, SmtpSession], None]


def send(outgoing: Outgoing, config: NotificationConfig, mail: SmtpSession) -> None:
    """Hand one message to its channel (e-mail on the batch's SMTP session); raises
    DeliveryError."""
    if outgoing.channel is d.Channel.EMAIL:
        send_notice_email(config.smtp, outgoing.notice, outgoing.message,
                          generation=outgoing.generation, session=mail)
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


Outcome = tuple[Outgoing, DeliveryError | None]


def record_outcomes(db: Database, outcomes: Sequence[Outcome], now: datetime,
                    config: NotificationConfig, rand: Callable[[], float] = random.random
                    ) -> list[d.DeliveryState | None]:
    """Store what the sends did, all in one transaction; the state of each (None: not
    recorded, because it was resent or otherwise changed meanwhile). The give-ups record
    their notice.given_up events in the outbox with one insert."""
    if not outcomes:
        return []
    with db.unit_of_work() as s:
        # Locked in id order, so two transactions that share rows never wait on each other
        # in a cycle. Rows of the table, not ORM objects, and the changes written by one
        # UPDATE and one INSERT for the batch: the ORM's objects and its flush were more
        # than a quarter of the worker's CPU.
        table = Delivery.__table__
        stmt = (select(table).where(table.c.id.in_([o.delivery_id for o, _ in outcomes]))
                .order_by(table.c.id))
        if db.is_postgres:
            stmt = stmt.with_for_update()
        rows = {row.id: row for row in s.execute(stmt)}
        states: list[d.DeliveryState | None] = []
        changed: list[dict[str, Any]] = []
        history: list[dict[str, Any]] = []
        given_up: list[dict[str, Any]] = []
        for outgoing, error in outcomes:
            row = rows.get(outgoing.delivery_id)
            if row is None or row.state not in PENDING or row.generation != outgoing.generation:
                states.append(None)
                continue
            before = to_record(row)
            if error is None:
                record = d.record_success(before, now)
            else:
                record = d.record_failure(before, now, retryable=error.retryable,
                                          reason=error.reason, policy=config.backoff,
                                          rand=rand)
            changed.append({"id": row.id, **record_columns(record, now)})
            history.extend(history_rows(row.id, record))
            DELIVERIES.labels(row.channel, record.state.value).inc()
            if record.state is d.DeliveryState.GIVEN_UP:
                given_up.append(given_up_row(outgoing.notice, outgoing.notice_id, record, now))
            states.append(record.state)
        update_rows(s, table, changed)
        bulk_insert(s, DeliveryHistory.__table__, history)
        if given_up:
            s.execute(insert(outbox), given_up)
        return states


def deal(items: Sequence[T], lanes: int) -> list[list[T]]:
    """`items` dealt round into at most `lanes` lanes, as cards are (none left empty)."""
    return [lane for lane in (list(items[i::lanes]) for i in range(lanes)) if lane]


def deliver_due(db: Database, config: NotificationConfig, now: datetime,
                sender: Sender = send, rand: Callable[[], float] = random.random) -> Pass:
    """Claim, send and record one batch of due deliveries.

    The batch is dealt into lanes, `config.smtp.connections` of them, sent at once by
    threads of their own, each lane's e-mails on one SMTP session (`SmtpSession`: reopened
    when the server drops it, an error per message). A message costs several round trips
    to the relay, most of them spent waiting for its answers, so one session at a time left
    the worker idle for most of a batch (docs/scale-delivery.md); the threads wait together.
    The outcomes are recorded together once every lane is done. A worker that dies before
    recording leaves the whole batch due again when the lease runs out: its messages may go
    out twice, never zero times.
    """
    batch = prepare_batch(db, claim_due(db, now, config.delivery_batch, config), config)
    lanes = deal(batch, config.smtp.connections)
    # Past half the lease a lane leaves the rest of its share for the lease to run out rather
    # than risk another worker claiming rows this one has sent but not recorded yet.
    stop_at = time.monotonic() + config.delivery_lease.total_seconds() / 2
    sent: list[list[Outcome]] = [[] for _ in lanes]

    def send_lane(lane: int) -> None:
        with SmtpSession(config.smtp) as mail:
            for outgoing in lanes[lane]:
                if time.monotonic() > stop_at:
                    log.warning("batch stopped at half its lease; the rest is due again later")
                    return
                try:
                    sender(outgoing, config, mail)
                except DeliveryError as exc:
                    log.warning("delivery %s by %s failed (%s): %s", outgoing.delivery_id,
                                outgoing.channel,
                                "retryable" if exc.retryable else "permanent", exc.reason,
                                extra={"notice_key": outgoing.notice.notice_key})
                    sent[lane].append((outgoing, exc))
                else:
                    sent[lane].append((outgoing, None))

    try:
        if len(lanes) == 1:
            send_lane(0)
        elif lanes:
            with ThreadPoolExecutor(len(lanes), thread_name_prefix="deliver") as pool:
                # Every lane runs to its end before the first error, if any, is raised.
                for done in [pool.submit(send_lane, lane) for lane in range(len(lanes))]:
                    done.result()
    finally:
        # What went out is recorded even when a bug stops a lane half-way; in claim order.
        order = {outgoing.delivery_id: i for i, outgoing in enumerate(batch)}
        outcomes = sorted((o for lane in sent for o in lane),
                          key=lambda o: order[o[0].delivery_id])
        states = record_outcomes(db, outcomes, now, config, rand)
    result = Pass()
    for (outgoing, error), state in zip(outcomes, states, strict=True):
        if error is not None:
            result.errors.append(error.reason)
        if state is d.DeliveryState.SENT:
            result.sent += 1
        elif state is d.DeliveryState.FAILED:
            result.failed += 1
        elif state is d.DeliveryState.GIVEN_UP:
            result.given_up += 1
            log.error("delivery %s given up: %s", outgoing.delivery_id,
                      error.reason if error else "",
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
