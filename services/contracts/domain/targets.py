"""Annual targets: which indicators, how they weigh, and the base/target/challenge levels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from services.contracts.domain.errors import TargetsInvalid, TargetsLocked
from services.contracts.domain.vocabulary import (
    Direction,
    IndicatorKind,
    TargetPart,
    TargetRole,
)

HUNDRED = Decimal("100")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class IndicatorDefinition:
    """An indicator in the group's library (e.g. net profit, in 10k CNY, higher is better)."""

    code: str
    name: str
    unit: str
    kind: IndicatorKind
    direction: Direction


@dataclass(frozen=True)
class TargetLine:
    """One line of a manager's annual targets.

    `scored` lines carry a weight (all weights sum to 100) and, if quantitative, the three
    levels base < target < challenge (reversed when lower is better). `veto` lines fail the
    year on their own; `bonus` / `penalty` lines add or take points up to `max_points`.
    """

    indicator_code: str
    role: TargetRole
    weight: Decimal | None
    base: Decimal | None
    target: Decimal | None
    challenge: Decimal | None
    main: bool = False
    part: str = TargetPart.INDIVIDUAL.value
    max_points: Decimal | None = None
    milestones: int | None = None
    description: str = ""


def _finite(value: Decimal | None) -> bool:
    return isinstance(value, Decimal) and value.is_finite()


class _Add:
    """Collects messages for one line under `indicators[i].<field>`."""

    def __init__(self, errors: dict[str, list[str]], index: int) -> None:
        self.errors, self.index = errors, index

    def __call__(self, field: str, message: str) -> None:
        self.errors.setdefault(f"indicators[{self.index}].{field}", []).append(message)


def _check_levels(line: TargetLine, direction: Direction, add: _Add) -> None:
    """Levels strictly ordered in the indicator's direction; equal levels score nothing."""
    base, target, challenge = line.base, line.target, line.challenge
    for name, value in (("base", base), ("target", target), ("challenge", challenge)):
        if value is None:
            add(name, "a scored quantitative line needs base, target and challenge")
        elif not _finite(value):
            add(name, "must be a finite decimal number")
    if (base is None or target is None or challenge is None
            or not (_finite(base) and _finite(target) and _finite(challenge))):
        return
    if direction == Direction.HIGHER_IS_BETTER:
        if not base < target:
            add("target", f"must be above base ({base}): higher is better")
        if not target < challenge:
            add("challenge", f"must be above target ({target}): higher is better")
    else:
        if not base > target:
            add("target", f"must be below base ({base}): lower is better")
        if not target > challenge:
            add("challenge", f"must be below target ({target}): lower is better")


def _check_line(line: TargetLine, definition: IndicatorDefinition | None, add: _Add) -> None:
    try:
        role = TargetRole(line.role)
    except ValueError:
        add("role", f"must be one of {', '.join(TargetRole)}")
        return
    if line.part not in set(TargetPart):
        add("part", f"must be one of {', '.join(TargetPart)}")

    if role == TargetRole.SCORED:
        if line.weight is None:
            add("weight", "a scored line needs a weight")
        elif not _finite(line.weight):
            add("weight", "must be a finite decimal number")
        elif line.weight <= 0:
            add("weight", "must be greater than 0")
        elif line.weight > HUNDRED:
            add("weight", "must not exceed 100")
        elif line.weight != line.weight.quantize(CENT):
            add("weight", "at most 2 decimal places")
    elif line.weight is not None:
        add("weight", f"a {role} line carries no weight")

    if role in (TargetRole.BONUS, TargetRole.PENALTY):
        if line.max_points is None:
            add("max_points", f"a {role} line needs max_points (its cap)")
        elif not _finite(line.max_points):
            add("max_points", "must be a finite decimal number")
        elif line.max_points <= 0:
            add("max_points", "must be greater than 0")
    elif line.max_points is not None:
        add("max_points", "only bonus and penalty lines have max_points")

    if definition is None:
        return  # the kind-dependent rules need the indicator
    kind = IndicatorKind(definition.kind)
    if kind == IndicatorKind.QUANTITATIVE and role == TargetRole.SCORED:
        _check_levels(line, Direction(definition.direction), add)
    if kind == IndicatorKind.QUALITATIVE:
        for name in ("base", "target", "challenge"):
            if getattr(line, name) is not None:
                add(name, "a qualitative indicator has no levels")
    if kind == IndicatorKind.KEY_TASK:
        if (isinstance(line.milestones, bool) or not isinstance(line.milestones, int)
                or line.milestones < 1):
            add("milestones", "a key task needs at least one milestone")
    elif line.milestones is not None:
        add("milestones", "only key tasks have milestones")
    if line.main and not (kind == IndicatorKind.QUANTITATIVE and role == TargetRole.SCORED):
        add("main", "only a scored quantitative line can be a main indicator")


def validate_targets(lines: Sequence[TargetLine],
                     library: Mapping[str, IndicatorDefinition]) -> None:
    """Check a set of annual targets and report every fault at once (TargetsInvalid).

    Faults are keyed `indicators[i].<field>` (i counts from 0, as in the request) and the sum
    of the scored weights under `indicators`: it must be exactly 100.00, so 99.99 and 100.01
    are refused: a weight that cannot be written down exactly is a weight nobody agreed to.
    """
    errors: dict[str, list[str]] = {}
    first_seen: dict[str, int] = {}
    total = Decimal("0")
    for i, line in enumerate(lines):
        add = _Add(errors, i)
        definition = library.get(line.indicator_code)
        if definition is None:
            add("indicator_code", f"unknown indicator '{line.indicator_code}'")
        if line.indicator_code in first_seen:
            add("indicator_code", f"duplicate of indicators[{first_seen[line.indicator_code]}]")
        else:
            first_seen[line.indicator_code] = i
        _check_line(line, definition, add)
        weight = line.weight
        if line.role == TargetRole.SCORED and isinstance(weight, Decimal) and weight.is_finite():
            total += weight
    if total != HUNDRED:
        errors.setdefault("indicators", []).append(
            f"the weights of the scored lines sum to {total}, not 100")
    if errors:
        faults = sum(len(v) for v in errors.values())
        raise TargetsInvalid(
            f"The targets have {faults} fault(s): " + "; ".join(
                f"{key}: {msg}" for key, msgs in errors.items() for msg in msgs),
            errors=errors,
        )


def check_targets_editable(annual_contract_signed: bool) -> None:
    """Targets change until the annual performance contract is signed, then never."""
    if annual_contract_signed:
        raise TargetsLocked(
            "The annual performance contract is signed: its targets are locked; amend the "
            "contract instead", errors={"targets": ["locked by the signed annual contract"]},
        )
