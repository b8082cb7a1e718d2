"""Pages for HR staff: the org tree, managers, contracts, bulk issue, expiry, actuals,
appraisal runs and results. Each page calls the services as the person; nothing is decided
here."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _

from services.portal.charts import bar_chart, grade_distribution
from services.portal.clients import ApiError
from services.portal.people import APPRAISER, HR_ADMIN, SERVICE, api, login_required
from services.portal.views.common import csv_download, document_pdf
from services.portal.words import GRADE_ORDER, label, labels_of

bp = Blueprint("hr", __name__, url_prefix="/hr")
STAFF = (HR_ADMIN, SERVICE)
RUNNING = ("queued", "running", "pending")
BULK_DECISIONS = ("issued", "skipped", "failed")
DECISIONS_PAGE = 100  # a bulk issue's decisions shown a page at a time


def _tree(units: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Units in tree order with their depth, for an indented list."""
    children: dict[str | None, list[dict[str, Any]]] = {}
    ids = {u["id"] for u in units}
    for u in units:
        parent = u.get("parent_id") if u.get("parent_id") in ids else None
        children.setdefault(parent, []).append(u)
    out: list[tuple[int, dict[str, Any]]] = []

    def walk(parent: str | None, depth: int) -> None:
        for u in sorted(children.get(parent, []), key=lambda x: x.get("code") or ""):
            out.append((depth, u))
            walk(u["id"], depth + 1)

    walk(None, 0)
    return out


@bp.get("")
@login_required(*STAFF)
def overview() -> Any:
    services = api()
    units = services.contracts.get("/api/v1/org-units", page_size=500)
    coverage = services.contracts.get("/api/v1/reports/coverage", group_by="layer")
    chart = bar_chart(((_("Layer %(n)s", n=g["key"].get("layer")),
                        Decimal(g["signing_rate"] or "0"),
                        f"{g['active']}/{g['managers']}") for g in coverage["groups"]),
                      scale=Decimal(100), unit="%")
    return render_template("hr/overview.html", tree=_tree(units["items"]),
                           total_units=units["page"]["total"], coverage=coverage, chart=chart)


@bp.get("/managers")
@login_required(*STAFF)
def managers() -> Any:
    filters = {k: request.args.get(k) or None
               for k in ("layer", "category", "position", "org_unit_id", "q",
                         "employment_status")}
    page = max(1, request.args.get("page", 1, type=int) or 1)
    error = None
    try:
        found = api().contracts.get("/api/v1/managers", page=page, page_size=50,
                                    **{k: v for k, v in filters.items() if v})
    except ApiError as exc:
        found, error = {"items": [], "page": {"total": 0, "page": 1, "page_size": 50}}, exc
    return render_template("hr/managers.html", found=found, filters=filters, error=error,
                           positions=labels_of("position"), categories=labels_of("category"))


@bp.get("/contracts")
@login_required(*STAFF, APPRAISER)
def contracts() -> Any:
    manager_id = request.args.get("manager_id") or None
    state = request.args.get("state") or None
    found = api().contracts.get("/api/v1/contracts", manager_id=manager_id, state=state,
                                page_size=100)
    return render_template("hr/contracts.html", found=found, manager_id=manager_id,
                           state=state)


@bp.get("/contracts/<contract_id>")
@login_required(*STAFF, APPRAISER)
def contract(contract_id: str) -> Any:
    services = api()
    c = services.contracts.get(f"/api/v1/contracts/{contract_id}")
    versions = services.contracts.get(f"/api/v1/contracts/{contract_id}/versions")
    try:
        audit = services.contracts.get("/api/v1/audit", object_type="tenure_contracts",
                                       object_id=contract_id)["items"]
    except ApiError:
        audit = None  # a deployment without the audit trail: the page says so
    return render_template("hr/contract.html", c=c, versions=versions, audit=audit)


@bp.get("/contracts/<contract_id>/documents/<document_id>.pdf")
@login_required(*STAFF, APPRAISER)
def contract_pdf(contract_id: str, document_id: str) -> Any:
    from services.portal.people import language

    return document_pdf(contract_id, document_id, request.args.get("lang") or language())


