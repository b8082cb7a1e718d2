"""Words for the codes of the tenure system, in Chinese and English: what people read.

Services store and send codes (`not_competent`, `general_manager`, `incompetence_exit`);
people read words (不称职, "not competent"). This table is the one place that turns one into
the other, so every notice, e-mail and report says the same thing.

- `VOCABULARIES` maps a vocabulary (grade, position, exit rule, ...) to its codes and their
  (zh, en) words.
- `FIELD_VOCABULARY` says which vocabulary a field of an event or a template holds, by the
  field's name: `grade`, `position`, `rule`, `outcome`, `state`, `method`, `party`, ...
- `label(field, value, language)` gives the words for a value of a field (or of a
  vocabulary named directly, as pages do: `label("job_status", "partial", "zh")`);
  `codes(name)` lists a vocabulary's codes, for a form's options. A code the table
  lacks reads as the code with spaces for underscores ("new_rule" -> "new rule"), so a code
  added by one service before it gets its words here never shows as a raw code; free text
  (a reason typed by HR, an SMTP error) is returned as it is.
- `with_labels(context, language)` returns the context with `<field>_label` added for every
  field it holds whose name is in `FIELD_VOCABULARY`. The notifications service calls it on
  every render, in the notice's language, so any template may write `{{ grade_label }}`,
  `{{ position_label }}`, `{{ rule_label }}`, `{{ state_label }}` ... wherever its kind
  offers `grade`, `position`, `rule`, `state` ...: a template for a new event gets its labels
  with no extra work. `label_variables(names)` lists the `_label` names that come with a
  kind's variables (what template validation accepts).

To label a new code, add it to its vocabulary; to label a new field, name its vocabulary in
`FIELD_VOCABULARY`.
"""

# Chinese labels use full-width brackets on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

LANGUAGES = ("zh", "en")

