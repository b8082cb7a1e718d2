"""Domain results as this service keeps them: row columns, the stored trace, regrading.

The trace is compact on disk (each line's computed values; the locked targets hold the
rest) and read back as the domain's full result; a result moved down by forced
distribution is regraded here."""

from __future__ import annotations

import dataclasses
import json
import operator
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from services.appraisal import domain as d

# --- results as JSON ------------------------------------------------------------------------------

_ENCODERS: dict[type, Any] = {}


def _encode(obj: Any) -> Any:
    """json.dumps' hook for what the domain returns: exactly `d.to_dict`'s shape (Decimals as
    strings, dataclasses as their dumped fields), with the recursion left to the C encoder
    and each class's field getter built once: a run writes 100,000 traces."""
    if type(obj) is Decimal:
        return str(obj)
    encoder = _ENCODERS.get(type(obj))
    if encoder is None:
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            names = tuple(f.name for f in dataclasses.fields(obj)
                          if f.metadata.get("dump", True))
            getter = operator.attrgetter(*names)
            if len(names) == 1:
                encoder = lambda o, n=names[0], g=getter: {n: g(o)}  # noqa: E731
            else:
                encoder = lambda o, n=names, g=getter: dict(zip(n, g(o), strict=True))  # noqa: E731
            _ENCODERS[type(obj)] = encoder
        elif isinstance(obj, Mapping):
            return dict(obj)
        elif isinstance(obj, (set, frozenset)):
            return sorted(obj)
        else:
            return d.to_dict(obj)
    return encoder(obj)


#: What a stored trace keeps of each indicator line; the rest of the line (name, kind,
#: direction, role, part, main and the levels) is the locked target itself, joined back by
#: `expand_trace`, so 100,000 traces do not repeat 100,000 copies of the same targets.
LINE_FIELDS = ("code", "actual", "rule", "share", "points", "flags", "completion")
_LINE = operator.attrgetter(*LINE_FIELDS)
TARGET_FIELDS = ("name", "kind", "direction", "role", "part", "main")
LEVEL_FIELDS = ("weight", "base", "target", "challenge", "milestones")


def trace_text(result: d.AppraisalResult | d.TenureResult, **head: Any) -> str:
    """The stored trace as JSON text: `head` (kind, complete), then every field of the
    result, the indicator lines as `lines` (LINE_FIELDS, in the targets' order)."""
    body = _encode(result)
    if isinstance(result, d.AppraisalResult):
        del body["indicators"]
        body["lines"] = [_LINE(s) for s in result.indicators]
    return json.dumps({**head, **body}, default=_encode, ensure_ascii=False,
                      separators=(",", ":"))


def expand_trace(stored: Mapping[str, Any] | None, targets: Sequence[d.IndicatorTarget]
                 ) -> dict[str, Any] | None:
    """The full trace (what `d.to_dict(result)` gives) from the stored one and the locked
    targets it was scored against: per indicator the actual, levels, rule, share, points.

    The levels are those of the line for a scored line and none for a red line, bonus or
    penalty item, as `score_indicator` reports them."""
    if stored is None or "lines" not in stored:
        return None if stored is None else dict(stored)
    by_code = {t.code: t for t in targets}
    indicators = []
    for values in stored["lines"]:
        line = dict(zip(LINE_FIELDS, values, strict=True))
        t = by_code.get(line["code"])
        out: dict[str, Any] = {"code": line["code"]}
        if t is None:  # cannot happen for locked targets; show what was stored
            out.update({k: None for k in (*TARGET_FIELDS, *LEVEL_FIELDS)})
        else:
            out.update(name=t.name, kind=t.kind.value, direction=t.direction.value,
                       role=t.role.value, part=t.part.value, main=t.main)
            scored = t.role is d.TargetRole.SCORED
            for name in LEVEL_FIELDS:
                value = getattr(t, name) if scored else None
                out[name] = str(value) if isinstance(value, Decimal) else value
        out.update({k: line[k] for k in LINE_FIELDS[1:]})
        indicators.append(out)
    full = {k: v for k, v in stored.items() if k != "lines"}
    head = {k: full.pop(k) for k in ("kind", "complete") if k in full}
    ordered: dict[str, Any] = {**head}
    for key, value in full.items():
        ordered[key] = value
        if key == "scheme_version":
            ordered["indicators"] = indicators
    ordered.setdefault("indicators", indicators)
    return ordered


def primary_rule(triggers: Sequence[d.ExitTrigger]) -> str | None:
    rules = {t.rule for t in triggers}
    for rule in d.EXIT_RULE_PRECEDENCE:
        if rule in rules:
            return rule.value
    return None


def result_fields(result: d.AppraisalResult | d.TenureResult) -> dict[str, Any]:
    """The columns an appraisal row keeps of a result (the trace goes in `result`)."""
    rules = list(dict.fromkeys(t.rule.value for t in result.exit_triggers))
    if isinstance(result, d.TenureResult):
        exit_ = result.is_exit
        return {
            "scheme_code": result.scheme_code, "scheme_version": result.scheme_version,
            "total": str(result.score), "grade": result.grade.value,
            "grade_before_distribution": result.grade.value,
            "outcome": (d.Outcome.INCOMPETENCE_EXIT if exit_ else d.Outcome.RETAIN).value,
            "exit_rule": primary_rule(result.exit_triggers) if exit_ else None,
            "exit_triggers": rules, "complete": not any(
                d.Flag.MISSING_ACTUAL in t.flags for t in result.targets),
            "deferred_pay": None, "tenure_outcome": result.outcome.value,
            "conditions": (result.outcome_reason
                           if result.outcome is d.TenureOutcome.RENEW_WITH_CONDITIONS
                           else None),
            "result": trace_text(result, kind="tenure"),
        }
    complete = result.complete
    return {
        "scheme_code": result.scheme_code, "scheme_version": result.scheme_version,
        "total": str(result.total), "grade": result.grade.value,
        "grade_before_distribution": result.provisional_grade.value,
        "outcome": result.outcome.value,
        "exit_rule": primary_rule(result.exit_triggers) if result.is_exit else None,
        "exit_triggers": rules, "complete": complete,
        "deferred_pay": None if result.pay is None else str(result.pay.deferred),
        "tenure_outcome": None, "conditions": None,
        "result": trace_text(result, kind="annual", complete=complete),
    }



def regrade(result: d.AppraisalResult, grade: d.Grade,
            moved: Sequence[d.GradeChange]) -> d.AppraisalResult:
    """A result moved down by forced distribution: the new grade, its reason, the change
    record, and outcome and pay recomputed under the result's own scheme. The same step
    `d.appraise_cohort` takes for each moved member; a run distributes a cohort from light
    members (it does not hold 100,000 full results) and applies it here to the few moved."""
    own = result.scheme
    assert own is not None
    outcome, outcome_reason = d.decide_outcome(own.exits, grade, result.exit_triggers)
    pay = None if result.pay is None else d.performance_pay(own.pay, grade,
                                                            result.pay.base_figure)
    reason = "; ".join([result.grade_reason, *(
        f"forced distribution {c.from_grade} -> {c.to_grade} ({c.reason})" for c in moved)])
    return dataclasses.replace(result, grade=grade, grade_reason=reason, outcome=outcome,
                               outcome_reason=outcome_reason, pay=pay,
                               distribution=tuple(moved))


def member_of(result: d.AppraisalResult) -> d.CohortMember:
    return d.CohortMember(result.manager_id, result.totals.total,
                          result.composition.organisational, result.composition.individual,
                          result.grade)
