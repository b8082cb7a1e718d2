"""Contract templates and the plan for issuing one template to many managers at once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from services.contracts.domain.errors import TermInvalid
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


@dataclass(frozen=True)
class BulkDecision:
    """Whether the manager gets a contract, and if not, the reason code why."""

    manager_id: str
    employee_no: str
    issue: bool
    reason: str | None


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
