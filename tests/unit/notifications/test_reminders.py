"""Reminders: scheduled from events, due at the nearest passed threshold, never twice."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.notifications.domain import (
    NoticeKind,
    ReminderKind,
    ReminderPolicy,
    due_reminders,
    reminder_envelope,
    reminders_from_event,
    route_event,
)
from services.notifications.domain.samples import SAMPLE_DIRECTORY, SAMPLE_MANAGER

END = date(2027, 12, 31)


def envelope(event_type: str, **data: Any) -> dict[str, Any]:
    base = {"manager_id": SAMPLE_MANAGER.id, "manager_name": SAMPLE_MANAGER.name,
            "manager_email": SAMPLE_MANAGER.email, "manager_language": "zh",
            "org_unit_id": "u-1", "contract_id": "c-1", "end_date": END.isoformat()}
    base.update(data)
    return {"id": "ev-1", "type": event_type, "subject": SAMPLE_MANAGER.id,
            "time": "2025-01-10T08:00:00Z", "data": base}


def contract_reminders(**kwargs: Any):  # type: ignore[no-untyped-def]
    return reminders_from_event(envelope("contract.signed"), **kwargs).schedule


def test_a_signed_contract_schedules_reminders_90_30_and_7_days_before_its_end() -> None:
    plan = reminders_from_event(envelope("contract.signed"))
    assert [(r.kind, r.days_before, r.due_on) for r in plan.schedule] == [
        (ReminderKind.CONTRACT_END, 90, END - timedelta(days=90)),
        (ReminderKind.CONTRACT_END, 30, END - timedelta(days=30)),
        (ReminderKind.CONTRACT_END, 7, END - timedelta(days=7)),
    ]
    assert plan.cancel == ("c-1",)  # an amendment replaces the earlier schedule


def test_the_offsets_are_configurable() -> None:
    schedule = contract_reminders(policy=ReminderPolicy(contract_end_days=(60, 14)))
    assert [r.days_before for r in schedule] == [60, 14]


def test_reminder_ids_are_stable_so_scheduling_twice_stores_nothing_new() -> None:
    assert [r.reminder_id for r in contract_reminders()] == [
        r.reminder_id for r in contract_reminders()]


def test_an_amended_end_date_gets_new_reminder_ids() -> None:
    first = {r.reminder_id for r in contract_reminders()}
    amended = reminders_from_event(envelope("contract.amended", end_date="2028-06-30",
                                            state="active"))
    assert not first & {r.reminder_id for r in amended.schedule}


def test_a_reminder_is_due_on_its_day_and_not_the_day_before() -> None:
    schedule = contract_reminders()
    ninety = END - timedelta(days=90)
    assert due_reminders(schedule, ninety - timedelta(days=1)) == []
    assert [r.days_before for r in due_reminders(schedule, ninety)] == [90]


def test_a_sent_reminder_is_not_due_again_until_the_next_threshold() -> None:
    schedule = contract_reminders()
    (ninety,) = due_reminders(schedule, END - timedelta(days=60))
    assert due_reminders(schedule, END - timedelta(days=31), sent={ninety.reminder_id}) == []
    (thirty,) = due_reminders(schedule, END - timedelta(days=30), sent={ninety.reminder_id})
    assert thirty.days_before == 30


def test_only_the_nearest_passed_threshold_is_due_when_several_have_passed() -> None:
    due = due_reminders(contract_reminders(), END - timedelta(days=20))
    assert [r.days_before for r in due] == [30]


def test_older_thresholds_never_become_due_after_a_nearer_one_was_sent() -> None:
    schedule = contract_reminders()
    (thirty,) = due_reminders(schedule, END - timedelta(days=20))
    assert due_reminders(schedule, END - timedelta(days=19), sent={thirty.reminder_id}) == []


def test_nothing_is_due_once_the_deadline_has_come() -> None:
    assert due_reminders(contract_reminders(), END) == []
    assert due_reminders(contract_reminders(), END + timedelta(days=3)) == []


def test_due_reminders_accepts_a_datetime() -> None:
    now = datetime(2027, 12, 24, 23, 59, tzinfo=UTC)
    assert [r.days_before for r in due_reminders(contract_reminders(), now)] == [7]


@pytest.mark.parametrize("event_type", ["contract.terminated", "contract.expired",
                                        "contract.renewed"])
def test_an_ended_contract_cancels_its_reminders(event_type: str) -> None:
    plan = reminders_from_event(envelope(event_type))
    assert (plan.schedule, plan.cancel) == ((), ("c-1",))


def test_an_opened_appraisal_schedules_actuals_and_review_reminders() -> None:
    plan = reminders_from_event(envelope(
        "appraisal.opened", appraisal_id="ap-1", actuals_due="2026-01-31",
        review_due="2026-02-28"), ReminderPolicy(actuals_due_days=(10,), review_due_days=(5,)))
    assert [(r.kind, r.subject_id, r.due_on) for r in plan.schedule] == [
        (ReminderKind.ACTUALS_DUE, "ap-1", date(2026, 1, 21)),
        (ReminderKind.REVIEW_DUE, "ap-1", date(2026, 2, 23)),
    ]


def test_a_published_appraisal_cancels_its_reminders() -> None:
    plan = reminders_from_event(envelope("appraisal.published", appraisal_id="ap-1"))
    assert plan.cancel == ("ap-1",)


def test_amending_a_contract_not_yet_signed_schedules_nothing() -> None:
    plan = reminders_from_event(envelope("contract.amended", state="pending_signature"))
    assert plan.schedule == ()


def test_events_without_deadlines_schedule_nothing() -> None:
    assert reminders_from_event(envelope("contract.signed", end_date=None)).schedule == ()
    assert reminders_from_event(envelope("targets.set")).schedule == ()


def test_a_due_contract_reminder_routes_like_contract_expiring_with_days_left() -> None:
    (reminder,) = due_reminders(contract_reminders(), END - timedelta(days=29))
    routing = route_event(reminder_envelope(reminder, END - timedelta(days=29)),
                          SAMPLE_DIRECTORY)
    kinds = {n.kind for n in routing.notices}
    assert kinds == {NoticeKind.CONTRACT_EXPIRING, NoticeKind.CONTRACT_EXPIRING_HR}
    assert {n.context["days_left"] for n in routing.notices} == {29}
    again = route_event(reminder_envelope(reminder, END - timedelta(days=28)), SAMPLE_DIRECTORY)
    assert {n.notice_key for n in routing.notices} == {n.notice_key for n in again.notices}


def test_a_review_reminder_goes_to_the_appraisers_or_hr() -> None:
    plan = reminders_from_event(envelope("appraisal.opened", appraisal_id="ap-1", year=2025,
                                         review_due="2026-02-28"))
    (reminder,) = due_reminders(plan.schedule, date(2026, 2, 27))
    routing = route_event(reminder_envelope(reminder, date(2026, 2, 27)), SAMPLE_DIRECTORY)
    assert {n.kind for n in routing.notices} == {NoticeKind.REVIEW_DUE}
    assert {n.context["due_date"] for n in routing.notices} == {"2026-02-28"}


def test_a_reminder_offset_must_be_at_least_a_day() -> None:
    with pytest.raises(ValueError):
        ReminderPolicy(contract_end_days=(30, 0))
