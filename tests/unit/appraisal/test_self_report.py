"""The self-report's rules: what it must say, the deadline's boundaries, what review needs,
which reminder is due, and what upholding a dispute requires (no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.appraisal.domain import self_report as sr

DUE = date(2027, 1, 20)
CODES = {"PROFIT", "ROE", "SAFETY"}


def check(actuals: str = "confirmed", dispute: sr.Dispute | None = None, text: str = "Report",
          attachments: list[tuple[str, str]] | None = None) -> sr.SelfReportContent:
    return sr.check_content(text, attachments or [], actuals, dispute, CODES)


def field_of(exc: pytest.ExceptionInfo[sr.SelfReportInvalid]) -> str:
    return next(iter(exc.value.errors))


# --- what a report must say --------------------------------------------------------------------

def test_a_report_confirming_its_actuals_disputes_nothing() -> None:
    content = check(attachments=[(" Accounts ", " DOC-1 ")])
    assert (content.actuals, content.dispute) == ("confirmed", None)
    assert content.attachments == (sr.Attachment("Accounts", "DOC-1"),)


def test_a_dispute_of_one_line_of_the_targets_with_a_reason_is_accepted() -> None:
    content = check("disputed", sr.Dispute("PROFIT", " audited 1,200 ", "1200"))
    assert content.actuals == "disputed"
    assert content.dispute == sr.Dispute("PROFIT", "audited 1,200", "1200")


@pytest.mark.parametrize(("actuals", "dispute", "field"), [
    ("disputed", sr.Dispute("NOPE", "wrong"), "dispute.indicator_code"),
    ("disputed", None, "dispute"),
    ("disputed", sr.Dispute("PROFIT", "   "), "dispute.reason"),
    ("confirmed", sr.Dispute("PROFIT", "wrong"), "dispute"),
    ("maybe", None, "actuals"),
])
def test_a_dispute_names_exactly_one_known_line_and_a_reason(
        actuals: str, dispute: sr.Dispute | None, field: str) -> None:
    with pytest.raises(sr.SelfReportInvalid) as exc:
        check(actuals, dispute)
    assert field_of(exc) == field


def test_the_disputed_line_must_be_among_the_managers_own_targets_which_are_named() -> None:
    with pytest.raises(sr.SelfReportInvalid) as exc:
        sr.check_content("Report", [], "disputed", sr.Dispute("ROE", "x"), {"PROFIT"})
    assert "not among your targets (PROFIT)" in exc.value.detail


@pytest.mark.parametrize(("text", "ok"), [
    ("", False), ("   ", False), ("x", True), ("x" * sr.TEXT_MAX, True),
    ("x" * (sr.TEXT_MAX + 1), False)])
def test_the_text_is_not_empty_and_at_most_twenty_thousand_characters(text: str,
                                                                      ok: bool) -> None:
    if ok:
        assert check(text=text).text == text
    else:
        with pytest.raises(sr.SelfReportInvalid) as exc:
            check(text=text)
        assert field_of(exc) == "text"


def test_at_most_twenty_attachment_references_each_named_with_a_reference() -> None:
    check(attachments=[("a", "r")] * sr.ATTACHMENTS_MAX)
    with pytest.raises(sr.SelfReportInvalid):
        check(attachments=[("a", "r")] * (sr.ATTACHMENTS_MAX + 1))
    with pytest.raises(sr.SelfReportInvalid) as exc:
        check(attachments=[("a", "r"), ("b", " ")])
    assert field_of(exc) == "attachments[1].reference"


# --- the deadline --------------------------------------------------------------------------------

@pytest.mark.parametrize(("today", "open_"), [
    (DUE - timedelta(days=30), True), (DUE, True), (DUE + timedelta(days=1), False)])
def test_the_manager_may_submit_through_the_deadline_day_and_not_after(today: date,
                                                                        open_: bool) -> None:
    if open_:
        sr.check_may_submit(DUE, today, "scored")
    else:
        with pytest.raises(sr.SelfReportClosed) as exc:
            sr.check_may_submit(DUE, today, "scored")
        assert "due on 2027-01-20" in exc.value.detail


@pytest.mark.parametrize("state", ["reviewed", "approved", "published"])
def test_no_revision_once_the_appraisal_is_reviewed_even_before_the_deadline(state: str) -> None:
    with pytest.raises(sr.SelfReportClosed):
        sr.check_may_submit(DUE, DUE - timedelta(days=5), state)


def test_without_a_deadline_the_manager_may_submit_until_the_review() -> None:
    sr.check_may_submit(None, date(2030, 1, 1), "open")


def test_a_paper_report_must_have_arrived_by_the_deadline_and_not_in_the_future() -> None:
    sr.check_paper_receipt(DUE, DUE, DUE + timedelta(days=3), "scored")
    with pytest.raises(sr.SelfReportClosed):
        sr.check_paper_receipt(DUE + timedelta(days=1), DUE, DUE + timedelta(days=3), "scored")
    with pytest.raises(sr.SelfReportInvalid):
        sr.check_paper_receipt(DUE, DUE, DUE - timedelta(days=1), "scored")


# --- what review needs -----------------------------------------------------------------------

@pytest.mark.parametrize("today", [DUE - timedelta(days=3), DUE])
def test_review_waits_for_a_missing_report_until_the_deadline_has_passed(today: date) -> None:
    with pytest.raises(sr.SelfReportPending) as exc:
        sr.review_status(DUE, today, None, None)
    assert "review from 2027-01-21 without it" in exc.value.detail


def test_review_the_day_after_the_deadline_records_no_report() -> None:
    assert sr.review_status(DUE, DUE + timedelta(days=1), None, None) == sr.NONE


def test_review_without_a_deadline_set_records_no_report_at_once() -> None:
    assert sr.review_status(None, DUE, None, None) == sr.NONE


@pytest.mark.parametrize("report", [sr.SUBMITTED, sr.ON_PAPER])
def test_review_records_the_report_as_it_came(report: str) -> None:
    assert sr.review_status(DUE, DUE - timedelta(days=5), report, None) == report
    assert sr.review_status(DUE, DUE, report, sr.OVERRULED) == report


def test_an_open_dispute_blocks_the_review_and_says_how_to_resolve_it() -> None:
    with pytest.raises(sr.DisputeUnresolved) as exc:
        sr.review_status(DUE, DUE + timedelta(days=9), sr.SUBMITTED, sr.OPEN, "PROFIT")
    assert "PROFIT" in exc.value.detail and "self-report/dispute" in exc.value.detail


# --- reminders -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("days_left", "sent", "due"), [
    (8, None, None), (7, None, 7), (5, None, 7), (5, 7, None), (2, 7, None), (1, 7, 1),
    (1, None, 1), (0, None, 1), (0, 7, 1), (0, 1, None), (-1, None, None), (-1, 7, None)])
def test_the_nearest_reminder_passed_is_sent_once_and_none_after_the_deadline(
        days_left: int, sent: int | None, due: int | None) -> None:
    assert sr.reminder_due(DUE, DUE - timedelta(days=days_left), sent) == due


def test_no_reminder_without_a_deadline() -> None:
    assert sr.reminder_due(None, DUE, None) is None


# --- resolving a dispute ---------------------------------------------------------------------

FILED = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)


def test_overruling_needs_nothing_but_the_note() -> None:
    sr.check_resolution(sr.OVERRULED, FILED, None, None, "PROFIT")


def test_upholding_needs_the_actual_corrected_after_the_dispute() -> None:
    with pytest.raises(sr.SelfReportPending) as exc:
        sr.check_resolution(sr.UPHELD, FILED, FILED - timedelta(days=30), FILED, "PROFIT")
    assert "Record the corrected actual of PROFIT" in exc.value.detail


def test_upholding_needs_a_score_taken_after_the_correction() -> None:
    corrected = FILED + timedelta(hours=2)
    with pytest.raises(sr.SelfReportPending) as exc:
        sr.check_resolution(sr.UPHELD, FILED, corrected, FILED + timedelta(hours=1), "PROFIT")
    assert "score the appraisal again" in exc.value.detail
    sr.check_resolution(sr.UPHELD, FILED, corrected, corrected + timedelta(minutes=1), "PROFIT")
