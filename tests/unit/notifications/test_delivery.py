"""Delivery policy: backoff sequence, giving up, the HR alert it raises, resending."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notifications.domain import (
    BackoffPolicy,
    Channel,
    DeliveryState,
    InvalidTransition,
    NoticeKind,
    RecipientRole,
    given_up_envelope,
    given_up_event,
    is_due,
    new_delivery,
    record_failure,
    record_success,
    resend,
    route_event,
    sample_event,
)
from services.notifications.domain.samples import SAMPLE_DIRECTORY, SAMPLE_HR

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
NO_JITTER = BackoffPolicy(jitter=0)


def no_jitter() -> float:
    return 0.0


def seconds(delta: timedelta) -> float:
    return delta.total_seconds()


def test_default_backoff_is_30s_1m_2m_4m_8m() -> None:
    policy = BackoffPolicy()
    assert [seconds(policy.nominal_delay(n)) for n in range(1, 6)] == [30, 60, 120, 240, 480]


def test_backoff_is_capped_at_one_hour() -> None:
    policy = BackoffPolicy(max_attempts=20)
    assert [seconds(policy.nominal_delay(n)) for n in (7, 8, 9, 15)] == [
        1920, 3600, 3600, 3600]


def test_jitter_only_shortens_the_wait_by_at_most_its_fraction() -> None:
    policy = BackoffPolicy(jitter=0.2)
    assert policy.delay(3, no_jitter) == timedelta(minutes=2)
    assert policy.delay(3, lambda: 0.5) == timedelta(seconds=108)
    assert policy.delay(3, lambda: 0.999999) > timedelta(seconds=96)


def test_jitter_from_a_seeded_random_is_reproducible() -> None:
    policy = BackoffPolicy()
    first = [policy.delay(n, random.Random(7).random) for n in range(1, 6)]
    again = [policy.delay(n, random.Random(7).random) for n in range(1, 6)]
    assert first == again


@given(st.integers(min_value=1, max_value=60), st.floats(min_value=0, max_value=0.999999))
def test_a_wait_never_exceeds_the_cap_nor_falls_below_the_jitter_floor(
        attempts: int, draw: float) -> None:
    policy = BackoffPolicy(max_attempts=100)
    delay = policy.delay(attempts, lambda: draw)
    assert delay <= policy.cap
    assert delay >= policy.nominal_delay(attempts) * (1 - policy.jitter) - timedelta(
        microseconds=1)


def test_next_attempt_at_is_now_plus_the_delay() -> None:
    assert NO_JITTER.next_attempt_at(2, T0) == T0 + timedelta(minutes=1)


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"jitter": 1.0}, {"jitter": -0.1}])
def test_a_nonsense_policy_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BackoffPolicy(**kwargs)  # type: ignore[arg-type]


def test_a_new_delivery_is_queued_and_due_at_once() -> None:
    record = new_delivery("nk", "email", T0)
    assert (record.state, record.channel, record.attempts) == (
        DeliveryState.QUEUED, Channel.EMAIL, 0)
    assert is_due(record, T0)


def test_retryable_failures_wait_longer_each_time_then_give_up_on_the_sixth() -> None:
    record = new_delivery("nk", Channel.EMAIL, T0)
    now = T0
    waits = []
    for _ in range(5):
        record = record_failure(record, now, retryable=True, reason="connection refused",
                                policy=NO_JITTER)
        assert record.state is DeliveryState.FAILED
        assert record.next_attempt_at is not None
        assert not is_due(record, now)
        waits.append(seconds(record.next_attempt_at - now))
        now = record.next_attempt_at
        assert is_due(record, now)
    assert waits == [30, 60, 120, 240, 480]
    record = record_failure(record, now, retryable=True, reason="connection refused",
                            policy=NO_JITTER)
    assert (record.state, record.attempts, record.next_attempt_at) == (
        DeliveryState.GIVEN_UP, 6, None)
    assert not is_due(record, now + timedelta(days=1))
    assert record.history[-1].reason == "connection refused (after 6 tries)"


def test_a_permanent_failure_gives_up_at_once() -> None:
    record = record_failure(new_delivery("nk", "webhook", T0), T0, retryable=False,
                            reason="receiver answered 400")
    assert (record.state, record.attempts, record.last_error) == (
        DeliveryState.GIVEN_UP, 1, "receiver answered 400")


def test_a_success_after_failures_is_sent_and_clears_the_error() -> None:
    record = record_failure(new_delivery("nk", "email", T0), T0, retryable=True,
                            reason="timeout", rand=no_jitter)
    later = T0 + timedelta(minutes=1)
    record = record_success(record, later)
    assert (record.state, record.attempts, record.sent_at, record.last_error) == (
        DeliveryState.SENT, 2, later, None)
    assert [e.action for e in record.history] == ["queued", "failed", "sent"]


@pytest.mark.parametrize("step", ["success", "failure"])
def test_nothing_is_recorded_on_a_finished_delivery(step: str) -> None:
    sent = record_success(new_delivery("nk", "email", T0), T0)
    with pytest.raises(InvalidTransition):
        if step == "success":
            record_success(sent, T0)
        else:
            record_failure(sent, T0, retryable=True, reason="x")


def test_resend_requeues_with_fresh_tries_and_an_audited_reason() -> None:
    given_up = record_failure(new_delivery("nk", "email", T0), T0, retryable=False,
                              reason="550 unknown user")
    later = T0 + timedelta(hours=2)
    again = resend(given_up, later, reason="address corrected", actor="hr-1")
    assert (again.state, again.attempts, again.next_attempt_at, again.generation) == (
        DeliveryState.QUEUED, 0, later, 1)
    assert again.history[-1].action == "resent"
    assert (again.history[-1].reason, again.history[-1].actor) == ("address corrected", "hr-1")
    assert is_due(again, later)


def test_a_sent_notice_may_be_resent_on_request() -> None:
    sent = record_success(new_delivery("nk", "email", T0), T0)
    assert resend(sent, T0, reason="manager lost it").state is DeliveryState.QUEUED


def test_resend_needs_a_reason() -> None:
    sent = record_success(new_delivery("nk", "email", T0), T0)
    with pytest.raises(ValueError):
        resend(sent, T0, reason="  ")


def test_a_queued_delivery_cannot_be_resent() -> None:
    with pytest.raises(InvalidTransition):
        resend(new_delivery("nk", "email", T0), T0, reason="again")


def _manager_notice():  # type: ignore[no-untyped-def]
    routing = route_event(sample_event("appraisal.published"), SAMPLE_DIRECTORY)
    return next(n for n in routing.notices if n.kind is NoticeKind.APPRAISAL_RESULT)


def test_giving_up_produces_an_hr_alert_naming_the_failure() -> None:
    notice = _manager_notice()
    record = record_failure(new_delivery(notice.notice_key, "email", T0), T0,
                            retryable=False, reason="550 mailbox unavailable")
    event = given_up_event(notice, record)
    assert event.type == "notice.given_up"
    assert event.subject == notice.manager_id
    assert event.data["reason"] == "550 mailbox unavailable"
    alerts = route_event(given_up_envelope(event, T0), SAMPLE_DIRECTORY).notices
    assert [(a.recipient.id, a.kind, a.role) for a in alerts] == [
        (SAMPLE_HR.id, NoticeKind.DELIVERY_GIVEN_UP_HR, RecipientRole.HR_ADMIN)]
    assert alerts[0].context["failed_notice_key"] == notice.notice_key
    assert alerts[0].context["failed_channel"] == "email"
    assert alerts[0].context["attempts"] == 1


def test_the_same_give_up_reported_twice_alerts_once_but_a_resend_that_fails_alerts_again(
) -> None:
    notice = _manager_notice()
    first = record_failure(new_delivery(notice.notice_key, "email", T0), T0,
                           retryable=False, reason="550")
    assert given_up_event(notice, first).id == given_up_event(notice, first).id
    second = record_failure(resend(first, T0, reason="retry"), T0, retryable=False,
                            reason="550")
    keys = [
        {a.notice_key for a in route_event(given_up_envelope(given_up_event(notice, r), T0),
                                           SAMPLE_DIRECTORY).notices}
        for r in (first, first, second)
    ]
    assert keys[0] == keys[1]
    assert not keys[0] & keys[2]


def test_only_a_given_up_delivery_has_a_given_up_event() -> None:
    with pytest.raises(InvalidTransition):
        given_up_event(_manager_notice(), new_delivery("nk", "email", T0))
