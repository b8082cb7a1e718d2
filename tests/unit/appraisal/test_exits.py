"""Outcomes: exit triggers with evidence, bottom-grade adjustment, and exit statistics."""

from __future__ import annotations

from typing import Any

import pytest

from services.appraisal import domain as d
from tests.unit.appraisal.helpers import D, appraise_total, quant, scheme, value, veto

G, X, OUT = d.Grade, d.ExitRule, d.Outcome


def rules_of(r: d.AppraisalResult) -> list[d.ExitRule]:
    return [t.rule for t in r.exit_triggers]


def past(year: int, total: str, grade: d.Grade | None = None) -> d.PastYear:
    return d.PastYear(year, D(total), grade or d.grade_for(d.DEFAULT_SCHEME.grades, D(total)))


# --- score and grade -------------------------------------------------------------------------


def test_score_of_exactly_70_triggers_nothing_and_retains() -> None:
    r = appraise_total("70.00")
    assert r.exit_triggers == ()
    assert r.outcome is OUT.RETAIN


def test_score_of_69_99_triggers_the_exit_line_rule_and_is_a_bottom_grade() -> None:
    r = appraise_total("69.99")
    assert rules_of(r) == [X.SCORE_BELOW_EXIT_LINE]
    assert r.exit_triggers[0].evidence == {"total": D("69.99"), "exit_line": D("70.00")}
    assert r.outcome is OUT.INCOMPETENCE_EXIT


def test_score_of_exactly_60_is_basically_competent_and_below_the_exit_line() -> None:
    r = appraise_total("60.00")
    assert r.grade is G.BASICALLY_COMPETENT
    assert rules_of(r) == [X.SCORE_BELOW_EXIT_LINE]


def test_not_competent_triggers_both_grade_and_score_rules() -> None:
    r = appraise_total("59.99")
    assert rules_of(r) == [X.GRADE_NOT_COMPETENT, X.SCORE_BELOW_EXIT_LINE]
    assert r.outcome is OUT.INCOMPETENCE_EXIT


def test_basically_competent_without_triggers_is_a_bottom_grade_adjustment() -> None:
    s = scheme(exits={"score_below_enabled": False})
    r = appraise_total("65.00", s)
    assert r.exit_triggers == ()
    assert r.outcome is OUT.BOTTOM_GRADE_ADJUSTMENT
    assert "bottom grade" in r.outcome_reason


def test_exit_line_is_configurable() -> None:
    s = scheme(exits={"exit_line": D("60.00")})
    assert appraise_total("60.00", s).exit_triggers == ()
    assert rules_of(appraise_total("59.99", s)) == [X.GRADE_NOT_COMPETENT,
                                                    X.SCORE_BELOW_EXIT_LINE]


def test_disabled_rules_never_fire() -> None:
    s = scheme(exits={"score_below_enabled": False, "grade_not_competent_enabled": False,
                      "failed_years_enabled": False})
    r = appraise_total("10.00", s)
    assert r.exit_triggers == ()
    assert r.outcome is OUT.RETAIN  # not_competent is not a bottom grade by default


def test_bottom_grades_are_configurable_grades_not_ranks() -> None:
    s = scheme(exits={"bottom_grades": frozenset({G.COMPETENT, G.BASICALLY_COMPETENT})})
    assert appraise_total("75.00", s).outcome is OUT.BOTTOM_GRADE_ADJUSTMENT
    assert appraise_total("80.00", s).outcome is OUT.RETAIN


# --- veto ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(d.VetoMode))
def test_veto_triggers_an_exit_in_both_modes_with_the_reason(mode: d.VetoMode) -> None:
    s = scheme(items={"veto_mode": mode},
               composition={"default": d.Proportion(D("0"), D("1"))})
    targets = [quant("KPI", "100", "0", "100", "120"), veto("SAFETY")]
    r = d.appraise(s, targets, [value("KPI", "100"), d.Actual("SAFETY", veto_hit=True)])
    assert X.VETO in rules_of(r)
    trigger = r.exit_triggers[0]
    assert trigger.evidence["items"] == ["SAFETY"]
    assert trigger.evidence["total_before_veto"] == D("100.00")
    assert r.outcome is OUT.INCOMPETENCE_EXIT


def test_veto_trigger_can_be_disabled() -> None:
    s = scheme(exits={"veto_enabled": False},
               items={"veto_mode": d.VetoMode.CAP_TOTAL, "veto_cap": D("69.99")},
               composition={"default": d.Proportion(D("0"), D("1"))})
    targets = [quant("KPI", "100", "0", "100", "120"), veto("SAFETY")]
    r = d.appraise(s, targets, [value("KPI", "100"), d.Actual("SAFETY", veto_hit=True)])
    assert rules_of(r) == [X.SCORE_BELOW_EXIT_LINE]


