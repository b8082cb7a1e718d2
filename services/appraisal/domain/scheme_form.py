"""The JSON-ready form of a scheme (Decimals as strings) the service stores and the API takes.

`scheme_from_dict` names every faulty field by its path; a partial dict takes its missing
rules from a base scheme, so an override states only what differs from the group default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from services.appraisal.domain.errors import SchemeInvalid
from services.appraisal.domain.parsing import (
    MISSING,
    Faults,
    to_bool,
    to_decimal,
    to_enum,
    to_int,
)
from services.appraisal.domain.scheme import (
    DEFAULT_SCHEME,
    SECTIONS,
    CompositionRules,
    DistributionRules,
    ExitRules,
    GradeBands,
    ItemRules,
    PayRules,
    Proportion,
    Scheme,
    ScoringRules,
    TenureRules,
)
from services.appraisal.domain.vocabulary import (
    GRADE_ORDER,
    BelowBaseRule,
    FailedYearsMode,
    Grade,
    TenureOutcome,
    VetoMode,
)

# --- codecs: one per kind of field, used by the dict form ------------------------------------

Parse = Callable[[Any, str, Faults], Any]
Dump = Callable[[Any], Any]


@dataclass(frozen=True)
class Codec:
    parse: Parse
    dump: Dump


def _dump_dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _optional(inner: Codec) -> Codec:
    return Codec(lambda v, p, f: None if v is None else inner.parse(v, p, f),
                 lambda v: None if v is None else inner.dump(v))


DEC = Codec(to_decimal, _dump_dec)
DEC_OPT = _optional(DEC)
BOOL = Codec(to_bool, lambda v: v)
INT = Codec(to_int, lambda v: v)
INT_OPT = _optional(INT)


def _str(value: Any, path: str, faults: Faults) -> Any:
    if not isinstance(value, str):
        faults.add(path, "must be a string")
        return MISSING
    return value


STR = Codec(_str, lambda v: v)
STR_OPT = _optional(STR)


def _enum(cls: type) -> Codec:
    return Codec(lambda v, p, f: to_enum(cls, v, p, f), lambda v: v.value)


def _mapping(value: Any, path: str, faults: Faults) -> Mapping[str, Any] | None:
    if not isinstance(value, Mapping):
        faults.add(path, "must be an object")
        return None
    return value


def _parse_dec_map(value: Any, path: str, faults: Faults) -> Any:
    raw = _mapping(value, path, faults)
    if raw is None:
        return MISSING
    out: dict[str, Decimal] = {}
    for key, item in raw.items():
        parsed = to_decimal(item, f"{path}.{key}", faults)
        if parsed is not MISSING:
            out[str(key)] = parsed
    return out


DEC_MAP = Codec(_parse_dec_map, lambda v: {k: str(x) for k, x in v.items()})


def _enum_dec_map(cls: type) -> Codec:
    """A map with exactly one decimal per member of `cls` (every grade, every outcome)."""

    def parse(value: Any, path: str, faults: Faults) -> Any:
        raw = _mapping(value, path, faults)
        if raw is None:
            return MISSING
        out: dict[Any, Decimal] = {}
        for key, item in raw.items():
            member = to_enum(cls, key, f"{path}.{key}", faults)
            parsed = to_decimal(item, f"{path}.{key}", faults)
            if member is not MISSING and parsed is not MISSING:
                out[member] = parsed
        for member in cls:
            if member not in out and f"{path}.{member.value}" not in faults.errors:
                faults.add(f"{path}.{member.value}", "required")
        return out

    return Codec(parse, lambda v: {k.value: str(x) for k, x in v.items()})


def _parse_proportion(value: Any, path: str, faults: Faults) -> Any:
    raw = _mapping(value, path, faults)
    if raw is None:
        return MISSING
    unknown = set(raw) - {"organisational", "individual"}
    for key in sorted(unknown, key=str):
        faults.add(f"{path}.{key}", "unknown field")
    parts = {}
    for key in ("organisational", "individual"):
        if key not in raw:
            faults.add(f"{path}.{key}", "required")
            continue
        parts[key] = to_decimal(raw[key], f"{path}.{key}", faults)
    if len(parts) < 2 or MISSING in parts.values() or unknown:
        return MISSING
    return Proportion(parts["organisational"], parts["individual"])


PROPORTION = Codec(_parse_proportion, lambda v: {"organisational": str(v.organisational),
                                                  "individual": str(v.individual)})


def _parse_positions(value: Any, path: str, faults: Faults) -> Any:
    raw = _mapping(value, path, faults)
    if raw is None:
        return MISSING
    out = {}
    for key, item in raw.items():
        parsed = _parse_proportion(item, f"{path}.{key}", faults)
        if parsed is not MISSING:
            out[str(key)] = parsed
    return out


POSITIONS = Codec(_parse_positions, lambda v: {k: PROPORTION.dump(p) for k, p in v.items()})


def _parse_grade_set(value: Any, path: str, faults: Faults) -> Any:
    if not isinstance(value, (list, tuple)):
        faults.add(path, "must be a list of grades")
        return MISSING
    out = set()
    for i, item in enumerate(value):
        grade = to_enum(Grade, item, f"{path}[{i}]", faults)
        if grade is not MISSING:
            out.add(grade)
    return frozenset(out)


GRADE_SET = Codec(_parse_grade_set, lambda v: [g.value for g in GRADE_ORDER if g in v])


def _parse_dec_list(value: Any, path: str, faults: Faults) -> Any:
    if not isinstance(value, (list, tuple)):
        faults.add(path, "must be a list of decimals")
        return MISSING
    out = [to_decimal(item, f"{path}[{i}]", faults) for i, item in enumerate(value)]
    return MISSING if MISSING in out else tuple(out)


DEC_LIST_OPT = _optional(Codec(_parse_dec_list, lambda v: [str(x) for x in v]))


#: How each rule reads from and writes to the dict form, section by section.
CODECS: dict[type, dict[str, Codec]] = {
    ScoringRules: {"base_share": DEC, "target_share": DEC, "challenge_share": DEC,
                   "below_base": _enum(BelowBaseRule), "ratings": DEC_MAP,
                   "key_task_share": DEC},
    CompositionRules: {"default": PROPORTION, "positions": POSITIONS, "difficulty_min": DEC,
                       "difficulty_max": DEC, "difficulty_capped": BOOL},
    ItemRules: {"bonus_cap": DEC_OPT, "penalty_cap": DEC_OPT, "veto_mode": _enum(VetoMode),
                "veto_cap": DEC_OPT},
    GradeBands: {"excellent": DEC, "good": DEC, "competent": DEC, "basically_competent": DEC},
    DistributionRules: {"excellent_share": DEC, "good_or_better_share": DEC_OPT,
                        "ties_keep_grade": BOOL},
    PayRules: {"coefficients": _enum_dec_map(Grade), "deferred_share": DEC,
               "release": _enum_dec_map(TenureOutcome)},
    ExitRules: {"score_below_enabled": BOOL, "exit_line": DEC,
                "grade_not_competent_enabled": BOOL, "main_indicator_enabled": BOOL,
                "main_completion_min": DEC, "failed_years_enabled": BOOL,
                "failed_years_count": INT, "failed_years_mode": _enum(FailedYearsMode),
                "veto_enabled": BOOL, "tenure_not_passed_enabled": BOOL,
                "bottom_grades": GRADE_SET, "appeal_window_days": INT,
                "appeal_window_zone": STR},
    TenureRules: {"annual_share": DEC, "targets_share": DEC, "year_weights": DEC_LIST_OPT,
                  "renew_min": DEC, "conditions_min": DEC},
}

IDENTITY: dict[str, Codec] = {
    "code": STR, "version": INT, "name": STR, "layer": INT_OPT, "category": STR_OPT,
    "position": STR_OPT, "valid_from_year": INT_OPT,
}


# --- the dict form ---------------------------------------------------------------------------


def scheme_to_dict(scheme: Scheme) -> dict[str, Any]:
    """The JSON-ready form: identity at the top, one object per section, Decimals as strings."""
    out: dict[str, Any] = {name: codec.dump(getattr(scheme, name))
                           for name, codec in IDENTITY.items()}
    for name in SECTIONS:
        section = getattr(scheme, name)
        out[name] = {key: codec.dump(getattr(section, key))
                     for key, codec in CODECS[type(section)].items()}
    return out


def scheme_from_dict(data: Mapping[str, Any], *, base: Scheme | None = None) -> Scheme:
    """A scheme from its dict form; raises SchemeInvalid naming every faulty field.

    `code` and `version` are required. A missing section or rule takes its value from `base`
    (default: the built-in defaults), so an override can state only what differs from the
    group default; identity fields (layer, category, position, name, valid_from_year) are
    never inherited. Unknown fields are refused so a typo does not silently do nothing.
    """
    faults = Faults()
    if not isinstance(data, Mapping):
        raise SchemeInvalid("A scheme must be an object", errors={"": ["must be an object"]})
    base = base if base is not None else DEFAULT_SCHEME
    for key in data:
        if key not in IDENTITY and key not in SECTIONS:
            faults.add(str(key), "unknown field")
    identity: dict[str, Any] = {}
    for name, codec in IDENTITY.items():
        if name not in data:
            if name in ("code", "version"):
                faults.add(name, "required")
            continue
        value = codec.parse(data[name], name, faults)
        if value is not MISSING:
            identity[name] = value
    sections: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        current = getattr(base, name)
        if name not in data:
            sections[name] = current
            continue
        raw = _mapping(data[name], name, faults)
        if raw is None:
            continue
        known = CODECS[cls]
        for key in raw:
            if key not in known:
                faults.add(f"{name}.{key}", "unknown field")
        changes = {}
        for key, codec in known.items():
            if key in raw:
                value = codec.parse(raw[key], f"{name}.{key}", faults)
                if value is not MISSING:
                    changes[key] = value
        sections[name] = replace(current, **changes) if not faults else current
    if faults:
        raise SchemeInvalid(f"The scheme is invalid: {faults.summary()}", errors=faults.errors)
    return Scheme(**identity, **sections)
