"""Indicator scoring: piecewise-linear shares over base/target/challenge, ratings, milestones.

Each line yields an `IndicatorScore` that carries everything needed to show how it was
computed: the actual, the levels, the rule applied, the share, the points and flags.
Rounding happens here and only here for indicators: the share to 0.0001, then
points = weight x share to 0.01, both ROUND_HALF_UP (see `numbers`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from services.appraisal.domain.errors import AppraisalInputInvalid, fail
from services.appraisal.domain.inputs import Actual, IndicatorTarget
from services.appraisal.domain.numbers import HUNDRED, ZERO, score2, share4
from services.appraisal.domain.scheme import Scheme, ScoringRules
from services.appraisal.domain.vocabulary import (
    BelowBaseRule,
    Direction,
    IndicatorKind,
    TargetPart,
    TargetRole,
)


class ScoreRule(StrEnum):
    """Which piece of the scoring rules produced a line's share ("short of base" is
    "below base" whatever the direction; "between X and Y" includes X, excludes Y)."""

    AT_OR_BEYOND_CHALLENGE = "at_or_beyond_challenge"
    BETWEEN_TARGET_AND_CHALLENGE = "between_target_and_challenge"
    BETWEEN_BASE_AND_TARGET = "between_base_and_target"
    BELOW_BASE_PROPORTIONAL = "below_base_proportional"
    BELOW_BASE_ZERO = "below_base_zero"
    BELOW_BASE_NOT_PROPORTIONAL = "below_base_not_proportional"
    RATING = "rating"
    MILESTONES = "milestones"
    MISSING_ACTUAL = "missing_actual"
    VETO_HIT = "veto_hit"
    VETO_CLEAR = "veto_clear"
    BONUS = "bonus"
    PENALTY = "penalty"


class Flag(StrEnum):
    MISSING_ACTUAL = "missing_actual"
    CAPPED_AT_CHALLENGE = "capped_at_challenge"
    PROPORTIONAL_NOT_APPLICABLE = "proportional_not_applicable"
    CAPPED_AT_LINE_MAX = "capped_at_line_max"
    COMPLETION_NOT_APPLICABLE = "completion_not_applicable"


@dataclass(frozen=True, slots=True)
class IndicatorScore:
    """How one line scored. `share` is a fraction of the weight (None for items without a
    weight); `points` = weight x share for scored lines, the (line-capped) points for bonus
    and penalty items, 0 for veto lines. `completion` (main lines) = actual / target
    (target / actual when lower is better), to 0.0001."""

    code: str
    name: str
    kind: IndicatorKind
    direction: Direction
    role: TargetRole
    part: TargetPart
    main: bool
    weight: Decimal | None
    base: Decimal | None
    target: Decimal | None
    challenge: Decimal | None
    milestones: int | None
    actual: Decimal | str | int | bool | None
    rule: ScoreRule
    share: Decimal | None
    points: Decimal
    flags: tuple[Flag, ...] = ()
    completion: Decimal | None = None


NO_SHARE = Decimal("0.0000")
NO_POINTS = Decimal("0.00")
_CAPPED = (Flag.CAPPED_AT_CHALLENGE,)
_NOT_PROPORTIONAL = (Flag.PROPORTIONAL_NOT_APPLICABLE,)
_MISSING = (Flag.MISSING_ACTUAL,)


def quantitative_share(rules: ScoringRules, direction: Direction, base: Decimal,
                       target: Decimal, challenge: Decimal, actual: Decimal
                       ) -> tuple[Decimal, ScoreRule, tuple[Flag, ...]]:
    """The share of the weight an actual earns, rounded to 0.0001; and the rule and flags.

    Higher is better (base < target < challenge):
    - actual >= challenge: the challenge share (the cap; flagged when actual > challenge);
    - target <= actual < challenge: linear from the target share to the challenge share;
    - base <= actual < target: linear from the base share to the target share;
    - actual < base: `proportional` -> base share x actual / base (a negative actual
      earns 0), `zero` -> 0. If base <= 0 the ratio means nothing, so the line earns 0
      and is flagged `proportional_not_applicable`.
    Lower is better (base > target > challenge) mirrors this; short of base means
    actual > base and the proportional share is base share x base / actual (base <= 0:
    0, flagged).
    """
    r = rules
    if direction is Direction.HIGHER_IS_BETTER:
        if actual >= challenge:
            return share4(r.challenge_share), ScoreRule.AT_OR_BEYOND_CHALLENGE, (
                _CAPPED if actual > challenge else ())
        if actual >= target:
            share = r.target_share + (r.challenge_share - r.target_share) * (
                (actual - target) / (challenge - target))
            return share4(share), ScoreRule.BETWEEN_TARGET_AND_CHALLENGE, ()
        if actual >= base:
            share = r.base_share + (r.target_share - r.base_share) * (
                (actual - base) / (target - base))
            return share4(share), ScoreRule.BETWEEN_BASE_AND_TARGET, ()
        if r.below_base is BelowBaseRule.ZERO:
            return NO_SHARE, ScoreRule.BELOW_BASE_ZERO, ()
        if base <= ZERO:
            return NO_SHARE, ScoreRule.BELOW_BASE_NOT_PROPORTIONAL, _NOT_PROPORTIONAL
        if actual <= ZERO:
            return NO_SHARE, ScoreRule.BELOW_BASE_PROPORTIONAL, ()
        return share4(r.base_share * actual / base), ScoreRule.BELOW_BASE_PROPORTIONAL, ()
    if actual <= challenge:
        return share4(r.challenge_share), ScoreRule.AT_OR_BEYOND_CHALLENGE, (
            _CAPPED if actual < challenge else ())
    if actual <= target:
        share = r.target_share + (r.challenge_share - r.target_share) * (
            (target - actual) / (target - challenge))
        return share4(share), ScoreRule.BETWEEN_TARGET_AND_CHALLENGE, ()
    if actual <= base:
        share = r.base_share + (r.target_share - r.base_share) * (
            (base - actual) / (base - target))
        return share4(share), ScoreRule.BETWEEN_BASE_AND_TARGET, ()
    if r.below_base is BelowBaseRule.ZERO:
        return NO_SHARE, ScoreRule.BELOW_BASE_ZERO, ()
    if base <= ZERO:
        return NO_SHARE, ScoreRule.BELOW_BASE_NOT_PROPORTIONAL, _NOT_PROPORTIONAL
    return share4(r.base_share * base / actual), ScoreRule.BELOW_BASE_PROPORTIONAL, ()


def completion_of(direction: Direction, target: Decimal, actual: Decimal | None
                  ) -> Decimal | None:
    """Completion of a target, to 0.0001 (0.01 %): actual / target, or target / actual when
    lower is better. A missing actual completes nothing (0). None when the ratio means
    nothing: a target <= 0, or (lower is better) an actual <= 0, which beats any positive
    target; such a line never triggers the main-indicator exit and is flagged."""
    if actual is None:
        return NO_SHARE
    if target <= ZERO:
        return None
    if direction is Direction.HIGHER_IS_BETTER:
        return share4(actual / target)
    if actual <= ZERO:
        return None
    return share4(target / actual)


def _score(t: IndicatorTarget, weight: Decimal, share: Decimal, rule: ScoreRule,
           flags: tuple[Flag, ...], actual: Decimal | str | int | None,
           completion: Decimal | None = None) -> IndicatorScore:
    return IndicatorScore(t.code, t.name, t.kind, t.direction, t.role, t.part, t.main, weight,
                          t.base, t.target, t.challenge, t.milestones, actual, rule, share,
                          score2(weight * share), flags, completion)


def _wrong_field(t: IndicatorTarget, a: Actual, wanted: str) -> None:
    """An actual that gives another kind's field instead of the one this line reads."""
    given = [n for n in ("value", "rating", "milestones_met", "veto_hit", "points")
             if getattr(a, n) is not None]
    if given:
        raise fail(AppraisalInputInvalid, f"actuals[{t.code}].{wanted}",
                   f"required for a {t.kind} {t.role} line (got {', '.join(given)})")