# --- main indicator --------------------------------------------------------------------------

OWN = d.Proportion(D("0"), D("1"))


def main_case(actual: str | None, *, lower: bool = False, **exits: Any) -> d.AppraisalResult:
    s = scheme(composition={"default": OWN}, exits=exits) if exits else scheme(
        composition={"default": OWN})
    if lower:
        main = quant("COST", "50", "70", "65", "60", lower=True, main=True)
    else:
        main = quant("NP", "50", "800", "1000", "1200", main=True)
    other = d.IndicatorTarget("Q", D("50"), kind=d.IndicatorKind.QUALITATIVE)
    actuals = [d.Actual("Q", rating="A")]
    if actual is not None:
        actuals.append(value(main.code, actual))
    return d.appraise(s, [main, other], actuals)


def test_main_indicator_at_exactly_70_percent_of_target_does_not_trigger() -> None:
    r = main_case("700")
    assert X.MAIN_INDICATOR_BELOW_COMPLETION not in rules_of(r)


def test_main_indicator_below_70_percent_of_target_triggers_with_evidence() -> None:
    r = main_case("699")
    trigger = next(t for t in r.exit_triggers if t.rule is X.MAIN_INDICATOR_BELOW_COMPLETION)
    assert trigger.evidence == {"indicator": "NP", "actual": D("699"), "target": D("1000"),
                                "direction": "higher_is_better", "completion": D("0.6990"),
                                "minimum": D("0.70")}
    assert "69.90%" in trigger.reason


def test_main_indicator_fires_even_when_the_total_is_high() -> None:
    r = main_case("699")  # 50 x 0.524 + 50 x 1.2 = 86.21
    assert r.grade is G.GOOD
    assert r.outcome is OUT.INCOMPETENCE_EXIT


def test_lower_is_better_main_indicator_completion_is_target_over_actual() -> None:
    assert X.MAIN_INDICATOR_BELOW_COMPLETION not in rules_of(main_case("92.85", lower=True))
    assert X.MAIN_INDICATOR_BELOW_COMPLETION in rules_of(main_case("93", lower=True))


def test_missing_main_actual_counts_as_zero_completion() -> None:
    r = main_case(None)
    trigger = next(t for t in r.exit_triggers if t.rule is X.MAIN_INDICATOR_BELOW_COMPLETION)
    assert trigger.evidence["completion"] == D("0")
    assert "actual missing" in trigger.reason
    assert not r.complete


def test_main_indicator_minimum_is_configurable() -> None:
    assert X.MAIN_INDICATOR_BELOW_COMPLETION in rules_of(
        main_case("799", main_completion_min=D("0.80")))
    assert rules_of(main_case("690", main_indicator_enabled=False)) == []


# --- failed years ----------------------------------------------------------------------------


def test_two_consecutive_failed_years_trigger_in_consecutive_mode() -> None:
    r = appraise_total("65.00", year=2025, history=[past(2024, "68.00")])
    trigger = next(t for t in r.exit_triggers if t.rule is X.FAILED_YEARS)
    assert trigger.evidence["failed_years"] == [2024, 2025]
    assert trigger.evidence["mode"] == "consecutive"


def test_failed_years_with_a_gap_do_not_count_as_consecutive() -> None:
    r = appraise_total("65.00", year=2025, history=[past(2023, "68.00"), past(2024, "75.00")])
    assert X.FAILED_YEARS not in rules_of(r)


def test_failed_years_with_a_gap_count_within_the_term() -> None:
    s = scheme(exits={"failed_years_mode": d.FailedYearsMode.WITHIN_TERM})
    r = appraise_total("65.00", s, year=2026, term=d.Term(2024, 2026),
                       history=[past(2024, "68.00"), past(2025, "75.00")])
    trigger = next(t for t in r.exit_triggers if t.rule is X.FAILED_YEARS)
    assert trigger.evidence["failed_years"] == [2024, 2026]
    assert trigger.evidence["term"] == [2024, 2026]


def test_failed_years_before_the_term_do_not_count_within_the_term() -> None:
    s = scheme(exits={"failed_years_mode": d.FailedYearsMode.WITHIN_TERM})
    r = appraise_total("65.00", s, year=2024, term=d.Term(2024, 2026),
                       history=[past(2023, "50.00")])
    assert X.FAILED_YEARS not in rules_of(r)


