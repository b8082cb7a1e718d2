"""Score composition: the organisation's score and the manager's own, in set proportions."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from services.appraisal.domain.errors import AppraisalInputInvalid, fail
from services.appraisal.domain.numbers import HUNDRED, ONE, ZERO, is_finite_decimal, score2
from services.appraisal.domain.scheme import Proportion, Scheme
from services.appraisal.domain.vocabulary import TargetPart
from shared.performance_contract import missing_part_message


@dataclass(frozen=True, slots=True)
class Composition:
    """How the composed score came about, for the trace.

    composed = organisational_adjusted x proportion.organisational
             + individual x proportion.individual, to 0.01, where
    organisational_adjusted = organisational x difficulty, to 0.01, and (scheme
    `difficulty_capped`, default) at most the challenge cap (120.00 by default).
    """

    position: str | None
    proportion: Proportion
    organisational: Decimal | None
    individual: Decimal | None
    difficulty: Decimal
    organisational_adjusted: Decimal | None
    capped_by_difficulty: bool
    composed: Decimal


def compose(scheme: Scheme, organisational: Decimal | None, individual: Decimal | None, *,
            position: str | None = None, difficulty: Decimal = ONE) -> Composition:
    """Combine the two part scores (each out of 100) by the position's proportions.

    A part with a proportion above zero must be present; a part with proportion zero may be
    absent (a general manager at 100/0 has no individual lines). The difficulty coefficient
    (scheme range, default 0.80-1.20) multiplies the organisational part only.
    """
    rules = scheme.composition
    if not is_finite_decimal(difficulty):
        raise fail(AppraisalInputInvalid, "difficulty", "must be a finite Decimal")
    if not rules.difficulty_min <= difficulty <= rules.difficulty_max:
        raise fail(AppraisalInputInvalid, "difficulty",
                   f"{difficulty} is outside the scheme's range "
                   f"{rules.difficulty_min}-{rules.difficulty_max}")
    proportion = rules.for_position(position)
    capped = False
    adjusted: Decimal | None = None
    composed = ZERO
    if proportion.organisational > ZERO:
        if organisational is None:
            raise fail(AppraisalInputInvalid, "targets", missing_part_message(
                position, TargetPart.ORGANISATIONAL, proportion.organisational))
        adjusted = organisational if difficulty == ONE else score2(organisational * difficulty)
        cap = scheme.scoring.challenge_share * HUNDRED
        if rules.difficulty_capped and difficulty > ONE and adjusted > cap:
            # the cap limits what difficulty adds; it never takes away what was scored
            limited = max(cap, organisational)
            adjusted, capped = limited, limited < adjusted
        composed += adjusted * proportion.organisational
    elif organisational is not None:
        adjusted = organisational
    if proportion.individual > ZERO:
        if individual is None:
            raise fail(AppraisalInputInvalid, "targets", missing_part_message(
                position, TargetPart.INDIVIDUAL, proportion.individual))
        composed += individual * proportion.individual
    return Composition(position, proportion, organisational, individual, difficulty, adjusted,
                       capped, score2(composed))
