"""Term dates, overlaps between terms, the consecutive-term limit."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.contracts import domain as d

S = d.ContractState
dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))


@pytest.mark.parametrize(("start", "years", "end"), [
    (date(2026, 1, 1), 3, date(2028, 12, 31)),
    (date(2026, 7, 1), 1, date(2027, 6, 30)),
    (date(2026, 3, 1), 1, date(2027, 2, 28)),
    (date(2027, 3, 1), 1, date(2028, 2, 29)),      # ends on a leap day
    (date(2024, 2, 29), 3, date(2027, 2, 28)),     # leap start, common anniversary
    (date(2024, 2, 29), 4, date(2028, 2, 28)),     # leap start, leap anniversary
    (date(2024, 2, 29), 1, date(2025, 2, 28)),
    (date(2026, 12, 31), 10, date(2036, 12, 30)),
])
def test_a_term_ends_the_day_before_its_anniversary(start: date, years: int, end: date) -> None:
    assert d.term_end(start, years) == end


@pytest.mark.parametrize("years", [0, -1, True, 1.5])
def test_a_term_lasts_at_least_one_whole_year(years: object) -> None:
    with pytest.raises(d.TermInvalid) as info:
        d.term_end(date(2026, 1, 1), years)  # type: ignore[arg-type]
    assert "term_years" in info.value.errors


@given(dates, st.integers(min_value=1, max_value=10))
def test_a_term_of_n_years_lasts_between_365n_and_366n_days(start: date, years: int) -> None:
    days = (d.term_end(start, years) - start).days + 1
    assert 365 * years <= days <= 366 * years


@given(dates, st.integers(min_value=1, max_value=10))
def test_the_next_term_starting_the_day_after_does_not_overlap(start: date, years: int) -> None:
    end = d.term_end(start, years)
    nxt = end + timedelta(days=1)
    assert not d.terms_overlap(start, end, nxt, d.term_end(nxt, years))


def test_annual_years_are_the_calendar_years_the_term_touches() -> None:
    assert d.annual_years(date(2026, 1, 1), date(2028, 12, 31)) == [2026, 2027, 2028]
    assert d.annual_years(date(2026, 7, 1), date(2029, 6, 30)) == [2026, 2027, 2028, 2029]
    assert d.annual_years(date(2026, 5, 1), date(2026, 5, 1)) == [2026]


def test_annual_years_refuse_an_end_before_the_start() -> None:
    with pytest.raises(d.TermInvalid):
        d.annual_years(date(2026, 5, 2), date(2026, 5, 1))


# --- overlaps ---------------------------------------------------------------------------------

def test_terms_sharing_only_one_day_overlap() -> None:
    assert d.terms_overlap(date(2026, 1, 1), date(2026, 12, 31),
                           date(2026, 12, 31), date(2027, 12, 30))


def test_adjacent_terms_do_not_overlap() -> None:
    assert not d.terms_overlap(date(2026, 1, 1), date(2026, 12, 31),
                               date(2027, 1, 1), date(2027, 12, 31))


def test_a_term_inside_another_overlaps() -> None:
    assert d.terms_overlap(date(2026, 1, 1), date(2028, 12, 31),
                           date(2027, 3, 1), date(2027, 3, 1))


@given(dates, dates, dates, dates)
def test_overlap_is_symmetric_and_means_a_shared_day(a1: date, a2: date, b1: date,
                                                     b2: date) -> None:
    a_start, a_end = sorted((a1, a2))
    b_start, b_end = sorted((b1, b2))
    result = d.terms_overlap(a_start, a_end, b_start, b_end)
    assert result == d.terms_overlap(b_start, b_end, a_start, a_end)
    shared = max(a_start, b_start) <= min(a_end, b_end)
    assert result == shared


def term(cid: str, start: date, end: date, state: S = S.ACTIVE) -> d.ExistingTerm:
    return d.ExistingTerm(contract_id=cid, start=start, end=end, state=state)


CURRENT = term("c-1", date(2023, 1, 1), date(2025, 12, 31))


def test_a_new_term_starting_on_the_last_day_of_the_current_one_overlaps() -> None:
    with pytest.raises(d.ContractOverlap) as info:
        d.check_no_overlap([CURRENT], date(2025, 12, 31), date(2028, 12, 30))
    err = info.value
    assert err.status == 409
    assert "c-1" in err.detail and "2023-01-01" in err.detail and "2025-12-31" in err.detail
    assert "start_date" in err.errors


def test_a_new_term_starting_the_day_after_does_not_overlap() -> None:
    assert d.check_no_overlap([CURRENT], date(2026, 1, 1), date(2028, 12, 31)) is None


@pytest.mark.parametrize("state", [S.DRAFT, S.PENDING_SIGNATURE, S.ACTIVE, S.EXPIRED,
                                   S.RENEWED])
def test_contracts_in_every_state_but_terminated_block_an_overlapping_term(state: S) -> None:
    with pytest.raises(d.ContractOverlap):
        d.check_no_overlap([term("c-2", date(2026, 1, 1), date(2028, 12, 31), state)],
                           date(2027, 1, 1), date(2029, 12, 31))


def test_a_terminated_contract_does_not_block_a_new_term() -> None:
    old = term("c-3", date(2026, 1, 1), date(2028, 12, 31), S.TERMINATED)
    assert d.check_no_overlap([old], date(2026, 1, 1), date(2028, 12, 31)) is None


def test_the_earliest_conflicting_contract_is_named() -> None:
    later = term("later", date(2027, 1, 1), date(2027, 12, 31))
    earlier = term("earlier", date(2026, 1, 1), date(2026, 12, 31))
    with pytest.raises(d.ContractOverlap, match="earlier"):
        d.check_no_overlap([later, earlier], date(2026, 6, 1), date(2029, 5, 31))


def test_states_from_the_database_may_be_strings() -> None:
    old = d.ExistingTerm("c-4", date(2026, 1, 1), date(2026, 12, 31), "terminated")  # type: ignore[arg-type]
    assert d.check_no_overlap([old], date(2026, 1, 1), date(2026, 12, 31)) is None


def test_a_term_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(d.TermInvalid):
        d.check_no_overlap([], date(2026, 1, 2), date(2026, 1, 1))


def test_no_existing_terms_means_no_overlap() -> None:
    assert d.find_overlap([], date(2026, 1, 1), date(2026, 12, 31)) is None


# --- consecutive terms ------------------------------------------------------------------------

@pytest.mark.parametrize(("so_far", "limit"), [(0, 1), (0, 2), (1, 2), (2, 3)])
def test_another_term_is_allowed_below_the_limit(so_far: int, limit: int) -> None:
    assert d.check_renewal(so_far, limit) is None


@pytest.mark.parametrize(("so_far", "limit"), [(1, 1), (2, 2), (3, 2)])
def test_another_term_at_the_limit_is_refused(so_far: int, limit: int) -> None:
    with pytest.raises(d.RenewalLimitReached) as info:
        d.check_renewal(so_far, limit)
    assert info.value.status == 409 and str(limit) in info.value.detail


def test_a_limit_below_one_is_a_bug() -> None:
    with pytest.raises(ValueError):
        d.check_renewal(0, 0)
