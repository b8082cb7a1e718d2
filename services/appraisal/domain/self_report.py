"""The manager's annual self-report (述职): what it must say, until when, and what review needs.

A report holds the manager's text, references to attachments (names and a URL or document
number; the files themselves are kept elsewhere) and either the confirmation of their
actuals or a dispute of one actual line with a reason. Its deadline is a date: the manager
may submit and revise through the whole of that day (UTC), and not after it, nor once the
appraisal has been reviewed. Review waits for the report until the deadline has passed;
from the next day it goes ahead without one, and the appraisal records "none" (no report).
A dispute must be resolved by HR before review. docs/self-report.md tells the whole story.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.appraisal.domain.errors import DomainError

TEXT_MAX = 20_000
REASON_MAX = 4_000
ATTACHMENTS_MAX = 20
#: Days before the deadline on which the manager is reminded (the nearest one passed).
REMINDER_DAYS: tuple[int, ...] = (7, 1)
#: States after which nothing about the report changes (an appeal reopens the appraisal).
CLOSED_STATES = ("reviewed", "approved", "published")

SUBMITTED = "submitted"  # by the manager with their own token
ON_PAPER = "on_paper"  # received on paper and recorded by HR, said so
NONE = "none"  # reviewed without a report once its deadline had passed

UPHELD = "upheld"  # the manager was right: HR corrected the actual and scored again
OVERRULED = "overruled"  # the recorded actual stands, with HR's reason
OPEN = "open"


class SelfReportInvalid(DomainError, ValueError):
    """A report that does not say what it must (e.g. a dispute of a line not in the targets)."""

    status = 422
    title = "Self-Report Invalid"


class SelfReportClosed(DomainError):
    """The deadline has passed, or the appraisal was reviewed: the report can no longer change."""

    status = 409
    title = "Self-Report Closed"


class SelfReportPending(DomainError):
    """Review before the deadline of an appraisal whose manager has not reported yet."""

    status = 409
    title = "Self-Report Pending"


class DisputeUnresolved(DomainError):
    """Review of an appraisal whose self-report disputes an actual that HR has not resolved."""

    status = 409
    title = "Dispute Unresolved"


@dataclass(frozen=True)
class Attachment:
    name: str
    reference: str  # a URL, a document number or a scan reference

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "reference": self.reference}


@dataclass(frozen=True)
class Dispute:
    """One actual line the manager says is wrong: which, what they claim, and why."""

    indicator_code: str
    reason: str
    claimed_value: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"indicator_code": self.indicator_code, "claimed_value": self.claimed_value,
                "reason": self.reason}


@dataclass(frozen=True)
class SelfReportContent:
    text: str
    attachments: tuple[Attachment, ...]
    dispute: Dispute | None

    @property
    def actuals(self) -> str:
        return "disputed" if self.dispute is not None else "confirmed"


def _invalid(field: str, message: str) -> SelfReportInvalid:
    return SelfReportInvalid(f"{field}: {message}", errors={field: [message]})


def check_content(text: str, attachments: Sequence[tuple[str, str]], actuals: str,
                  dispute: Dispute | None, target_codes: Collection[str]) -> SelfReportContent:
    """The report as the rules accept it: some text within bounds, at most 20 attachment
    references, and either `confirmed` actuals (no dispute) or `disputed` with exactly one
    line of the manager's own targets and a reason."""
    body = text.strip()
    if not body:
        raise _invalid("text", "write the report; it cannot be empty")
    if len(body) > TEXT_MAX:
        raise _invalid("text", f"at most {TEXT_MAX} characters")
    if len(attachments) > ATTACHMENTS_MAX:
        raise _invalid("attachments", f"at most {ATTACHMENTS_MAX} attachment references")
    refs = []
    for i, (name, reference) in enumerate(attachments):
        if not name.strip():
            raise _invalid(f"attachments[{i}].name", "name the attachment")
        if not reference.strip():
            raise _invalid(f"attachments[{i}].reference",
                           "give a URL, a document number or a scan reference")
        refs.append(Attachment(name.strip(), reference.strip()))
    if actuals == "confirmed":
        if dispute is not None:
            raise _invalid("dispute", "a report that confirms its actuals disputes none; "
                                      "set actuals to disputed or leave the dispute out")
        return SelfReportContent(body, tuple(refs), None)
    if actuals != "disputed":
        raise _invalid("actuals", "must be confirmed or disputed")
    if dispute is None:
        raise _invalid("dispute", "name the disputed line: indicator_code and reason")
    if dispute.indicator_code not in target_codes:
        known = ", ".join(sorted(target_codes)) or "none"
        raise _invalid("dispute.indicator_code",
                       f"{dispute.indicator_code} is not among your targets ({known})")
    if not dispute.reason.strip():
        raise _invalid("dispute.reason", "say why the recorded actual is wrong")
    if len(dispute.reason) > REASON_MAX:
        raise _invalid("dispute.reason", f"at most {REASON_MAX} characters")
    claimed = dispute.claimed_value.strip() if dispute.claimed_value else None
    return SelfReportContent(body, tuple(refs),
                             Dispute(dispute.indicator_code, dispute.reason.strip(),
                                     claimed or None))