@bp.route("/bulk", methods=["GET", "POST"])
@login_required(*STAFF)
def bulk() -> Any:
    services = api()
    error = None
    if request.method == "POST":
        body: dict[str, Any] = {"template_id": request.form.get("template_id", ""),
                                "start_date": request.form.get("start_date", "")}
        criteria = {k: request.form.get(k) for k in ("org_unit_id", "layer", "category",
                                                     "position") if request.form.get(k)}
        if "layer" in criteria:
            criteria["layer"] = int(criteria["layer"]) if criteria["layer"].isdigit() \
                else criteria["layer"]
        if criteria:
            body["filter"] = criteria
        if request.form.get("all_or_nothing"):
            body["all_or_nothing"] = True
        try:
            job = services.contracts.post("/api/v1/bulk-issues", body)
            return redirect(url_for("hr.bulk_job", job_id=job["id"]))
        except ApiError as exc:
            error = exc
    templates = services.contracts.get("/api/v1/templates")
    units = services.contracts.get("/api/v1/org-units", page_size=500)["items"]
    return render_template("hr/bulk.html", templates=templates, units=units, error=error,
                           form=request.form, default_start=date(date.today().year + 1, 1, 1))


@bp.get("/bulk/<job_id>")
@login_required(*STAFF)
def bulk_job(job_id: str) -> Any:
    """The job's progress and its decisions a page at a time, one outcome or all (a job for
    the whole group decides for 100,000 managers or more); while it runs, those of the
    chunks it has committed."""
    services = api()
    job = services.contracts.get(f"/api/v1/bulk-issues/{job_id}", decisions="false")
    shown = request.args.get("decision") or None
    if shown not in (None, *BULK_DECISIONS):
        shown = None
    decisions = services.contracts.get(
        f"/api/v1/bulk-issues/{job_id}/decisions", decision=shown,
        after=max(0, request.args.get("after", type=int, default=0)), page_size=DECISIONS_PAGE)
    return render_template("hr/bulk_job.html", job=job, running=job["status"] in RUNNING,
                           shown=shown, decisions=decisions, outcomes=BULK_DECISIONS)


@bp.get("/expiring")
@login_required(*STAFF)
def expiring() -> Any:
    before = request.args.get("before") or (date.today() + timedelta(days=180)).isoformat()
    error = None
    try:
        found = api().contracts.get("/api/v1/contracts", state="active", ends_before=before,
                                    page_size=200)
    except ApiError as exc:
        found, error = {"items": [], "page": {"total": 0}}, exc
    return render_template("hr/expiring.html", found=found, before=before, error=error)


@bp.route("/actuals", methods=["GET", "POST"])
@login_required(*STAFF)
def actuals() -> Any:
    """Upload a CSV: first checked without keeping anything, then committed on request."""
    outcome = error = None
    text = ""
    committed = False
    if request.method == "POST":
        upload = request.files.get("file")
        raw = upload.read() if upload is not None and upload.filename else \
            request.form.get("csv_text", "").encode()
        text = raw.decode("utf-8-sig", errors="replace")
        commit = request.form.get("commit") == "1"
        try:
            outcome = api().appraisal.post(
                "/api/v1/actuals/csv" + ("" if commit else "?dry_run=true"), None,
                data=raw, headers={"Content-Type": "text/csv"})
            committed = commit
        except ApiError as exc:
            error = exc
    return render_template("hr/actuals.html", outcome=outcome, error=error, csv_text=text,
                           committed=committed)


@bp.route("/runs", methods=["GET", "POST"])
@login_required(*STAFF)
def runs() -> Any:
    services = api()
    error = None
    if request.method == "POST":
        body: dict[str, Any] = {"year": request.form.get("year", type=int)}
        if request.form.get("org_unit_id"):
            body["org_unit_id"] = request.form["org_unit_id"]
        try:
            run = services.appraisal.post("/api/v1/appraisal-runs", body)
            return redirect(url_for("hr.run", run_id=run["id"]))
        except ApiError as exc:
            error = exc
    found = {"items": _runs(services)}
    units = services.contracts.get("/api/v1/org-units", page_size=500)["items"]
    return render_template("hr/runs.html", found=found, units=units, error=error,
                           year=date.today().year - 1)


