"""Expiry: the end date is the last day in force; reminders at 90, 30 and 7 days."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.contracts import domain as d

END = date(2026, 12, 31)


def days_before(n: int) -> date:
    return END - timedelta(days=n)


def test_a_contract_is_in_force_on_its_end_date() -> None:
    assert not d.is_past_end(END, END)
    assert not d.is_past_end(END, days_before(1))


def test_a_contract_is_past_its_end_the_day_after() -> None:
    assert d.is_past_end(END, END + timedelta(days=1))


@pytest.mark.parametrize(("days_left", "due"), [
    (120, []), (91, []), (90, [90]), (31, [90]), (30, [30]), (8, [30]), (7, [7]), (1, [7]),
    (0, [7]),
])
def test_with_nothing_sent_the_most_urgent_reached_threshold_is_due(days_left: int,
                                                                    due: list[int]) -> None:
    assert d.expiry_reminders_due(END, days_before(days_left), set()) == due


def test_five_days_before_with_nothing_sent_only_the_seven_day_reminder_is_due() -> None:
    assert d.expiry_reminders_due(END, days_before(5), set()) == [7]
    assert d.reminders_passed(END, days_before(5)) == {90, 30, 7}


def test_a_reminder_already_sent_is_not_sent_again() -> None:
    assert d.expiry_reminders_due(END, days_before(90), {90}) == []
    assert d.expiry_reminders_due(END, days_before(45), {90}) == []
    assert d.expiry_reminders_due(END, days_before(3), {90, 30, 7}) == []


def test_after_the_ninety_day_reminder_the_thirty_day_one_comes_at_thirty() -> None:
    assert d.expiry_reminders_due(END, days_before(30), {90}) == [30]


def test_a_missed_thirty_is_not_sent_late_once_seven_is_reached() -> None:
    assert d.expiry_reminders_due(END, days_before(7), {90}) == [7]


def test_nothing_is_due_after_the_end_the_contract_expires_instead() -> None:
    assert d.expiry_reminders_due(END, END + timedelta(days=1), set()) == []


def test_custom_thresholds_in_any_order() -> None:
    assert d.expiry_reminders_due(END, days_before(14), set(), (14, 60)) == [14]
    assert d.expiry_reminders_due(END, days_before(59), set(), (14, 60)) == [60]


def test_thresholds_must_be_whole_days() -> None:
    with pytest.raises(ValueError):
        d.expiry_reminders_due(END, END, set(), (7, -1))


@given(st.integers(min_value=0, max_value=200))
def test_a_daily_run_sends_each_reached_threshold_at_most_once_and_in_order(
        first_run_days_left: int) -> None:
    """Simulate the expiry job: every day, send what is due and record what has passed."""
    sent: set[int] = set()
    notices: list[int] = []
    for days_left in range(first_run_days_left, -2, -1):
        today = days_before(days_left)
        due = d.expiry_reminders_due(END, today, sent)
        assert len(due) <= 1
        notices += due
        sent |= d.reminders_passed(END, today)
    assert notices == sorted(notices, reverse=True)
    assert len(notices) == len(set(notices))
    # The most urgent threshold reached by the first run onwards is always sent.
    assert notices[-1] == 7
    if first_run_days_left >= 90:
        assert notices == [90, 30, 7]
