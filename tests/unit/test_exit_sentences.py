"""Why a rigid-exit rule fired, said in Chinese from the trigger's evidence."""

# ruff: noqa: RUF001 (Chinese text uses full-width punctuation)
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from shared.exit_sentences import rule_sentence, trigger_sentence


def trigger(rule: str, **evidence: Any) -> dict[str, Any]:
    return {"rule": rule, "description": f"the English sentence of {rule}",
            "evidence": evidence}


@pytest.mark.parametrize("given,said", [
    (trigger("score_below_exit_line", total="58.00", exit_line="60"),
     "年度综合得分 58.00 低于退出线 60"),
    (trigger("grade_not_competent", grade="not_competent", total=Decimal("55.5")),
     "年度考核等级为不称职（综合得分 55.5）"),
    (trigger("main_indicator_below_completion", indicator="PROFIT", actual="70",
             target="100", completion="0.7", minimum="0.8"),
     "主要指标 PROFIT 完成率 70.00%，低于规定的 80.00%"),
    (trigger("main_indicator_below_completion", indicator="ROE", actual=None,
             target="10", completion="0", minimum="0.8"),
     "主要指标 ROE 完成率 0.00%，低于规定的 80.00%（实际值缺失）"),
    # 0.66666... of a target: half up at the cent of a percent.
    (trigger("main_indicator_below_completion", indicator="X", actual="2", target="3",
             completion="0.666665", minimum="0.7"),
     "主要指标 X 完成率 66.67%，低于规定的 70.00%"),
    (trigger("failed_years", failed_years=[2024, 2025], count=2, mode="consecutive",
             term=None),
     "连续2个年度考核不合格（2024年、2025年），达到规定的2个"),
    (trigger("failed_years", failed_years=[2023, 2025], count=2, mode="within_term",
             term=[2023, 2025]),
     "任期（2023—2025年）内2个年度考核不合格（2023年、2025年），达到规定的2个"),
    (trigger("veto", items=["SAFETY"], mode="lowest_grade", total_before_veto="88.00"),
     "触及否决事项：SAFETY，等级定为最低等级（否决前得分 88.00）"),
    (trigger("tenure_not_passed", score="65.20", conditions_min=2, vetoes=[]),
     "任期考核不合格（任期综合得分 65.20）"),
])
def test_each_rule_is_said_in_chinese_with_its_figures(given: dict[str, Any], said: str) -> None:
    assert trigger_sentence(given, "zh") == said
    assert trigger_sentence(given, "zh-CN") == said


def test_an_english_reader_gets_the_appraisals_own_sentence() -> None:
    given = trigger("score_below_exit_line", total="58.00", exit_line="60")
    assert trigger_sentence(given, "en") == "the English sentence of score_below_exit_line"


@pytest.mark.parametrize("given", [
    trigger("score_below_exit_line", total="58.00"),          # the line is missing
    trigger("main_indicator_below_completion", indicator="P"),  # no completion
    trigger("a_rule_of_tomorrow", total="1"),                   # a rule without words here
    {"rule": "veto", "description": "x", "evidence": "not a mapping"},
])
def test_a_trigger_that_cannot_be_said_gives_no_sentence(given: dict[str, Any]) -> None:
    assert trigger_sentence(given, "zh") is None


def test_the_sentence_is_the_one_of_the_decisions_rule_else_the_first() -> None:
    first = trigger("grade_not_competent", total="50")
    second = trigger("score_below_exit_line", total="50", exit_line="60")
    assert rule_sentence("score_below_exit_line", [first, second], "zh") == (
        "年度综合得分 50 低于退出线 60")
    assert rule_sentence(None, [first, second], "zh") == "年度考核等级为不称职（综合得分 50）"
    assert rule_sentence("veto", None, "zh") is None
    assert rule_sentence("veto", [], "zh") is None