#: vocabulary -> code -> (zh, en)
VOCABULARIES: dict[str, dict[str, tuple[str, str]]] = {
    "grade": {
        "excellent": ("优秀", "excellent"),
        "good": ("良好", "good"),
        "competent": ("称职", "competent"),
        "basically_competent": ("基本称职", "basically competent"),
        "not_competent": ("不称职", "not competent"),
    },
    # A year's appraisal outcome and a tenure appraisal's outcome share one field name.
    "outcome": {
        "retain": ("留任", "retained"),
        "bottom_grade_adjustment": ("末等调整", "bottom-grade adjustment"),
        "incompetence_exit": ("不胜任退出", "exit for incompetence"),
        "renew": ("续聘", "renewal"),
        "renew_with_conditions": ("有条件续聘", "renewal with conditions"),
        "exit": ("退出", "exit"),
    },
    "position": {
        "chair": ("董事长", "chair of the board"),
        "general_manager": ("总经理", "general manager"),
        "deputy_general_manager": ("副总经理", "deputy general manager"),
        "chief_financial_officer": ("总会计师（财务总监）", "chief financial officer"),
        "chief_engineer": ("总工程师", "chief engineer"),
        "board_secretary": ("董事会秘书", "board secretary"),
        "middle_manager": ("中层管理人员", "middle manager"),
        "other": ("其他", "other"),
    },
    "management_level": {
        "group_leadership": ("集团领导班子成员", "group leadership"),
        "enterprise_leadership": ("企业领导班子成员", "enterprise leadership"),
        "middle_management": ("中层管理人员", "middle management"),
    },
    "exit_rule": {
        "score_below_exit_line": ("综合得分低于退出线", "score below the exit line"),
        "grade_not_competent": ("考核等级为不称职", "graded not competent"),
        "main_indicator_below_completion": ("主要指标完成率未达到规定比例",
                                            "main indicator below the required completion"),
        "failed_years": ("考核不合格年度达到规定次数", "too many failed years"),
        "veto": ("触及否决事项（红线）", "a veto (red-line) item"),
        "tenure_not_passed": ("任期考核不合格", "tenure appraisal not passed"),
    },
    # Why a manager left, and why a contract or an exit ended: codes several events carry.
    "reason": {
        "retirement": ("退休", "retirement"),
        "resignation": ("辞职", "resignation"),
        "misconduct": ("违纪违规", "misconduct"),
        "transfer": ("工作调动", "transfer"),
        "other": ("其他原因", "other reasons"),
        "appraisal_exit": ("考核退出", "exit after appraisal"),
        "term_ended": ("任期届满", "term ended"),
        "appeal_upheld": ("申诉成立", "appeal upheld"),
        "appeal_rejected": ("申诉驳回", "appeal rejected"),
        "appeal_window_elapsed": ("申诉期届满未申诉", "appeal window closed without appeal"),
    },
    "contract_state": {
        "draft": ("草稿", "draft"),
        "pending_signature": ("待签署", "awaiting signature"),
        "active": ("生效中", "in force"),
        "expired": ("已到期", "expired"),
        "terminated": ("已终止", "terminated"),
        "renewed": ("已续签", "renewed"),
        "awaiting_manager": ("待经理人签署", "awaiting the manager's signature"),
        "awaiting_employer": ("待企业方签署", "awaiting the employer's signature"),
        "in_force": ("已生效", "in force"),
    },
    "document_kind": {
        "appointment_agreement": ("聘任协议", "appointment agreement"),
        "tenure_performance_contract": ("任期经营业绩责任书", "tenure performance contract"),
        "annual_performance_contract": ("年度经营业绩责任书", "annual performance contract"),
        "annual": ("年度", "annual"),
        "tenure": ("任期", "tenure"),
    },
    "signature_method": {
        "electronic": ("电子签署", "signed electronically"),
        "paper": ("纸质签署", "signed on paper"),
    },
    "signature_party": {
        "manager": ("经理人", "the manager"),
        "employer": ("企业方（甲方）", "the employer"),
    },
    "signatory": {
        "board": ("董事会", "the board"),
        "general_manager": ("总经理", "the general manager"),
        "parent_enterprise": ("上级企业", "the parent enterprise"),
        "supervisor": ("上级主管", "the supervisor"),
        "override": ("人力资源部门指定的签署人", "a signatory named by HR"),
    },
    "category": {
        "commercial_competitive": ("商业一类（充分竞争类）", "commercial (competitive)"),
        "commercial_special_function": ("商业二类（特定功能类）",
                                        "commercial (special function)"),
        "public_welfare": ("公益类", "public welfare"),
    },
    "recipient_role": {
        "manager": ("经理人", "manager"),
        "appraiser": ("考核人", "appraiser"),
        "hr_admin": ("人力资源管理员", "HR administrator"),
        "signatory": ("企业方签署人", "employer's signatory"),
    },
    "channel": {
        "email": ("电子邮件", "e-mail"),
        "inbox": ("站内消息", "inbox"),
        "webhook": ("系统对接", "webhook"),
    },
    "notice_kind": {
        "contract_to_sign": ("责任书待签署通知", "contract to sign"),
        "targets_set": ("考核目标通知", "targets set"),
        "appraisal_result": ("考核结果通知", "appraisal result"),
        "exit_notice": ("退出通知", "exit notice"),
        "contract_expiring": ("任期届满提醒", "tenure ending reminder"),
        "contract_ended": ("责任书终止通知", "contract ended"),
        "tenure_concluded": ("任期考核结论通知", "tenure appraisal concluded"),
        "contract_issued_hr": ("责任书下发通知", "contract issued"),
        "contract_signed_hr": ("责任书签署通知", "contract signed"),
        "appraisal_published_hr": ("考核结果公布通知", "appraisal published"),
        "exit_triggered_hr": ("退出触发通知", "exit triggered"),
        "contract_expiring_hr": ("任期届满提醒", "tenure ending reminder"),
        "contract_ended_hr": ("责任书终止通知", "contract ended"),
        "tenure_concluded_hr": ("任期考核结论通知", "tenure appraisal concluded"),
        "actuals_due": ("完成值填报提醒", "actuals due"),
        "review_due": ("考核评审提醒", "review due"),
        "delivery_given_up_hr": ("投递失败通知", "delivery given up"),
        "contract_in_force": ("责任书生效通知", "contract in force"),
        "amendment_to_sign": ("变更待签署通知", "amendment to sign"),
        "countersign_request": ("企业方会签通知", "countersignature requested"),
        "self_report_due": ("述职报告提醒", "self-report due"),
        "self_report_submitted_hr": ("述职报告提交通知", "self-report submitted"),
        "exit_confirmed": ("退出决定生效通知", "exit confirmed"),
        "exit_cancelled": ("退出决定撤销通知", "exit cancelled"),
        "contract_reinstated": ("合同恢复通知", "contract reinstated"),
        "exit_confirmed_hr": ("退出决定生效通知", "exit confirmed"),
        "exit_cancelled_hr": ("退出决定撤销通知", "exit cancelled"),
        "contract_reinstated_hr": ("合同恢复通知", "contract reinstated"),
    },
    "appraisal_kind": {
        "annual": ("年度考核", "annual appraisal"),
        "tenure": ("任期考核", "tenure appraisal"),
    },
    "appraisal_state": {
        "open": ("待评分", "open"),
        "actuals_submitted": ("已填报完成值", "actuals submitted"),
        "scored": ("已评分", "scored"),
        "reviewed": ("已评审", "reviewed"),
        "approved": ("已审批", "approved"),
        "published": ("已公布", "published"),
        "appealed": ("申诉中", "under appeal"),
    },
    "appraisal_action": {
        "submit": ("提交完成值", "actuals submitted"),
        "score": ("评分", "scored"),
        "review": ("评审", "reviewed"),
        "approve": ("审批", "approved"),
        "publish": ("公布", "published"),
        "appeal": ("申诉", "appealed"),
        "uphold": ("支持申诉", "appeal upheld"),
        "reject": ("驳回申诉", "appeal rejected"),
        "rescore": ("重新评分", "scored again"),
    },
    "job_status": {
        "queued": ("排队中", "queued"),
        "running": ("进行中", "running"),
        "done": ("已完成", "done"),
        "partial": ("部分完成", "partly done"),
        "failed": ("失败", "failed"),
    },
    "bulk_decision": {
        "issued": ("已下发", "issued"),
        "skipped": ("未下发（不适用）", "skipped"),
        "failed": ("未能下发", "failed"),
        "pending": ("处理中", "pending"),
    },
    "bulk_reason": {
        "manager_inactive": ("经理人已离任", "the manager has left"),
        "template_does_not_match": ("模板不适用于该人员", "the template is not for this manager"),
        "overlapping_contract": ("已有重叠期间的任期合同", "a contract already covers the term"),
        "renewal_limit_reached": ("已达连续任期上限", "the limit of consecutive terms is reached"),
        "targets_not_appraisable": ("模板指标不符合该岗位的考核构成",
                                    "the template's targets cannot be appraised for the position"),
        "all_or_nothing": ("其他人员未能下发，本次全部不下发",
                           "another manager failed; nobody was issued"),
        "signatory_required": ("无规则确定企业方签署人，需人工指定",
                               "no rule names the signatory; name one by hand"),
        "error": ("系统意外错误，请重新下发", "an unexpected error; issue again"),
    },
    "employment_status": {
        "active": ("在任", "in office"),
        "departed": ("已离任", "departed"),
    },
    "unit_kind": {
        "group": ("集团", "group"),
        "enterprise": ("企业", "enterprise"),
        "department": ("部门", "department"),
    },
    "target_part": {
        "organisational": ("组织绩效", "organisational"),
        "individual": ("个人绩效", "individual"),
    },
    "target_role": {
        "scored": ("计分指标", "scored"),
        "veto": ("否决事项（红线）", "veto (red line)"),
        "bonus": ("加分项", "bonus points"),
        "penalty": ("扣分项", "penalty points"),
    },
    "indicator_kind": {
        "quantitative": ("定量指标", "quantitative"),
        "qualitative": ("定性指标", "qualitative"),
        "key_task": ("重点任务", "key task"),
    },
    "direction": {
        "higher_is_better": ("越高越好", "higher is better"),
        "lower_is_better": ("越低越好", "lower is better"),
    },
}

