"""Tenure terms: their dates, overlaps, consecutive-term limits and expiry reminders."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from services.contracts.domain.errors import ContractOverlap, RenewalLimitReached, TermInvalid
from services.contracts.domain.vocabulary import ContractState

#: Days before the end of a term when the manager and HR are reminded.
DEFAULT_REMINDER_THRESHOLDS: tuple[int, ...] = (90, 30, 7)


def term_end(start: date, years: int) -> date:
    """The last day of a term of `years` starting on `start`: the day before the anniversary.

    A term starting on 29 February has its anniversary on 1 March in common years, so
    2024-02-29 + 3 years ends 2027-02-28 and + 4 years ends 2028-02-28.
    """
    if isinstance(years, bool) or not isinstance(years, int) or years < 1:
        raise TermInvalid(f"A term lasts at least one whole year, got {years!r}",
                          errors={"term_years": ["must be a whole number of years >= 1"]})
    year = start.year + years
    try:
        anniversary = start.replace(year=year)
    except ValueError:  # 29 February in a common year
        anniversary = date(year, 3, 1)
    return anniversary - timedelta(days=1)


def _check_order(start: date, end: date) -> None:
    if end < start:
        raise TermInvalid(f"The term ends ({end}) before it starts ({start})",
                          errors={"end_date": ["must not be before start_date"]})


def annual_years(start: date, end: date) -> list[int]:
    """Calendar years the term touches; each gets its own annual performance contract.

    A term from 2026-07-01 to 2029-06-30 touches 2026..2029, so four annual contracts: the
    first and last cover half a year each.
    """
    _check_order(start, end)
    return list(range(start.year, end.year + 1))


def terms_overlap(a_start: date, a_end: date, b_start: date, b_end: date) -> bool:
    """Whether two terms share at least one day (both ends inclusive)."""
    return a_start <= b_end and b_start <= a_end


@dataclass(frozen=True)
class ExistingTerm:
    """A contract the manager already has for the same position."""

    contract_id: str
    start: date
    end: date
    state: ContractState


#: Terminated contracts never ran (or stopped): they do not block a new term.
STATES_IGNORED_FOR_OVERLAP: frozenset[ContractState] = frozenset({ContractState.TERMINATED})


def find_overlap(existing: Iterable[ExistingTerm], start: date, end: date) -> ExistingTerm | None:
    """The earliest-starting contract the term start..end overlaps, if any."""
    clashes = [t for t in existing
               if ContractState(t.state) not in STATES_IGNORED_FOR_OVERLAP
               and terms_overlap(t.start, t.end, start, end)]
    return min(clashes, key=lambda t: (t.start, t.contract_id)) if clashes else None


def check_no_overlap(existing: Iterable[ExistingTerm], start: date, end: date) -> None:
    """A manager holds one contract at a time per position.

    Drafts and contracts awaiting signature count as well as active, expired and renewed
    ones: two drafts for the same days would both be signable. Terminated contracts do not.
    """
    _check_order(start, end)
    clash = find_overlap(existing, start, end)
    if clash is not None:
        raise ContractOverlap(
            f"The term {start.isoformat()} to {end.isoformat()} overlaps contract "
            f"{clash.contract_id} ({clash.start.isoformat()} to {clash.end.isoformat()}, "
            f"{ContractState(clash.state)})",
            errors={"start_date": [f"overlaps contract {clash.contract_id} "
                                   f"({clash.start.isoformat()} to {clash.end.isoformat()})"]},
        )


def check_renewal(consecutive_terms_so_far: int, max_consecutive_terms: int) -> None:
    """One more consecutive term must not exceed the limit.

    `consecutive_terms_so_far` counts the terms served back to back before the new one, so
    with a limit of 2 a manager may start a first (0 so far) and a second (1) term, not a
    third (2).
    """
    if max_consecutive_terms < 1:
        raise ValueError(f"the limit of consecutive terms is at least 1, got "
                         f"{max_consecutive_terms}")
    if consecutive_terms_so_far >= max_consecutive_terms:
        raise RenewalLimitReached(
            f"The manager has served {consecutive_terms_so_far} consecutive term(s); the "
            f"limit is {max_consecutive_terms}, so no further consecutive term is allowed",
        )


def is_past_end(end: date, today: date) -> bool:
    """A contract is in force through its end date and expired from the day after."""
    return today > end


def _check_thresholds(thresholds: Sequence[int]) -> None:
    if any(isinstance(t, bool) or not isinstance(t, int) or t < 0 for t in thresholds):
        raise ValueError(f"reminder thresholds are whole days >= 0, got {thresholds!r}")


def reminders_passed(end: date, today: date,
                     thresholds: Sequence[int] = DEFAULT_REMINDER_THRESHOLDS) -> set[int]:
    """Thresholds reached by `today` (days left <= threshold); record them all as done."""
    _check_thresholds(thresholds)
    days_left = (end - today).days
    if days_left < 0:
        return set(thresholds)
    return {t for t in thresholds if days_left <= t}


def expiry_reminders_due(end: date, today: date, already_sent: set[int] | frozenset[int],
                         thresholds: Sequence[int] = DEFAULT_REMINDER_THRESHOLDS) -> list[int]:
    """The reminder to send today: at most one, the most urgent threshold reached and unsent.

    Thresholds are reached when the days left to `end` are at most the threshold. If a run
    was missed (or the contract was signed late) several may be reached at once; only the
    smallest is sent, because a "90 days left" notice five days before the end would mislead.
    The caller records every reached threshold (`reminders_passed`) as done so the larger
    ones are never sent late. After the end date nothing is due: the contract expires.
    """
    passed = reminders_passed(end, today, thresholds)
    if (end - today).days < 0 or not passed:
        return []
    most_urgent = min(passed)
    return [] if most_urgent in already_sent else [most_urgent]
