"""Pages for a manager: my contracts (read, sign, PDF), my targets, my result, appeal, inbox."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from services.portal.clients import ApiError
from services.portal.people import EMPLOYER_SIGNATORY, MANAGER, api, language, login_required
from services.portal.views.common import document_pdf

bp = Blueprint("mine", __name__, url_prefix="/me")


@bp.get("")
@login_required(MANAGER)
def contracts() -> Any:
    found = api().contracts.get("/api/v1/contracts", manager_id=g.person.manager_id,
                                page_size=50)
    return render_template("mine/contracts.html", found=found)


@bp.get("/contracts/<contract_id>")
@login_required(MANAGER, EMPLOYER_SIGNATORY)
def contract(contract_id: str) -> Any:
    """The manager's own contract, or one they countersign for the employer."""
    c = api().contracts.get(f"/api/v1/contracts/{contract_id}")
    side = "manager" if c["manager_id"] == g.person.manager_id else "employer"
    awaiting = f"awaiting_{side}"
    to_sign_now = c["state"] == "pending_signature" and any(
        d.get("signing_state") == awaiting for d in c["documents"])
    return render_template("mine/contract.html", c=c, side=side, awaiting=awaiting,
                           to_sign_now=to_sign_now)


@bp.post("/contracts/<contract_id>/sign")
@login_required(MANAGER, EMPLOYER_SIGNATORY)
def sign(contract_id: str) -> Any:
    document_id = request.form.get("document_id")
    path = (f"/api/v1/contracts/{contract_id}/documents/{document_id}/sign" if document_id
            else f"/api/v1/contracts/{contract_id}/sign")
    try:
        api().contracts.post(path, {})
        flash(_("Signed."), "ok")
    except ApiError as exc:
        flash(f"{exc.title}: {exc.detail}", "error")
    return redirect(url_for("mine.contract", contract_id=contract_id))


@bp.get("/contracts/<contract_id>/documents/<document_id>.pdf")
@login_required(MANAGER, EMPLOYER_SIGNATORY)
def contract_pdf(contract_id: str, document_id: str) -> Any:
    return document_pdf(contract_id, document_id, request.args.get("lang") or language())


@bp.get("/targets")
@login_required(MANAGER)
def targets() -> Any:
    found = api().contracts.get("/api/v1/contracts", manager_id=g.person.manager_id,
                                state="active", page_size=5)
    current = found["items"][0] if found["items"] else None
    return render_template("mine/targets.html", c=current)


@bp.get("/results")
@login_required(MANAGER)
def results() -> Any:
    found = api().appraisal.get("/api/v1/appraisals", manager_id=g.person.manager_id,
                                page_size=50)
    return render_template("mine/results.html", found=found)


@bp.route("/results/<appraisal_id>", methods=["GET", "POST"])
@login_required(MANAGER)
def result(appraisal_id: str) -> Any:
    services = api()
    if request.method == "POST":
        try:
            services.appraisal.post(f"/api/v1/appraisals/{appraisal_id}/appeal",
                                    {"reason": request.form.get("reason", "")})
            flash(_("Your appeal was filed."), "ok")
        except ApiError as exc:
            flash(f"{exc.title}: {exc.detail}", "error")
        return redirect(url_for("mine.result", appraisal_id=appraisal_id))
    a = services.appraisal.get(f"/api/v1/appraisals/{appraisal_id}")
    return render_template("mine/result.html", a=a)


@bp.route("/results/<appraisal_id>/self-report", methods=["GET", "POST"])
@login_required(MANAGER)
def self_report(appraisal_id: str) -> Any:
    """The manager's annual self-report (述职): text, attachment references, and either
    confirmation of the actuals or a dispute of one line."""
    services = api()
    error = None
    if request.method == "POST":
        body: dict[str, Any] = {"text": request.form.get("text", ""),
                                "attachments": _attachments(request.form.get("attachments", "")),
                                "actuals": request.form.get("actuals", "confirmed")}
        if body["actuals"] == "disputed":
            dispute = {"indicator_code": request.form.get("indicator_code", ""),
                       "reason": request.form.get("dispute_reason", "")}
            if request.form.get("claimed_value"):
                dispute["claimed_value"] = request.form["claimed_value"]
            body["dispute"] = dispute
        try:
            services.appraisal.request("PUT", f"/api/v1/appraisals/{appraisal_id}/self-report",
                                       json=body)
            flash(_("Your self-report was submitted."), "ok")
            return redirect(url_for("mine.self_report", appraisal_id=appraisal_id))
        except ApiError as exc:
            error = exc
    a = services.appraisal.get(f"/api/v1/appraisals/{appraisal_id}")
    try:
        report = services.appraisal.get(f"/api/v1/appraisals/{appraisal_id}/self-report")
    except ApiError:
        report = None
    return render_template("mine/self_report.html", a=a, report=report, error=error,
                           form=request.form)


def _attachments(text: str) -> list[dict[str, str]]:
    """One reference a line: "name | reference" (or the reference alone)."""
    out = []
    for line in text.splitlines():
        name, sep, reference = line.partition("|")
        if line.strip():
            out.append({"name": name.strip() if sep else line.strip()[:200],
                        "reference": (reference if sep else line).strip()})
    return out


@bp.get("/inbox")
@login_required(MANAGER)
def inbox() -> Any:
    found = api().notifications.get("/api/v1/inbox", page_size=100)
    return render_template("mine/inbox.html", found=found)


@bp.post("/inbox/<item_id>/read")
@login_required(MANAGER)
def mark_read(item_id: str) -> Any:
    api().notifications.post(f"/api/v1/inbox/{item_id}/read", {})
    return redirect(url_for("mine.inbox"))
