"""Contract documents as printable PDF: the "two letters and one agreement", in zh and en.

A document is printed from the contract exactly as the API reads it (the same JSON), so the
paper and the API can never disagree. Jinja2 lays it out as HTML; WeasyPrint turns that into
PDF with the system's Noto CJK fonts (Debian's `fonts-noto-cjk`), so Chinese prints without
any font shipped in the repository.
"""

# ruff: noqa: RUF001 (Chinese text uses full-width punctuation)

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

#: Languages a document is printed in; the first is the default.
LANGUAGES: tuple[str, ...] = ("zh", "en")

Label = Callable[[str, str | None, str], str]

#: The fixed words of the documents. Codes (positions, roles, ...) come from `label`.
WORDS: Mapping[str, Mapping[str, str]] = {
    "zh": {
        "appointment_agreement": "岗位聘任协议",
        "tenure_performance_contract": "任期经营业绩责任书",
        "annual_performance_contract": "年度经营业绩责任书",
        "employer": "甲方（聘任方）", "manager": "乙方（受聘人）",
        "employee_no": "工号", "position": "岗位", "layer": "层级", "category": "企业类别",
        "term": "任期", "term_number": "第 {n} 个任期", "year": "考核年度",
        "from_to": "{start} 至 {end}", "contract": "合同编号", "version": "版本",
        "targets": "经营业绩指标", "indicator": "指标", "unit": "单位", "role": "类型",
        "part": "维度", "weight": "权重", "base": "基本值", "target": "目标值",
        "challenge": "挑战值", "no_targets": "本文件不含考核指标。",
        "pay_terms": "薪酬条款",
        "pay_text": "乙方的绩效年薪依据年度考核等级确定；任期激励依据任期考核结果确定。"
                    "部分绩效年薪延期支付，任期考核后兑现；考核不称职或触发刚性退出情形的，"
                    "按制度扣减或追索已发放的绩效薪酬。",
        "duties_text": "乙方在任期内履行岗位职责，完成本责任书约定的经营业绩指标，"
                       "接受年度考核和任期考核。考核结果作为薪酬兑现、续聘、解聘的依据。",
        "signatures": "签署", "signed_by": "签署人", "signed_at": "签署时间",
        "method": "方式", "not_signed": "尚未签署", "signatory": "甲方签署人",
        "printed": "打印时间", "state": "状态",
    },
    "en": {
        "appointment_agreement": "Appointment agreement",
        "tenure_performance_contract": "Tenure performance contract",
        "annual_performance_contract": "Annual performance contract",
        "employer": "The employer", "manager": "The manager",
        "employee_no": "Employee no.", "position": "Position", "layer": "Layer",
        "category": "Enterprise category", "term": "Term", "term_number": "term {n}",
        "year": "Appraisal year", "from_to": "{start} to {end}", "contract": "Contract",
        "version": "version", "targets": "Performance targets", "indicator": "Indicator",
        "unit": "Unit", "role": "Counts as", "part": "Part", "weight": "Weight",
        "base": "Base", "target": "Target", "challenge": "Challenge",
        "no_targets": "This document carries no targets.",
        "pay_terms": "Pay terms",
        "pay_text": "The manager's annual performance pay follows the grade of the annual "
                    "appraisal; the tenure incentive follows the tenure appraisal. Part of the "
                    "performance pay is deferred and paid after the tenure appraisal; pay "
                    "already paid is reduced or clawed back where the manager is appraised "
                    "not competent or a rigid-exit rule applies.",
        "duties_text": "The manager performs the duties of the position for the term, pursues "
                       "the targets of this contract, and is appraised every year and at the "
                       "end of the term. The results decide pay, reappointment and exit.",
        "signatures": "Signatures", "signed_by": "Signed by", "signed_at": "Signed at",
        "method": "How", "not_signed": "Not signed yet", "signatory": "Employer's signatory",
        "printed": "Printed", "state": "State",
    },
}


def plain_label(kind: str, code: str | None, lang: str) -> str:
    """A readable fallback for a code that has no label: words instead of snake_case."""
    return "" if code is None else str(code).replace("_", " ")


class DocumentNotFound(LookupError):
    """The contract has no document with that id."""


@cache
def _environment() -> Environment:
    return Environment(loader=PackageLoader("services.contracts", "templates"),
                       autoescape=select_autoescape(default=True),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def document_html(contract: Mapping[str, Any], document_id: str, lang: str,
                  label: Label = plain_label, printed_at: datetime | None = None) -> str:
    """The document as HTML, laid out for A4 paper."""
    document = next((d for d in contract.get("documents") or [] if d.get("id") == document_id),
                    None)
    if document is None:
        raise DocumentNotFound(document_id)
    words = WORDS[lang]
    return _environment().get_template("documents/document.html").render(
        lang=lang, w=words, c=contract, d=document, label=label,
        title=words[document["kind"]],
        signatures=list(document.get("signatures") or []),
        printed_at=(printed_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
    )


def html_to_pdf(html: str) -> bytes:
    """Render HTML to PDF bytes; imported late, as WeasyPrint loads Pango on import."""
    from weasyprint import HTML

    return HTML(string=html).write_pdf()
