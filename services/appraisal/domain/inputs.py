"""What an appraisal reads: indicator targets, actuals, past years and the term, as values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from services.appraisal.domain.errors import AppraisalInputInvalid
from services.appraisal.domain.numbers import ZERO, is_finite_decimal
from services.appraisal.domain.parsing import (
    MISSING,
    Faults,
    to_bool,
    to_enum,
    to_int,
    to_optional_decimal,
)
from services.appraisal.domain.vocabulary import (
    Direction,
    Grade,
    IndicatorKind,
    TargetPart,
    TargetRole,
)
from shared.performance_contract import TargetLine, line_faults


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True, slots=True)
class IndicatorTarget:
    """One line of a manager's annual (or tenure) targets, checked when it is built.

    A `scored` line has a weight > 0; if quantitative, the levels base, target, challenge
    strictly ordered in its direction (base < target < challenge when higher is better,
    base > target > challenge when lower is better); a key task its number of milestones.
    `veto` lines are red lines; `bonus` / `penalty` lines add or take points, at most
    `max_points` each (None: no line cap; the scheme caps their sum). `main` marks a scored
    quantitative line whose completion below the scheme's minimum triggers an exit.
    """

    code: str
    weight: Decimal | None = None
    base: Decimal | None = None
    target: Decimal | None = None
    challenge: Decimal | None = None
    name: str = ""
    kind: IndicatorKind = IndicatorKind.QUANTITATIVE
    direction: Direction = Direction.HIGHER_IS_BETTER
    role: TargetRole = TargetRole.SCORED
    part: TargetPart = TargetPart.INDIVIDUAL
    main: bool = False
    milestones: int | None = None
    max_points: Decimal | None = None

    def __post_init__(self) -> None:
        if _target_ok(self):
            return  # the common case, checked cheaply: bench builds 800,000 of these
        faults = Faults()
        where = f"targets[{self.code}]"
        if not isinstance(self.code, str) or not self.code:
            faults.add("targets[].code", "a target needs a non-empty code")
        for name, cls in (("kind", IndicatorKind), ("direction", Direction),
                          ("role", TargetRole), ("part", TargetPart)):
            value = getattr(self, name)
            if type(value) is not cls:
                parsed = to_enum(cls, value, f"{where}.{name}", faults)
                if parsed is not MISSING:
                    _set(self, name, parsed)
        if faults:
            raise AppraisalInputInvalid(faults.summary(), errors=faults.errors)
        _check_target(self, where, faults)
        if faults:
            raise AppraisalInputInvalid(faults.summary(), errors=faults.errors)

    @property
    def scored(self) -> bool:
        return self.role is TargetRole.SCORED


def _fine(value: object) -> bool:
    return value is None or (type(value) is Decimal and value.is_finite())


def _target_ok(t: IndicatorTarget) -> bool:
    """True if the line is valid with enums already in place; False means "look closer"
    (the detailed check then finds and names the faults, or normalises the enums)."""
    kind, role = t.kind, t.role
    if (type(t.code) is not str or not t.code or type(kind) is not IndicatorKind
            or type(t.direction) is not Direction or type(role) is not TargetRole
            or type(t.part) is not TargetPart or type(t.main) is not bool):
        return False
    base, target, challenge = t.base, t.target, t.challenge
    if not (_fine(base) and _fine(target) and _fine(challenge) and _fine(t.max_points)):
        return False
    if role is TargetRole.SCORED:
        weight = t.weight
        if weight is None or not _fine(weight) or weight <= ZERO or t.max_points is not None:
            return False
        if kind is IndicatorKind.QUANTITATIVE:
            if base is None or target is None or challenge is None:
                return False
            if t.direction is Direction.HIGHER_IS_BETTER:
                return base < target < challenge
            return base > target > challenge
        if t.main:
            return False
        if kind is IndicatorKind.KEY_TASK:
            return type(t.milestones) is int and t.milestones >= 1
        return True
    if t.weight is not None or t.main:
        return False
    if t.max_points is not None:
        return role is not TargetRole.VETO and t.max_points >= ZERO
    return True


def _check_target(t: IndicatorTarget, where: str, faults: Faults) -> None:
    """The detailed check: the shared rules of a line (shared/performance_contract.py), as
    far as scoring needs them, each fault under `targets[<code>].<field>`."""
    line = TargetLine(indicator_code=t.code, role=t.role, weight=t.weight, base=t.base,
                      target=t.target, challenge=t.challenge, main=t.main, part=t.part,
                      max_points=t.max_points, milestones=t.milestones)
    for name, message in line_faults(line, t.kind, t.direction, contract=False):
        faults.add(f"{where}.{name}", message)


@dataclass(frozen=True, slots=True)
class Actual:
    """What was achieved on one indicator; only the field of the indicator's kind is read.

    `value` for a quantitative line, `rating` (e.g. "B") for a qualitative one,
    `milestones_met` for a key task, `veto_hit` for a red line and `points` (>= 0, the
    points added or taken) for a bonus or penalty item. A field left None means the actual
    is missing: the line scores zero and is flagged `missing_actual`.
    """

    code: str
    value: Decimal | None = None
    rating: str | None = None
    milestones_met: int | None = None
    veto_hit: bool | None = None
    points: Decimal | None = None

    def __post_init__(self) -> None:
        value, rating, met, points = self.value, self.rating, self.milestones_met, self.points
        if (type(self.code) is str and self.code and _fine(value)
                and (rating is None or (type(rating) is str and rating))
                and (met is None or (type(met) is int and met >= 0))
                and (self.veto_hit is None or type(self.veto_hit) is bool)
                and (points is None or (_fine(points) and points >= ZERO))):
            return
        faults = Faults()
        where = f"actuals[{self.code}]"
        if not isinstance(self.code, str) or not self.code:
            faults.add("actuals[].code", "an actual needs a non-empty code")
        if self.value is not None and not is_finite_decimal(self.value):
            faults.add(f"{where}.value", "must be a finite Decimal")
        if self.rating is not None and (not isinstance(self.rating, str) or not self.rating):
            faults.add(f"{where}.rating", "must be a non-empty string")
        if self.milestones_met is not None and (
                isinstance(self.milestones_met, bool) or not isinstance(self.milestones_met, int)
                or self.milestones_met < 0):
            faults.add(f"{where}.milestones_met", "must be a whole number >= 0")
        if self.veto_hit is not None and not isinstance(self.veto_hit, bool):
            faults.add(f"{where}.veto_hit", "must be true or false")
        if self.points is not None and (not is_finite_decimal(self.points)
                                        or self.points < ZERO):
            faults.add(f"{where}.points",
                       "must be a finite Decimal >= 0 (a penalty's points are taken off)")
        if faults:
            raise AppraisalInputInvalid(faults.summary(), errors=faults.errors)


@dataclass(frozen=True, slots=True)
class PastYear:
    """A finished annual appraisal of the same manager: the history exit rules look at."""

    year: int
    total: Decimal
    grade: Grade

    def __post_init__(self) -> None:
        if type(self.grade) is not Grade:
            try:
                _set(self, "grade", Grade(self.grade))
            except ValueError:
                raise AppraisalInputInvalid(
                    f"history[{self.year}].grade: unknown grade {self.grade!r}",
                    errors={f"history[{self.year}].grade": ["unknown grade"]}) from None
        if not is_finite_decimal(self.total):
            raise AppraisalInputInvalid(
                f"history[{self.year}].total must be a finite Decimal",
                errors={f"history[{self.year}].total": ["must be a finite Decimal"]})


@dataclass(frozen=True, slots=True)
class Term:
    """The calendar years of a tenure term, both ends included (e.g. 2024-2026)."""

    start_year: int
    end_year: int

    def __post_init__(self) -> None:
        if self.end_year < self.start_year:
            raise AppraisalInputInvalid(
                f"term: ends ({self.end_year}) before it starts ({self.start_year})",
                errors={"term.end_year": ["must not be before start_year"]})

    def __contains__(self, year: object) -> bool:
        return isinstance(year, int) and self.start_year <= year <= self.end_year


# --- plain dicts (the contracts service's stored targets, API payloads) ----------------------

_TARGET_DECIMALS = ("weight", "base", "target", "challenge", "max_points")


def target_from_dict(raw: Mapping[str, Any], path: str = "targets[0]") -> IndicatorTarget:
    """One target line from a plain dict, as the contracts service stores and sends them.

    `code` or `indicator_code` names the indicator; decimals are strings; keys this service
    does not read (`unit`, `description`) are ignored.
    """
    faults = Faults()
    code = raw.get("code", raw.get("indicator_code"))
    if not isinstance(code, str) or not code:
        faults.add(f"{path}.code", "required: a non-empty string")
    values: dict[str, Any] = {}
    for name in _TARGET_DECIMALS:
        values[name] = to_optional_decimal(raw.get(name), f"{path}.{name}", faults)
    for name, cls, default in (("kind", IndicatorKind, IndicatorKind.QUANTITATIVE),
                               ("direction", Direction, Direction.HIGHER_IS_BETTER),
                               ("role", TargetRole, TargetRole.SCORED),
                               ("part", TargetPart, TargetPart.INDIVIDUAL)):
        value = raw.get(name)
        values[name] = default if value is None else to_enum(cls, value, f"{path}.{name}",
                                                              faults)
    values["main"] = to_bool(raw.get("main", False), f"{path}.main", faults)
    milestones = raw.get("milestones")
    values["milestones"] = None if milestones is None else to_int(
        milestones, f"{path}.milestones", faults)
    name = raw.get("name", "")
    values["name"] = name if isinstance(name, str) else str(name)
    if faults:
        raise AppraisalInputInvalid(faults.summary(), errors=faults.errors)
    return IndicatorTarget(code=code, **values)  # type: ignore[arg-type]


def targets_from_dicts(raws: Iterable[Mapping[str, Any]]) -> tuple[IndicatorTarget, ...]:
    """Target lines from plain dicts; a faulty line raises with its index in the path."""
    return tuple(target_from_dict(raw, f"targets[{i}]") for i, raw in enumerate(raws))


def actual_from_dict(raw: Mapping[str, Any], path: str = "actuals[0]") -> Actual:
    """One actual from a plain dict: `code` (or `indicator_code`) and the field of its kind."""
    faults = Faults()
    code = raw.get("code", raw.get("indicator_code"))
    if not isinstance(code, str) or not code:
        faults.add(f"{path}.code", "required: a non-empty string")
    value = to_optional_decimal(raw.get("value"), f"{path}.value", faults)
    points = to_optional_decimal(raw.get("points"), f"{path}.points", faults)
    met = raw.get("milestones_met")
    milestones_met = None if met is None else to_int(met, f"{path}.milestones_met", faults)
    hit = raw.get("veto_hit")
    veto_hit = None if hit is None else to_bool(hit, f"{path}.veto_hit", faults)
    rating = raw.get("rating")
    if rating is not None and not isinstance(rating, str):
        faults.add(f"{path}.rating", "must be a string")
    if faults:
        raise AppraisalInputInvalid(faults.summary(), errors=faults.errors)
    return Actual(code=code, value=value, rating=rating,  # type: ignore[arg-type]
                  milestones_met=milestones_met, veto_hit=veto_hit,  # type: ignore[arg-type]
                  points=points)  # type: ignore[arg-type]


def actuals_from_dicts(raws: Iterable[Mapping[str, Any]]) -> tuple[Actual, ...]:
    return tuple(actual_from_dict(raw, f"actuals[{i}]") for i, raw in enumerate(raws))