def deadline_passed(due: date | None, today: date) -> bool:
    """The deadline day itself still counts: it has passed from the next day on."""
    return due is not None and today > due


def check_may_submit(due: date | None, today: date, state: str) -> None:
    """The manager may submit or revise until the deadline or the review, whichever is first."""
    if state in CLOSED_STATES:
        raise SelfReportClosed(
            f"The appraisal is {state}: the self-report can no longer change "
            "(an appeal reopens the appraisal)", errors={"state": [f"is {state}"]})
    if deadline_passed(due, today):
        raise SelfReportClosed(
            f"The self-report was due on {due}: it can no longer be submitted or revised. "
            "A report handed in on paper by then can be recorded by HR",
            errors={"self_report_due": [f"passed on {due}"]})


def check_paper_receipt(received_on: date, due: date | None, today: date, state: str) -> None:
    """HR records a report received on paper: received by the deadline, not in the future,
    and before the review."""
    if state in CLOSED_STATES:
        raise SelfReportClosed(
            f"The appraisal is {state}: the self-report can no longer change "
            "(an appeal reopens the appraisal)", errors={"state": [f"is {state}"]})
    if received_on > today:
        raise _invalid("received_on", "cannot be in the future")
    if due is not None and received_on > due:
        raise SelfReportClosed(
            f"A report received on {received_on} came after its deadline ({due}); "
            "the appraisal goes ahead without it", errors={"received_on": [f"after {due}"]})


def review_status(due: date | None, today: date, report: str | None,
                  dispute: str | None, indicator_code: str | None = None) -> str:
    """What the appraisal records about the report when it is reviewed, or why it cannot be.

    An open dispute blocks the review until HR resolves it. With no report, review waits
    until the deadline has passed, then records `none`; with no deadline set, no report was
    asked for by a date, and review records `none` at once.
    """
    if report in (SUBMITTED, ON_PAPER):
        if dispute == OPEN:
            raise DisputeUnresolved(
                f"The manager's self-report disputes the actual of {indicator_code}: correct "
                "it and score again, then mark the dispute upheld, or overrule it "
                "(POST .../self-report/dispute), then review",
                errors={"self_report.dispute": ["open"]})
        return report
    if due is not None and not deadline_passed(due, today):
        after = due + timedelta(days=1)
        raise SelfReportPending(
            f"The manager's self-report is due on {due} and has not been submitted: wait for "
            f"it, or review from {after} without it", errors={"self_report": ["pending"]})
    return NONE


def reminder_due(due: date | None, today: date, sent: int | None,
                 days: Sequence[int] = REMINDER_DAYS) -> int | None:
    """The reminder to send today (its days-before threshold), or None.

    Only the nearest threshold passed counts, and only if no nearer one was sent already:
    a job that missed the 7-day reminder and runs 3 days before sends it then, and the
    1-day one the day before the deadline. On the deadline day itself the 1-day reminder is
    still sent if it was missed; after the deadline, nothing.
    """
    if due is None or today > due:
        return None
    left = (due - today).days
    passed = [n for n in days if left <= n]
    if not passed:
        return None
    nearest = min(passed)
    if sent is not None and sent <= nearest:
        return None
    return nearest


def check_resolution(decision: str, disputed_at: datetime, actual_recorded_at: datetime | None,
                     scored_at: datetime | None, indicator_code: str) -> None:
    """Upholding a dispute needs the corrected actual recorded after the dispute, and the
    appraisal scored with it; overruling keeps the recorded actual (HR's note says why)."""
    if decision == OVERRULED:
        return
    if decision != UPHELD:
        raise _invalid("decision", "must be upheld or overruled")
    if actual_recorded_at is None or actual_recorded_at < disputed_at:
        raise SelfReportPending(
            f"Record the corrected actual of {indicator_code} first (POST /api/v1/actuals), "
            "score the appraisal again, then uphold the dispute",
            errors={"decision": ["the actual was not corrected after the dispute"]})
    if scored_at is None or scored_at < actual_recorded_at:
        raise SelfReportPending(
            f"The actual of {indicator_code} was corrected after the last score: score the "
            "appraisal again (POST /api/v1/appraisals/{{id}}/score), then uphold the dispute",
            errors={"decision": ["score again with the corrected actual"]})