def score_indicator(target: IndicatorTarget, actual: Actual | None,
                    rules: ScoringRules) -> IndicatorScore:
    """Score one line against its actual under the scheme's scoring rules.

    A missing actual (no Actual, or its field for this kind left None) scores 0 with the
    rule and flag `missing_actual`: it is never skipped. An unknown rating, or more
    milestones met than planned, is an input error (AppraisalInputInvalid).
    """
    t = target
    role = t.role
    if role is TargetRole.SCORED:
        weight: Decimal = t.weight  # type: ignore[assignment]
        kind = t.kind
        if kind is IndicatorKind.QUANTITATIVE:
            value = None if actual is None else actual.value
            completion = None
            if t.main:
                completion = completion_of(t.direction, t.target, value)  # type: ignore[arg-type]
            if value is None:
                if actual is not None:
                    _wrong_field(t, actual, "value")
                return _score(t, weight, NO_SHARE, ScoreRule.MISSING_ACTUAL, _MISSING, None,
                              completion)
            share, rule, flags = quantitative_share(
                rules, t.direction, t.base, t.target, t.challenge, value)  # type: ignore[arg-type]
            if t.main and completion is None:
                flags = (*flags, Flag.COMPLETION_NOT_APPLICABLE)
            return _score(t, weight, share, rule, flags, value, completion)
        if kind is IndicatorKind.QUALITATIVE:
            rating = None if actual is None else actual.rating
            if rating is None:
                if actual is not None:
                    _wrong_field(t, actual, "rating")
                return _score(t, weight, NO_SHARE, ScoreRule.MISSING_ACTUAL, _MISSING, None)
            share = rules.ratings.get(rating)
            if share is None:
                raise fail(AppraisalInputInvalid, f"actuals[{t.code}].rating",
                           f"unknown rating {rating!r}; the scheme knows "
                           f"{', '.join(rules.ratings)}")
            return _score(t, weight, share4(share), ScoreRule.RATING, (), rating)
        met = None if actual is None else actual.milestones_met
        if met is None:
            if actual is not None:
                _wrong_field(t, actual, "milestones_met")
            return _score(t, weight, NO_SHARE, ScoreRule.MISSING_ACTUAL, _MISSING, None)
        total: int = t.milestones  # type: ignore[assignment]
        if met > total:
            raise fail(AppraisalInputInvalid, f"actuals[{t.code}].milestones_met",
                       f"{met} met but the key task has {total} milestones")
        share = share4(rules.key_task_share * met / total)
        return _score(t, weight, share, ScoreRule.MILESTONES, (), met)
    if role is TargetRole.VETO:
        hit = None if actual is None else actual.veto_hit
        if hit is None and actual is not None:
            _wrong_field(t, actual, "veto_hit")
        rule = ScoreRule.VETO_HIT if hit else ScoreRule.VETO_CLEAR
        return IndicatorScore(t.code, t.name, t.kind, t.direction, role, t.part, t.main, None,
                              None, None, None, None, hit, rule, None, NO_POINTS,
                              _MISSING if hit is None else ())
    points = None if actual is None else actual.points
    rule = ScoreRule.BONUS if role is TargetRole.BONUS else ScoreRule.PENALTY
    if points is None:
        if actual is not None:
            _wrong_field(t, actual, "points")
        return IndicatorScore(t.code, t.name, t.kind, t.direction, role, t.part, t.main, None,
                              None, None, None, None, None, rule, None, NO_POINTS, _MISSING)
    earned = score2(points)
    flags: tuple[Flag, ...] = ()
    if t.max_points is not None and earned > t.max_points:
        earned, flags = score2(t.max_points), (Flag.CAPPED_AT_LINE_MAX,)
    return IndicatorScore(t.code, t.name, t.kind, t.direction, role, t.part, t.main, None,
                          None, None, None, None, points, rule, None, earned, flags)


