"""Templates and the bulk issue plan."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from services.contracts import domain as d

P, S = d.Position, d.ContractState
START = date(2026, 1, 1)

TEMPLATE = d.ContractTemplateView(
    id="t-1", name="Second-level GMs, competitive", layer=2,
    category="commercial_competitive", position=P.GENERAL_MANAGER, term_years=3,
    max_consecutive_terms=2, signing_deadline_days=30, targets=(),
)
ANY = replace(TEMPLATE, layer=None, category=None, position=None)


def candidate(i: int, *, position: d.Position = P.GENERAL_MANAGER, layer: int = 2,
              category: str = "commercial_competitive", active: bool = True) -> d.BulkCandidate:
    return d.BulkCandidate(manager_id=f"m-{i}", employee_no=f"E{i:05d}", position=position,
                           layer=layer, category=category, active=active)


# --- templates --------------------------------------------------------------------------------

def test_a_template_matches_its_layer_category_and_position() -> None:
    assert d.template_matches(TEMPLATE, 2, "commercial_competitive", P.GENERAL_MANAGER)
    assert d.template_matches(TEMPLATE, 2, "commercial_competitive", "general_manager")


@pytest.mark.parametrize(("layer", "category", "position"), [
    (3, "commercial_competitive", P.GENERAL_MANAGER),
    (2, "public_welfare", P.GENERAL_MANAGER),
    (2, "commercial_competitive", P.CHAIR),
])
def test_a_template_does_not_match_another_layer_category_or_position(
        layer: int, category: str, position: d.Position) -> None:
    assert not d.template_matches(TEMPLATE, layer, category, position)


def test_none_in_a_template_means_any() -> None:
    assert d.template_matches(ANY, 5, "custom_slug", P.OTHER)
    assert d.template_matches(replace(ANY, layer=3), 3, "public_welfare", P.CHAIR)
    assert not d.template_matches(replace(ANY, layer=3), 2, "public_welfare", P.CHAIR)


def test_template_terms_within_limits_pass() -> None:
    assert d.check_template(TEMPLATE) is None
    assert d.check_template(replace(TEMPLATE, term_years=10, max_consecutive_terms=1)) is None


def test_template_terms_outside_limits_are_each_named() -> None:
    bad = replace(TEMPLATE, term_years=11, max_consecutive_terms=0, signing_deadline_days=0)
    with pytest.raises(d.TermInvalid) as info:
        d.check_template(bad)
    assert set(info.value.errors) == {"term_years", "max_consecutive_terms",
                                      "signing_deadline_days"}
    with pytest.raises(d.TermInvalid):
        d.check_template(replace(TEMPLATE, term_years=0))


# --- bulk plan --------------------------------------------------------------------------------

def plan(candidates: list[d.BulkCandidate], existing: dict[str, list[d.ExistingTerm]] | None = None,
         consecutive: dict[str, int] | None = None,
         template: d.ContractTemplateView = TEMPLATE) -> list[d.BulkDecision]:
    return d.plan_bulk_issue(candidates, template, START, existing or {}, consecutive or {})


def test_a_matching_active_manager_without_contracts_is_issued() -> None:
    assert plan([candidate(1)]) == [d.BulkDecision("m-1", "E00001", True, None)]


def test_a_departed_manager_is_skipped_as_inactive() -> None:
    [decision] = plan([candidate(1, active=False)])
    assert (decision.issue, decision.reason) == (False, "manager_inactive")


def test_a_manager_outside_the_template_is_skipped() -> None:
    [decision] = plan([candidate(1, category="public_welfare")])
    assert (decision.issue, decision.reason) == (False, "template_does_not_match")


def test_a_manager_with_an_overlapping_contract_is_skipped() -> None:
    busy = {"m-1": [d.ExistingTerm("c-9", date(2026, 6, 1), date(2029, 5, 31), S.DRAFT)]}
    [decision] = plan([candidate(1)], busy)
    assert (decision.issue, decision.reason) == (False, "overlapping_contract")


def test_a_contract_ending_the_day_before_the_start_does_not_block() -> None:
    done = {"m-1": [d.ExistingTerm("c-8", date(2023, 1, 1), date(2025, 12, 31), S.EXPIRED)]}
    assert plan([candidate(1)], done, {"m-1": 1})[0].issue


def test_a_terminated_contract_does_not_block_a_bulk_issue() -> None:
    gone = {"m-1": [d.ExistingTerm("c-7", START, date(2028, 12, 31), S.TERMINATED)]}
    assert plan([candidate(1)], gone)[0].issue


def test_a_manager_at_the_consecutive_term_limit_is_skipped() -> None:
    [decision] = plan([candidate(1)], consecutive={"m-1": 2})
    assert (decision.issue, decision.reason) == (False, "renewal_limit_reached")
    assert plan([candidate(1)], consecutive={"m-1": 1})[0].issue


def test_the_first_applicable_reason_is_reported() -> None:
    busy = {"m-1": [d.ExistingTerm("c-9", START, date(2028, 12, 31), S.ACTIVE)]}
    departed_and_busy = candidate(1, active=False, category="public_welfare")
    assert plan([departed_and_busy], busy, {"m-1": 5})[0].reason == "manager_inactive"
    assert plan([candidate(1, category="x_y")], busy, {"m-1": 5})[0].reason == (
        "template_does_not_match")
    assert plan([candidate(1)], busy, {"m-1": 5})[0].reason == "overlapping_contract"


def test_a_manager_listed_twice_is_issued_once() -> None:
    decisions = plan([candidate(1), candidate(1)])
    assert [(x.issue, x.reason) for x in decisions] == [(True, None),
                                                        (False, "overlapping_contract")]


def test_decisions_keep_the_candidates_order_and_every_reason_code_is_known() -> None:
    candidates = [candidate(3, active=False), candidate(1), candidate(2, layer=3)]
    decisions = plan(candidates)
    assert [x.manager_id for x in decisions] == ["m-3", "m-1", "m-2"]
    assert all(x.reason in (None, *d.SKIP_REASONS) for x in decisions)


def test_ten_thousand_candidates_are_each_planned_with_their_reason() -> None:
    """Speed is measured by bench/bench_bulk_issue.py, not here (tests time nothing)."""
    candidates = [
        candidate(i, active=i % 97 != 0, category="public_welfare" if i % 11 == 0
                  else "commercial_competitive")
        for i in range(10_000)
    ]
    existing = {f"m-{i}": [d.ExistingTerm(f"c-{i}-{k}", date(2020 + k, 1, 1),
                                          date(2020 + k, 12, 31), S.EXPIRED)
                           for k in range(3)] for i in range(10_000)}
    existing.update({f"m-{i}": [d.ExistingTerm(f"c-{i}", START, date(2028, 12, 31), S.ACTIVE)]
                     for i in range(0, 10_000, 7)})
    consecutive = {f"m-{i}": 2 for i in range(0, 10_000, 13)}
    decisions = d.plan_bulk_issue(candidates, TEMPLATE, START, existing, consecutive)
    assert len(decisions) == 10_000
    reasons = {x.reason for x in decisions}
    # A template without targets fits every position (test_targets_not_appraisable_...).
    assert reasons == {None, *d.SKIP_REASONS} - {"targets_not_appraisable"}
    issued = sum(x.issue for x in decisions)
    expected = sum(1 for i in range(10_000)
                   if i % 97 and i % 11 and i % 7 and i % 13)
    assert issued == expected


# --- the template's targets against each position (the shared composition rule) ---------------

ORGANISATIONAL_ONLY = (d.TargetLine("PROFIT", weight=Decimal("100"), part="organisational"),)
INDIVIDUAL_ONLY = (d.TargetLine("COST", weight=Decimal("100"), part="individual"),)


def test_targets_not_appraisable_for_a_position_skip_that_manager_only() -> None:
    template = replace(ANY, targets=INDIVIDUAL_ONLY)
    decisions = d.plan_bulk_issue(
        [candidate(1, position=P.GENERAL_MANAGER), candidate(2, position=P.CHAIR),
         candidate(3, position=P.DEPUTY_GENERAL_MANAGER)], template, START, {}, {})
    # Individual lines only: the general manager and the chair are scored 100 % on the
    # organisation, the deputy 50/50: none of them can be appraised on these targets.
    assert [x.reason for x in decisions] == ["targets_not_appraisable"] * 3


def test_organisational_lines_fit_the_general_manager_but_not_a_deputy() -> None:
    template = replace(ANY, targets=ORGANISATIONAL_ONLY)
    decisions = d.plan_bulk_issue(
        [candidate(1, position=P.GENERAL_MANAGER), candidate(2, position=P.CHAIR),
         candidate(3, position=P.DEPUTY_GENERAL_MANAGER)], template, START, {}, {})
    assert [x.reason for x in decisions] == [None, None, "targets_not_appraisable"]


def test_all_or_nothing_chunk_issues_nobody_when_a_manager_of_another_chunk_failed() -> None:
    planned = [d.BulkDecision(manager_id="m1", employee_no="E1", issue=True, reason=None),
               d.BulkDecision(manager_id="m2", employee_no="E2", issue=False,
                              reason="manager_inactive")]
    alone = d.refuse_failures(planned, {}, all_or_nothing=True)
    assert [x.issue for x in alone] == [True, False]
    elsewhere = d.refuse_failures(planned, {}, all_or_nothing=True, failed_elsewhere=True)
    assert [(x.outcome, x.reason) for x in elsewhere] == [
        (d.BulkOutcome.SKIPPED, d.ALL_OR_NOTHING_REASON),
        (d.BulkOutcome.SKIPPED, "manager_inactive")]
    # Without all-or-nothing a failure elsewhere changes nothing here.
    assert d.refuse_failures(planned, {}, failed_elsewhere=True) == planned
