"""How a bulk issue's decisions end, and how the job ends from them."""

from __future__ import annotations

import pytest

from services.contracts import domain as d

ISSUE = d.BulkDecision("m-1", "E1", True, None)
ISSUE_2 = d.BulkDecision("m-2", "E2", True, None)
SKIP = d.BulkDecision("m-3", "E3", False, "overlapping_contract")
NO_SIGNATORY = {"m-2": ("signatory_required", "No rule names the signatory")}


def test_a_planned_manager_is_issued_and_a_skipped_one_skipped() -> None:
    assert (ISSUE.outcome, SKIP.outcome) == (d.BulkOutcome.ISSUED, d.BulkOutcome.SKIPPED)


def test_a_refused_manager_fails_with_the_refusal_and_the_others_still_issue() -> None:
    out = d.refuse_failures([ISSUE, ISSUE_2, SKIP], NO_SIGNATORY)
    assert [x.outcome for x in out] == [d.BulkOutcome.ISSUED, d.BulkOutcome.FAILED,
                                        d.BulkOutcome.SKIPPED]
    assert (out[1].reason, out[1].detail) == ("signatory_required",
                                              "No rule names the signatory")


def test_all_or_nothing_skips_everyone_planned_when_one_fails() -> None:
    out = d.refuse_failures([ISSUE, ISSUE_2, SKIP], NO_SIGNATORY, all_or_nothing=True)
    assert [(x.outcome, x.reason) for x in out] == [
        (d.BulkOutcome.SKIPPED, d.ALL_OR_NOTHING_REASON),
        (d.BulkOutcome.FAILED, "signatory_required"),
        (d.BulkOutcome.SKIPPED, "overlapping_contract")]


def test_all_or_nothing_changes_nothing_when_nobody_fails() -> None:
    assert d.refuse_failures([ISSUE, SKIP], {}, all_or_nothing=True) == [ISSUE, SKIP]


def test_a_failure_of_a_manager_already_skipped_keeps_the_skip() -> None:
    assert d.refuse_failures([SKIP], {"m-3": ("signatory_required", "x")}) == [SKIP]


@pytest.mark.parametrize(("outcomes", "status"), [
    ([], d.BulkJobStatus.DONE),
    (["issued", "skipped"], d.BulkJobStatus.DONE),
    (["skipped", "skipped"], d.BulkJobStatus.DONE),
    (["issued", "failed"], d.BulkJobStatus.PARTIAL),
    (["issued", "skipped", "failed"], d.BulkJobStatus.PARTIAL),
    (["failed"], d.BulkJobStatus.FAILED),
    (["skipped", "failed"], d.BulkJobStatus.FAILED),
])
def test_job_is_done_partial_or_failed_by_its_decisions(outcomes: list[str],
                                                        status: d.BulkJobStatus) -> None:
    assert d.bulk_job_status(outcomes) is status


def test_reason_code_of_a_refusal_is_its_name_in_snake_case() -> None:
    assert d.failure_reason(d.SignatoryRequired("x")) == "signatory_required"
    assert d.failure_reason(d.RenewalLimitReached("x")) == "renewal_limit_reached"