def test_a_failed_year_means_not_competent_or_below_the_exit_line() -> None:
    rules = d.DEFAULT_SCHEME.exits
    assert d.year_failed(rules, D("69.99"), G.BASICALLY_COMPETENT)
    assert not d.year_failed(rules, D("70.00"), G.COMPETENT)
    assert d.year_failed(rules, D("95.00"), G.NOT_COMPETENT)  # a vetoed year


def test_the_current_year_must_itself_fail() -> None:
    r = appraise_total("75.00", year=2025, history=[past(2023, "50.00"), past(2024, "50.00")])
    assert r.exit_triggers == ()


def test_failed_years_count_is_configurable() -> None:
    s = scheme(exits={"failed_years_count": 3, "score_below_enabled": False})
    r = appraise_total("65.00", s, year=2025, history=[past(2024, "68.00")])
    assert r.exit_triggers == ()
    r = appraise_total("65.00", s, year=2025, history=[past(2023, "60.00"),
                                                       past(2024, "68.00")])
    assert rules_of(r) == [X.FAILED_YEARS]


@pytest.mark.parametrize(("year", "history"), [
    (None, [d.PastYear(2024, D("50"), G.NOT_COMPETENT)]),
    (2024, [d.PastYear(2024, D("50"), G.NOT_COMPETENT)]),
    (2025, [d.PastYear(2024, D("50"), G.NOT_COMPETENT),
            d.PastYear(2024, D("60"), G.BASICALLY_COMPETENT)]),
])
def test_history_must_be_earlier_distinct_years(year: int | None,
                                                history: list[d.PastYear]) -> None:
    with pytest.raises(d.AppraisalInputInvalid):
        appraise_total("65.00", year=year, history=history)


# --- statistics ------------------------------------------------------------------------------


def test_statistics_count_appraisal_exits_by_reason_and_departures_apart() -> None:
    results = [
        appraise_total("95.00", manager_id="a"),
        appraise_total("65.00", manager_id="b"),  # exit: score below line
        appraise_total("50.00", manager_id="c"),  # exit: grade + score
        d.appraise(  # exit: main indicator only
            scheme(composition={"default": OWN}),
            [quant("NP", "50", "800", "1000", "1200", main=True),
             d.IndicatorTarget("Q", D("50"), kind=d.IndicatorKind.QUALITATIVE)],
            [value("NP", "690"), d.Actual("Q", rating="A")], manager_id="d"),
        appraise_total("65.00", scheme(exits={"score_below_enabled": False}),
                       manager_id="e"),  # bottom-grade adjustment
    ]
    departures = [d.Departure("f", d.DepartureReason.RETIREMENT),
                  d.Departure("g", "resignation"),  # type: ignore[arg-type]
                  d.Departure("h", d.DepartureReason.MISCONDUCT)]
    stats = d.exit_statistics(results, departures)
    assert stats.cohort_size == 5
    assert stats.appraisal_exits == 3
    assert stats.exit_rate_percent == D("60.00")
    assert dict(stats.by_primary_trigger) == {"grade_not_competent": 1,
                                              "main_indicator_below_completion": 1,
                                              "score_below_exit_line": 1}
    assert dict(stats.by_trigger) == {"grade_not_competent": 1,
                                      "main_indicator_below_completion": 1,
                                      "score_below_exit_line": 2}
    assert stats.bottom_grade_adjustments == 1
    assert stats.departures == 3
    assert dict(stats.departures_by_reason) == {"misconduct": 1, "resignation": 1,
                                                "retirement": 1}


def test_a_departure_never_adds_to_appraisal_exits() -> None:
    stats = d.exit_statistics([appraise_total("95.00", manager_id="a")],
                              [d.Departure("a", d.DepartureReason.TRANSFER)])
    assert (stats.appraisal_exits, stats.departures) == (0, 1)


def test_appraisal_exit_is_not_a_departure_reason() -> None:
    with pytest.raises(d.AppraisalInputInvalid):
        d.Departure("a", "appraisal_exit")  # type: ignore[arg-type]


def test_a_manager_with_annual_and_tenure_exits_counts_once() -> None:
    annual = appraise_total("50.00", manager_id="a")
    tenure = d.appraise_tenure(d.DEFAULT_SCHEME, [past(2024, "50.00")], manager_id="a",
                               targets_score=D("50.00"))
    stats = d.exit_statistics([annual, tenure])
    assert stats.appraisal_exits == 1
    assert dict(stats.by_primary_trigger) == {"tenure_not_passed": 1}


def test_statistics_of_an_empty_cohort() -> None:
    stats = d.exit_statistics([])
    assert (stats.cohort_size, stats.appraisal_exits, stats.exit_rate_percent) == (0, 0, D("0"))
