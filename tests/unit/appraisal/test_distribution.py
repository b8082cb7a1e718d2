"""Forced distribution: quotas by floor, deterministic ranking, ties, changes recorded."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from services.appraisal import domain as d
from tests.unit.appraisal.helpers import D, appraise_total, scheme

G = d.Grade
RULES = d.DEFAULT_SCHEME.distribution


def member(mid: str, total: str, org: str | None = None, ind: str | None = None
           ) -> d.CohortMember:
    return d.CohortMember(mid, D(total), None if org is None else D(org),
                          None if ind is None else D(ind),
                          d.grade_for(d.DEFAULT_SCHEME.grades, D(total)))


def cohort(*totals: str) -> list[d.CohortMember]:
    return [member(f"m{i:02d}", t) for i, t in enumerate(totals)]


@pytest.mark.parametrize(("size", "quota"), [(1, 0), (3, 0), (4, 1), (7, 2), (10, 3), (11, 3),
                                             (100, 30)])
def test_excellent_quota_is_thirty_percent_rounded_down(size: int, quota: int) -> None:
    assert d.quota(D("0.30"), size) == quota


def test_excellent_beyond_the_quota_move_down_to_good_with_a_record() -> None:
    members = cohort("95", "94", "93", "92", "91", "85", "80", "75", "70", "60")
    dist = d.apply_forced_distribution(members, RULES)
    assert dist.excellent_quota == 3
    assert [dist.grades[f"m{i:02d}"] for i in range(5)] == [G.EXCELLENT] * 3 + [G.GOOD] * 2
    assert [(c.manager_id, c.from_grade, c.to_grade, c.rank, c.quota, c.cohort_size)
            for c in dist.changes] == [("m03", G.EXCELLENT, G.GOOD, 4, 3, 10),
                                       ("m04", G.EXCELLENT, G.GOOD, 5, 3, 10)]
    assert dist.changes[0].reason == "excellent_quota: ranked 4, quota 3 of 10"


def test_nothing_moves_when_the_excellent_fit_the_quota() -> None:
    dist = d.apply_forced_distribution(cohort("95", "94", "93", "80", "80", "80", "80", "80",
                                              "80", "80"), RULES)
    assert dist.changes == ()


def test_a_small_cohort_has_no_excellent_place() -> None:
    dist = d.apply_forced_distribution(cohort("99", "98", "70"), RULES)
    assert dist.excellent_quota == 0
    assert [c.to_grade for c in dist.changes] == [G.GOOD, G.GOOD]


def test_ties_are_broken_by_organisational_then_individual_score_then_id() -> None:
    members = [member("z", "92.00", "90", "94"), member("a", "92.00", "90", "94"),
               member("b", "92.00", "91", "93"), member("c", "92.00", "90", "95")]
    members += cohort(*["70"] * 6)  # size 10 -> quota 3
    dist = d.apply_forced_distribution(members, RULES)
    assert [c.manager_id for c in dist.changes] == ["z"]  # b (org 91), c (ind 95), a (id)
    assert d.ranking_key(members[1]) < d.ranking_key(members[0])


def test_a_missing_part_ranks_below_any_score() -> None:
    members = [member("a", "92.00", None, "90"), member("b", "92.00", "10", "90"),
               *cohort(*["70"] * 2)]  # size 4 -> quota 1
    dist = d.apply_forced_distribution(members, RULES)
    assert [c.manager_id for c in dist.changes] == ["a"]


def test_the_result_does_not_depend_on_input_order() -> None:
    members = [member(f"m{i}", t, o) for i, (t, o) in enumerate(
        [("95", "90"), ("92", "80"), ("92", "85"), ("92", "85"), ("91", "70"), ("90", "99")])]
    members += cohort(*["75"] * 4)
    expected = d.apply_forced_distribution(members, RULES)
    rng = random.Random(7)
    for _ in range(20):
        shuffled = members[:]
        rng.shuffle(shuffled)
        got = d.apply_forced_distribution(shuffled, RULES)
        assert dict(got.grades) == dict(expected.grades)
        assert {c.manager_id for c in got.changes} == {c.manager_id for c in expected.changes}


def test_ties_keep_grade_lets_everyone_tied_at_the_boundary_keep_excellent() -> None:
    rules = replace(RULES, ties_keep_grade=True)
    members = cohort("95", "94", "93", "93", "93", "91", "80", "75", "70", "60")
    dist = d.apply_forced_distribution(members, rules)
    assert [dist.grades[f"m{i:02d}"] for i in range(6)] == [G.EXCELLENT] * 5 + [G.GOOD]
    assert dist.kept_on_tie == ("m03", "m04")
    assert [c.manager_id for c in dist.changes] == ["m05"]


def test_without_ties_keep_grade_the_tie_at_the_boundary_is_broken() -> None:
    members = cohort("95", "94", "93", "93", "93", "91", "80", "75", "70", "60")
    dist = d.apply_forced_distribution(members, RULES)
    assert [c.manager_id for c in dist.changes] == ["m03", "m04", "m05"]
    assert dist.kept_on_tie == ()


def test_good_or_better_quota_moves_the_lowest_good_to_competent() -> None:
    rules = replace(RULES, good_or_better_share=D("0.50"))
    members = cohort("95", "94", "93", "92", "88", "85", "82", "79", "70", "60")
    dist = d.apply_forced_distribution(members, rules)
    assert dist.good_or_better_quota == 5
    assert dist.grades["m03"] is G.GOOD          # excellent quota
    assert dist.grades["m04"] is G.GOOD          # rank 5 of good-or-better: kept
    assert dist.grades["m05"] is G.COMPETENT
    assert dist.grades["m06"] is G.COMPETENT
    assert [(c.manager_id, c.reason.split(":")[0]) for c in dist.changes] == [
        ("m03", "excellent_quota"), ("m05", "good_or_better_quota"),
        ("m06", "good_or_better_quota")]


def test_excellent_are_never_moved_by_the_good_or_better_quota() -> None:
    rules = replace(RULES, good_or_better_share=D("0.30"), ties_keep_grade=True)
    members = cohort("95", "94", "93", "93", "80", "70", "70", "70", "70", "70")
    dist = d.apply_forced_distribution(members, rules)
    assert [dist.grades[f"m0{i}"] for i in range(5)] == [G.EXCELLENT] * 4 + [G.COMPETENT]


def test_a_manager_twice_in_a_cohort_is_refused() -> None:
    with pytest.raises(d.CohortInvalid):
        d.apply_forced_distribution([member("a", "90"), member("a", "80")], RULES)


def test_vetoed_managers_are_not_competent_and_never_take_an_excellent_place() -> None:
    members = [d.CohortMember("v", D("99"), None, None, G.NOT_COMPETENT),
               *cohort("95", "94", "70")]  # size 4 -> quota 1
    dist = d.apply_forced_distribution(members, RULES)
    assert dist.grades["m00"] is G.EXCELLENT and dist.grades["v"] is G.NOT_COMPETENT


# --- appraise_cohort -------------------------------------------------------------------------


def test_appraise_cohort_recomputes_grade_pay_and_keeps_the_provisional_grade() -> None:
    results = [appraise_total(t, manager_id=f"m{i}", base_pay=D("100000"))
               for i, t in enumerate(["95.00", "94.00", "93.00", "92.00", "80.00", "75.00",
                                      "72.00", "71.00", "70.00", "70.00"])]
    out = d.appraise_cohort(results)
    moved = out.by_manager()["m3"]
    assert (moved.provisional_grade, moved.grade) == (G.EXCELLENT, G.GOOD)
    assert moved.pay is not None and moved.pay.amount == D("100000.00")
    assert moved.distribution[0].rank == 4
    assert "forced distribution excellent -> good" in moved.grade_reason
    assert out.by_manager()["m0"] is results[0]
    assert [r.manager_id for r in out.results] == [r.manager_id for r in results]


def test_appraise_cohort_recomputes_the_bottom_grade_outcome() -> None:
    s = scheme(exits={"bottom_grades": frozenset({G.COMPETENT})},
               distribution={"excellent_share": D("0.10"), "good_or_better_share": D("0.10")})
    results = [appraise_total(t, s, manager_id=f"m{i}") for i, t in
               enumerate(["85.00", "84.00", "75.00", "75.00", "75.00", "75.00", "75.00",
                          "75.00", "75.00", "75.00"])]
    out = d.appraise_cohort(results).by_manager()
    assert (out["m1"].grade, out["m1"].outcome) == (G.COMPETENT,
                                                   d.Outcome.BOTTOM_GRADE_ADJUSTMENT)


def test_appraise_cohort_refuses_mixed_schemes_unless_one_is_given() -> None:
    a = appraise_total("95.00", manager_id="a")
    b = appraise_total("95.00", replace(d.DEFAULT_SCHEME, code="other"), manager_id="b")
    with pytest.raises(d.CohortInvalid):
        d.appraise_cohort([a, b])
    out = d.appraise_cohort([a, b], d.DEFAULT_SCHEME)
    assert out.distribution.excellent_quota == 0
    assert {r.grade for r in out.results} == {G.GOOD}


def test_appraise_cohort_of_nobody() -> None:
    out = d.appraise_cohort([])
    assert out.results == () and out.distribution.cohort_size == 0
