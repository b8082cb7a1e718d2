"""Templates: every default renders in both languages; bad overrides are refused precisely."""

# Chinese text uses full-width punctuation on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import re

import pytest

from services.notifications.domain import (
    SUPPORTED_LANGUAGES,
    NoticeKind,
    StaticDirectory,
    TemplateInvalid,
    TemplateSource,
    preview,
    render_notice,
    route_event,
    sample_context,
    sample_event,
    validate_template,
)
from services.notifications.domain.samples import SAMPLE_DIRECTORY
from shared.labels import label

CHINESE = re.compile(r"[\u4e00-\u9fff]")
ALL = [(kind, lang) for kind in NoticeKind for lang in SUPPORTED_LANGUAGES]


@pytest.mark.parametrize("kind,language", ALL, ids=[f"{k.value}-{lang}" for k, lang in ALL])
def test_every_default_template_renders_in_both_languages(kind: NoticeKind,
                                                          language: str) -> None:
    message = preview(kind, language)
    assert message.subject and "\n" not in message.subject
    assert message.text.strip()
    assert "None" not in message.subject + message.text
    assert "{{" not in message.text and "{%" not in message.text
    # A Chinese template reads Chinese; an English one has no Chinese beyond names and units.
    context = sample_context(kind)
    text = message.subject + message.text
    for name in ("recipient_name", "manager_name", "org_unit_name", "failed_recipient_name"):
        if isinstance(context.get(name), str):
            text = text.replace(context[name], "")
    assert bool(CHINESE.search(text)) is (language == "zh")
    assert message.language == language


@pytest.mark.parametrize("kind,fact", [
    (NoticeKind.APPRAISAL_RESULT, "grade"), (NoticeKind.APPRAISAL_RESULT, "score"),
    (NoticeKind.EXIT_NOTICE, "rule"), (NoticeKind.EXIT_NOTICE, "appeal_deadline"),
    (NoticeKind.EXIT_TRIGGERED_HR, "rule"),
    (NoticeKind.EXIT_TRIGGERED_HR, "appeal_deadline"),
    (NoticeKind.EXIT_CONFIRMED, "appeal_deadline"),
    (NoticeKind.EXIT_CONFIRMED_HR, "rule_description"),
    (NoticeKind.CONTRACT_REINSTATED, "reason"), (NoticeKind.CONTRACT_REINSTATED_HR, "end_date"),
    (NoticeKind.CONTRACT_EXPIRING, "days_left"), (NoticeKind.CONTRACT_EXPIRING_HR, "end_date"),
    (NoticeKind.CONTRACT_TO_SIGN, "signing_deadline"), (NoticeKind.ACTUALS_DUE, "due_date"),
    (NoticeKind.CONTRACT_ENDED, "end_date"), (NoticeKind.TENURE_CONCLUDED, "conditions"),
    (NoticeKind.DELIVERY_GIVEN_UP_HR, "reason"),
])
def test_default_templates_state_the_facts_of_the_event(kind: NoticeKind, fact: str) -> None:
    """A coded fact (grade, rule) is stated by its words in the notice's language."""
    for language in SUPPORTED_LANGUAGES:
        value = str(label(fact, sample_context(kind)[fact], language))
        message = preview(kind, language)
        assert value in message.subject + message.text


@pytest.mark.parametrize("kind", [NoticeKind.CONTRACT_ENDED, NoticeKind.CONTRACT_ENDED_HR])
@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_a_terminated_contract_notice_says_why(kind: NoticeKind, language: str) -> None:
    message = preview(kind, language, context={"ending": "terminated", "reason": "Merger"})
    assert "Merger" in message.text
    assert ("终止" if language == "zh" else "terminated") in message.subject


def test_a_fact_the_event_lacks_prints_a_dash_not_none() -> None:
    message = preview(NoticeKind.APPRAISAL_PUBLISHED_HR, "en", context={"employee_no": None})
    assert "(—, " in message.text


def test_an_optional_fact_missing_drops_its_sentence() -> None:
    with_deadline = preview(NoticeKind.CONTRACT_TO_SIGN, "en")
    without = preview(NoticeKind.CONTRACT_TO_SIGN, "en", context={"signing_deadline": None})
    assert "Please sign it by 2025-01-15." in with_deadline.text
    assert "as soon as possible" in without.text


def test_render_notice_uses_the_recipients_language() -> None:
    routing = route_event(sample_event("appraisal.published"), SAMPLE_DIRECTORY)
    by_language = {n.language: render_notice(n) for n in routing.notices}
    assert set(by_language) == {"zh"}  # the sample manager and HR admin read Chinese
    english = StaticDirectory([], {})
    envelope = sample_event("appraisal.published")
    envelope["data"]["manager_language"] = "en"
    (notice,) = route_event(envelope, english).notices
    assert render_notice(notice).subject == (
        "[Tenure] Your 2025 appraisal result: grade basically competent")


def test_an_override_for_the_kind_and_language_wins() -> None:
    (notice,) = [n for n in route_event(sample_event("appraisal.published"),
                                        SAMPLE_DIRECTORY).notices
                 if n.kind is NoticeKind.APPRAISAL_RESULT]
    override = TemplateSource("考核结果 {{ grade_label }}", "{{ manager_name }}：{{ score }}")
    message = render_notice(notice, {("appraisal_result", "zh"): override})
    assert (message.subject, message.text) == ("考核结果 基本称职", "张伟：58.40\n")
    assert message.fallback_reason is None


