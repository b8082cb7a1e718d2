"""Contract templates and the plan for issuing one template to many managers at once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from services.contracts.domain.errors import DomainError, TermInvalid
from services.contracts.domain.targets import TargetLine
from services.contracts.domain.terms import ExistingTerm, find_overlap, term_end
from services.contracts.domain.vocabulary import Position
from shared.performance_contract import composition_faults, proportion_for

MAX_TERM_YEARS = 10


@dataclass(frozen=True)
class ContractTemplateView:
    """A template for a kind of manager; None in layer/category/position means any."""

    id: str
    name: str
    layer: int | None
    category: str | None
    position: Position | None
    term_years: int
    max_consecutive_terms: int
    signing_deadline_days: int
    targets: tuple[TargetLine, ...]
    tenure_targets: tuple[TargetLine, ...] = ()


def check_template(t: ContractTemplateView) -> None:
    """Terms of 1-10 years, at least one term allowed, at least a day to sign."""
    errors: dict[str, list[str]] = {}
    if not 1 <= t.term_years <= MAX_TERM_YEARS:
        errors["term_years"] = [f"must be between 1 and {MAX_TERM_YEARS}"]
    if t.max_consecutive_terms < 1:
        errors["max_consecutive_terms"] = ["must be at least 1"]
    if t.signing_deadline_days < 1:
        errors["signing_deadline_days"] = ["must be at least 1"]
    if errors:
        raise TermInvalid(f"Template {t.name} has invalid terms", errors=errors)


def template_matches(t: ContractTemplateView, layer: int, category: str,
                     position: Position | str) -> bool:
    """Whether the template is meant for a manager at this layer, category and position."""
    return ((t.layer is None or t.layer == layer)
            and (t.category is None or t.category == category)
            and (t.position is None or t.position == position))


@dataclass(frozen=True)
class BulkCandidate:
    """A manager selected for a bulk issue (`active`: still employed)."""

    manager_id: str
    employee_no: str
    position: Position
    layer: int
    category: str
    active: bool


class BulkOutcome(StrEnum):
    """What a bulk issue did for one manager.

    `skipped`: the rules say this manager gets no contract from this issue (nothing for HR to
    fix in the request). `failed`: the manager should get one but cannot be issued as things
    stand (HR must act, e.g. name the signatory by hand, and issue again).
    """

    ISSUED = "issued"
    SKIPPED = "skipped"
    FAILED = "failed"


class BulkJobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    PARTIAL = "partial"
    FAILED = "failed"


#: A job in one of these states changes no more.
FINISHED_JOB_STATUSES: frozenset[str] = frozenset(
    {BulkJobStatus.DONE, BulkJobStatus.PARTIAL, BulkJobStatus.FAILED})


@dataclass(frozen=True)
class BulkDecision:
    """Whether the manager gets a contract; if not, the reason code and what it means.

    `issue` says the plan issues the contract; `failed` marks a manager who should have one
    but cannot be issued; `detail` is the refusal's own words (what HR must do).
    """

    manager_id: str
    employee_no: str
    issue: bool
    reason: str | None
    detail: str | None = None
    failed: bool = False

    @property
    def outcome(self) -> BulkOutcome:
        if self.issue:
            return BulkOutcome.ISSUED
        return BulkOutcome.FAILED if self.failed else BulkOutcome.SKIPPED


#: Skip reasons, in the order they are checked: the first that applies is reported.
SKIP_REASONS: tuple[str, ...] = (
    "manager_inactive", "template_does_not_match", "targets_not_appraisable",
    "overlapping_contract", "renewal_limit_reached",
)


def targets_fit(template: ContractTemplateView, position: Position | str) -> bool:
    """Whether the template's annual targets can be appraised for the position under the
    shared composition rule (a template for any position may suit some positions only)."""
    return not template.targets or not composition_faults(
        template.targets, proportion_for(str(position)), str(position))


def plan_bulk_issue(candidates: Iterable[BulkCandidate], template: ContractTemplateView,
                    start: date, existing_terms_by_manager: Mapping[str, list[ExistingTerm]],
                    consecutive_terms_by_manager: Mapping[str, int]) -> list[BulkDecision]:
    """Decide, per candidate in the given order, whether to issue the template from `start`.

    A candidate is skipped when departed (`manager_inactive`), outside the template's layer,
    category or position (`template_does_not_match`), in a position the template's targets
    cannot be appraised for (`targets_not_appraisable`: e.g. a general manager, scored on
    the organisation alone, from a template with individual lines only), already holding
    a contract that
    overlaps the new term (`overlapping_contract`), or at the limit of consecutive terms
    (`renewal_limit_reached`); the first reason in that order is reported. A manager listed
    twice is planned once: the second entry would overlap the first.

    Linear in candidates plus their existing terms: the term is computed once.
    """
    end = term_end(start, template.term_years)
    planned: set[str] = set()
    fits: dict[Position, bool] = {}
    decisions: list[BulkDecision] = []
    for c in candidates:
        reason: str | None = None
        if not c.active:
            reason = "manager_inactive"
        elif not template_matches(template, c.layer, c.category, c.position):
            reason = "template_does_not_match"
        elif not fits.setdefault(c.position, targets_fit(template, c.position)):
            reason = "targets_not_appraisable"
        elif c.manager_id in planned or find_overlap(
                existing_terms_by_manager.get(c.manager_id, ()), start, end) is not None:
            reason = "overlapping_contract"
        elif consecutive_terms_by_manager.get(c.manager_id, 0) >= template.max_consecutive_terms:
            reason = "renewal_limit_reached"
        if reason is None:
            planned.add(c.manager_id)
        decisions.append(BulkDecision(manager_id=c.manager_id, employee_no=c.employee_no,
                                      issue=reason is None, reason=reason))
    return decisions


#: Reason of the managers left out because another failed and the request was all-or-nothing.
ALL_OR_NOTHING_REASON = "all_or_nothing"


def refuse_failures(decisions: Iterable[BulkDecision],
                    failures: Mapping[str, tuple[str, str]],
                    all_or_nothing: bool = False, *, failed_elsewhere: bool = False
                    ) -> list[BulkDecision]:
    """Mark as failed the planned managers who cannot be issued; the others go ahead.

    `failures` maps a manager id to (reason code, detail), e.g. the business refusal raised
    while computing their signatory. One failure never stops the others, unless the request
    is all-or-nothing: then nobody is issued and each manager who would have been is skipped
    with `all_or_nothing`. A job decided in chunks says with `failed_elsewhere` that a
    manager of another chunk failed: under all-or-nothing, this chunk issues nobody either.
    """
    out = [replace(x, issue=False, failed=True, reason=failures[x.manager_id][0],
                   detail=failures[x.manager_id][1])
           if x.issue and x.manager_id in failures else x for x in decisions]
    if all_or_nothing and (failed_elsewhere or any(x.failed for x in out)):
        out = [replace(x, issue=False, reason=ALL_OR_NOTHING_REASON,
                       detail="Another manager of this all-or-nothing issue could not be "
                              "issued, so nobody was; fix the failed ones and issue again")
               if x.issue else x for x in out]
    return out


def failure_reason(error: DomainError) -> str:
    """The reason code of a business refusal: its class name in snake case
    (`SignatoryRequired` -> `signatory_required`)."""
    name = type(error).__name__
    return "".join(f"_{ch.lower()}" if ch.isupper() and i else ch.lower()
                   for i, ch in enumerate(name))


def bulk_job_status(outcomes: Iterable[BulkOutcome | str]) -> BulkJobStatus:
    """How a finished job ends, from its decisions.

    `done`: nobody failed (everyone issued or skipped, also when all were skipped).
    `partial`: some failed and some were issued. `failed`: some failed and none was issued.
    """
    seen = {BulkOutcome(o) for o in outcomes}
    if BulkOutcome.FAILED not in seen:
        return BulkJobStatus.DONE
    return BulkJobStatus.PARTIAL if BulkOutcome.ISSUED in seen else BulkJobStatus.FAILED
