"""Outcomes: retain, bottom-grade adjustment, incompetence exit; and exit statistics.

The policy keeps these apart and so does the code: bottom-grade adjustment follows a grade
(never a rank or a percentage), incompetence exit follows named triggers with evidence, and
departures for other reasons (retirement, resignation, ...) are recorded as such and never
counted as appraisal exits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from services.appraisal.domain.errors import AppraisalInputInvalid, fail
from services.appraisal.domain.frozen import FrozenMap
from services.appraisal.domain.inputs import PastYear, Term
from services.appraisal.domain.numbers import HUNDRED, ZERO, score2
from services.appraisal.domain.scheme import ExitRules, Scheme
from services.appraisal.domain.scoring import IndicatorScore
from services.appraisal.domain.totals import Veto
from services.appraisal.domain.vocabulary import (
    EXIT_RULE_PRECEDENCE,
    DepartureReason,
    ExitRule,
    FailedYearsMode,
    Grade,
    Outcome,
)


@dataclass(frozen=True, slots=True)
class ExitTrigger:
    """One rigid-exit rule that fired: which, a sentence, and the values that prove it."""

    rule: ExitRule
    reason: str
    evidence: Mapping[str, Any]

    def __post_init__(self) -> None:
        if not isinstance(self.evidence, FrozenMap):
            object.__setattr__(self, "evidence", FrozenMap(self.evidence))


def year_failed(rules: ExitRules, total: Decimal, grade: Grade) -> bool:
    """A failed year: graded not competent, or a total below the exit line (default 70).

    A vetoed year is failed either way: `lowest_grade` makes it not competent and
    `cap_total` puts it below the exit line.
    """
    return grade is Grade.NOT_COMPETENT or total < rules.exit_line


def _check_history(year: int | None, history: Sequence[PastYear]) -> None:
    if not history:
        return
    if year is None:
        raise fail(AppraisalInputInvalid, "year", "needed to read the history of past years")
    seen: set[int] = set()
    for past in history:
        if past.year >= year:
            raise fail(AppraisalInputInvalid, f"history[{past.year}]",
                       f"must be a year before {year}")
        if past.year in seen:
            raise fail(AppraisalInputInvalid, f"history[{past.year}]", "given twice")
        seen.add(past.year)


def _failed_years_trigger(rules: ExitRules, year: int | None, history: Sequence[PastYear],
                          term: Term | None) -> ExitTrigger | None:
    """Fires in the year of the N-th failure (the current year must itself be failed)."""
    failed_before = {p.year for p in history if year_failed(rules, p.total, p.grade)}
    if rules.failed_years_mode is FailedYearsMode.CONSECUTIVE:
        run: list[int | None] = [year]
        if year is not None:
            previous = year - 1
            while previous in failed_before:
                run.insert(0, previous)
                previous -= 1
        counted = run
        words = "consecutive failed years"
    else:
        counted = [*sorted(y for y in failed_before if term is None or y in term), year]
        words = ("failed years within the term" + (
            f" {term.start_year}-{term.end_year}" if term is not None else ""))
    if len(counted) < rules.failed_years_count:
        return None
    return ExitTrigger(
        ExitRule.FAILED_YEARS,
        f"{len(counted)} {words} (the limit is {rules.failed_years_count}); a year fails "
        f"when graded not competent or scored below {rules.exit_line}",
        {"failed_years": counted, "count": rules.failed_years_count,
         "mode": rules.failed_years_mode.value,
         "term": None if term is None else [term.start_year, term.end_year]})


def find_exit_triggers(scheme: Scheme, *, total: Decimal, grade: Grade,
                       indicators: Sequence[IndicatorScore] = (), veto: Veto | None = None,
                       year: int | None = None, history: Sequence[PastYear] = (),
                       term: Term | None = None) -> tuple[ExitTrigger, ...]:
    """Every enabled rigid-exit rule the year's result trips, each with its evidence.

    `history` holds the manager's earlier finished years (final totals and grades); it is
    read only by the failed-years rule. The tenure rule is evaluated by `appraise_tenure`.
    """
    rules = scheme.exits
    _check_history(year, history)
    triggers: list[ExitTrigger] = []
    if rules.veto_enabled and veto is not None:
        triggers.append(ExitTrigger(ExitRule.VETO, veto.reason,
                                    {"items": list(veto.codes), "mode": veto.mode.value,
                                     "total_before_veto": veto.total_before}))
    if rules.grade_not_competent_enabled and grade is Grade.NOT_COMPETENT:
        triggers.append(ExitTrigger(ExitRule.GRADE_NOT_COMPETENT,
                                    "graded not competent", {"grade": grade.value,
                                                             "total": total}))
    if rules.score_below_enabled and total < rules.exit_line:
        triggers.append(ExitTrigger(
            ExitRule.SCORE_BELOW_EXIT_LINE,
            f"annual score {total} is below the exit line {rules.exit_line}",
            {"total": total, "exit_line": rules.exit_line}))
    if rules.main_indicator_enabled:
        minimum = rules.main_completion_min
        for s in indicators:
            if s.main and s.completion is not None and s.completion < minimum:
                triggers.append(ExitTrigger(
                    ExitRule.MAIN_INDICATOR_BELOW_COMPLETION,
                    f"main indicator {s.code} completed {s.completion * HUNDRED:.2f}% of its "
                    f"target, below {minimum * HUNDRED:.2f}%"
                    + (" (actual missing)" if s.actual is None else ""),
                    {"indicator": s.code, "actual": s.actual, "target": s.target,
                     "direction": s.direction.value, "completion": s.completion,
                     "minimum": minimum}))
    if rules.failed_years_enabled and year_failed(rules, total, grade):
        trigger = _failed_years_trigger(rules, year, history, term)
        if trigger is not None:
            triggers.append(trigger)
    return tuple(triggers)


def decide_outcome(rules: ExitRules, grade: Grade,
                   triggers: Sequence[ExitTrigger]) -> tuple[Outcome, str]:
    """Exit if any trigger fired; else bottom-grade adjustment if the grade is one of the
    scheme's bottom grades (default: basically competent); else retain."""
    if triggers:
        return Outcome.INCOMPETENCE_EXIT, "rigid exit: " + ", ".join(
            dict.fromkeys(t.rule.value for t in triggers))
    if grade in rules.bottom_grades:
        return Outcome.BOTTOM_GRADE_ADJUSTMENT, (
            f"grade {grade} is a bottom grade: the manager is moved or demoted")
    return Outcome.RETAIN, f"grade {grade}: retained"


