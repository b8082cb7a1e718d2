"""Appraisal schemes: every break-point of the rules, per layer/category/position, versioned.

A `Scheme` is a frozen value checked when it is built, so a scheme that exists is valid and
the scoring path never parses or re-checks one. Its JSON-ready form lives in
`scheme_form`, its resolution for a manager in `scheme_book`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from itertools import pairwise
from typing import Any

from services.appraisal.domain.errors import SchemeInvalid
from services.appraisal.domain.exit_decisions import (
    DEFAULT_APPEAL_WINDOW_DAYS,
    DEFAULT_APPEAL_WINDOW_ZONE,
    MAX_APPEAL_WINDOW_DAYS,
    MIN_APPEAL_WINDOW_DAYS,
    zone_of,
)
from services.appraisal.domain.frozen import FrozenMap
from services.appraisal.domain.numbers import CENT, ONE, ZERO, places
from services.appraisal.domain.parsing import Faults
from services.appraisal.domain.vocabulary import (
    GRADE_ORDER,
    BelowBaseRule,
    FailedYearsMode,
    Grade,
    TenureOutcome,
    VetoMode,
)
from shared.performance_contract import (
    DEFAULT_PROPORTION,
    POSITION_PROPORTIONS,
    TENURE_ANNUAL_SHARE,
    TENURE_TARGETS_SHARE,
    Proportion,
    proportion_for,
)

SLUG = re.compile(r"^[a-z][a-z0-9_]{1,47}$")
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: No share of a weight may exceed 200 %: a guard against a typo such as "12" for "1.2".
MAX_SHARE = Decimal("2")


def _frozen_map(obj: object, name: str) -> None:
    value = getattr(obj, name)
    if not isinstance(value, FrozenMap):
        object.__setattr__(obj, name, FrozenMap(value))


# --- the sections of a scheme ----------------------------------------------------------------


DEFAULT_RATINGS = {"A": Decimal("1.20"), "B": Decimal("1.00"), "C": Decimal("0.80"),
                   "D": Decimal("0.60"), "E": Decimal("0.00")}


@dataclass(frozen=True)
class ScoringRules:
    """Indicator scoring: shares of the weight at each level and for ratings and milestones.

    Shares are fractions of the indicator's weight ("0.60" = 60 %). The challenge share is
    also the cap: no indicator earns more than `challenge_share` x weight.
    """

    base_share: Decimal = Decimal("0.60")
    target_share: Decimal = Decimal("1.00")
    challenge_share: Decimal = Decimal("1.20")
    below_base: BelowBaseRule = BelowBaseRule.PROPORTIONAL
    ratings: Mapping[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_RATINGS))
    key_task_share: Decimal = Decimal("1.00")

    def __post_init__(self) -> None:
        _frozen_map(self, "ratings")


def _default_positions() -> dict[str, Proportion]:
    return dict(POSITION_PROPORTIONS)


@dataclass(frozen=True)
class CompositionRules:
    """Organisational vs individual proportions by position, and the difficulty coefficient.

    The defaults are the shared composition rule (shared/performance_contract.py), the one
    the contracts service checks targets against.
    """

    default: Proportion = DEFAULT_PROPORTION
    positions: Mapping[str, Proportion] = field(default_factory=_default_positions)
    difficulty_min: Decimal = Decimal("0.80")
    difficulty_max: Decimal = Decimal("1.20")
    #: True: difficulty never lifts the organisational score above the challenge cap.
    difficulty_capped: bool = True

    def __post_init__(self) -> None:
        _frozen_map(self, "positions")

    def for_position(self, position: str | None) -> Proportion:
        return proportion_for(position, self.positions, self.default)


@dataclass(frozen=True)
class ItemRules:
    """Bonus and penalty items (capped sums) and what a red-line (veto) item does."""

    bonus_cap: Decimal | None = Decimal("5.00")
    penalty_cap: Decimal | None = None
    veto_mode: VetoMode = VetoMode.LOWEST_GRADE
    #: None: one hundredth below the exit line (69.99 for the default line of 70).
    veto_cap: Decimal | None = None


@dataclass(frozen=True)
class GradeBands:
    """The lowest total of each grade; a total below `basically_competent` is not competent."""

    excellent: Decimal = Decimal("90.00")
    good: Decimal = Decimal("80.00")
    competent: Decimal = Decimal("70.00")
    basically_competent: Decimal = Decimal("60.00")

    def floors(self) -> tuple[tuple[Grade, Decimal], ...]:
        return ((Grade.EXCELLENT, self.excellent), (Grade.GOOD, self.good),
                (Grade.COMPETENT, self.competent),
                (Grade.BASICALLY_COMPETENT, self.basically_competent))


@dataclass(frozen=True)
class DistributionRules:
    """Forced distribution in a cohort: at most these shares at the top grades."""

    excellent_share: Decimal = Decimal("0.30")
    good_or_better_share: Decimal | None = None
    #: True: everyone tied (same total) with the last one inside a quota keeps the grade.
    ties_keep_grade: bool = False


DEFAULT_COEFFICIENTS = {Grade.EXCELLENT: Decimal("1.20"), Grade.GOOD: Decimal("1.00"),
                        Grade.COMPETENT: Decimal("0.80"),
                        Grade.BASICALLY_COMPETENT: Decimal("0.60"),
                        Grade.NOT_COMPETENT: Decimal("0.00")}
DEFAULT_RELEASE = {TenureOutcome.RENEW: Decimal("1.00"),
                   TenureOutcome.RENEW_WITH_CONDITIONS: Decimal("0.50"),
                   TenureOutcome.EXIT: Decimal("0.00")}


@dataclass(frozen=True)
class PayRules:
    """Performance pay: coefficient by grade, deferred share, release by tenure outcome."""

    coefficients: Mapping[Grade, Decimal] = field(
        default_factory=lambda: dict(DEFAULT_COEFFICIENTS))
    deferred_share: Decimal = Decimal("0.50")
    release: Mapping[TenureOutcome, Decimal] = field(
        default_factory=lambda: dict(DEFAULT_RELEASE))

    def __post_init__(self) -> None:
        _frozen_map(self, "coefficients")
        _frozen_map(self, "release")


@dataclass(frozen=True)
class ExitRules:
    """The rigid-exit triggers (each on/off with its threshold) and the bottom grades."""

    score_below_enabled: bool = True
    exit_line: Decimal = Decimal("70.00")
    grade_not_competent_enabled: bool = True
    main_indicator_enabled: bool = True
    main_completion_min: Decimal = Decimal("0.70")
    failed_years_enabled: bool = True
    failed_years_count: int = 2
    failed_years_mode: FailedYearsMode = FailedYearsMode.CONSECUTIVE
    veto_enabled: bool = True
    tenure_not_passed_enabled: bool = True
    #: Grades that lead to bottom-grade adjustment (moved or demoted), never a percentage.
    bottom_grades: frozenset[Grade] = frozenset({Grade.BASICALLY_COMPETENT})
    #: Calendar days after publication to appeal; an exit waits them out (exit_decisions.py).
    appeal_window_days: int = DEFAULT_APPEAL_WINDOW_DAYS
    #: The zone whose calendar days count for the window (an IANA name).
    appeal_window_zone: str = DEFAULT_APPEAL_WINDOW_ZONE

    def __post_init__(self) -> None:
        if not isinstance(self.bottom_grades, frozenset):
            object.__setattr__(self, "bottom_grades", frozenset(self.bottom_grades))


@dataclass(frozen=True)
class TenureRules:
    """The tenure appraisal: annual scores vs tenure targets, and the outcome thresholds."""

    annual_share: Decimal = TENURE_ANNUAL_SHARE
    targets_share: Decimal = TENURE_TARGETS_SHARE
    #: Weights of the term's years, oldest first (sum 1); None: the plain mean.
    year_weights: tuple[Decimal, ...] | None = None
    renew_min: Decimal = Decimal("80.00")
    conditions_min: Decimal = Decimal("70.00")

    def __post_init__(self) -> None:
        if self.year_weights is not None and not isinstance(self.year_weights, tuple):
            object.__setattr__(self, "year_weights", tuple(self.year_weights))


SECTIONS: dict[str, type] = {
    "scoring": ScoringRules, "composition": CompositionRules, "items": ItemRules,
    "grades": GradeBands, "distribution": DistributionRules, "pay": PayRules,
    "exits": ExitRules, "tenure": TenureRules,
}

GROUP_DEFAULT_CODE = "group_default"


@dataclass(frozen=True)
class Scheme:
    """Every parameter of the appraisal rules for one (layer, category, position), versioned.

    `layer`, `category`, `position` None are wildcards: all three None is a group default.
    `valid_from_year` (None: always) lets a new version apply from a given appraisal year.
    """

    code: str = GROUP_DEFAULT_CODE
    version: int = 1
    name: str = ""
    layer: int | None = None
    category: str | None = None
    position: str | None = None
    valid_from_year: int | None = None
    scoring: ScoringRules = field(default_factory=ScoringRules)
    composition: CompositionRules = field(default_factory=CompositionRules)
    items: ItemRules = field(default_factory=ItemRules)
    grades: GradeBands = field(default_factory=GradeBands)
    distribution: DistributionRules = field(default_factory=DistributionRules)
    pay: PayRules = field(default_factory=PayRules)
    exits: ExitRules = field(default_factory=ExitRules)
    tenure: TenureRules = field(default_factory=TenureRules)

    def __post_init__(self) -> None:
        faults = scheme_faults(self)
        if faults:
            raise SchemeInvalid(f"Scheme {self.code!r} v{self.version} is invalid: "
                                f"{faults.summary()}", errors=faults.errors)
        veto_cap = self.items.veto_cap
        object.__setattr__(self, "_veto_cap",
                           self.exits.exit_line - CENT if veto_cap is None else veto_cap)

    def __hash__(self) -> int:
        return hash((self.code, self.version))

    @property
    def key(self) -> tuple[int | None, str | None, str | None]:
        return (self.layer, self.category, self.position)

    @property
    def is_group_default(self) -> bool:
        return self.key == (None, None, None)

    @property
    def veto_cap(self) -> Decimal:
        """The total a vetoed year is capped at in `cap_total` mode (default 69.99)."""
        return self._veto_cap  # type: ignore[attr-defined,no-any-return]


# --- validation: every fault, by field path ----------------------------------------------------


def _dec_ok(faults: Faults, path: str, value: Any, *, low: Decimal | None = ZERO,
            high: Decimal | None = None, max_places: int = 4, low_open: bool = False) -> bool:
    if not isinstance(value, Decimal) or not value.is_finite():
        faults.add(path, "must be a finite decimal")
        return False
    ok = True
    if low is not None and (value <= low if low_open else value < low):
        faults.add(path, f"must be {'greater than' if low_open else 'at least'} {low}")
        ok = False
    if high is not None and value > high:
        faults.add(path, f"must be at most {high}")
        ok = False
    if places(value) > max_places:
        faults.add(path, f"at most {max_places} decimal places")
        ok = False
    return ok


def _identity_faults(s: Scheme, faults: Faults) -> None:
    if not isinstance(s.code, str) or not CODE.fullmatch(s.code):
        faults.add("code", "1-64 letters, digits, '_', '.' or '-', starting with a letter/digit")
    if isinstance(s.version, bool) or not isinstance(s.version, int) or s.version < 1:
        faults.add("version", "must be a whole number >= 1")
    if not isinstance(s.name, str):
        faults.add("name", "must be a string")
    if s.layer is not None and (isinstance(s.layer, bool) or not isinstance(s.layer, int)
                                or s.layer < 1):
        faults.add("layer", "must be a whole number >= 1 (1 is the group HQ) or null")
    for name in ("category", "position"):
        value = getattr(s, name)
        if value is not None and (not isinstance(value, str) or not SLUG.fullmatch(value)):
            faults.add(name, "must be a slug (^[a-z][a-z0-9_]{1,47}$) or null")
    year = s.valid_from_year
    if year is not None and (isinstance(year, bool) or not isinstance(year, int)
                             or not 1900 <= year <= 9999):
        faults.add("valid_from_year", "must be a year (1900-9999) or null")


def _scoring_faults(r: ScoringRules, faults: Faults) -> None:
    p = "scoring."
    ok = all([_dec_ok(faults, p + "base_share", r.base_share, high=MAX_SHARE),
              _dec_ok(faults, p + "target_share", r.target_share, high=MAX_SHARE, low_open=True),
              _dec_ok(faults, p + "challenge_share", r.challenge_share, high=MAX_SHARE)])
    if ok:
        if r.base_share > r.target_share:
            faults.add(p + "base_share", f"must not exceed target_share ({r.target_share})")
        if r.target_share > r.challenge_share:
            faults.add(p + "challenge_share",
                       f"must be at least target_share ({r.target_share})")
    cap = r.challenge_share if ok else MAX_SHARE
    if not isinstance(r.below_base, BelowBaseRule):
        faults.add(p + "below_base", f"must be one of {', '.join(BelowBaseRule)}")
    if not r.ratings:
        faults.add(p + "ratings", "at least one rating")
    for key, share in r.ratings.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 16:
            faults.add(p + "ratings", f"rating {key!r}: 1-16 characters")
        else:
            _dec_ok(faults, f"{p}ratings.{key}", share, high=cap)
    _dec_ok(faults, p + "key_task_share", r.key_task_share, high=cap, low_open=True)


def _proportion_faults(prop: Any, path: str, faults: Faults) -> None:
    if not isinstance(prop, Proportion):
        faults.add(path, "must be a proportion (organisational, individual)")
        return
    ok = (_dec_ok(faults, path + ".organisational", prop.organisational, high=ONE)
          & _dec_ok(faults, path + ".individual", prop.individual, high=ONE))
    if ok and prop.organisational + prop.individual != ONE:
        faults.add(path, f"organisational + individual must be 1, not "
                         f"{prop.organisational + prop.individual}")


def _composition_faults(r: CompositionRules, faults: Faults) -> None:
    p = "composition."
    _proportion_faults(r.default, p + "default", faults)
    for position, prop in r.positions.items():
        if not isinstance(position, str) or not SLUG.fullmatch(position):
            faults.add(f"{p}positions.{position}", "a position is a slug")
        _proportion_faults(prop, f"{p}positions.{position}", faults)
    ok = (_dec_ok(faults, p + "difficulty_min", r.difficulty_min, high=ONE, low_open=True)
          & _dec_ok(faults, p + "difficulty_max", r.difficulty_max, low=ONE, high=MAX_SHARE))
    if ok and r.difficulty_min > r.difficulty_max:
        faults.add(p + "difficulty_min", "must not exceed difficulty_max")
    if not isinstance(r.difficulty_capped, bool):
        faults.add(p + "difficulty_capped", "must be true or false")


def _items_faults(r: ItemRules, exits: ExitRules, faults: Faults) -> None:
    p = "items."
    for name in ("bonus_cap", "penalty_cap"):
        value = getattr(r, name)
        if value is not None:
            _dec_ok(faults, p + name, value, max_places=2)
    if not isinstance(r.veto_mode, VetoMode):
        faults.add(p + "veto_mode", f"must be one of {', '.join(VetoMode)}")
    if r.veto_cap is not None and _dec_ok(faults, p + "veto_cap", r.veto_cap, max_places=2) \
            and isinstance(exits.exit_line, Decimal) and r.veto_cap >= exits.exit_line:
        faults.add(p + "veto_cap", f"must be below the exit line ({exits.exit_line})")


def _grades_faults(r: GradeBands, faults: Faults) -> None:
    floors = r.floors()
    oks = [_dec_ok(faults, f"grades.{g.value}", v, max_places=2) for g, v in floors]
    if all(oks):
        for (upper, hi), (lower, lo) in pairwise(floors):
            if not hi > lo:
                faults.add(f"grades.{upper.value}", f"must be above {lower.value} ({lo})")


def _distribution_faults(r: DistributionRules, faults: Faults) -> None:
    p = "distribution."
    ok = _dec_ok(faults, p + "excellent_share", r.excellent_share, high=ONE)
    if r.good_or_better_share is not None and _dec_ok(
            faults, p + "good_or_better_share", r.good_or_better_share, high=ONE) \
            and ok and r.good_or_better_share < r.excellent_share:
        faults.add(p + "good_or_better_share",
                   f"must be at least excellent_share ({r.excellent_share})")
    if not isinstance(r.ties_keep_grade, bool):
        faults.add(p + "ties_keep_grade", "must be true or false")


def _pay_faults(r: PayRules, faults: Faults) -> None:
    p = "pay."
    previous: tuple[Grade, Decimal] | None = None
    for grade in GRADE_ORDER:
        value = r.coefficients.get(grade)
        if value is None:
            faults.add(f"{p}coefficients.{grade.value}", "required")
            continue
        if _dec_ok(faults, f"{p}coefficients.{grade.value}", value, high=MAX_SHARE):
            if previous is not None and value > previous[1]:
                faults.add(f"{p}coefficients.{grade.value}",
                           f"must not exceed the better grade {previous[0].value}'s "
                           f"({previous[1]})")
            previous = (grade, value)
    if set(r.coefficients) - set(GRADE_ORDER):
        faults.add(p + "coefficients", "only grades as keys")
    _dec_ok(faults, p + "deferred_share", r.deferred_share, high=ONE)
    last: Decimal | None = None
    for outcome in TenureOutcome:
        value = r.release.get(outcome)
        if value is None:
            faults.add(f"{p}release.{outcome.value}", "required")
            continue
        if _dec_ok(faults, f"{p}release.{outcome.value}", value, high=ONE):
            if last is not None and value > last:
                faults.add(f"{p}release.{outcome.value}",
                           "must not exceed the release of a better outcome")
            last = value


def _exits_faults(r: ExitRules, faults: Faults) -> None:
    p = "exits."
    for f in fields(r):
        if f.name.endswith("_enabled") and not isinstance(getattr(r, f.name), bool):
            faults.add(p + f.name, "must be true or false")
    _dec_ok(faults, p + "exit_line", r.exit_line, max_places=2)
    _dec_ok(faults, p + "main_completion_min", r.main_completion_min, high=MAX_SHARE,
            low_open=True)
    count = r.failed_years_count
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10:
        faults.add(p + "failed_years_count", "must be a whole number from 1 to 10")
    if not isinstance(r.failed_years_mode, FailedYearsMode):
        faults.add(p + "failed_years_mode", f"must be one of {', '.join(FailedYearsMode)}")
    for grade in r.bottom_grades:
        if grade not in (Grade.COMPETENT, Grade.BASICALLY_COMPETENT, Grade.NOT_COMPETENT):
            faults.add(p + "bottom_grades",
                       f"{grade}: only competent, basically_competent or not_competent")
    days = r.appeal_window_days
    if isinstance(days, bool) or not isinstance(days, int) or not (
            MIN_APPEAL_WINDOW_DAYS <= days <= MAX_APPEAL_WINDOW_DAYS):
        faults.add(p + "appeal_window_days", f"must be a whole number of calendar days from "
                   f"{MIN_APPEAL_WINDOW_DAYS} to {MAX_APPEAL_WINDOW_DAYS}")
    try:
        zone_of(r.appeal_window_zone)
    except (ValueError, TypeError):
        faults.add(p + "appeal_window_zone", "must be a time zone name such as Asia/Shanghai")


def _tenure_faults(r: TenureRules, faults: Faults) -> None:
    p = "tenure."
    ok = (_dec_ok(faults, p + "annual_share", r.annual_share, high=ONE)
          & _dec_ok(faults, p + "targets_share", r.targets_share, high=ONE))
    if ok and r.annual_share + r.targets_share != ONE:
        faults.add(p + "targets_share", f"annual_share + targets_share must be 1, not "
                                        f"{r.annual_share + r.targets_share}")
    if r.year_weights is not None:
        weights = r.year_weights
        if not 1 <= len(weights) <= 10:
            faults.add(p + "year_weights", "1 to 10 weights, oldest year first")
        oks = [_dec_ok(faults, f"{p}year_weights[{i}]", w, high=ONE)
               for i, w in enumerate(weights)]
        if weights and all(oks) and sum(weights, ZERO) != ONE:
            faults.add(p + "year_weights", f"must sum to 1, not {sum(weights, ZERO)}")
    ok = (_dec_ok(faults, p + "renew_min", r.renew_min, max_places=2)
          & _dec_ok(faults, p + "conditions_min", r.conditions_min, max_places=2))
    if ok and r.conditions_min > r.renew_min:
        faults.add(p + "conditions_min", f"must not exceed renew_min ({r.renew_min})")


def scheme_faults(s: Scheme) -> Faults:
    """Every fault of a scheme, keyed by the field's path in the dict form."""
    faults = Faults()
    _identity_faults(s, faults)
    wrong = [name for name, cls in SECTIONS.items() if not isinstance(getattr(s, name), cls)]
    for name in wrong:
        faults.add(name, f"must be a {SECTIONS[name].__name__}")
    if wrong:
        return faults
    _scoring_faults(s.scoring, faults)
    _composition_faults(s.composition, faults)
    _items_faults(s.items, s.exits, faults)
    _grades_faults(s.grades, faults)
    _distribution_faults(s.distribution, faults)
    _pay_faults(s.pay, faults)
    _exits_faults(s.exits, faults)
    _tenure_faults(s.tenure, faults)
    return faults


#: The built-in group default: every rule at its documented default.
DEFAULT_SCHEME = Scheme()