def index_actuals(actuals: Iterable[Actual] | Mapping[str, Actual],
                  codes: Collection[str]) -> Mapping[str, Actual]:
    """Actuals by code; a duplicate, or an actual for a code that is not among the targets'
    `codes`, is an input error (it would otherwise be silently ignored)."""
    if isinstance(actuals, Mapping):
        by_code = actuals
    else:
        by_code = {}
        for a in actuals:
            if a.code in by_code:
                raise fail(AppraisalInputInvalid, f"actuals[{a.code}]", "given twice")
            by_code[a.code] = a
    if not by_code.keys() <= codes:
        unknown = sorted(set(by_code) - set(codes))
        raise AppraisalInputInvalid(
            f"Actuals for indicators without a target: {', '.join(unknown)}",
            errors={f"actuals[{c}]": ["no target line with this code"] for c in unknown})
    return by_code


def score_indicators(scheme: Scheme, targets: Sequence[IndicatorTarget],
                     actuals: Iterable[Actual] | Mapping[str, Actual]
                     ) -> tuple[IndicatorScore, ...]:
    """Every line scored, in the targets' order (duplicate target codes are refused)."""
    codes = unique_codes(targets)
    by_code = index_actuals(actuals, codes)
    rules = scheme.scoring
    return tuple(score_indicator(t, by_code.get(t.code), rules) for t in targets)


