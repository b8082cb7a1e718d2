"""Notices speak in words: no template, in either language, prints a raw code."""

# Chinese text uses full-width punctuation on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import re

import pytest

from services.notifications.domain import (
    SUPPORTED_LANGUAGES,
    NoticeKind,
    TemplateSource,
    preview,
    sample_context,
    validate_template,
    variables_for,
)
from shared.labels import FIELD_VOCABULARY, VOCABULARIES, label

SNAKE = re.compile(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b")
ALL = [(kind, lang) for kind in NoticeKind for lang in SUPPORTED_LANGUAGES]
IDS = [f"{k.value}-{lang}" for k, lang in ALL]


def _readable(kind: NoticeKind, language: str, context: dict[str, object] | None = None
              ) -> str:
    message = preview(kind, language, context=context)
    return message.subject + "\n" + message.text


def _codes_in(text: str) -> list[str]:
    # e-mail addresses and ids are data, not codes
    text = re.sub(r"\S+@\S+", "", text)
    return SNAKE.findall(text)


@pytest.mark.parametrize(("kind", "language"), ALL, ids=IDS)
def test_no_template_prints_a_raw_code_with_the_sample_data(kind: NoticeKind,
                                                            language: str) -> None:
    text = _readable(kind, language)
    assert _codes_in(text) == []
    for code in ("not_competent", "general_manager", "basically_competent",
                 "grade_not_competent", "renew_with_conditions", "appraisal_result"):
        assert code not in text


@pytest.mark.parametrize(("kind", "language"), ALL, ids=IDS)
def test_every_coded_fact_a_template_prints_reads_in_words_for_every_code(
        kind: NoticeKind, language: str) -> None:
    """Each coded fact of the kind, set to each code of its vocabulary, renders no code."""
    coded = [name for name in variables_for(kind)
             if name in FIELD_VOCABULARY and FIELD_VOCABULARY[name] in VOCABULARIES]
    for name in coded:
        for code in VOCABULARIES[FIELD_VOCABULARY[name]]:
            text = _readable(kind, language, {name: code})
            assert _codes_in(text) == [], (name, code)


@pytest.mark.parametrize(("kind", "language"), [
    (NoticeKind.APPRAISAL_RESULT, "zh"), (NoticeKind.APPRAISAL_RESULT, "en"),
    (NoticeKind.EXIT_TRIGGERED_HR, "zh"), (NoticeKind.EXIT_NOTICE, "en"),
    (NoticeKind.TENURE_CONCLUDED, "zh"), (NoticeKind.TENURE_CONCLUDED_HR, "en"),
])
def test_grades_rules_and_outcomes_read_in_the_notice_language(kind: NoticeKind,
                                                               language: str) -> None:
    context = sample_context(kind)
    text = _readable(kind, language)
    for fact in ("grade", "rule", "outcome"):
        if context.get(fact) is not None:
            assert label(fact, context[fact], language) in text


def test_the_issue_examples_read_in_words() -> None:
    zh = _readable(NoticeKind.APPRAISAL_RESULT, "zh", {"grade": "good"})
    en = _readable(NoticeKind.APPRAISAL_PUBLISHED_HR, "en", {"grade": "not_competent"})
    assert "考核等级：良好" in zh and "good" not in zh
    assert "Grade: not competent" in en and "not_competent" not in en


def test_a_terminated_contract_notice_gives_a_coded_reason_in_words() -> None:
    text = _readable(NoticeKind.CONTRACT_ENDED, "zh",
                     {"ending": "terminated", "reason": "appraisal_exit"})
    assert "原因：考核退出" in text


@pytest.mark.parametrize("kind", list(NoticeKind))
def test_every_kind_offers_the_label_of_each_coded_fact(kind: NoticeKind) -> None:
    """A kind that offers `grade`, `position`, ... offers `grade_label`, ... with it, so a
    template of a new kind gets words without any work of its own."""
    offered = set(variables_for(kind))
    for name in offered:
        if name in FIELD_VOCABULARY:
            assert f"{name}_label" in offered


def test_an_override_may_print_the_words_of_any_coded_fact_of_its_kind() -> None:
    validate_template(NoticeKind.EXIT_NOTICE, "{{ rule_label }}",
                      "{{ grade_label }} / {{ recipient_role_label }}")
    message = preview(NoticeKind.EXIT_NOTICE, "en",
                      TemplateSource("{{ rule_label }}", "{{ grade_label }}"))
    assert (message.subject, message.text) == ("graded not competent", "not competent\n")
