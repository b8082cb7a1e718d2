"""The label table: every code of the system has its words in Chinese and English."""

# Chinese labels use full-width brackets on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import re

import pytest

from services.appraisal.domain import vocabulary as appraisal
from services.contracts import domain as contracts
from services.contracts.domain.signatory import SIGNATORY_KINDS
from services.notifications.domain.delivery import Channel
from services.notifications.domain.notices import NoticeKind, RecipientRole
from shared.labels import (
    FIELD_VOCABULARY,
    VOCABULARIES,
    code_label,
    codes,
    label,
    label_variables,
    layer_label,
    with_labels,
)

SNAKE = re.compile(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b")

# Every coded vocabulary of the services, and the vocabulary of shared/labels.py it reads in.
CODES: list[tuple[str, list[str]]] = [
    ("grade", list(appraisal.Grade)),
    ("outcome", [*appraisal.Outcome, *appraisal.TenureOutcome]),
    ("exit_rule", list(appraisal.ExitRule)),
    ("reason", [*appraisal.DepartureReason, "appraisal_exit"]),
    ("position", list(contracts.Position)),
    ("management_level", list(contracts.ManagementLevel)),
    ("contract_state", list(contracts.ContractState)),
    ("document_kind", list(contracts.DocumentKind)),
    ("category", list(contracts.Category)),
    ("signatory", list(SIGNATORY_KINDS)),
    ("notice_kind", list(NoticeKind)),
    ("channel", list(Channel)),
    ("recipient_role", list(RecipientRole)),
    ("signature_method", ["electronic", "paper"]),
    ("signature_party", ["manager", "employer"]),
    ("job_status", list(contracts.BulkJobStatus)),
    ("bulk_decision", [*contracts.BulkOutcome, "pending"]),
    ("bulk_reason", [*contracts.SKIP_REASONS, contracts.ALL_OR_NOTHING_REASON,
                     contracts.failure_reason(contracts.SignatoryRequired()), "error"]),
    ("unit_kind", list(contracts.UnitKind)),
    ("target_part", list(contracts.TargetPart)),
    ("target_role", list(contracts.TargetRole)),
    ("indicator_kind", list(contracts.IndicatorKind)),
    ("direction", list(contracts.Direction)),
    ("employment_status", ["active", "departed"]),
    # The appraisal's life cycle (states and the actions that move it).
    ("appraisal_state", ["open", "actuals_submitted", "scored", "reviewed", "approved",
                         "published"]),
    ("appraisal_action", ["submit", "score", "review", "approve", "publish", "appeal"]),
]
EVERY_CODE = [(vocabulary, str(code)) for vocabulary, codes in CODES for code in codes]


@pytest.mark.parametrize(("vocabulary", "code"), EVERY_CODE,
                         ids=[f"{v}-{c}" for v, c in EVERY_CODE])
def test_every_code_has_words_in_both_languages_and_none_is_a_code(vocabulary: str,
                                                                   code: str) -> None:
    zh, en = VOCABULARIES[vocabulary][code]
    assert re.search(r"[\u4e00-\u9fff]", zh), zh
    assert not re.search(r"[\u4e00-\u9fff]", en) and not SNAKE.search(en), en


@pytest.mark.parametrize(("code", "zh", "en"), [
    ("excellent", "优秀", "excellent"), ("good", "良好", "good"),
    ("competent", "称职", "competent"), ("basically_competent", "基本称职", "basically competent"),
    ("not_competent", "不称职", "not competent"),
])
def test_grades_read_as_the_scheme_names_them(code: str, zh: str, en: str) -> None:
    assert (label("grade", code, "zh"), label("grade", code, "en")) == (zh, en)


def test_every_field_names_a_vocabulary_that_exists() -> None:
    assert set(FIELD_VOCABULARY.values()) <= {*VOCABULARIES, "layer"}


def test_the_same_code_reads_by_its_field() -> None:
    assert label("position", "general_manager", "zh") == "总经理"
    assert label("signatory_kind", "general_manager", "en") == "the general manager"
    assert label("rule", "veto", "zh") == "触及否决事项（红线）"


def test_a_code_without_words_reads_with_spaces_and_free_text_stays() -> None:
    assert code_label("grade", "nearly_there", "en") == "nearly there"
    assert label("reason", "Merger with the east company", "zh") == "Merger with the east company"
    assert label("reason", "retirement", "zh") == "退休"
    assert label("grade", None, "zh") is None
    assert label("grade", "C", "en") == "C"


@pytest.mark.parametrize(("layer", "zh", "en"), [
    (1, "集团总部", "group headquarters"), (2, "二级企业", "level-2 enterprise"),
    (3, "三级企业", "level-3 enterprise"), (10, "十级企业", "level-10 enterprise"),
    (12, "十二级企业", "level-12 enterprise"), (20, "二十级企业", "level-20 enterprise"),
])
def test_a_layer_reads_as_its_level(layer: int, zh: str, en: str) -> None:
    assert (layer_label(layer, "zh"), layer_label(layer, "en")) == (zh, en)
    assert label("layer", layer, "en-GB") == en


def test_an_unknown_language_reads_chinese() -> None:
    assert label("grade", "good", None) == label("grade", "good", "fr") == "良好"


def test_with_labels_adds_words_for_coded_fields_only_and_keeps_the_codes() -> None:
    context = {"grade": "not_competent", "position": "chair", "score": "58.40", "year": 2025}
    assert with_labels(context, "en") == {**context, "grade_label": "not competent",
                                          "position_label": "chair of the board"}


def test_label_variables_are_those_of_coded_fields() -> None:
    assert label_variables(("year", "grade", "rule", "method")) == (
        "grade_label", "rule_label", "method_label")


def test_pages_may_name_a_vocabulary_directly_and_list_its_codes() -> None:
    assert label("job_status", "partial", "zh") == "部分完成"
    assert label("contract_state", "active", "en") == "in force"
    assert codes("grade") == ("excellent", "good", "competent", "basically_competent",
                              "not_competent")
    assert codes("position") == codes("signed_by_position")
    assert codes("layer") == () and codes("no_such_thing") == ()
