"""The year's appraisal of one manager, and of a cohort: the entry points the service calls."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from services.appraisal.domain.composition import Composition, compose
from services.appraisal.domain.distribution import (
    CohortMember,
    Distribution,
    GradeChange,
    apply_forced_distribution,
)
from services.appraisal.domain.errors import AppraisalInputInvalid, CohortInvalid, fail
from services.appraisal.domain.exits import ExitTrigger, decide_outcome, find_exit_triggers
from services.appraisal.domain.grades import decide_grade
from services.appraisal.domain.inputs import Actual, IndicatorTarget, PastYear, Term
from services.appraisal.domain.numbers import ONE, ZERO
from services.appraisal.domain.pay import PerformancePay, performance_pay
from services.appraisal.domain.scheme import Scheme
from services.appraisal.domain.scoring import (
    Flag,
    IndicatorScore,
    PartScore,
    ScoreRule,
    index_actuals,
    part_score,
    score_indicator,
    unique_codes,
)
from services.appraisal.domain.totals import TotalScore, total_score
from services.appraisal.domain.vocabulary import Grade, Outcome, TargetPart, TargetRole

_ORG, _IND = TargetPart.ORGANISATIONAL, TargetPart.INDIVIDUAL
_SCORED, _VETO, _BONUS = TargetRole.SCORED, TargetRole.VETO, TargetRole.BONUS


@dataclass(frozen=True, slots=True)
class AppraisalResult:
    """One manager's year, every step traceable: lines -> parts -> composition -> total ->
    grade -> exit triggers -> outcome -> pay. `grade` is final after `appraise_cohort`
    (which records any `distribution` change); `provisional_grade` is the grade from the
    bands (or the veto) before forced distribution."""

    manager_id: str
    year: int | None
    position: str | None
    scheme_code: str
    scheme_version: int
    indicators: tuple[IndicatorScore, ...]
    organisational: PartScore | None
    individual: PartScore | None
    composition: Composition
    totals: TotalScore
    provisional_grade: Grade
    grade: Grade
    grade_reason: str
    exit_triggers: tuple[ExitTrigger, ...]
    outcome: Outcome
    outcome_reason: str
    pay: PerformancePay | None
    flags: tuple[str, ...]
    distribution: tuple[GradeChange, ...] = ()
    #: The scheme object itself (not dumped): the cohort step reads its pay and exit rules.
    scheme: Scheme | None = field(default=None, repr=False, compare=False,
                                  metadata={"dump": False})

    @property
    def total(self) -> Decimal:
        return self.totals.total

    @property
    def is_exit(self) -> bool:
        return self.outcome is Outcome.INCOMPETENCE_EXIT

    @property
    def complete(self) -> bool:
        """False while any line lacks its actual (the service should not publish then)."""
        return not any(Flag.MISSING_ACTUAL in s.flags for s in self.indicators)


def appraise(scheme: Scheme, targets: Sequence[IndicatorTarget],
             actuals: Iterable[Actual] | Mapping[str, Actual], *, manager_id: str = "",
             year: int | None = None, position: str | None = None,
             difficulty: Decimal = ONE, organisation: PartScore | None = None,
             history: Sequence[PastYear] = (), term: Term | None = None,
             base_pay: Decimal | None = None) -> AppraisalResult:
    """Appraise one manager's year under `scheme` (the what-if endpoint calls it too).

    `targets` are the manager's lines (organisational and individual); `organisation` may
    instead carry the enterprise's score computed once by `score_organisation` and shared
    by its team (then `targets` must hold no organisational scored or veto lines).
    `position` picks the composition proportions, `difficulty` the enterprise's difficulty
    coefficient; `history` (earlier years) and `term` feed the failed-years exit rule;
    `base_pay` (money) yields the performance pay at the provisional grade.
    """
    codes = unique_codes(targets)
    by_code = index_actuals(actuals, codes)
    rules = scheme.scoring
    scores: list[IndicatorScore] = []
    org_lines: list[IndicatorScore] = []
    ind_lines: list[IndicatorScore] = []
    org_points = org_weight = ind_points = ind_weight = bonus = penalty = ZERO
    vetoes: list[str] = []
    for t in targets:
        s = score_indicator(t, by_code.get(t.code), rules)
        scores.append(s)
        role = s.role
        if role is _SCORED:
            if s.part is _ORG:
                org_points += s.points
                org_weight += s.weight  # type: ignore[operator]
                org_lines.append(s)
            else:
                ind_points += s.points
                ind_weight += s.weight  # type: ignore[operator]
                ind_lines.append(s)
        elif role is _VETO:
            (org_lines if s.part is _ORG else ind_lines).append(s)
            if s.rule is ScoreRule.VETO_HIT:
                vetoes.append(s.code)
        elif role is _BONUS:
            bonus += s.points
        else:
            penalty += s.points
    if organisation is not None:
        if org_lines or organisation.part is not _ORG:
            raise fail(AppraisalInputInvalid, "organisation",
                       "an organisational score, not given together with organisational "
                       "lines in the targets")
        shared = codes.intersection(s.code for s in organisation.indicators)
        if shared:
            raise fail(AppraisalInputInvalid, "organisation",
                       f"codes {sorted(shared)} are both the organisation's and the manager's")
        org_part: PartScore | None = organisation
        vetoes = [*organisation.vetoes_hit, *vetoes]
        indicators = (*organisation.indicators, *scores)
    else:
        org_part = (part_score(_ORG, org_points, org_weight, tuple(org_lines))
                    if org_weight else None)
        indicators = tuple(scores)
    ind_part = part_score(_IND, ind_points, ind_weight, tuple(ind_lines)) if ind_weight else None
    composition = compose(scheme, None if org_part is None else org_part.score,
                          None if ind_part is None else ind_part.score,
                          position=position, difficulty=difficulty)
    totals = total_score(scheme, composition.composed, bonus, penalty, vetoes)
    grade, grade_reason = decide_grade(scheme.grades, totals)
    triggers = find_exit_triggers(scheme, total=totals.total, grade=grade,
                                  indicators=indicators, veto=totals.veto, year=year,
                                  history=history, term=term)
    outcome, outcome_reason = decide_outcome(scheme.exits, grade, triggers)
    pay = None if base_pay is None else performance_pay(scheme.pay, grade, base_pay)
    flags = [f"{f.value}:{s.code}" for s in indicators for f in s.flags]
    proportion = composition.proportion
    if org_part is not None and proportion.organisational == ZERO:
        flags.append("part_not_counted:organisational")
    if ind_part is not None and proportion.individual == ZERO:
        flags.append("part_not_counted:individual")
    if composition.capped_by_difficulty:
        flags.append("capped_by_difficulty")
    return AppraisalResult(manager_id, year, position, scheme.code, scheme.version, indicators,
                           org_part, ind_part, composition, totals, grade, grade, grade_reason,
                           triggers, outcome, outcome_reason, pay, tuple(flags), (), scheme)


@dataclass(frozen=True)
class CohortResult:
    """A cohort after forced distribution: final results (input order) and the record."""

    results: tuple[AppraisalResult, ...]
    distribution: Distribution

    def by_manager(self) -> dict[str, AppraisalResult]:
        return {r.manager_id: r for r in self.results}


def appraise_cohort(results: Sequence[AppraisalResult],
                    scheme: Scheme | None = None) -> CohortResult:
    """Apply forced distribution to a cohort (e.g. one layer and category in a year).

    The distribution rules come from `scheme`, or, if None, from the one scheme (code and
    version) every result used (mixed schemes then need `scheme`). A manager moved down
    gets the new grade, a reason, the change record, and pay and outcome recomputed under
    their own scheme. Distribution only moves excellent -> good -> competent, so exit
    triggers (which look at not competent and the exit line) never change here.
    """
    if scheme is None:
        used = {(r.scheme_code, r.scheme_version) for r in results}
        if len(used) > 1:
            raise CohortInvalid("The cohort mixes schemes; pass the scheme whose distribution "
                                "rules apply", errors={"scheme": [str(sorted(used))]})
        scheme = results[0].scheme if results else None
        if scheme is None and results:
            raise CohortInvalid("The results do not carry their scheme; pass it",
                                errors={"scheme": ["required"]})
    members = [CohortMember(r.manager_id, r.totals.total, r.composition.organisational,
                            r.composition.individual, r.grade) for r in results]
    if scheme is None:
        return CohortResult((), apply_forced_distribution(members, Scheme().distribution))
    dist = apply_forced_distribution(members, scheme.distribution)
    if not dist.changes:
        return CohortResult(tuple(results), dist)
    changes: dict[str, list[GradeChange]] = {}
    for change in dist.changes:
        changes.setdefault(change.manager_id, []).append(change)
    final: list[AppraisalResult] = []
    for r in results:
        moved = changes.get(r.manager_id)
        if not moved:
            final.append(r)
            continue
        own = r.scheme or scheme
        grade = dist.grades[r.manager_id]
        outcome, outcome_reason = decide_outcome(own.exits, grade, r.exit_triggers)
        pay = None if r.pay is None else performance_pay(own.pay, grade, r.pay.base_figure)
        reason = "; ".join([r.grade_reason, *(f"forced distribution {c.from_grade} -> "
                                              f"{c.to_grade} ({c.reason})" for c in moved)])
        final.append(replace(r, grade=grade, grade_reason=reason, outcome=outcome,
                             outcome_reason=outcome_reason, pay=pay,
                             distribution=tuple(moved)))
    return CohortResult(tuple(final), dist)
