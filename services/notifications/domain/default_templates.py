"""Built-in templates for every notice kind in Chinese and English (Jinja2, text only).

HR can override any of them per kind and language; these are what is sent otherwise. A fact
an event lacks is None: the templates test it with `{% if %}`, and a bare `{{ }}` of None
prints "—". A coded fact is printed by its words, `{{ grade_label }}` rather than
`{{ grade }}` (shared/labels.py adds a `_label` for every coded fact, in the notice's
language).
"""

# Chinese text uses full-width punctuation (commas, colons, brackets) on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

from services.notifications.domain.notices import NoticeKind

K = NoticeKind

_ZH_FOOTER = ("{% if action_url %}\n\n办理页面：{{ action_url }}{% endif %}"
              "\n\n此消息由任期制和契约化管理系统自动发送，请勿直接回复。\n")
_EN_FOOTER = ("{% if action_url %}\n\nAct on it here: {{ action_url }}{% endif %}"
              "\n\nThis message was sent by the tenure management system; please do not reply.\n")

_ZH_CONTRACT = (
    "任期：第{{ term_number }}任期，{{ start_date }} 至 {{ end_date }}"
    "{% if term_years %}（{{ term_years }}年）{% endif %}\n"
    "合同编号：{{ contract_id }}"
)
_EN_CONTRACT = (
    "Term: no. {{ term_number }}, {{ start_date }} to {{ end_date }}"
    "{% if term_years %} ({{ term_years }} years){% endif %}\n"
    "Contract: {{ contract_id }}"
)
_ZH_OUTCOME = "{{ outcome_label }}"
_EN_OUTCOME = "{{ outcome_label }}"
# The rule in words; the appraisal's own sentence (with its figures) when it says more.
_ZH_RULE = (
    "触发条款：{{ rule_label }}{% if rule_description and rule_description != rule_label %}"
    "（{{ rule_description }}）{% endif %}\n"
)
_EN_RULE = (
    "Rule: {{ rule_label }}{% if rule_description and rule_description != rule_label %}"
    " ({{ rule_description }}){% endif %}\n"
)
_ZH_RESULT = (
    "{% if grade %}考核等级：{{ grade_label }}\n{% endif %}"
    "{% if score %}综合得分：{{ score }}\n{% endif %}"
)
_EN_RESULT = (
    "{% if grade %}Grade: {{ grade_label }}\n{% endif %}"
    "{% if score %}Score: {{ score }}\n{% endif %}"
)

