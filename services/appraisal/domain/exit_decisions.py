"""Exit with due process: the appeal window of a published result and the exit decision's states.

A published exit (an annual rigid exit, or a tenure appraisal concluding `exit`) is a decision
that stays *pending* while the manager may still appeal. The scheme sets the window
(`exits.appeal_window_days`, default 15 calendar days, in the zone `exits.appeal_window_zone`,
default Asia/Shanghai, the group's working zone):

- the last day to appeal is the publication's calendar day (in that zone) plus the window's
  days: published on 3 March, 15 days -> the last day is 18 March;
- the window closes at 00:00 of the day after the last day, in that zone: an appeal at
  23:59:59 on 18 March is in time, one at 00:00 on 19 March is late.

States of an exit decision and what moves them:

    pending   --appeal filed (in time, or late but accepted by HR)-->  held
    pending   --the window closed without an appeal-->                 confirmed
    held      --appeal rejected-->                                     confirmed
    held      --appeal upheld, the re-score still exits-->            confirmed
    held      --appeal upheld, the re-score passes-->                 cancelled
    confirmed --a late appeal accepted by HR-->                       reopened
    reopened  --appeal rejected, or upheld and still exits-->         confirmed
    reopened  --appeal upheld, the re-score passes-->                 cancelled

Only `confirmed` terminates the contract (the contracts service acts on exit.confirmed);
`cancelled` after `reopened` reinstates it. `cancelled` is final.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.appraisal.domain.errors import DomainError

#: Calendar days to appeal after publication, unless the scheme says otherwise.
DEFAULT_APPEAL_WINDOW_DAYS = 15
#: The zone whose calendar days count (the group's working zone).
DEFAULT_APPEAL_WINDOW_ZONE = "Asia/Shanghai"
#: Bounds a scheme may set: at least a day, at most a year.
MIN_APPEAL_WINDOW_DAYS, MAX_APPEAL_WINDOW_DAYS = 1, 365


class ExitDecisionState(StrEnum):
    PENDING = "pending"
    HELD = "held"
    CONFIRMED = "confirmed"
    REOPENED = "reopened"
    CANCELLED = "cancelled"


class ExitDecisionStep(StrEnum):
    """What happens to an exit decision."""

    APPEAL = "appeal"  # an appeal filed (in time, or late and accepted)
    WINDOW_CLOSED = "window_closed"
    APPEAL_REJECTED = "appeal_rejected"
    UPHELD_STILL_EXITS = "appeal_upheld_still_exits"
    UPHELD_PASSES = "appeal_upheld_passes"


_S, _T = ExitDecisionState, ExitDecisionStep

#: Every legal (state, step) pair and the state it leads to.
EXIT_DECISION_TRANSITIONS: dict[tuple[ExitDecisionState, ExitDecisionStep], ExitDecisionState] = {
    (_S.PENDING, _T.APPEAL): _S.HELD,
    (_S.PENDING, _T.WINDOW_CLOSED): _S.CONFIRMED,
    (_S.HELD, _T.APPEAL_REJECTED): _S.CONFIRMED,
    (_S.HELD, _T.UPHELD_STILL_EXITS): _S.CONFIRMED,
    (_S.HELD, _T.UPHELD_PASSES): _S.CANCELLED,
    (_S.CONFIRMED, _T.APPEAL): _S.REOPENED,
    (_S.REOPENED, _T.APPEAL_REJECTED): _S.CONFIRMED,
    (_S.REOPENED, _T.UPHELD_STILL_EXITS): _S.CONFIRMED,
    (_S.REOPENED, _T.UPHELD_PASSES): _S.CANCELLED,
}

#: States in which an exit decision is still alive (not cancelled).
LIVE_STATES = frozenset({_S.PENDING, _S.HELD, _S.CONFIRMED, _S.REOPENED})
#: States in which an appeal on the decision is open.
UNDER_APPEAL = frozenset({_S.HELD, _S.REOPENED})


class IllegalExitStep(DomainError):
    """A step the exit decision's state does not allow."""

    status = 409
    title = "Conflict"


def next_exit_state(state: ExitDecisionState | str,
                    step: ExitDecisionStep | str) -> ExitDecisionState:
    """The state an exit decision reaches by `step`, or IllegalExitStep naming both."""
    current, what = ExitDecisionState(state), ExitDecisionStep(step)
    found = EXIT_DECISION_TRANSITIONS.get((current, what))
    if found is None:
        raise IllegalExitStep(f"An exit decision that is {current} cannot take the step "
                              f"{what}", errors={"exit_decision": [f"is {current}"]})
    return found


def terminates_contract(before: ExitDecisionState | str, after: ExitDecisionState | str) -> bool:
    """True when the step confirms the exit for the first time: exit.confirmed is sent
    (a reopened decision confirmed again finds its contract already terminated)."""
    return (ExitDecisionState(after) is _S.CONFIRMED
            and ExitDecisionState(before) in (_S.PENDING, _S.HELD))


def reinstates_contract(before: ExitDecisionState | str,
                        after: ExitDecisionState | str) -> bool:
    """True when a cancelled exit had already terminated the contract (a late appeal)."""
    return ExitDecisionState(after) is _S.CANCELLED and ExitDecisionState(before) is _S.REOPENED


@dataclass(frozen=True)
class AppealWindow:
    """When an appeal against a result published at `published_at` may still be filed."""

    published_at: datetime
    days: int
    zone: str
    last_day: date  # the last calendar day (in `zone`) an appeal is in time
    closes_at: datetime  # 00:00 of the next day in `zone`: from this instant it is late

    def is_open(self, at: datetime) -> bool:
        return at < self.closes_at

    def has_elapsed(self, at: datetime) -> bool:
        return not self.is_open(at)


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def appeal_window(published_at: datetime, days: int = DEFAULT_APPEAL_WINDOW_DAYS,
                  zone: str = DEFAULT_APPEAL_WINDOW_ZONE) -> AppealWindow:
    """The window of a result published at `published_at` (an aware datetime).

    The last day is the publication's calendar day in `zone` plus `days`; the window closes
    at the start of the following day in `zone` (kept as an aware datetime in that zone).
    """
    if published_at.tzinfo is None:
        raise ValueError("published_at must be an aware datetime")
    if isinstance(days, bool) or not isinstance(days, int) or days < MIN_APPEAL_WINDOW_DAYS:
        raise ValueError(f"an appeal window is at least {MIN_APPEAL_WINDOW_DAYS} day")
    tz = zone_of(zone)
    last_day = published_at.astimezone(tz).date() + timedelta(days=days)
    closes_at = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=tz)
    return AppealWindow(published_at=published_at, days=days, zone=zone, last_day=last_day,
                        closes_at=closes_at)
