"""The tenure appraisal at the end of a term: annual scores with tenure targets, the outcome."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from services.appraisal.domain.errors import AppraisalInputInvalid, fail
from services.appraisal.domain.exits import ExitTrigger
from services.appraisal.domain.grades import grade_for
from services.appraisal.domain.inputs import Actual, IndicatorTarget, PastYear, Term
from services.appraisal.domain.numbers import HUNDRED, ZERO, is_finite_decimal, score2
from services.appraisal.domain.pay import DeferredRelease, release_deferred
from services.appraisal.domain.scheme import Scheme
from services.appraisal.domain.scoring import IndicatorScore, ScoreRule, score_indicators
from services.appraisal.domain.vocabulary import ExitRule, Grade, TargetRole, TenureOutcome


@dataclass(frozen=True, slots=True)
class TenureResult:
    """How the tenure appraisal came about: the annual part, the targets part, the score,
    the outcome with its reason, any exit triggers and the deferred pay's fate."""

    manager_id: str
    scheme_code: str
    scheme_version: int
    term: Term | None
    annual: tuple[PastYear, ...]
    #: None: the plain mean of the years.
    year_weights: tuple[Decimal, ...] | None
    annual_score: Decimal
    targets: tuple[IndicatorScore, ...]
    targets_score: Decimal | None
    score: Decimal
    grade: Grade
    outcome: TenureOutcome
    outcome_reason: str
    exit_triggers: tuple[ExitTrigger, ...]
    deferred: DeferredRelease | None

    @property
    def is_exit(self) -> bool:
        return self.outcome is TenureOutcome.EXIT


def _annual_score(scheme: Scheme, years: tuple[PastYear, ...]
                  ) -> tuple[tuple[Decimal, ...] | None, Decimal]:
    weights = scheme.tenure.year_weights
    if weights is None:
        return None, score2(sum((y.total for y in years), ZERO) / len(years))
    if len(weights) != len(years):
        raise fail(AppraisalInputInvalid, "annual",
                   f"the scheme weighs {len(weights)} years but {len(years)} were given")
    return weights, score2(sum((w * y.total for w, y in zip(weights, years, strict=True)),
                               ZERO))


def appraise_tenure(scheme: Scheme, annual: Sequence[PastYear],
                    targets: Sequence[IndicatorTarget] = (),
                    actuals: Iterable[Actual] | Mapping[str, Actual] = (), *,
                    targets_score: Decimal | None = None, manager_id: str = "",
                    term: Term | None = None,
                    deferred_total: Decimal | None = None) -> TenureResult:
    """Conclude a term.

    annual score = the years' totals weighted by the scheme's `year_weights` (oldest
    first) or their plain mean, to 0.01; targets score = the tenure targets' points over
    their weights x 100, to 0.01 (or `targets_score` if computed elsewhere);
    score = annual x annual_share + targets x targets_share (default 60/40), to 0.01.
    Outcome: score >= renew_min (80) renew; >= conditions_min (70) renew with conditions;
    else exit. A veto hit among the tenure targets means exit whatever the score. An exit
    fires the `tenure_not_passed` trigger (and `veto`), if the scheme enables them;
    `deferred_total` (money deferred over the term) is released by the outcome.
    """
    rules = scheme.tenure
    if not annual:
        raise fail(AppraisalInputInvalid, "annual", "at least one annual result")
    years = tuple(sorted(annual, key=lambda y: y.year))
    if len({y.year for y in years}) != len(years):
        raise fail(AppraisalInputInvalid, "annual", "a year appears twice")
    if term is not None:
        outside = [y.year for y in years if y.year not in term]
        if outside:
            raise fail(AppraisalInputInvalid, "annual",
                       f"years {outside} are outside the term "
                       f"{term.start_year}-{term.end_year}")
    weights, annual_score = _annual_score(scheme, years)

    scores = score_indicators(scheme, targets, actuals) if targets else ()
    scored = [s for s in scores if s.role is TargetRole.SCORED]
    if targets_score is not None:
        if scored:
            raise fail(AppraisalInputInvalid, "targets_score",
                       "given together with scored tenure targets")
        if not is_finite_decimal(targets_score) or targets_score < ZERO:
            raise fail(AppraisalInputInvalid, "targets_score", "must be a finite Decimal >= 0")
        t_score: Decimal | None = targets_score
    elif scored:
        weight = sum((s.weight for s in scored), ZERO)  # type: ignore[misc]
        t_score = score2(sum((s.points for s in scored), ZERO) * HUNDRED / weight)
    else:
        t_score = None
    if t_score is None and rules.targets_share > ZERO:
        raise fail(AppraisalInputInvalid, "targets",
                   f"the scheme weighs tenure targets at {rules.targets_share}, but the tenure "
                   "performance contract has no scored targets: set them in the contracts "
                   "service (before it is signed: PUT .../documents/{id}/targets; after: an "
                   "amendment with tenure_targets), or give targets_score")
    score = score2(annual_score * rules.annual_share
                   + (ZERO if t_score is None else t_score) * rules.targets_share)
    vetoes = [s.code for s in scores if s.rule is ScoreRule.VETO_HIT]
    if vetoes:
        outcome = TenureOutcome.EXIT
        reason = f"veto item(s) {', '.join(vetoes)} hit in the term: exit whatever the score"
    elif score >= rules.renew_min:
        outcome, reason = TenureOutcome.RENEW, f"tenure score {score} >= {rules.renew_min}"
    elif score >= rules.conditions_min:
        outcome = TenureOutcome.RENEW_WITH_CONDITIONS
        reason = f"tenure score {score} >= {rules.conditions_min} and < {rules.renew_min}"
    else:
        outcome = TenureOutcome.EXIT
        reason = f"tenure score {score} < {rules.conditions_min}"
    triggers: list[ExitTrigger] = []
    exits = scheme.exits
    if vetoes and exits.veto_enabled:
        triggers.append(ExitTrigger(ExitRule.VETO, reason, {"items": vetoes}))
    if outcome is TenureOutcome.EXIT and exits.tenure_not_passed_enabled:
        triggers.append(ExitTrigger(
            ExitRule.TENURE_NOT_PASSED, f"tenure appraisal not passed: {reason}",
            {"score": score, "conditions_min": rules.conditions_min, "vetoes": vetoes}))
    deferred = (None if deferred_total is None
                else release_deferred(scheme.pay, deferred_total, outcome))
    return TenureResult(manager_id, scheme.code, scheme.version, term, years, weights,
                        annual_score, scores, t_score, score, grade_for(scheme.grades, score),
                        outcome, reason, tuple(triggers), deferred)
