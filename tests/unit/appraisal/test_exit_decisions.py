"""The appeal window of a published result and the states of an exit decision, at their edges."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.appraisal import domain as d
from services.appraisal.domain.exit_decisions import (
    ExitDecisionState as S,
)
from services.appraisal.domain.exit_decisions import (
    ExitDecisionStep as T,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_the_default_window_is_fifteen_calendar_days_in_the_groups_zone() -> None:
    rules = d.DEFAULT_SCHEME.exits
    assert (rules.appeal_window_days, rules.appeal_window_zone) == (15, "Asia/Shanghai")


def test_the_last_day_is_the_publication_day_plus_the_window() -> None:
    published = datetime(2027, 3, 3, 10, 0, tzinfo=SHANGHAI)
    window = d.appeal_window(published)
    assert window.last_day == date(2027, 3, 18)
    assert window.closes_at == datetime(2027, 3, 19, 0, 0, tzinfo=SHANGHAI)


def test_an_appeal_in_the_last_second_of_the_last_day_is_in_time() -> None:
    window = d.appeal_window(datetime(2027, 3, 3, 10, 0, tzinfo=SHANGHAI))
    assert window.is_open(datetime(2027, 3, 18, 23, 59, 59, 999999, tzinfo=SHANGHAI))


def test_an_appeal_at_midnight_after_the_last_day_is_late() -> None:
    window = d.appeal_window(datetime(2027, 3, 3, 10, 0, tzinfo=SHANGHAI))
    assert window.has_elapsed(datetime(2027, 3, 19, 0, 0, tzinfo=SHANGHAI))
    assert not window.is_open(datetime(2027, 3, 19, 0, 0, 1, tzinfo=SHANGHAI))


def test_the_publication_day_counts_in_the_zone_not_in_utc() -> None:
    # 20:00 UTC on 3 March is already 4 March in Shanghai: the window runs to 19 March.
    window = d.appeal_window(datetime(2027, 3, 3, 20, 0, tzinfo=UTC))
    assert window.last_day == date(2027, 3, 19)
    assert window.closes_at.astimezone(UTC) == datetime(2027, 3, 19, 16, 0, tzinfo=UTC)
    in_utc = d.appeal_window(datetime(2027, 3, 3, 20, 0, tzinfo=UTC), zone="UTC")
    assert in_utc.last_day == date(2027, 3, 18)


def test_a_one_day_window_closes_at_the_end_of_the_next_day() -> None:
    published = datetime(2027, 12, 31, 23, 0, tzinfo=SHANGHAI)
    window = d.appeal_window(published, days=1)
    assert window.last_day == date(2028, 1, 1)
    assert window.is_open(window.closes_at - timedelta(microseconds=1))
    assert window.has_elapsed(window.closes_at)


def test_a_window_over_a_month_end_counts_calendar_days() -> None:
    window = d.appeal_window(datetime(2028, 2, 20, 9, 0, tzinfo=SHANGHAI), days=15)
    assert window.last_day == date(2028, 3, 6)  # 2028 is a leap year: 29 February counts


@pytest.mark.parametrize("days", [0, -1, True])
def test_a_window_of_less_than_a_day_is_refused(days: int) -> None:
    with pytest.raises(ValueError):
        d.appeal_window(datetime(2027, 3, 3, tzinfo=UTC), days=days)


def test_a_naive_publication_time_is_refused() -> None:
    with pytest.raises(ValueError):
        d.appeal_window(datetime(2027, 3, 3, 10, 0))


@pytest.mark.parametrize(("days", "zone", "field"), [
    (0, "Asia/Shanghai", "exits.appeal_window_days"),
    (366, "Asia/Shanghai", "exits.appeal_window_days"),
    (15, "Mars/Olympus", "exits.appeal_window_zone"),
])
def test_a_scheme_with_a_window_out_of_bounds_names_the_field(days: int, zone: str,
                                                             field: str) -> None:
    with pytest.raises(d.SchemeInvalid) as caught:
        d.scheme_from_dict({"code": "x", "version": 1,
                            "exits": {"appeal_window_days": days, "appeal_window_zone": zone}})
    assert field in caught.value.errors


def test_a_scheme_may_set_its_own_window_and_keeps_it_in_its_dict_form() -> None:
    scheme = d.scheme_from_dict({"code": "x", "version": 1,
                                 "exits": {"appeal_window_days": 30, "appeal_window_zone": "UTC"}})
    assert d.scheme_to_dict(scheme)["exits"]["appeal_window_days"] == 30
    assert d.scheme_to_dict(scheme)["exits"]["appeal_window_zone"] == "UTC"


@pytest.mark.parametrize(("state", "step", "after"), [
    (S.PENDING, T.APPEAL, S.HELD),
    (S.PENDING, T.WINDOW_CLOSED, S.CONFIRMED),
    (S.HELD, T.APPEAL_REJECTED, S.CONFIRMED),
    (S.HELD, T.UPHELD_STILL_EXITS, S.CONFIRMED),
    (S.HELD, T.UPHELD_PASSES, S.CANCELLED),
    (S.CONFIRMED, T.APPEAL, S.REOPENED),
    (S.REOPENED, T.APPEAL_REJECTED, S.CONFIRMED),
    (S.REOPENED, T.UPHELD_STILL_EXITS, S.CONFIRMED),
    (S.REOPENED, T.UPHELD_PASSES, S.CANCELLED),
])
def test_each_legal_step_of_an_exit_decision(state: S, step: T, after: S) -> None:
    assert d.next_exit_state(state, step) is after


@pytest.mark.parametrize(("state", "step"), [
    (S.HELD, T.WINDOW_CLOSED),  # an appeal in time holds the exit: the window cannot confirm
    (S.HELD, T.APPEAL),
    (S.CONFIRMED, T.WINDOW_CLOSED),
    (S.CANCELLED, T.APPEAL),
    (S.CANCELLED, T.WINDOW_CLOSED),
    (S.PENDING, T.UPHELD_PASSES),
])
def test_every_other_step_is_refused_with_a_conflict(state: S, step: T) -> None:
    with pytest.raises(d.IllegalExitStep) as caught:
        d.next_exit_state(state, step)
    assert caught.value.status == 409


def test_only_a_first_confirmation_terminates_and_only_a_cancelled_reopening_reinstates() -> None:
    assert d.terminates_contract(S.PENDING, S.CONFIRMED)
    assert d.terminates_contract(S.HELD, S.CONFIRMED)
    assert not d.terminates_contract(S.REOPENED, S.CONFIRMED)
    assert d.reinstates_contract(S.REOPENED, S.CANCELLED)
    assert not d.reinstates_contract(S.HELD, S.CANCELLED)