#: field name -> the vocabulary its values come from (`layer` is worded by `layer_label`).
FIELD_VOCABULARY: dict[str, str] = {
    "grade": "grade",
    "previous_grade": "grade",
    "outcome": "outcome",
    "appraisal_outcome": "outcome",
    "tenure_outcome": "outcome",
    "position": "position",
    "signed_by_position": "position",
    "management_level": "management_level",
    "rule": "exit_rule",
    "trigger": "exit_rule",
    "exit_rule": "exit_rule",
    "reason": "reason",
    "end_reason": "reason",
    "departure_reason": "reason",
    "exit_reason": "reason",
    "state": "contract_state",
    "previous_state": "contract_state",
    "contract_state": "contract_state",
    "signing_state": "contract_state",
    "ending": "contract_state",
    "document_kind": "document_kind",
    "method": "signature_method",
    "signature_method": "signature_method",
    "party": "signature_party",
    "signed_for": "signature_party",
    "signature_party": "signature_party",
    "signatory_kind": "signatory",
    "category": "category",
    "layer": "layer",
    "recipient_role": "recipient_role",
    "failed_channel": "channel",
    "failed_kind": "notice_kind",
    "notice_kind": "notice_kind",
    "appraisal_kind": "appraisal_kind",
    "employment_status": "employment_status",
    "unit_kind": "unit_kind",
    "indicator_kind": "indicator_kind",
    "direction": "direction",
}

