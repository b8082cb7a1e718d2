"""The sentence that says why a rigid-exit rule fired, in the reader's language.

The appraisal service records each trigger as `{"rule", "description", "evidence"}`: the
description is its English sentence, the evidence the figures that prove it. A notice in
Chinese must not quote the English sentence, so the Chinese one is written here from the
evidence, once for every service that shows a trigger to a person. English readers get the
appraisal's own sentence (it is the record); a trigger whose evidence lacks a figure the
sentence needs gets no sentence (None), and the caller falls back to the rule's label.
"""

# ruff: noqa: RUF001 (Chinese text uses full-width punctuation)
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

HUNDRED = Decimal(100)
CENT = Decimal("0.01")


def _number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _figure(value: Any) -> str:
    """A score or a line as recorded ('58.00' stays '58.00'); raises KeyError when absent so
    the sentence is given up rather than printed with a gap."""
    number = _number(value)
    if number is None:
        raise KeyError("figure")
    return str(number)


def _percent(value: Any) -> str:
    number = _number(value)
    if number is None:
        raise KeyError("ratio")
    return f"{(number * HUNDRED).quantize(CENT, rounding=ROUND_HALF_UP)}%"


def _years(values: Sequence[Any]) -> str:
    return "、".join(f"{y}年" for y in values if y is not None)


def _zh_score_below(e: Mapping[str, Any]) -> str:
    return f"年度综合得分 {_figure(e['total'])} 低于退出线 {_figure(e['exit_line'])}"


def _zh_not_competent(e: Mapping[str, Any]) -> str:
    total = _number(e.get("total"))
    return "年度考核等级为不称职" + (f"（综合得分 {total}）" if total is not None else "")


def _zh_main_indicator(e: Mapping[str, Any]) -> str:
    missing = "（实际值缺失）" if e.get("actual") is None else ""
    return (f"主要指标 {e['indicator']} 完成率 {_percent(e['completion'])}，"
            f"低于规定的 {_percent(e['minimum'])}{missing}")


def _zh_failed_years(e: Mapping[str, Any]) -> str:
    years = list(e["failed_years"])
    term = e.get("term")
    if e.get("mode") == "consecutive":
        where = "连续"
    elif term:
        where = f"任期（{term[0]}—{term[1]}年）内"
    else:
        where = "任期内"
    listed = _years(years)
    return (f"{where}{len(years)}个年度考核不合格" + (f"（{listed}）" if listed else "")
            + f"，达到规定的{e['count']}个")


def _zh_veto(e: Mapping[str, Any]) -> str:
    items = "、".join(str(i) for i in e.get("items") or ())
    mode = {"lowest_grade": "等级定为最低等级", "cap_total": "综合得分封顶"}.get(
        str(e.get("mode")), "")
    before = _number(e.get("total_before_veto"))
    return ("触及否决事项" + (f"：{items}" if items else "")
            + (f"，{mode}" if mode else "")
            + (f"（否决前得分 {before}）" if before is not None else ""))


def _zh_tenure(e: Mapping[str, Any]) -> str:
    score = _number(e.get("score"))
    return "任期考核不合格" + (f"（任期综合得分 {score}）" if score is not None else "")


_ZH: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "score_below_exit_line": _zh_score_below,
    "grade_not_competent": _zh_not_competent,
    "main_indicator_below_completion": _zh_main_indicator,
    "failed_years": _zh_failed_years,
    "veto": _zh_veto,
    "tenure_not_passed": _zh_tenure,
}


def trigger_sentence(trigger: Mapping[str, Any], language: str | None) -> str | None:
    """Why this trigger fired, in `language` ('zh...' or 'en...'); None when it cannot be said
    from what the trigger holds."""
    if (language or "").lower().startswith("en"):
        description = trigger.get("description")
        return str(description) if description else None
    write = _ZH.get(str(trigger.get("rule")))
    evidence = trigger.get("evidence")
    if write is None or not isinstance(evidence, Mapping):
        return None
    try:
        return write(evidence)
    except (KeyError, TypeError, IndexError):
        return None


def rule_sentence(rule: str | None, triggers: Any, language: str | None) -> str | None:
    """The sentence of the trigger of `rule` (or of the first trigger) among `triggers`."""
    if not isinstance(triggers, list | tuple) or not triggers:
        return None
    found = [t for t in triggers if isinstance(t, Mapping)]
    chosen = next((t for t in found if rule and t.get("rule") == rule),
                  found[0] if found else None)
    return trigger_sentence(chosen, language) if chosen is not None else None
