"""What HR's and managers' pages share: documents as PDF, error pages, CSV downloads."""

from __future__ import annotations

from flask import Response

from services.portal.people import api


def document_pdf(contract_id: str, document_id: str, lang: str) -> Response:
    """The contracts service prints it; the portal passes it on with the person's token."""
    printed = api().contracts.raw(
        f"/api/v1/contracts/{contract_id}/documents/{document_id}.pdf", "application/pdf",
        lang=lang)
    resp = Response(printed.content, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = printed.headers.get("Content-Disposition",
                                                              "inline")
    return resp


def csv_download(client_name: str, path: str, filename: str, **params: object) -> Response:
    """A report as CSV, fetched with the person's token: the link works from the page."""
    client = getattr(api(), client_name)
    data = client.raw(path, "text/csv", format="csv", **params)
    resp = Response(data.content, mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return resp