def unique_codes(targets: Sequence[IndicatorTarget]) -> set[str]:
    """The targets' codes; a code given twice is an input error."""
    codes = {t.code for t in targets}
    if len(codes) != len(targets):
        dupes = sorted(c for c, n in Counter(t.code for t in targets).items() if n > 1)
        raise AppraisalInputInvalid(
            f"Target lines given twice: {', '.join(dupes)}",
            errors={f"targets[{c}]": ["given twice"] for c in dupes})
    return codes


@dataclass(frozen=True, slots=True)
class PartScore:
    """The score of one part (organisational or individual) out of 100: the part's points
    over its weights x 100, to 0.01 (exact when the part's weights sum to 100). It keeps the
    part's lines, scored and veto, so a shared organisational score carries its trace."""

    part: TargetPart
    points: Decimal
    weight: Decimal
    score: Decimal
    #: Not repeated by `to_dict`: an appraisal result lists every line once, in `indicators`.
    indicators: tuple[IndicatorScore, ...] = field(default=(), metadata={"dump": False})

    @property
    def vetoes_hit(self) -> tuple[str, ...]:
        return tuple(s.code for s in self.indicators if s.rule is ScoreRule.VETO_HIT)


def part_score(part: TargetPart, points: Decimal, weight: Decimal,
               indicators: tuple[IndicatorScore, ...]) -> PartScore:
    score = points if weight == HUNDRED else score2(points * HUNDRED / weight)
    return PartScore(part, points, weight, score, indicators)


def score_organisation(scheme: Scheme, targets: Sequence[IndicatorTarget],
                       actuals: Iterable[Actual] | Mapping[str, Actual]) -> PartScore:
    """The enterprise's own score, computed once and shared by its management team.

    Only organisational scored and veto lines belong here (a red line of the enterprise
    applies to every team member whose appraisal uses this score); bonus and penalty
    items are personal and stay in each manager's own targets.
    """
    for t in targets:
        if t.part is not TargetPart.ORGANISATIONAL:
            raise fail(AppraisalInputInvalid, f"targets[{t.code}].part",
                       "the organisation's score takes organisational lines only")
        if t.role in (TargetRole.BONUS, TargetRole.PENALTY):
            raise fail(AppraisalInputInvalid, f"targets[{t.code}].role",
                       "bonus and penalty items belong to a manager's own targets")
    scores = score_indicators(scheme, targets, actuals)
    scored = [s for s in scores if s.role is TargetRole.SCORED]
    if not scored:
        raise fail(AppraisalInputInvalid, "targets",
                   "the organisation needs at least one scored line")
    return part_score(TargetPart.ORGANISATIONAL, sum((s.points for s in scored), ZERO),
                      sum((s.weight for s in scored), ZERO), scores)  # type: ignore[misc]
