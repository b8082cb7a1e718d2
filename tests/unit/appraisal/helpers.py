"""Builders shared by the appraisal rule tests: short names for targets, actuals, schemes."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from services.appraisal import domain as d


def D(value: str | int) -> Decimal:
    return Decimal(str(value))


def quant(code: str, weight: str, base: str, target: str, challenge: str, *,
          lower: bool = False, part: str = "individual", main: bool = False) -> d.IndicatorTarget:
    return d.IndicatorTarget(
        code, D(weight), D(base), D(target), D(challenge),
        direction=d.Direction.LOWER_IS_BETTER if lower else d.Direction.HIGHER_IS_BETTER,
        part=d.TargetPart(part), main=main)


def qual(code: str, weight: str, *, part: str = "individual") -> d.IndicatorTarget:
    return d.IndicatorTarget(code, D(weight), kind=d.IndicatorKind.QUALITATIVE,
                             part=d.TargetPart(part))


def task(code: str, weight: str, milestones: int, *,
         part: str = "individual") -> d.IndicatorTarget:
    return d.IndicatorTarget(code, D(weight), kind=d.IndicatorKind.KEY_TASK,
                             milestones=milestones, part=d.TargetPart(part))


def veto(code: str, *, part: str = "individual") -> d.IndicatorTarget:
    return d.IndicatorTarget(code, kind=d.IndicatorKind.QUALITATIVE, role=d.TargetRole.VETO,
                             part=d.TargetPart(part))


def bonus(code: str, max_points: str | None = None) -> d.IndicatorTarget:
    return d.IndicatorTarget(code, role=d.TargetRole.BONUS,
                             max_points=None if max_points is None else D(max_points))


def penalty(code: str, max_points: str | None = None) -> d.IndicatorTarget:
    return d.IndicatorTarget(code, role=d.TargetRole.PENALTY,
                             max_points=None if max_points is None else D(max_points))


def value(code: str, v: str) -> d.Actual:
    return d.Actual(code, value=D(v))


def points(code: str, p: str) -> d.Actual:
    return d.Actual(code, points=D(p))


def scheme(**sections: dict[str, Any]) -> d.Scheme:
    """The default scheme with some rules changed: scheme(items={"veto_mode": ...})."""
    base = d.DEFAULT_SCHEME
    changes = {name: replace(getattr(base, name), **values) for name, values in sections.items()}
    return replace(base, **changes)


def one_line(total: str, *, code: str = "KPI") -> tuple[list[d.IndicatorTarget], list[d.Actual]]:
    """A single individual line of weight 100 whose points equal `total` exactly.

    Levels 0 / 100 / 120 with shares 0 / 1 / 1.2 (scheme `linear`) make the share
    actual / 100, so an actual of 69.99 scores 69.99 points.
    """
    return [quant(code, "100", "0", "100", "120")], [value(code, total)]


#: Shares 0 at base, 1 at target, 1.2 at challenge: with levels 0/100/120 the points equal
#: the actual, which makes totals easy to place exactly on a boundary.
LINEAR = {"base_share": D("0.00"), "target_share": D("1.00"), "challenge_share": D("1.20")}


def appraise_total(total: str, sch: d.Scheme | None = None, **kw: Any) -> d.AppraisalResult:
    """Appraise a deputy (50/50 by default, so use position 'solo' at 0/100) to `total`."""
    base = sch or d.DEFAULT_SCHEME
    base = replace(base, scoring=replace(base.scoring, **LINEAR),
                   composition=replace(base.composition, default=d.Proportion(D("0"), D("1"))))
    targets, actuals = one_line(total)
    return d.appraise(base, targets, actuals, **kw)
