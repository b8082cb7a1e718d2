"""One document of a contract, as JSON or as a printable PDF in the reader's language."""

from __future__ import annotations

from typing import Any

import orjson

from services.contracts.printing import DocumentNotFound, document_html, html_to_pdf
from services.contracts.service.signing import read_contract_or_countersigned
from shared.auth import Principal
from shared.db import Database
from shared.errors import ApiProblem


def _contract_and_document(db: Database, actor: Principal, contract_id: str,
                           document_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read through the same path as GET one contract, so scope and shape are the same."""
    body, _ = read_contract_or_countersigned(db, actor, contract_id)
    contract = orjson.loads(body)
    for document in contract.get("documents") or []:
        if document.get("id") == document_id:
            document = {**document, "signatures": [
                _signature(s) for s in contract.get("signatures") or []
                if s.get("document_id") == document_id]}
            contract["documents"] = [document if d.get("id") == document_id else d
                                     for d in contract["documents"]]
            return contract, document
    raise ApiProblem(404, "Not Found",
                     f"Contract {contract_id} has no document {document_id}; its documents "
                     "are listed in GET /api/v1/contracts/{id}",
                     errors={"document_id": ["no such document on this contract"]})


def _signature(stored: dict[str, Any]) -> dict[str, Any]:
    """One recorded signature as the printed document shows it."""
    return {"party": stored.get("party"), "method": stored.get("method"),
            "signed_by": stored.get("on_behalf_of") or stored.get("signed_by") or "",
            "signed_at": stored.get("paper_signed_on") or stored.get("signed_at") or "",
            "paper_reference": stored.get("paper_reference")}


def read_document(db: Database, actor: Principal, contract_id: str,
                  document_id: str) -> dict[str, Any]:
    return _contract_and_document(db, actor, contract_id, document_id)[1]


def print_document(db: Database, actor: Principal, contract_id: str, document_id: str,
                   lang: str) -> tuple[bytes, str]:
    """The PDF and a file name that says whose document it is."""
    contract, document = _contract_and_document(db, actor, contract_id, document_id)
    try:
        html = document_html(contract, document_id, lang, label=_label)
    except DocumentNotFound:  # read above; kept for a document removed in between
        raise ApiProblem(404, "Not Found", f"No document {document_id}") from None
    year = f"-{document['year']}" if document.get("year") else ""
    name = f"{contract.get('employee_no') or contract_id}-{document['kind']}{year}-{lang}.pdf"
    return html_to_pdf(html), name


def _label(kind: str, code: str | None, lang: str) -> str:
    """The words for a code in the document's language (shared/labels.py), else the code
    with spaces: a printed contract never shows snake_case."""
    from services.contracts.printing import plain_label
    from shared.labels import label

    words = label(kind, code, lang)
    return plain_label(kind, code, lang) if words in (None, code) else str(words)