# --- departures and statistics ---------------------------------------------------------------


@dataclass(frozen=True)
class Departure:
    """A manager who left for a reason other than appraisal (recorded, never an exit)."""

    manager_id: str
    reason: DepartureReason
    year: int | None = None

    def __post_init__(self) -> None:
        if type(self.reason) is not DepartureReason:
            try:
                object.__setattr__(self, "reason", DepartureReason(self.reason))
            except ValueError:
                raise fail(AppraisalInputInvalid, "departures[].reason",
                           f"{self.reason!r} is not a departure reason "
                           f"({', '.join(DepartureReason)}); appraisal exits come from "
                           "appraisal results") from None


class ExitRecord(Protocol):
    """What statistics read from an annual or tenure result."""

    @property
    def manager_id(self) -> str: ...

    @property
    def exit_triggers(self) -> tuple[ExitTrigger, ...]: ...

    @property
    def is_exit(self) -> bool: ...


@dataclass(frozen=True)
class ExitStatistics:
    """Counts for a cohort. `appraisal_exits` counts managers (once each, however many
    triggers or results); `by_primary_trigger` files each under its first trigger in
    EXIT_RULE_PRECEDENCE (sums to `appraisal_exits`); `by_trigger` counts every rule that
    fired per manager. Departures are counted apart and never add to the exits."""

    cohort_size: int
    appraisal_exits: int
    exit_rate_percent: Decimal
    by_primary_trigger: Mapping[str, int]
    by_trigger: Mapping[str, int]
    bottom_grade_adjustments: int
    departures: int
    departures_by_reason: Mapping[str, int]


def exit_statistics(results: Iterable[ExitRecord],
                    departures: Iterable[Departure] = ()) -> ExitStatistics:
    """Exits by reason for a cohort's results (annual and/or tenure), departures apart."""
    managers: set[str] = set()
    exiting: dict[str, set[ExitRule]] = {}
    adjusted: set[str] = set()
    for r in results:
        managers.add(r.manager_id)
        if r.is_exit:
            exiting.setdefault(r.manager_id, set()).update(t.rule for t in r.exit_triggers)
        if getattr(r, "outcome", None) is Outcome.BOTTOM_GRADE_ADJUSTMENT:
            adjusted.add(r.manager_id)
    primary: Counter[str] = Counter()
    every: Counter[str] = Counter()
    for rules in exiting.values():
        first = next((rule for rule in EXIT_RULE_PRECEDENCE if rule in rules), None)
        primary[first.value if first is not None else "unspecified"] += 1
        every.update(rule.value for rule in rules)
    gone = list(departures)
    size = len(managers)
    rate = ZERO if size == 0 else score2(Decimal(len(exiting)) * HUNDRED / size)
    return ExitStatistics(
        cohort_size=size, appraisal_exits=len(exiting), exit_rate_percent=rate,
        by_primary_trigger=FrozenMap(sorted(primary.items())),
        by_trigger=FrozenMap(sorted(every.items())),
        bottom_grade_adjustments=len(adjusted - set(exiting)),
        departures=len(gone),
        departures_by_reason=FrozenMap(dict(sorted(
            Counter(d.reason.value for d in gone).items()))))
