"""A performance contract as both services read it: a target line, its rules, the composition.

The contracts service accepts targets; the appraisal service scores them. Whatever the first
accepts the second must be able to score, so the shape of a line, the rules a line obeys and
the rule that says which parts of the score a position is appraised on are written here,
once, in plain Python (no Flask, no SQLAlchemy, no I/O). docs/performance-contract.md
explains each rule with examples.

- `TargetLine`: one line of an annual or tenure performance contract.
- `line_faults`: the rules of one line (roles, weights, levels ordered by direction, kinds).
  `contract=True` adds what a signed document must also say (weights of at most 100 with two
  decimals, a cap on bonus / penalty lines, milestones only on key tasks).
- `document_faults`: a whole document: known and distinct indicators, scored weights
  summing to exactly 100 and, for an annual document, the composition rule.
- `Proportion`, `POSITION_PROPORTIONS`, `DEFAULT_PROPORTION`: how a position's score splits
  between the organisation's score and the manager's own (the appraisal scheme's defaults).
- `resolve_part`: the part a line takes when the request leaves it out.
- `appraisability`: whether a contract's documents can be appraised, and why not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Protocol

from shared.vocabulary import (
    DOCUMENT_NAMES,
    Direction,
    DocumentKind,
    IndicatorKind,
    Position,
    TargetPart,
    TargetRole,
)

ZERO = Decimal("0")
ONE = Decimal("1")
HUNDRED = Decimal("100")
CENT = Decimal("0.01")

ANNUAL = DocumentKind.ANNUAL_PERFORMANCE_CONTRACT
TENURE = DocumentKind.TENURE_PERFORMANCE_CONTRACT

# --- the composition rule ---------------------------------------------------------------------


@dataclass(frozen=True)
class Proportion:
    """How a manager's score splits between the organisation's and their own indicators."""

    organisational: Decimal
    individual: Decimal

    def share(self, part: TargetPart | str) -> Decimal:
        """The weight of one part in the composed score."""
        return (self.organisational if part == TargetPart.ORGANISATIONAL
                else self.individual)

    def sole_part(self) -> TargetPart | None:
        """The one part a position is scored on (100 %), or None when both count."""
        if self.individual == ZERO and self.organisational > ZERO:
            return TargetPart.ORGANISATIONAL
        if self.organisational == ZERO and self.individual > ZERO:
            return TargetPart.INDIVIDUAL
        return None


#: Any position without a proportion of its own: half the organisation's score, half their own.
DEFAULT_PROPORTION = Proportion(Decimal("0.50"), Decimal("0.50"))

#: The chair and the general manager answer for the enterprise as a whole.
POSITION_PROPORTIONS: Mapping[str, Proportion] = MappingProxyType({
    Position.CHAIR.value: Proportion(Decimal("1.00"), Decimal("0.00")),
    Position.GENERAL_MANAGER.value: Proportion(Decimal("1.00"), Decimal("0.00")),
})


def proportion_for(position: str | None,
                   positions: Mapping[str, Proportion] = POSITION_PROPORTIONS,
                   default: Proportion = DEFAULT_PROPORTION) -> Proportion:
    """The proportion a position is scored with (an appraisal scheme may pass its own)."""
    if position is None:
        return default
    return positions.get(str(position), default)


#: The tenure appraisal's default shares: the term's annual scores and the tenure targets.
TENURE_ANNUAL_SHARE = Decimal("0.60")
TENURE_TARGETS_SHARE = Decimal("0.40")


def missing_part_message(position: str | None, part: TargetPart | str,
                         share: Decimal) -> str:
    """Why a position cannot be scored without a scored line of this part."""
    whose = ("the organisation's score" if part == TargetPart.ORGANISATIONAL
             else "the manager's own score")
    return (f"position {position or '(any)'} takes {share} from {whose}, but no scored line "
            f"is {TargetPart(part).value}")


def composition_faults(lines: Iterable[HasRoleAndPart], proportion: Proportion,
                       position: str | None) -> list[str]:
    """Each part the position is scored on (proportion above 0) needs a scored line.

    A part at 0 may hold lines: the appraisal scores and traces them but does not count them.
    """
    scored_parts = {str(line.part) for line in lines if line.role == TargetRole.SCORED}
    return [missing_part_message(position, part, proportion.share(part))
            for part in TargetPart
            if proportion.share(part) > ZERO and part.value not in scored_parts]


class HasRoleAndPart(Protocol):
    """A target line as either service holds it (TargetLine or the appraisal's own)."""

    @property
    def role(self) -> Any: ...

    @property
    def part(self) -> Any: ...


# --- one target line --------------------------------------------------------------------------


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
    """One line of a manager's annual or tenure targets.

    `scored` lines carry a weight (the document's scored weights sum to 100) and, if
    quantitative, the three levels base < target < challenge (reversed when lower is
    better). `veto` lines fail the year on their own; `bonus` / `penalty` lines add or take
    points up to `max_points`. `part` says whether the line measures the enterprise
    (organisational) or the manager (individual); a request that leaves it out gets it from
    the position (`resolve_part`). The indicator's kind and direction come from the library.
    """

    indicator_code: str
    role: TargetRole | str = TargetRole.SCORED
    weight: Decimal | None = None
    base: Decimal | None = None
    target: Decimal | None = None
    challenge: Decimal | None = None
    main: bool = False
    part: TargetPart | str = TargetPart.INDIVIDUAL
    max_points: Decimal | None = None
    milestones: int | None = None
    description: str = ""


def _dec(value: Any) -> Decimal | None:
    if value is None or isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal("NaN")  # reported as not finite by the rules


def line_from_stored(raw: Mapping[str, Any]) -> TargetLine:
    """A line from its stored (JSON) form: decimals as strings, every key optional but the code."""
    return TargetLine(
        indicator_code=str(raw.get("indicator_code", raw.get("code", ""))),
        role=raw.get("role") or TargetRole.SCORED.value,
        weight=_dec(raw.get("weight")), base=_dec(raw.get("base")),
        target=_dec(raw.get("target")), challenge=_dec(raw.get("challenge")),
        main=bool(raw.get("main", False)),
        part=raw.get("part") or TargetPart.INDIVIDUAL.value,
        max_points=_dec(raw.get("max_points")), milestones=raw.get("milestones"),
        description=raw.get("description", "") or "",
    )


def resolve_part(given: str | None, role: TargetRole | str, proportion: Proportion | None,
                 document: DocumentKind = ANNUAL) -> str | None:
    """The part of a line whose request left it out; None: the request must say it.

    A position scored on one part only (the chair and the general manager: 100 % on the
    organisation) puts every line there. Otherwise a veto, bonus or penalty line, and any
    tenure line (the tenure appraisal pools its lines), is individual; a scored annual line
    of a position scored on both parts (or of a template for any position) must say which.
    """
    if given is not None:
        return given
    sole = proportion.sole_part() if proportion is not None else None
    if sole is not None:
        return sole.value
    if role != TargetRole.SCORED or document == TENURE:
        return TargetPart.INDIVIDUAL.value
    return None


def part_required_message(position: str | None, proportion: Proportion | None) -> str:
    if position is None or proportion is None:
        return ("required: a template for any position must say whether each scored line is "
                "organisational or individual")
    return (f"required: a {position} is scored {proportion.organisational} on the "
            f"organisation and {proportion.individual} on their own duties; say "
            "organisational or individual")


def _finite(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite()


Fault = tuple[str, str]  # (field of the line, message)


def level_faults(base: Decimal | None, target: Decimal | None, challenge: Decimal | None,
                 direction: Direction) -> list[Fault]:
    """Levels strictly ordered in the indicator's direction; equal levels score nothing."""
    faults: list[Fault] = []
    for name, value in (("base", base), ("target", target), ("challenge", challenge)):
        if value is None:
            faults.append((name, "a scored quantitative line needs base, target and challenge"))
        elif not _finite(value):
            faults.append((name, "must be a finite decimal number"))
    if faults or base is None or target is None or challenge is None:
        return faults
    if Direction(direction) == Direction.HIGHER_IS_BETTER:
        if not base < target:
            faults.append(("target", f"must be above base ({base}): higher is better"))
        if not target < challenge:
            faults.append(("challenge", f"must be above target ({target}): higher is better"))
    else:
        if not base > target:
            faults.append(("target", f"must be below base ({base}): lower is better"))
        if not target > challenge:
            faults.append(("challenge", f"must be below target ({target}): lower is better"))
    return faults


def _weight_faults(line: TargetLine, role: TargetRole, contract: bool) -> list[Fault]:
    weight = line.weight
    if role != TargetRole.SCORED:
        return [] if weight is None else [("weight", f"a {role} line carries no weight")]
    if weight is None:
        return [("weight", "a scored line needs a weight")]
    if not _finite(weight):
        return [("weight", "must be a finite decimal number")]
    if weight <= ZERO:
        return [("weight", "must be greater than 0")]
    if contract and weight > HUNDRED:
        return [("weight", "must not exceed 100")]
    if contract and weight != weight.quantize(CENT):
        return [("weight", "at most 2 decimal places")]
    return []


def _points_faults(line: TargetLine, role: TargetRole, contract: bool) -> list[Fault]:
    cap = line.max_points
    if role not in (TargetRole.BONUS, TargetRole.PENALTY):
        return [] if cap is None else [("max_points",
                                        "only bonus and penalty lines have max_points")]
    if cap is None:
        return [("max_points", f"a {role} line needs max_points (its cap)")] if contract else []
    if not _finite(cap):
        return [("max_points", "must be a finite decimal number")]
    if contract and cap <= ZERO:
        return [("max_points", "must be greater than 0")]
    if cap < ZERO:
        return [("max_points", "must not be negative")]
    return []


def _milestone_faults(line: TargetLine, kind: IndicatorKind, role: TargetRole,
                      contract: bool) -> list[Fault]:
    needs = kind == IndicatorKind.KEY_TASK and (contract or role == TargetRole.SCORED)
    m = line.milestones
    if needs and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
        return [("milestones", "a key task needs at least one milestone")]
    if contract and kind != IndicatorKind.KEY_TASK and m is not None:
        return [("milestones", "only key tasks have milestones")]
    return []


def line_faults(line: TargetLine, kind: IndicatorKind | str | None,
                direction: Direction | str | None, *, contract: bool = True) -> list[Fault]:
    """Every fault of one line, as (field, message); kind None: the indicator is unknown,
    so the rules that depend on its kind wait.

    With `contract` False only what scoring needs is checked (the appraisal service's
    inputs, e.g. a what-if): a weight above 0, levels in order, milestones on a scored key
    task, `max_points` >= 0 if given.
    """
    try:
        role = TargetRole(line.role)
    except ValueError:
        return [("role", f"must be one of {', '.join(TargetRole)}")]
    faults: list[Fault] = []
    if str(line.part) not in {p.value for p in TargetPart}:
        faults.append(("part", f"must be one of {', '.join(TargetPart)}"))
    faults += _weight_faults(line, role, contract)
    faults += _points_faults(line, role, contract)
    for name in ("base", "target", "challenge"):
        value = getattr(line, name)
        if value is not None and not _finite(value):
            faults.append((name, "must be a finite decimal number"))
    if kind is None:
        return faults
    kind = IndicatorKind(kind)
    if kind == IndicatorKind.QUANTITATIVE and role == TargetRole.SCORED:
        faults += [f for f in level_faults(line.base, line.target, line.challenge,
                                           Direction(direction or Direction.HIGHER_IS_BETTER))
                   if f not in faults]
    if contract and kind == IndicatorKind.QUALITATIVE:
        faults += [(name, "a qualitative indicator has no levels")
                   for name in ("base", "target", "challenge")
                   if getattr(line, name) is not None]
    faults += _milestone_faults(line, kind, role, contract)
    if line.main and not (kind == IndicatorKind.QUANTITATIVE and role == TargetRole.SCORED):
        faults.append(("main", "only a scored quantitative line can be a main indicator"))
    return faults


# --- one document -----------------------------------------------------------------------------


def document_name(document: DocumentKind | str, year: int | None = None) -> str:
    """"the 2026 annual performance contract", "the tenure performance contract"."""
    name = DOCUMENT_NAMES[DocumentKind(document)]
    return f"the {year} {name}" if year else f"the {name}"


def document_faults(lines: Sequence[TargetLine],
                    library: Mapping[str, IndicatorDefinition] | None, *,
                    field: str = "targets", document: DocumentKind = ANNUAL,
                    position: str | None = None,
                    proportion: Proportion | None = None) -> dict[str, list[str]]:
    """Every fault of one document's targets, keyed `<field>[i].<field of the line>` (i
    from 0, as sent) and `<field>` for the whole.

    The indicators are in the library (when one is given) and appear once (the later line
    is blamed); every line obeys `line_faults`; the scored weights sum to exactly 100.00
    (99.99 and 100.01 are refused: a weight that cannot be written down exactly is a weight
    nobody agreed to). An annual document given a `proportion` also meets the composition
    rule. An empty document is refused too: callers that allow "no targets yet" check first.
    """
    errors: dict[str, list[str]] = {}
    first_seen: dict[str, int] = {}
    total = ZERO

    def add(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    for i, line in enumerate(lines):
        where = f"{field}[{i}]"
        definition = library.get(line.indicator_code) if library is not None else None
        if library is not None and definition is None:
            add(f"{where}.indicator_code", f"unknown indicator '{line.indicator_code}'")
        if line.indicator_code in first_seen:
            add(f"{where}.indicator_code",
                f"duplicate of {field}[{first_seen[line.indicator_code]}]")
        else:
            first_seen[line.indicator_code] = i
        kind = definition.kind if definition is not None else None
        direction = definition.direction if definition is not None else None
        for name, message in line_faults(line, kind, direction, contract=True):
            add(f"{where}.{name}", message)
        if line.role == TargetRole.SCORED and _finite(line.weight):
            total += line.weight  # type: ignore[operator]
    if total != HUNDRED:
        add(field, f"the weights of the scored lines sum to {total}, not 100")
    elif document == ANNUAL and proportion is not None:
        for message in composition_faults(lines, proportion, position):
            add(field, message)
    return errors


def faults_summary(errors: Mapping[str, Sequence[str]]) -> str:
    return "; ".join(f"{key}: {msg}" for key, msgs in errors.items() for msg in msgs)


# --- can it be appraised? ---------------------------------------------------------------------


@dataclass(frozen=True)
class Unappraisable:
    """Why one document cannot be appraised: `document` is "annual" or "tenure"."""

    document: str
    year: int | None
    reason: str


@dataclass(frozen=True)
class Appraisability:
    """Whether the annual appraisals (every year of the term) and the tenure appraisal can
    score the contract's targets, and every reason they cannot."""

    annual: bool
    tenure: bool
    reasons: tuple[Unappraisable, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The JSON form; its keys are in this order wherever it is sent or stored."""
        return {"annual": self.annual, "tenure": self.tenure,
                "reasons": [{"document": r.document, "year": r.year, "reason": r.reason}
                            for r in self.reasons]}


def annual_scoring_faults(lines: Sequence[HasRoleAndPart], position: str | None,
                          proportion: Proportion) -> list[str]:
    """What stops the annual appraisal from scoring these lines for this position."""
    if not any(line.role == TargetRole.SCORED for line in lines):
        return ["no scored targets"]
    return composition_faults(lines, proportion, position)


def tenure_scoring_faults(lines: Sequence[HasRoleAndPart],
                          targets_share: Decimal = TENURE_TARGETS_SHARE) -> list[str]:
    """What stops the tenure appraisal: it weighs the tenure targets at `targets_share`."""
    if targets_share > ZERO and not any(line.role == TargetRole.SCORED for line in lines):
        return [f"no scored tenure targets, which the tenure appraisal weighs at "
                f"{targets_share}"]
    return []


def appraisability(position: str | None, annual: Mapping[int, Sequence[HasRoleAndPart]],
                   tenure: Sequence[HasRoleAndPart] | None, *,
                   proportion: Proportion | None = None,
                   tenure_targets_share: Decimal = TENURE_TARGETS_SHARE) -> Appraisability:
    """Whether each year's annual targets and the tenure targets can be scored for the
    position, under `proportion` (default: the shared rule for the position) and the tenure
    appraisal's targets share (default 0.40). `annual` maps each year of the term to its
    lines; `tenure` None means the contract has no tenure document."""
    prop = proportion if proportion is not None else proportion_for(position)
    reasons: list[Unappraisable] = []
    if not annual:
        reasons.append(Unappraisable("annual", None, "no annual performance contract"))
    for year in sorted(annual):
        lines = annual[year]
        if not lines:
            reasons.append(Unappraisable("annual", year, f"no annual targets for {year}"))
            continue
        reasons += [Unappraisable("annual", year, msg)
                    for msg in annual_scoring_faults(lines, position, prop)]
    tenure_reasons = [Unappraisable("tenure", None, msg) for msg in tenure_scoring_faults(
        tenure if tenure is not None else (), tenure_targets_share)]
    return Appraisability(annual=not reasons, tenure=not tenure_reasons,
                          reasons=(*reasons, *tenure_reasons))