def test_an_override_in_the_other_language_is_not_used() -> None:
    (notice,) = [n for n in route_event(sample_event("appraisal.published"),
                                        SAMPLE_DIRECTORY).notices
                 if n.kind is NoticeKind.APPRAISAL_RESULT]
    message = render_notice(notice, {("appraisal_result", "en"): TemplateSource("x", "y")})
    assert message.subject.startswith("【任期制】")


def test_an_override_that_fails_at_send_time_falls_back_to_the_default() -> None:
    (notice,) = [n for n in route_event(sample_event("appraisal.published"),
                                        SAMPLE_DIRECTORY).notices
                 if n.kind is NoticeKind.APPRAISAL_RESULT]

    def lookup(kind: NoticeKind, language: str) -> TemplateSource:
        return TemplateSource("{{ grade.no_such_attribute }}", "body")

    message = render_notice(notice, lookup)
    assert message.subject.startswith("【任期制】")
    assert message.fallback_reason and "no_such_attribute" in message.fallback_reason


def test_a_syntax_error_is_refused_naming_the_field_and_line() -> None:
    body = "Dear {{ recipient_name }},\n\nYour grade is {{ grade }\n"
    with pytest.raises(TemplateInvalid) as caught:
        validate_template(NoticeKind.APPRAISAL_RESULT, "Result", body)
    assert (caught.value.field, caught.value.line) == ("body", 3)
    assert str(caught.value).startswith("body, line 3: syntax error")


def test_an_unclosed_block_is_refused() -> None:
    with pytest.raises(TemplateInvalid) as caught:
        validate_template(NoticeKind.APPRAISAL_RESULT, "{% if grade %}Result", "ok")
    assert caught.value.field == "subject"


def test_an_unknown_variable_is_refused_naming_it_and_its_line() -> None:
    body = "Hello {{ recipient_name }}\n{% if grade %}\n{{ bonus_amount }}\n{% endif %}"
    with pytest.raises(TemplateInvalid) as caught:
        validate_template(NoticeKind.APPRAISAL_RESULT, "Result", body)
    assert (caught.value.field, caught.value.line) == ("body", 3)
    assert "'bonus_amount'" in str(caught.value)
    assert "grade" in caught.value.message  # lists what the kind offers


def test_a_variable_of_another_kind_is_refused() -> None:
    with pytest.raises(TemplateInvalid) as caught:
        validate_template(NoticeKind.CONTRACT_TO_SIGN, "Sign by {{ signing_deadline }}",
                          "Your grade: {{ grade }}")
    assert (caught.value.field, caught.value.line) == ("body", 1)


def test_a_missing_attribute_is_refused_with_its_line() -> None:
    with pytest.raises(TemplateInvalid) as caught:
        validate_template(NoticeKind.APPRAISAL_RESULT, "s", "line one\n{{ grade.points }}")
    assert (caught.value.field, caught.value.line) == ("body", 2)


def test_the_sandbox_refuses_python_internals() -> None:
    with pytest.raises(TemplateInvalid) as caught:
        validate_template(NoticeKind.APPRAISAL_RESULT, "s",
                          "{{ grade.__class__.__mro__ }}")
    assert "unsafe" in caught.value.message


def test_a_subject_that_renders_empty_is_refused() -> None:
    with pytest.raises(TemplateInvalid) as caught:
        validate_template(NoticeKind.APPRAISAL_RESULT, "{% if false %}x{% endif %}", "body")
    assert caught.value.field == "subject"


def test_a_broken_html_part_is_refused_as_html() -> None:
    with pytest.raises(TemplateInvalid) as caught:
        validate_template(NoticeKind.APPRAISAL_RESULT, "s", "b", "<p>{{ grade </p>")
    assert caught.value.field == "html"


def test_a_valid_override_using_loops_and_filters_is_accepted() -> None:
    validate_template(NoticeKind.APPRAISAL_RESULT, "{{ year }}: {{ grade|upper }}",
                      "{% for part in [grade, score] %}{{ part }} {% endfor %}"
                      "{% set label = 'x' %}{{ label }}{{ range(2)|list }}")


def test_preview_renders_given_sources_against_a_given_context() -> None:
    sources = TemplateSource("{{ grade }} / {{ score }}", "{{ manager_name }}",
                             "<p>{{ manager_name }}</p>")
    message = preview(NoticeKind.APPRAISAL_RESULT, "en", sources,
                      {"grade": "A", "manager_name": "<script>"})
    assert message.subject == "A / 58.40"  # score from the sample context
    assert message.text == "<script>\n"  # text is not HTML: nothing to escape
    assert message.html == "<p>&lt;script&gt;</p>"


def test_preview_of_a_broken_template_raises_template_invalid() -> None:
    with pytest.raises(TemplateInvalid):
        preview(NoticeKind.APPRAISAL_RESULT, "zh", TemplateSource("{{ nope }}", "b"))


def test_a_subject_never_spans_lines() -> None:
    message = preview(NoticeKind.APPRAISAL_RESULT, "en",
                      TemplateSource("Result\n{{ grade_label }}\r\nBcc: x@example.com", "b"))
    assert message.subject == "Result basically competent Bcc: x@example.com"
