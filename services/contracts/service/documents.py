"""One document of a contract, as JSON or as a printable PDF in the reader's language."""

from __future__ import annotations

from typing import Any

import orjson

from services.contracts.printing import DocumentNotFound, document_html, html_to_pdf
from services.contracts.service.contracts import read_contract
from shared.auth import Principal
from shared.db import Database
from shared.errors import ApiProblem


def _contract_and_document(db: Database, actor: Principal, contract_id: str,
                           document_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read through the same path as GET one contract, so scope and shape are the same."""
    body, _ = read_contract(db, actor, contract_id)
    contract = orjson.loads(body)
    for document in contract.get("documents") or []:
        if document.get("id") == document_id:
            return contract, document
    raise ApiProblem(404, "Not Found",
                     f"Contract {contract_id} has no document {document_id}; its documents "
                     "are listed in GET /api/v1/contracts/{id}",
                     errors={"document_id": ["no such document on this contract"]})


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
    from services.contracts.printing import plain_label

    return plain_label(kind, code, lang)
