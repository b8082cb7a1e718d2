"""Reminders before deadlines: contract ends and appraisal due dates, scheduled from events.

A contract event with an end date schedules reminders 90, 30 and 7 days before it; an appraisal
opened with an actuals or review due date schedules reminders N days before each (all
configurable). `due_reminders(...)` says which to send now. Only the nearest threshold that has
passed is ever due: a contract signed 20 days before its end gets the 30-day reminder at once
(not the 90-day one too) and the 7-day one later; nothing is sent once the deadline has passed.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from services.notifications.domain.notices import NOTICE_KEY_NAMESPACE, REVIEW_DUE_EVENT


class ReminderKind(StrEnum):
    CONTRACT_END = "contract_end"
    ACTUALS_DUE = "actuals_due"
    REVIEW_DUE = "review_due"


# The event type a reminder is routed as, so it reaches the same people with the same templates.
REMINDER_EVENT_TYPES = {
    ReminderKind.CONTRACT_END: "contract.expiring",
    ReminderKind.ACTUALS_DUE: "actuals.due",
    ReminderKind.REVIEW_DUE: REVIEW_DUE_EVENT,
}

# Contract events that (re)schedule end reminders, and those that cancel them.
_CONTRACT_SCHEDULING = ("contract.signed", "contract.amended")
_CONTRACT_ENDING = ("contract.terminated", "contract.expired", "contract.renewed")
_APPRAISAL_ENDING = ("appraisal.published", "tenure.concluded")


@dataclass(frozen=True)
class ReminderPolicy:
    """Days before each deadline at which a reminder is sent."""

    contract_end_days: tuple[int, ...] = (90, 30, 7)
    actuals_due_days: tuple[int, ...] = (14, 3)
    review_due_days: tuple[int, ...] = (7, 1)

    def __post_init__(self) -> None:
        for days in (self.contract_end_days, self.actuals_due_days, self.review_due_days):
            if any(d < 1 for d in days):
                raise ValueError("reminder offsets are whole days before the deadline, >= 1")

    def days_for(self, kind: ReminderKind) -> tuple[int, ...]:
        return {
            ReminderKind.CONTRACT_END: self.contract_end_days,
            ReminderKind.ACTUALS_DUE: self.actuals_due_days,
            ReminderKind.REVIEW_DUE: self.review_due_days,
        }[kind]


DEFAULT_REMINDER_POLICY = ReminderPolicy()


@dataclass(frozen=True)
class Reminder:
    """One scheduled reminder; `reminder_id` is stable, so storing it twice is harmless."""

    reminder_id: str
    kind: ReminderKind
    subject_id: str  # the contract or appraisal the deadline belongs to
    manager_id: str | None
    deadline: date
    days_before: int
    due_on: date
    facts: Mapping[str, Any] = field(default_factory=dict)  # event data to render from


@dataclass(frozen=True)
class ReminderPlan:
    """What one event changes: reminders to store, and subjects whose pending ones to drop."""

    schedule: tuple[Reminder, ...] = ()
    cancel: tuple[str, ...] = ()


def reminder_id(kind: ReminderKind, subject_id: str, deadline: date, days_before: int) -> str:
    return str(uuid.uuid5(NOTICE_KEY_NAMESPACE,
                          f"reminder|{kind}|{subject_id}|{deadline.isoformat()}|{days_before}"))


def schedule_reminders(kind: ReminderKind, subject_id: str, manager_id: str | None,
                       deadline: date, facts: Mapping[str, Any] | None = None,
                       policy: ReminderPolicy = DEFAULT_REMINDER_POLICY) -> list[Reminder]:
    """The reminders before one deadline, earliest first."""
    return [
        Reminder(reminder_id(kind, subject_id, deadline, days), kind, subject_id, manager_id,
                 deadline, days, deadline - timedelta(days=days), dict(facts or {}))
        for days in sorted(set(policy.days_for(kind)), reverse=True)
    ]


def _date(value: Any) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _first(data: Mapping[str, Any], *keys: str) -> Any:
    return next((data[k] for k in keys if data.get(k)), None)


def reminders_from_event(envelope: Mapping[str, Any],
                         policy: ReminderPolicy = DEFAULT_REMINDER_POLICY) -> ReminderPlan:
    """Reminders an event schedules or cancels.

    contract.signed / contract.amended of an active contract (with end_date): replace the
    contract's end reminders.
    contract.terminated / expired / renewed: cancel them. appraisal.opened (with actuals_due
    and/or review_due): schedule; appraisal.published / tenure.concluded: cancel.
    """
    event_type = envelope.get("type")
    data: Mapping[str, Any] = envelope.get("data") or {}
    manager_id = data.get("manager_id") or envelope.get("subject")
    contract_id = data.get("contract_id")
    appraisal_id = data.get("appraisal_id")
    if event_type in _CONTRACT_SCHEDULING and contract_id:
        end = _date(data.get("end_date"))
        # An amended draft or unsigned contract has no term running yet to remind about.
        if end is None or data.get("state", "active") != "active":
            return ReminderPlan()
        return ReminderPlan(
            schedule=tuple(schedule_reminders(ReminderKind.CONTRACT_END, contract_id,
                                              manager_id, end, data, policy)),
            cancel=(contract_id,))
    if event_type in _CONTRACT_ENDING and contract_id:
        return ReminderPlan(cancel=(contract_id,))
    if event_type == "appraisal.opened" and appraisal_id:
        planned: list[Reminder] = []
        actuals = _date(_first(data, "actuals_due", "actuals_due_date"))
        review = _date(_first(data, "review_due", "review_due_date"))
        if actuals:
            planned += schedule_reminders(ReminderKind.ACTUALS_DUE, appraisal_id, manager_id,
                                          actuals, data, policy)
        if review:
            planned += schedule_reminders(ReminderKind.REVIEW_DUE, appraisal_id, manager_id,
                                          review, data, policy)
        return ReminderPlan(schedule=tuple(planned), cancel=(appraisal_id,))
    if event_type in _APPRAISAL_ENDING and appraisal_id:
        return ReminderPlan(cancel=(appraisal_id,))
    return ReminderPlan()


def _today(now: date | datetime) -> date:
    return now.date() if isinstance(now, datetime) else now


def due_reminders(reminders: Iterable[Reminder], now: date | datetime,
                  sent: Collection[str] = ()) -> list[Reminder]:
    """The reminders to send at `now`: per deadline, the nearest passed threshold, if unsent.

    `sent` holds the ids already sent. A deadline on or before today has no due reminder.
    """
    today = _today(now)
    nearest: dict[tuple[ReminderKind, str, date], Reminder] = {}
    for r in reminders:
        if not r.due_on <= today < r.deadline:
            continue
        group = (r.kind, r.subject_id, r.deadline)
        if group not in nearest or r.days_before < nearest[group].days_before:
            nearest[group] = r
    due = [r for r in nearest.values() if r.reminder_id not in sent]
    return sorted(due, key=lambda r: (r.due_on, r.kind.value, r.subject_id))


def reminder_envelope(reminder: Reminder, now: date | datetime) -> dict[str, Any]:
    """The reminder as an event `route_event` accepts; its id keys the notices it produces."""
    today = _today(now)
    data = dict(reminder.facts)
    data.update(days_left=(reminder.deadline - today).days,
                due_date=reminder.deadline.isoformat(), reminder_days=reminder.days_before)
    if reminder.kind is ReminderKind.CONTRACT_END:
        data["end_date"] = reminder.deadline.isoformat()
    time = now if isinstance(now, datetime) else datetime(today.year, today.month, today.day)
    return {
        "specversion": "1.0", "id": reminder.reminder_id, "source": "/tenure/notifications",
        "type": REMINDER_EVENT_TYPES[reminder.kind], "subject": reminder.manager_id,
        "time": time.isoformat().replace("+00:00", "Z"), "data": data,
    }
