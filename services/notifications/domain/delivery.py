"""Delivery of one notice on one channel: states, retries with backoff, giving up, resending.

    queued --ok--> sent
    queued | failed --retryable error, tries left--> failed (next_attempt_at set)
    queued | failed --permanent error, or last try--> given_up  (-> notice.given_up, HR alert)
    sent | failed | given_up --resend(reason)--> queued  (tries start again, audited)

Records are immutable: every transition returns a new record, so the service decides when to
store it. Time and randomness come in as arguments, so every schedule can be replayed in tests.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from services.notifications.domain.notices import NOTICE_KEY_NAMESPACE, Notice


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"
    INBOX = "inbox"


class DeliveryState(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    GIVEN_UP = "given_up"


class InvalidTransition(ValueError):
    """The delivery record is not in a state that allows this step."""


@dataclass(frozen=True)
class BackoffPolicy:
    """Exponential backoff with a cap and downward jitter.

    The wait after the n-th failed try is `first_delay * factor**(n-1)`, capped at `cap`, then
    shortened by up to `jitter` of itself (so retries of many notices that failed together
    spread out, yet never wait longer than the nominal delay or the cap). With the defaults:
    30 s, 1 min, 2 min, 4 min, 8 min, then the 6th failure gives up.
    """

    max_attempts: int = 6
    first_delay: timedelta = timedelta(seconds=30)
    factor: int = 2
    cap: timedelta = timedelta(hours=1)
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    def nominal_delay(self, attempts: int) -> timedelta:
        """The wait after `attempts` failed tries, before jitter."""
        if attempts < 1:
            return timedelta(0)
        # Cap before building the timedelta: factor**n outgrows timedelta's range quickly.
        seconds = self.first_delay.total_seconds() * float(self.factor) ** min(attempts - 1, 64)
        return timedelta(seconds=min(seconds, self.cap.total_seconds()))

    def delay(self, attempts: int, rand: Callable[[], float] = random.random) -> timedelta:
        """The wait after `attempts` failed tries, jitter drawn from `rand()` in [0, 1)."""
        nominal = self.nominal_delay(attempts)
        return nominal * (1 - self.jitter * rand())

    def next_attempt_at(self, attempts: int, now: datetime,
                        rand: Callable[[], float] = random.random) -> datetime:
        return now + self.delay(attempts, rand)


DEFAULT_POLICY = BackoffPolicy()


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    action: str
    reason: str | None = None
    actor: str | None = None


@dataclass(frozen=True)
class DeliveryRecord:
    """One notice on one channel. `attempts` counts tries since the last (re)queue."""

    notice_key: str
    channel: Channel
    state: DeliveryState
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    sent_at: datetime | None = None
    generation: int = 0  # how many times it was resent: each give-up alerts HR once
    history: tuple[AuditEntry, ...] = field(default_factory=tuple)


def new_delivery(notice_key: str, channel: Channel | str, now: datetime) -> DeliveryRecord:
    """A queued delivery, due at once."""
    return DeliveryRecord(notice_key=notice_key, channel=Channel(channel),
                          state=DeliveryState.QUEUED, next_attempt_at=now,
                          history=(AuditEntry(now, "queued"),))


def is_due(record: DeliveryRecord, now: datetime) -> bool:
    """Waiting for a try whose time has come."""
    return (record.state in (DeliveryState.QUEUED, DeliveryState.FAILED)
            and record.next_attempt_at is not None and record.next_attempt_at <= now)


def _require_pending(record: DeliveryRecord, step: str) -> None:
    if record.state not in (DeliveryState.QUEUED, DeliveryState.FAILED):
        raise InvalidTransition(f"cannot record {step} on a {record.state.value} delivery")


def record_success(record: DeliveryRecord, now: datetime) -> DeliveryRecord:
    _require_pending(record, "a success")
    return replace(record, state=DeliveryState.SENT, attempts=record.attempts + 1,
                   next_attempt_at=None, sent_at=now, last_error=None,
                   history=(*record.history, AuditEntry(now, "sent")))


def record_failure(record: DeliveryRecord, now: datetime, *, retryable: bool, reason: str,
                   policy: BackoffPolicy = DEFAULT_POLICY,
                   rand: Callable[[], float] = random.random) -> DeliveryRecord:
    """A failed try: wait and retry, or give up when the error is permanent or tries ran out."""
    _require_pending(record, "a failure")
    attempts = record.attempts + 1
    if not retryable or attempts >= policy.max_attempts:
        why = reason if not retryable else f"{reason} (after {attempts} tries)"
        return replace(record, state=DeliveryState.GIVEN_UP, attempts=attempts,
                       next_attempt_at=None, last_error=reason,
                       history=(*record.history, AuditEntry(now, "given_up", why)))
    return replace(record, state=DeliveryState.FAILED, attempts=attempts,
                   next_attempt_at=policy.next_attempt_at(attempts, now, rand),
                   last_error=reason,
                   history=(*record.history, AuditEntry(now, "failed", reason)))


def resend(record: DeliveryRecord, now: datetime, *, reason: str, actor: str | None = None
           ) -> DeliveryRecord:
    """Queue again by hand (corrected address, receiver fixed): tries start from zero."""
    if not reason or not reason.strip():
        raise ValueError("a resend needs a reason for the audit trail")
    if record.state is DeliveryState.QUEUED:
        raise InvalidTransition("the delivery is already queued")
    return replace(record, state=DeliveryState.QUEUED, attempts=0, next_attempt_at=now,
                   last_error=None, generation=record.generation + 1,
                   history=(*record.history, AuditEntry(now, "resent", reason.strip(), actor)))


@dataclass(frozen=True)
class GivenUpEvent:
    """What to publish (type notice.given_up, on hr.notices) when a delivery gives up."""

    id: str
    subject: str | None
    data: dict[str, Any]
    type: str = "notice.given_up"


def given_up_event(notice: Notice, record: DeliveryRecord) -> GivenUpEvent:
    """The notice.given_up event of a given-up delivery; routing it yields the HR alerts.

    Its id is derived from the delivery and its resend generation, and routing keys give-up
    alerts on the same facts, so reporting one give-up twice alerts HR once.
    """
    if record.state is not DeliveryState.GIVEN_UP:
        raise InvalidTransition(f"the delivery is {record.state.value}, not given up")
    data: dict[str, Any] = {
        "notice_key": notice.notice_key,
        "kind": notice.kind.value,
        "channel": record.channel.value,
        "generation": record.generation,
        "attempts": record.attempts,
        "reason": record.last_error,
        "recipient_id": notice.recipient.id,
        "recipient_name": notice.recipient.name,
        "recipient_role": notice.role.value,
        "event_id": notice.event_id,
        "event_type": notice.event_type,
        "manager_id": notice.manager_id,
        "manager_name": notice.context.get("manager_name"),
        "employee_no": notice.context.get("employee_no"),
        "org_unit_id": notice.org_unit_id,
        "org_unit_name": notice.context.get("org_unit_name"),
    }
    event_id = uuid.uuid5(
        NOTICE_KEY_NAMESPACE, f"given_up|{notice.notice_key}|{record.channel}|{record.generation}")
    return GivenUpEvent(id=str(event_id), subject=notice.manager_id, data=data)


def given_up_envelope(event: GivenUpEvent, now: datetime) -> dict[str, Any]:
    """The event as an envelope `route_event` accepts, to alert HR without a Kafka round trip."""
    return {"specversion": "1.0", "id": event.id, "source": "/tenure/notifications",
            "type": event.type, "subject": event.subject,
            "time": now.isoformat().replace("+00:00", "Z"), "data": event.data}