@bp.route("/runs/<run_id>", methods=["GET", "POST"])
@login_required(*STAFF)
def run(run_id: str) -> Any:
    services = api()
    result = error = None
    if request.method == "POST":
        action = request.form.get("action", "")
        try:
            result = services.appraisal.post(f"/api/v1/appraisal-runs/{run_id}/{action}",
                                             {"note": request.form.get("note", "")})
        except ApiError as exc:
            error = exc
    r = services.appraisal.get(f"/api/v1/appraisal-runs/{run_id}")
    return render_template("hr/run.html", run=r, running=r["status"] in RUNNING,
                           result=result, error=error)


@bp.get("/results")
@login_required(*STAFF, APPRAISER)
def results() -> Any:
    services = api()
    year = request.args.get("year", type=int) or date.today().year - 1
    report = services.appraisal.get("/api/v1/reports/appraisals", year=year,
                                    group_by="layer,category")
    quotas = _quotas(services, year)
    grade_words = labels_of("grade")
    charts = [{"layer": g.get("layer"), "category": g.get("category"),
               "appraised": g["appraised"],
               "chart": grade_distribution(g["grades"], GRADE_ORDER, grade_words,
                                           quotas.get((g.get("layer"), g.get("category"))))}
              for g in report["groups"]]
    queues = _queues(services, year)
    return render_template("hr/results.html", year=year, report=report, charts=charts,
                           queues=queues)


def _quotas(services: Any, year: int) -> dict[tuple[Any, Any], int]:
    """The excellent quota of each cohort, from the latest finished run of the year."""
    quotas: dict[tuple[Any, Any], int] = {}
    for r in _runs(services):
        if r.get("year") != year:
            continue
        for c in (r.get("summary") or {}).get("cohorts") or []:
            quotas.setdefault((c.get("layer"), c.get("category")), c.get("excellent_quota"))
    return quotas


def _runs(services: Any) -> list[dict[str, Any]]:
    runs = services.appraisal.get("/api/v1/appraisal-runs")
    return list(runs["items"] if isinstance(runs, dict) else runs)


def _queues(services: Any, year: int) -> dict[str, Any]:
    """Pending exits and open appeals, with their deadlines, where the service lists them."""
    out: dict[str, Any] = {}
    for name, path, query in (("exits", "/api/v1/exit-decisions", {"state": "pending"}),
                              ("appeals", "/api/v1/appeals", {"status": "open"})):
        try:
            out[name] = services.appraisal.get(path, year=year, page_size=100,
                                               **query)["items"]
        except ApiError:
            out[name] = None
    return out


@bp.get("/appraisals")
@login_required(*STAFF, APPRAISER)
def appraisals() -> Any:
    year = request.args.get("year", type=int) or date.today().year - 1
    grade = request.args.get("grade") or None
    found = api().appraisal.get("/api/v1/appraisals", year=year, grade=grade, page_size=100)
    return render_template("hr/appraisals.html", found=found, year=year, grade=grade)


@bp.get("/appraisals/<appraisal_id>")
@login_required(*STAFF, APPRAISER)
def appraisal(appraisal_id: str) -> Any:
    services = api()
    a = services.appraisal.get(f"/api/v1/appraisals/{appraisal_id}")
    history = services.appraisal.get(f"/api/v1/appraisals/{appraisal_id}/history")
    return render_template("hr/appraisal.html", a=a, history=history)


@bp.get("/download/coverage.csv")
@login_required(*STAFF)
def coverage_csv() -> Any:
    return csv_download("contracts", "/api/v1/reports/coverage", "coverage.csv")


@bp.get("/download/appraisals-<int:year>.csv")
@login_required(*STAFF, APPRAISER)
def appraisals_csv(year: int) -> Any:
    return csv_download("appraisal", "/api/v1/reports/appraisals", f"appraisals-{year}.csv",
                        year=year)


__all__ = ["bp", "label"]
