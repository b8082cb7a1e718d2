"""Contract documents print as PDF in zh and en: the text (read back with pdftotext) holds
the parties, the term and every figure of the targets; a page renders to an image."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.contracts import create_app
from tests.conftest import auth, service_settings
from tests.support.contracts_world import Client, manager, small_group, template


def _pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                         check=True)
    return out.stdout.decode("utf-8")


@pytest.fixture
def issued(database_url_factory: Any) -> Iterator[dict[str, Any]]:
    app = create_app(service_settings("contracts", database_url_factory("contracts")))
    api = Client(app.test_client())
    world = small_group(api)
    tpl = template(api)
    gm = manager(api, "E100", world["sub_a"]["id"])
    contract = api.post("/api/v1/contracts", {"manager_id": gm["id"], "template_id": tpl["id"],
                                               "start_date": "2027-01-01"}, expect=201).get_json()
    contract = api.post(f"/api/v1/contracts/{contract['id']}/issue", expect=200).get_json()
    yield {"api": api, "contract": contract, "manager": gm}
    # Its read cache's listener would outlive the test, and the server at the end.
    app.extensions["tenure_db"].dispose()


def _document(contract: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(d for d in contract["documents"] if d["kind"] == kind)


def test_annual_contract_prints_in_chinese_with_every_target_figure(
        issued: dict[str, Any], tmp_path: Path) -> None:
    c = issued["contract"]
    doc = _document(c, "annual_performance_contract")
    resp = issued["api"].get(f"/api/v1/contracts/{c['id']}/documents/{doc['id']}.pdf?lang=zh")
    assert resp.mimetype == "application/pdf"
    assert resp.data.startswith(b"%PDF-")
    assert "E100" in resp.headers["Content-Disposition"]
    text = _pdf_text(resp.data, tmp_path)
    assert "年度经营业绩责任书" in text
    assert "甲方" in text and "乙方" in text
    assert "Manager E100" in text
    assert "2027-01-01" in text and c["end_date"] in text
    for figure in ("800", "1000", "1200", "40", "30", "65", "60", "70"):
        assert figure in text, figure
    assert "Total profit" in text and "Cost ratio" in text
    assert "总经理" in text  # the position in words, in Chinese
    assert "general_manager" not in text and "pending_signature" not in text
    assert "薪酬条款" in text
    assert "尚未签署" in text  # nobody has signed yet


def test_the_same_document_prints_in_english(issued: dict[str, Any], tmp_path: Path) -> None:
    c = issued["contract"]
    doc = _document(c, "tenure_performance_contract")
    resp = issued["api"].get(f"/api/v1/contracts/{c['id']}/documents/{doc['id']}.pdf?lang=en")
    text = _pdf_text(resp.data, tmp_path)
    assert "Tenure performance contract" in text
    assert "Pay terms" in text
    assert "年度" not in text


def test_accept_pdf_on_the_document_prints_it_and_json_stays_the_default(
        issued: dict[str, Any], tmp_path: Path) -> None:
    c = issued["contract"]
    doc = _document(c, "appointment_agreement")
    path = f"/api/v1/contracts/{c['id']}/documents/{doc['id']}"
    as_json = issued["api"].get(path)
    assert as_json.get_json()["kind"] == "appointment_agreement"
    printed = issued["api"].get(path, headers={"Accept": "application/pdf",
                                                "Accept-Language": "en-GB,en;q=0.9"})
    assert printed.mimetype == "application/pdf"
    assert "Appointment agreement" in _pdf_text(printed.data, tmp_path)


def test_the_manager_prints_their_own_document_and_nobody_else_s(issued: dict[str, Any]) -> None:
    c = issued["contract"]
    doc = _document(c, "annual_performance_contract")
    path = f"/api/v1/contracts/{c['id']}/documents/{doc['id']}.pdf"
    api = issued["api"]
    api.as_(auth("manager", subject="m", manager_id=issued["manager"]["id"])).get(path)
    other = api.as_(auth("manager", subject="x", manager_id="someone-else")).get(path,
                                                                                 expect=404)
    assert other.mimetype == "application/problem+json"


def test_an_unknown_document_or_language_is_refused_with_problem_json(
        issued: dict[str, Any]) -> None:
    c = issued["contract"]
    missing = issued["api"].get(f"/api/v1/contracts/{c['id']}/documents/nope.pdf", expect=404)
    assert missing.mimetype == "application/problem+json"
    assert "document_id" in missing.get_json()["errors"]
    doc = _document(c, "annual_performance_contract")
    bad = issued["api"].get(f"/api/v1/contracts/{c['id']}/documents/{doc['id']}.pdf?lang=fr",
                            expect=422)
    assert "lang" in str(bad.get_json()["errors"])


def test_a_printed_page_renders_to_an_image(issued: dict[str, Any], tmp_path: Path) -> None:
    assert shutil.which("pdftoppm"), "poppler-utils is installed by install-system-deps.sh"
    c = issued["contract"]
    doc = _document(c, "annual_performance_contract")
    pdf = issued["api"].get(f"/api/v1/contracts/{c['id']}/documents/{doc['id']}.pdf").data
    (tmp_path / "doc.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1",
                    str(tmp_path / "doc.pdf"), str(tmp_path / "page")], check=True)
    pages = list(tmp_path.glob("page*.png"))
    assert len(pages) == 1
    assert pages[0].stat().st_size > 10_000  # a page with text, not a blank sheet