# (kind, language) -> (subject, text body)
DEFAULT_TEMPLATES: dict[tuple[NoticeKind, str], tuple[str, str]] = {
    # --- to the manager ------------------------------------------------------------------
    (K.CONTRACT_TO_SIGN, "zh"): (
        "【任期制】请签署您的任期经营业绩责任书（{{ start_date }} 至 {{ end_date }}）",
        "{{ recipient_name }}，您好：\n\n"
        "您的任期经营业绩责任书已下发，"
        "{% if signing_deadline %}请于 {{ signing_deadline }} 前完成签署。"
        "{% else %}请尽快完成签署。{% endif %}\n\n"
        "单位：{{ org_unit_name }}\n" + _ZH_CONTRACT + _ZH_FOOTER,
    ),
    (K.CONTRACT_TO_SIGN, "en"): (
        "[Tenure] Please sign your tenure contract ({{ start_date }} to {{ end_date }})",
        "Dear {{ recipient_name }},\n\n"
        "Your tenure performance contract has been issued for signature. "
        "{% if signing_deadline %}Please sign it by {{ signing_deadline }}."
        "{% else %}Please sign it as soon as possible.{% endif %}\n\n"
        "Unit: {{ org_unit_name }}\n" + _EN_CONTRACT + _EN_FOOTER,
    ),
    (K.TARGETS_SET, "zh"): (
        "【任期制】您的{% if year %}{{ year }}年度{% endif %}经营业绩考核目标已"
        "{% if locked %}确定{% else %}下达{% endif %}",
        "{{ recipient_name }}，您好：\n\n"
        "您的{% if year %}{{ year }}年度{% endif %}经营业绩考核目标已"
        "{% if locked %}签署确定，不再变更。{% else %}下达，请查阅。{% endif %}\n"
        "{% if indicator_count %}考核指标：{{ indicator_count }}项\n{% endif %}"
        "合同编号：{{ contract_id }}" + _ZH_FOOTER,
    ),
    (K.TARGETS_SET, "en"): (
        "[Tenure] Your {% if year %}{{ year }} {% endif %}performance targets are "
        "{% if locked %}final{% else %}set{% endif %}",
        "Dear {{ recipient_name }},\n\n"
        "Your {% if year %}{{ year }} {% endif %}performance targets have been "
        "{% if locked %}signed and are now locked.{% else %}set; please review them.{% endif %}\n"
        "{% if indicator_count %}Indicators: {{ indicator_count }}\n{% endif %}"
        "Contract: {{ contract_id }}" + _EN_FOOTER,
    ),
    (K.APPRAISAL_RESULT, "zh"): (
        "【任期制】您的{{ year }}年度考核结果已公布：{{ grade_label }}",
        "{{ recipient_name }}，您好：\n\n"
        "您的{{ year }}年度经营业绩考核结果已公布。\n\n" + _ZH_RESULT +
        "\n如有异议，可按规定在申诉期内提出申诉。" + _ZH_FOOTER,
    ),
    (K.APPRAISAL_RESULT, "en"): (
        "[Tenure] Your {{ year }} appraisal result: grade {{ grade_label }}",
        "Dear {{ recipient_name }},\n\n"
        "The result of your {{ year }} performance appraisal has been published.\n\n"
        + _EN_RESULT +
        "\nYou may appeal within the appeal period set by the rules." + _EN_FOOTER,
    ),
    (K.EXIT_NOTICE, "zh"): (
        "【任期制】退出决定待定：可于 {{ appeal_deadline }} 前申诉",
        "{{ recipient_name }}，您好：\n\n"
        "根据您的{% if year %}{{ year }}年度{% endif %}考核结果，"
        "任期经营业绩责任书约定的退出条款已触发。该退出决定尚未生效，在申诉期内不会解除您的合同。\n\n"
        "{% if rule %}触发原因：{{ rule_label }}\n"
        "{% elif rule_description %}触发原因：{{ rule_description }}\n{% endif %}" + _ZH_RESULT +
        "\n如有异议，您可在 {{ appeal_deadline }}（含当日）前提出申诉"
        "{% if appeal_window_days %}（公布后{{ appeal_window_days }}个自然日）{% endif %}；"
        "人力资源部门也可代您提出。申诉期内未申诉的，退出决定于申诉期满后生效。" + _ZH_FOOTER,
    ),
    (K.EXIT_NOTICE, "en"): (
        "[Tenure] Exit decision pending: you may appeal until {{ appeal_deadline }}",
        "Dear {{ recipient_name }},\n\n"
        "Following your {% if year %}{{ year }} {% endif %}appraisal, an exit clause of your "
        "tenure contract has been triggered. The exit is pending: your contract is not "
        "terminated while you may appeal.\n\n"
        "{% if rule %}Reason: {{ rule_label }}\n"
        "{% elif rule_description %}Reason: {{ rule_description }}\n{% endif %}" + _EN_RESULT +
        "\nYou may appeal until the end of {{ appeal_deadline }}"
        "{% if appeal_window_days %} ({{ appeal_window_days }} calendar days after "
        "publication){% endif %}; HR may also appeal on your behalf. Without an appeal, the "
        "exit takes effect when that period ends." + _EN_FOOTER,
    ),
    (K.EXIT_CONFIRMED, "zh"): (
        "【任期制】退出决定已生效",
        "{{ recipient_name }}，您好：\n\n"
        "您{% if year %}{{ year }}年度{% endif %}考核后的退出决定已生效，"
        "{% if because == \"window_closed\" %}申诉期（至 {{ appeal_deadline }}）内未收到申诉。"
        "{% elif because == \"appeal_rejected\" %}您的申诉经复核未予支持。"
        "{% else %}您的申诉已受理并重新评分，新的结果仍触发退出条款。{% endif %}\n"
        "您的任期经营业绩责任书将据此解除。\n"
        "{% if rule_description %}触发原因：{{ rule_description }}\n{% endif %}"
        "\n人力资源部门将与您联系后续安排。" + _ZH_FOOTER,
    ),
    (K.EXIT_CONFIRMED, "en"): (
        "[Tenure] The exit decision is confirmed",
        "Dear {{ recipient_name }},\n\n"
        "The exit decision after your {% if year %}{{ year }} {% endif %}appraisal is confirmed: "
        "{% if because == \"window_closed\" %}no appeal was filed by {{ appeal_deadline }}."
        "{% elif because == \"appeal_rejected\" %}your appeal was rejected."
        "{% else %}your appeal was heard and the new result still meets an exit clause."
        "{% endif %}\nYour tenure contract is terminated accordingly.\n"
        "{% if rule_description %}Reason: {{ rule_description }}\n{% endif %}"
        "\nHR will contact you about the next steps." + _EN_FOOTER,
    ),
    (K.EXIT_CANCELLED, "zh"): (
        "【任期制】退出决定已撤销",
        "{{ recipient_name }}，您好：\n\n"
        "您的申诉已获支持，重新评分后的{% if year %}{{ year }}年度{% endif %}考核结果"
        "未触发退出条款，原退出决定已撤销。\n"
        "{% if contract_terminated %}已解除的任期经营业绩责任书将恢复履行。"
        "{% else %}您的任期经营业绩责任书继续履行。{% endif %}" + _ZH_FOOTER,
    ),
    (K.EXIT_CANCELLED, "en"): (
        "[Tenure] The exit decision is cancelled",
        "Dear {{ recipient_name }},\n\n"
        "Your appeal was upheld: the new result of your {% if year %}{{ year }} {% endif %}"
        "appraisal meets no exit clause, and the exit decision is cancelled.\n"
        "{% if contract_terminated %}Your terminated tenure contract is being reinstated."
        "{% else %}Your tenure contract continues.{% endif %}" + _EN_FOOTER,
    ),
    (K.CONTRACT_REINSTATED, "zh"): (
        "【任期制】您的任期经营业绩责任书已恢复",
        "{{ recipient_name }}，您好：\n\n"
        "因退出决定已撤销，您的任期经营业绩责任书已恢复履行，您的任职状态同时恢复。\n"
        "{% if reason %}说明：{{ reason_label }}\n{% endif %}\n" + _ZH_CONTRACT + _ZH_FOOTER,
    ),
    (K.CONTRACT_REINSTATED, "en"): (
        "[Tenure] Your tenure contract is reinstated",
        "Dear {{ recipient_name }},\n\n"
        "The exit decision was cancelled, so your tenure contract is in force again and you "
        "are back in post.\n{% if reason %}Note: {{ reason_label }}\n{% endif %}\n"
        + _EN_CONTRACT + _EN_FOOTER,
    ),
    (K.CONTRACT_EXPIRING, "zh"): (
        "【任期制】您的任期将于 {{ end_date }} 届满（剩余{{ days_left }}天）",
        "{{ recipient_name }}，您好：\n\n"
        "您的任期经营业绩责任书将于 {{ end_date }} 到期，距今还有{{ days_left }}天。"
        "任期考核与续聘安排将另行通知。\n\n" + _ZH_CONTRACT + _ZH_FOOTER,
    ),
    (K.CONTRACT_EXPIRING, "en"): (
        "[Tenure] Your tenure ends on {{ end_date }} ({{ days_left }} days left)",
        "Dear {{ recipient_name }},\n\n"
        "Your tenure contract ends on {{ end_date }}, in {{ days_left }} days. You will be told "
        "about the tenure appraisal and renewal separately.\n\n" + _EN_CONTRACT + _EN_FOOTER,
    ),
    (K.CONTRACT_ENDED, "zh"): (
        "【任期制】您的任期经营业绩责任书已"
        "{% if ending == \"expired\" %}到期{% else %}终止{% endif %}",
        "{{ recipient_name }}，您好：\n\n"
        "您的任期经营业绩责任书已"
        "{% if ending == \"expired\" %}于 {{ end_date }} 到期。{% else %}终止。{% endif %}\n"
        "{% if reason %}原因：{{ reason_label }}\n{% endif %}\n" + _ZH_CONTRACT + _ZH_FOOTER,
    ),
    (K.CONTRACT_ENDED, "en"): (
        "[Tenure] Your tenure contract has "
        "{% if ending == \"expired\" %}expired{% else %}been terminated{% endif %}",
        "Dear {{ recipient_name }},\n\n"
        "Your tenure contract has "
        "{% if ending == \"expired\" %}expired on {{ end_date }}.{% else %}been terminated."
        "{% endif %}\n{% if reason %}Reason: {{ reason_label }}\n{% endif %}\n"
        + _EN_CONTRACT + _EN_FOOTER,
    ),
    (K.TENURE_CONCLUDED, "zh"): (
        "【任期制】您的任期考核结论：" + _ZH_OUTCOME,
        "{{ recipient_name }}，您好：\n\n"
        "您的任期考核已完成，结论为：" + _ZH_OUTCOME + "。\n"
        "{% if conditions %}续聘条件：{{ conditions }}\n{% endif %}" + _ZH_RESULT + _ZH_FOOTER,
    ),
    (K.TENURE_CONCLUDED, "en"): (
        "[Tenure] Your tenure appraisal concluded: " + _EN_OUTCOME,
        "Dear {{ recipient_name }},\n\n"
        "Your tenure appraisal has concluded with: " + _EN_OUTCOME + ".\n"
        "{% if conditions %}Conditions: {{ conditions }}\n{% endif %}" + _EN_RESULT + _EN_FOOTER,
    ),
    # --- to HR admins and appraisers -----------------------------------------------------
    (K.CONTRACT_ISSUED_HR, "zh"): (
        "【任期制】{{ manager_name }}的任期经营业绩责任书已下发待签",
        "{{ recipient_name }}，您好：\n\n"
        "{{ org_unit_name }} {{ manager_name }}（{{ employee_no }}）的任期经营业绩责任书已下发，"
        "{% if signing_deadline %}签署截止日期 {{ signing_deadline }}。{% else %}等待签署。"
        "{% endif %}\n\n" + _ZH_CONTRACT + _ZH_FOOTER,
    ),
    (K.CONTRACT_ISSUED_HR, "en"): (
        "[Tenure] Tenure contract issued to {{ manager_name }} for signature",
        "Dear {{ recipient_name }},\n\n"
        "The tenure contract of {{ manager_name }} ({{ employee_no }}, {{ org_unit_name }}) "
        "has been issued for signature"
        "{% if signing_deadline %}; the deadline is {{ signing_deadline }}{% endif %}.\n\n"
        + _EN_CONTRACT + _EN_FOOTER,
    ),
    (K.CONTRACT_SIGNED_HR, "zh"): (
        "【任期制】{{ manager_name }}已签署任期经营业绩责任书",
        "{{ recipient_name }}，您好：\n\n"
        "{{ org_unit_name }} {{ manager_name }}（{{ employee_no }}）已签署任期经营业绩责任书，"
        "合同已生效。\n\n" + _ZH_CONTRACT + _ZH_FOOTER,
    ),
    (K.CONTRACT_SIGNED_HR, "en"): (
        "[Tenure] {{ manager_name }} signed the tenure contract",
        "Dear {{ recipient_name }},\n\n"
        "{{ manager_name }} ({{ employee_no }}, {{ org_unit_name }}) has signed the tenure "
        "contract; it is now active.\n\n" + _EN_CONTRACT + _EN_FOOTER,
    ),
    (K.CONTRACT_IN_FORCE, "zh"): (
        "【任期制】您的任期制合同已双方签署生效",
        "{{ manager_name }}，您好：\n\n"
        "用人单位一方已会签您签署的任期制合同（聘任协议、任期经营业绩责任书及首年度"
        "经营业绩责任书），合同现已生效。\n\n" + _ZH_CONTRACT + _ZH_FOOTER,
    ),
    (K.CONTRACT_IN_FORCE, "en"): (
        "[Tenure] Your tenure contract is signed by both sides and in force",
        "Dear {{ manager_name }},\n\n"
        "The employer has countersigned the tenure contract you signed (the appointment "
        "agreement, the tenure performance contract and the first year's annual performance "
        "contract). It is now in force.\n\n" + _EN_CONTRACT + _EN_FOOTER,
    ),
    (K.AMENDMENT_TO_SIGN, "zh"): (
        "【任期制】请签署经营业绩责任书的变更",
        "{{ manager_name }}，您好：\n\n"
        "您的经营业绩责任书目标已变更（第{{ version }}版，原因：{{ reason_label }}），请签署。"
        "双方签署前，原已签署的目标继续有效。\n\n" + _ZH_CONTRACT + _ZH_FOOTER,
    ),
    (K.AMENDMENT_TO_SIGN, "en"): (
        "[Tenure] Please sign the amended targets of your contract",
        "Dear {{ manager_name }},\n\n"
        "The targets of your performance contract were amended (version {{ version }}, "
        "because: {{ reason_label }}). Please sign the amendment. Until both sides have signed it, "
        "the targets you signed before stay in force.\n\n" + _EN_CONTRACT + _EN_FOOTER,
    ),
    (K.COUNTERSIGN_REQUEST, "zh"): (
        "【任期制】请会签{{ manager_name }}的任期制合同",
        "{{ recipient_name }}，您好：\n\n"
        "{{ org_unit_name }} {{ manager_name }}（{{ employee_no }}）已签署任期制合同，"
        "请您作为用人单位一方的签署人会签。双方签署后合同方生效。\n\n"
        + _ZH_CONTRACT + _ZH_FOOTER,
    ),
    (K.COUNTERSIGN_REQUEST, "en"): (
        "[Tenure] Please countersign the tenure contract of {{ manager_name }}",
        "Dear {{ recipient_name }},\n\n"
        "{{ manager_name }} ({{ employee_no }}, {{ org_unit_name }}) has signed their tenure "
        "contract. Please countersign it for the employer ({{ countersigner }}). The contract "
        "is in force once both sides have signed.\n\n" + _EN_CONTRACT + _EN_FOOTER,
    ),
    (K.APPRAISAL_PUBLISHED_HR, "zh"): (
        "【任期制】{{ manager_name }} {{ year }}年度考核结果已公布：{{ grade_label }}",
        "{{ recipient_name }}，您好：\n\n"
        "{{ org_unit_name }} {{ manager_name }}（{{ employee_no }}）的{{ year }}年度"
        "经营业绩考核结果已公布。\n\n" + _ZH_RESULT + _ZH_FOOTER,
    ),
    (K.APPRAISAL_PUBLISHED_HR, "en"): (
        "[Tenure] {{ year }} appraisal of {{ manager_name }} published: grade {{ grade_label }}",
        "Dear {{ recipient_name }},\n\n"
        "The {{ year }} appraisal result of {{ manager_name }} ({{ employee_no }}, "
        "{{ org_unit_name }}) has been published.\n\n" + _EN_RESULT + _EN_FOOTER,
    ),
    (K.EXIT_TRIGGERED_HR, "zh"): (
        "【任期制】{{ manager_name }}触发退出条款，申诉期至 {{ appeal_deadline }}",
        "{{ recipient_name }}，您好：\n\n"
        "{{ org_unit_name }} {{ manager_name }}（{{ employee_no }}）"
        "{% if year %}{{ year }}年度{% endif %}考核后触发退出条款。"
        "退出决定待定：申诉期至 {{ appeal_deadline }}（含当日），期满无申诉方生效并解除合同；"
        "期内提出的申诉将暂停退出，待您复核决定。\n\n"
        "{% if rule %}触发原因：{{ rule_label }}\n"
        "{% elif rule_description %}触发原因：{{ rule_description }}\n{% endif %}" + _ZH_RESULT
        + _ZH_FOOTER,
    ),
    (K.EXIT_TRIGGERED_HR, "en"): (
        "[Tenure] Exit pending for {{ manager_name }}: appeals until {{ appeal_deadline }}",
        "Dear {{ recipient_name }},\n\n"
        "An exit clause has been triggered for {{ manager_name }} ({{ employee_no }}, "
        "{{ org_unit_name }}){% if year %} after the {{ year }} appraisal{% endif %}. "
        "The exit is pending until the end of {{ appeal_deadline }}: without an appeal it is "
        "confirmed then and the contract terminated; an appeal holds it until you decide "
        "the appeal.\n\n"
        "{% if rule %}Reason: {{ rule_label }}\n"
        "{% elif rule_description %}Reason: {{ rule_description }}\n{% endif %}" + _EN_RESULT
        + _EN_FOOTER,
    ),
    (K.EXIT_CONFIRMED_HR, "zh"): (
        "【任期制】{{ manager_name }}的退出决定已生效",
        "{{ recipient_name }}，您好：\n\n"
        "{{ org_unit_name }} {{ manager_name }}（{{ employee_no }}）"
        "{% if year %}{{ year }}年度{% endif %}考核后的退出决定已生效"
        "{% if because == \"window_closed\" %}（申诉期至 {{ appeal_deadline }} 届满，无申诉）"
        "{% elif because == \"appeal_rejected\" %}（申诉未予支持）"
        "{% else %}（申诉经重新评分仍触发退出条款）{% endif %}，任期经营业绩责任书将予解除，"
        "请按规定办理退出手续。\n"
        "{% if rule_description %}触发原因：{{ rule_description }}\n{% endif %}" + _ZH_FOOTER,
    ),
    (K.EXIT_CONFIRMED_HR, "en"): (
        "[Tenure] Exit of {{ manager_name }} confirmed",
        "Dear {{ recipient_name }},\n\n"
        "The exit of {{ manager_name }} ({{ employee_no }}, {{ org_unit_name }})"
        "{% if year %} after the {{ year }} appraisal{% endif %} is confirmed "
        "{% if because == \"window_closed\" %}(no appeal by {{ appeal_deadline }})"
        "{% elif because == \"appeal_rejected\" %}(the appeal was rejected)"
        "{% else %}(the appeal was heard; the new result still meets an exit clause)"
        "{% endif %}. The tenure contract is terminated; please complete the exit procedure.\n"
        "{% if rule_description %}Reason: {{ rule_description }}\n{% endif %}" + _EN_FOOTER,
    ),
    (K.EXIT_CANCELLED_HR, "zh"): (
        "【任期制】{{ manager_name }}的退出决定已撤销",
        "{{ recipient_name }}，您好：\n\n"
        "{{ org_unit_name }} {{ manager_name }}（{{ employee_no }}）的申诉已获支持，"
        "重新评分后的结果未触发退出条款，退出决定已撤销。"
        "{% if contract_terminated %}已解除的合同将恢复，任职状态同时恢复。"
        "{% else %}合同未曾解除，继续履行。{% endif %}" + _ZH_FOOTER,
    ),
    (K.EXIT_CANCELLED_HR, "en"): (
        "[Tenure] Exit of {{ manager_name }} cancelled",
        "Dear {{ recipient_name }},\n\n"
        "The appeal of {{ manager_name }} ({{ employee_no }}, {{ org_unit_name }}) was upheld "
        "and the new result meets no exit clause: the exit is cancelled. "
        "{% if contract_terminated %}The terminated contract is being reinstated, and the "
        "manager is back in post.{% else %}The contract was never terminated and continues."
        "{% endif %}" + _EN_FOOTER,
    ),
    (K.CONTRACT_REINSTATED_HR, "zh"): (
        "【任期制】{{ manager_name }}的任期经营业绩责任书已恢复",
        "{{ recipient_name }}，您好：\n\n"
        "{{ org_unit_name }} {{ manager_name }}（{{ employee_no }}）的退出决定已撤销，"
        "其任期经营业绩责任书已恢复履行，任职状态同时恢复。\n"
        "{% if reason %}说明：{{ reason_label }}\n{% endif %}\n" + _ZH_CONTRACT + _ZH_FOOTER,
    ),
    (K.CONTRACT_REINSTATED_HR, "en"): (
        "[Tenure] Tenure contract of {{ manager_name }} reinstated",
        "Dear {{ recipient_name }},\n\n"
        "The exit of {{ manager_name }} ({{ employee_no }}, {{ org_unit_name }}) was cancelled: "
        "the tenure contract is in force again and the manager is back in post.\n"
        "{% if reason %}Note: {{ reason_label }}\n{% endif %}\n" + _EN_CONTRACT + _EN_FOOTER,
    ),
    (K.CONTRACT_EXPIRING_HR, "zh"): (
        "【任期制】{{ manager_name }}的任期将于 {{ end_date }} 届满（剩余{{ days_left }}天）",
        "{{ recipient_name }}，您好：\n\n"
        "{{ org_unit_name }} {{ manager_name }}（{{ employee_no }}）的任期经营业绩责任书将于 "
        "{{ end_date }} 到期，距今还有{{ days_left }}天，请安排任期考核及续聘工作。\n\n"
        + _ZH_CONTRACT + _ZH_FOOTER,
    ),
    (K.CONTRACT_EXPIRING_HR, "en"): (
        "[Tenure] Tenure of {{ manager_name }} ends on {{ end_date }} ({{ days_left }} days)",
        "Dear {{ recipient_name }},\n\n"
        "The tenure contract of {{ manager_name }} ({{ employee_no }}, {{ org_unit_name }}) "
        "ends on {{ end_date }}, in {{ days_left }} days. Please plan the tenure appraisal and "
        "the renewal decision.\n\n" + _EN_CONTRACT + _EN_FOOTER,
    ),
    (K.CONTRACT_ENDED_HR, "zh"): (
        "【任期制】{{ manager_name }}的任期经营业绩责任书已"
        "{% if ending == \"expired\" %}到期{% else %}终止{% endif %}",
        "{{ recipient_name }}，您好：\n\n"
        "{{ org_unit_name }} {{ manager_name }}（{{ employee_no }}）的任期经营业绩责任书已"
        "{% if ending == \"expired\" %}于 {{ end_date }} 到期。{% else %}终止。{% endif %}\n"
        "{% if reason %}原因：{{ reason_label }}\n{% endif %}\n" + _ZH_CONTRACT + _ZH_FOOTER,
    ),
    (K.CONTRACT_ENDED_HR, "en"): (
        "[Tenure] Tenure contract of {{ manager_name }} "
        "{% if ending == \"expired\" %}expired{% else %}terminated{% endif %}",
        "Dear {{ recipient_name }},\n\n"
        "The tenure contract of {{ manager_name }} ({{ employee_no }}, {{ org_unit_name }}) "
        "{% if ending == \"expired\" %}expired on {{ end_date }}.{% else %}was terminated."
        "{% endif %}\n{% if reason %}Reason: {{ reason_label }}\n{% endif %}\n"
        + _EN_CONTRACT + _EN_FOOTER,
    ),
    (K.TENURE_CONCLUDED_HR, "zh"): (
        "【任期制】{{ manager_name }}任期考核结论：" + _ZH_OUTCOME,
        "{{ recipient_name }}，您好：\n\n"
        "{{ org_unit_name }} {{ manager_name }}（{{ employee_no }}）的任期考核已完成，结论为："
        + _ZH_OUTCOME + "。\n"
        "{% if conditions %}续聘条件：{{ conditions }}\n{% endif %}" + _ZH_RESULT + _ZH_FOOTER,
    ),
    (K.TENURE_CONCLUDED_HR, "en"): (
        "[Tenure] Tenure appraisal of {{ manager_name }} concluded: " + _EN_OUTCOME,
        "Dear {{ recipient_name }},\n\n"
        "The tenure appraisal of {{ manager_name }} ({{ employee_no }}, {{ org_unit_name }}) "
        "concluded with: " + _EN_OUTCOME + ".\n"
        "{% if conditions %}Conditions: {{ conditions }}\n{% endif %}" + _EN_RESULT + _EN_FOOTER,
    ),
    (K.ACTUALS_DUE, "zh"): (
        "【任期制】请于 {{ due_date }} 前填报{{ manager_name }}的{{ year }}年度完成值",
        "{{ recipient_name }}，您好：\n\n"
        "{{ org_unit_name }} {{ manager_name }}（{{ employee_no }}）{{ year }}年度考核指标"
        "完成值的填报截止日期为 {{ due_date }}"
        "{% if days_left is not none %}（剩余{{ days_left }}天）{% endif %}，请及时填报。"
        + _ZH_FOOTER,
    ),
    (K.ACTUALS_DUE, "en"): (
        "[Tenure] Actuals of {{ manager_name }} for {{ year }} are due on {{ due_date }}",
        "Dear {{ recipient_name }},\n\n"
        "The actuals of {{ manager_name }} ({{ employee_no }}, {{ org_unit_name }}) for "
        "{{ year }} are due on {{ due_date }}"
        "{% if days_left is not none %} ({{ days_left }} days left){% endif %}. "
        "Please enter them in time." + _EN_FOOTER,
    ),
    (K.REVIEW_DUE, "zh"): (
        "【任期制】请于 {{ due_date }} 前完成{{ manager_name }}的{{ year }}年度考核评审",
        "{{ recipient_name }}，您好：\n\n"
        "{{ org_unit_name }} {{ manager_name }}（{{ employee_no }}）{{ year }}年度考核评审的"
        "截止日期为 {{ due_date }}"
        "{% if days_left is not none %}（剩余{{ days_left }}天）{% endif %}，请及时完成。"
        + _ZH_FOOTER,
    ),
    (K.REVIEW_DUE, "en"): (
        "[Tenure] Review of {{ manager_name }} for {{ year }} is due on {{ due_date }}",
        "Dear {{ recipient_name }},\n\n"
        "The {{ year }} appraisal review of {{ manager_name }} ({{ employee_no }}, "
        "{{ org_unit_name }}) is due on {{ due_date }}"
        "{% if days_left is not none %} ({{ days_left }} days left){% endif %}. "
        "Please complete it in time." + _EN_FOOTER,
    ),
    (K.SELF_REPORT_DUE, "zh"): (
        "【任期制】请于 {{ due_date }} 前提交您的{{ year }}年度述职报告",
        "{{ recipient_name }}，您好：\n\n"
        "您{{ year }}年度的述职报告尚未提交，截止日期为 {{ due_date }}"
        "{% if days_left is not none %}（剩余{{ days_left }}天）{% endif %}。"
        "请登录系统填写述职内容，附上相关材料，并确认或就一项完成值提出异议。"
        "逾期未提交的，考核将在无述职报告的情况下进行。" + _ZH_FOOTER,
    ),
    (K.SELF_REPORT_DUE, "en"): (
        "[Tenure] Your {{ year }} self-report is due on {{ due_date }}",
        "Dear {{ recipient_name }},\n\n"
        "Your self-report for {{ year }} has not been submitted yet; it is due on "
        "{{ due_date }}{% if days_left is not none %} ({{ days_left }} days left){% endif %}. "
        "Please write it in the system, add references to any attachments, and confirm "
        "your actuals or dispute one of them. After the deadline the appraisal goes ahead "
        "without a report." + _EN_FOOTER,
    ),
    (K.SELF_REPORT_SUBMITTED_HR, "zh"): (
        "【任期制】{{ manager_name }}已提交{{ year }}年度述职报告"
        "{% if actuals == \"disputed\" %}（对完成值有异议）{% endif %}",
        "{{ recipient_name }}，您好：\n\n"
        "{{ org_unit_name }} {{ manager_name }}（{{ employee_no }}）的{{ year }}年度述职报告"
        "{% if channel == \"paper\" %}（纸质报告，由人力资源部门录入）{% endif %}已提交"
        "{% if revision and revision > 1 %}（第{{ revision }}次修改）{% endif %}。\n"
        "{% if actuals == \"disputed\" %}本人对指标 {{ disputed_indicator }} 的完成值提出异议"
        "{% if dispute_reason %}，理由：{{ dispute_reason }}{% endif %}。"
        "请在评审前更正该完成值并重新计分，或作出维持原值的决定。\n"
        "{% else %}本人已确认各项完成值。\n{% endif %}"
        "述职报告将与考核得分一并供评审参阅。" + _ZH_FOOTER,
    ),
    (K.SELF_REPORT_SUBMITTED_HR, "en"): (
        "[Tenure] {{ manager_name }} submitted the {{ year }} self-report"
        "{% if actuals == \"disputed\" %} (an actual is disputed){% endif %}",
        "Dear {{ recipient_name }},\n\n"
        "{{ manager_name }} ({{ employee_no }}, {{ org_unit_name }}) "
        "{% if channel == \"paper\" %}handed in a self-report on paper for {{ year }}, "
        "recorded by HR"
        "{% else %}submitted the self-report for {{ year }}{% endif %}"
        "{% if revision and revision > 1 %} (revision {{ revision }}){% endif %}.\n"
        "{% if actuals == \"disputed\" %}The manager disputes the actual of "
        "{{ disputed_indicator }}{% if dispute_reason %}: {{ dispute_reason }}{% endif %}. "
        "Before the review, correct that actual and score again, or overrule the dispute.\n"
        "{% else %}The manager confirmed the actuals.\n{% endif %}"
        "The report is shown beside the score at review." + _EN_FOOTER,
    ),
    (K.DELIVERY_GIVEN_UP_HR, "zh"): (
        "【任期制】通知投递失败：{{ failed_recipient_name }}（{{ failed_channel_label }}）",
        "{{ recipient_name }}，您好：\n\n"
        "发给{{ failed_recipient_name }}的通知（{{ failed_kind_label }}）经{{ attempts }}次尝试"
        "仍未能通过{{ failed_channel_label }}送达，系统已停止重试。\n\n"
        "最后错误：{{ reason_label }}\n通知编号：{{ failed_notice_key }}\n"
        "{% if manager_name %}涉及人员：{{ manager_name }}\n{% endif %}\n"
        "请核实联系方式后在系统中重新发送。" + _ZH_FOOTER,
    ),
    (K.DELIVERY_GIVEN_UP_HR, "en"): (
        "[Tenure] Notice could not be delivered to {{ failed_recipient_name }} "
        "({{ failed_channel_label }})",
        "Dear {{ recipient_name }},\n\n"
        "A notice ({{ failed_kind_label }}) to {{ failed_recipient_name }} could not be "
        "delivered by {{ failed_channel_label }} after {{ attempts }} attempts; retries have "
        "stopped.\n\n"
        "Last error: {{ reason_label }}\nNotice key: {{ failed_notice_key }}\n"
        "{% if manager_name %}Manager concerned: {{ manager_name }}\n{% endif %}\n"
        "Please check the contact details and resend it from the system." + _EN_FOOTER,
    ),
}