LABEL_SUFFIX = "_label"
_CODE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")
_ZH_DIGITS = "零一二三四五六七八九"


def _language(language: str | None) -> int:
    """Index of the language in a (zh, en) pair: English for 'en...', Chinese otherwise."""
    return 1 if (language or "").lower().startswith("en") else 0


def _zh_number(n: int) -> str:
    if n < 10:
        return _ZH_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _ZH_DIGITS[tens]) + "十" + (_ZH_DIGITS[ones] if ones else "")


def layer_label(layer: int, language: str | None) -> str:
    """Layer 1 is the group's headquarters; layer n an n-th level enterprise (二级企业)."""
    if _language(language):
        return "group headquarters" if layer == 1 else f"level-{layer} enterprise"
    return "集团总部" if layer == 1 else f"{_zh_number(layer)}级企业"


def code_label(vocabulary: str, code: str, language: str | None) -> str:
    """The words for a code of a vocabulary; a code it lacks reads with spaces."""
    words = VOCABULARIES.get(vocabulary, {}).get(code)
    if words is not None:
        return words[_language(language)]
    return code.replace("_", " ") if _CODE.fullmatch(code) else code


def vocabulary_of(name: str) -> str | None:
    """The vocabulary a field holds, or the vocabulary of that name (`contract_state`)."""
    return FIELD_VOCABULARY.get(name) or (name if name in VOCABULARIES else None)


def codes(name: str) -> tuple[str, ...]:
    """Every code with words of a field or vocabulary (a form's options), in table order."""
    return tuple(VOCABULARIES.get(vocabulary_of(name) or "", ()))


def label(field: str, value: Any, language: str | None) -> Any:
    """What a person reads for the value of a field, or of a vocabulary named directly
    (`label("contract_state", "active", "en")`); None stays None."""
    if value is None or isinstance(value, bool):
        return value
    vocabulary = vocabulary_of(field)
    if vocabulary == "layer":
        try:
            return layer_label(int(value), language)
        except (TypeError, ValueError):
            return value
    if vocabulary is None or not isinstance(value, str):
        return value
    return code_label(vocabulary, value, language)


def with_labels(context: Mapping[str, Any], language: str | None) -> dict[str, Any]:
    """The context and, for each labelled field it holds, `<field>_label` in `language`."""
    out = dict(context)
    for name, value in context.items():
        if name in FIELD_VOCABULARY:
            out[name + LABEL_SUFFIX] = label(name, value, language)
    return out


def label_variables(names: Iterable[str]) -> tuple[str, ...]:
    """The `_label` variables that come with these variables."""
    return tuple(name + LABEL_SUFFIX for name in names if name in FIELD_VOCABULARY)
