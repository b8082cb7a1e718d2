"""HTTP endpoints of the appraisal service: schemas in, service call, schemas out."""

from __future__ import annotations

from datetime import date
from typing import Any

import marshmallow as ma
from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint

from services.appraisal import schemas as sc
from services.appraisal import service as svc
from shared.audit import audit_blueprint
from shared.auth import APPRAISER, HR_ADMIN, MANAGER, SERVICE, authenticate, require
from shared.bulk_rows import gc_paused, load_rows
from shared.errors import ApiProblem
from shared.fields import TextValues
from shared.http import db, if_match, page_of, with_etag
from shared.idempotency import idempotent

ANY_STAFF = (HR_ADMIN, SERVICE, APPRAISER)

people = Blueprint("managers", __name__, url_prefix="/api/v1/managers",
                   description="Managers, contracts and targets as contract events told us")
schemes = Blueprint("schemes", __name__, url_prefix="/api/v1/schemes",
                    description="Appraisal schemes: group default and overrides, versioned")
difficulty = Blueprint("difficulty", __name__, url_prefix="/api/v1/difficulty",
                       description="Difficulty coefficients of enterprises, by year")
pay_bases = Blueprint("pay-bases", __name__, url_prefix="/api/v1/pay-bases",
                      description="Base figures for performance pay, from payroll")
departures = Blueprint("departures", __name__, url_prefix="/api/v1/departures",
                       description="Departures for other reasons (never appraisal exits)")
actuals = Blueprint("actuals", __name__, url_prefix="/api/v1/actuals",
                    description="What was achieved, per manager (or enterprise) and indicator")
appraisals = Blueprint("appraisals", __name__, url_prefix="/api/v1/appraisals",
                       description="Annual and tenure appraisals: states, results, appeals")
runs = Blueprint("appraisal-runs", __name__, url_prefix="/api/v1/appraisal-runs",
                 description="Score a whole cohort in the background")
what_if = Blueprint("what-if", __name__, url_prefix="/api/v1/what-if",
                    description="Score and grade with hypothetical actuals; nothing saved")
reports = Blueprint("reports", __name__, url_prefix="/api/v1/reports",
                    description="Grades, bottom-grade adjustments and exits for the regulator")
maintenance = Blueprint("maintenance", __name__, url_prefix="/api/v1/maintenance",
                        description="Scheduled work, callable by a scheduler")
exits = Blueprint("exit-decisions", __name__, url_prefix="/api/v1/exit-decisions",
                  description="Published exits waiting out their appeal window, and after")
appeals = Blueprint("appeals", __name__, url_prefix="/api/v1/appeals",
                    description="Appeals against published results: HR's queue")
BLUEPRINTS = (people, schemes, difficulty, pay_bases, departures, actuals, appraisals, runs,
              what_if, reports, maintenance, exits, appeals,
              audit_blueprint(svc.audit_units))










def wants_csv(fmt: str) -> bool:
    return fmt == "csv" or (
        request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"
        and "application/json" not in request.headers.get("Accept", ""))


# --- read model ---------------------------------------------------------------------------------

@people.route("")
class Managers(MethodView):
    @require(*ANY_STAFF)
    @people.arguments(sc.ManagerQuery, location="query")
    @people.response(200, sc.ManagerPage)
    def get(self, query: dict[str, Any]) -> Any:
        """Managers in your scope, as the contract events described them."""
        page = svc.list_managers(db(), authenticate(), query)
        return page_of(page, query, list(page.items))


@people.route("/<manager_id>")
class ManagerOne(MethodView):
    @require()
    @people.response(200, sc.ManagerOut)
    def get(self, manager_id: str) -> Any:
        """A manager with their contracts and the targets of each year (locked or not)."""
        return svc.get_manager(db(), authenticate(), manager_id)


# --- schemes ------------------------------------------------------------------------------------

@schemes.route("")
class Schemes(MethodView):
    @require(*ANY_STAFF)
    @schemes.response(200, sc.SchemeOut(many=True))
    def get(self) -> Any:
        """Every scheme version; the built-in group default is there without any setup."""
        return svc.list_schemes(db())

    @idempotent
    @require(HR_ADMIN)
    @schemes.arguments(sc.SchemeIn)
    @schemes.response(201, sc.SchemeOut)
    def post(self, body: dict[str, Any]) -> Any:
        """Add a scheme or a new version of one (group-wide HR only).

        Sections and rules left out are taken from the previous version of the same code,
        or for a new code from the group default: an override states what differs."""
        out = svc.create_scheme(db(), authenticate(), body)
        return out, 201, {"Location": f"/api/v1/schemes/{out['code']}?version="
                                      f"{out['version']}"}


@schemes.route("/resolve")
class SchemeResolve(MethodView):
    @require(*ANY_STAFF)
    @schemes.arguments(sc.SchemeResolveQuery, location="query")
    @schemes.response(200, sc.SchemeOut)
    def get(self, query: dict[str, Any]) -> Any:
        """The scheme (and version) that applies to a layer, category, position and year."""
        return svc.resolve_scheme(db(), query.get("layer"), query.get("category"),
                                  query.get("position"), query.get("year"))


@schemes.route("/<code>")
class SchemeOne(MethodView):
    @require(*ANY_STAFF)
    @schemes.arguments(sc.SchemeVersionQuery, location="query")
    @schemes.response(200, sc.SchemeOut)
    def get(self, query: dict[str, Any], code: str) -> Any:
        """A scheme's latest version, or `?version=n`."""
        return svc.get_scheme(db(), code, query.get("version"))


# --- difficulty, pay bases, departures ---------------------------------------------------------

@difficulty.route("")
class DifficultyList(MethodView):
    @require(*ANY_STAFF)
    @difficulty.arguments(sc.YearQuery, location="query")
    @difficulty.response(200, sc.DifficultyOut(many=True))
    def get(self, query: dict[str, Any]) -> Any:
        return svc.list_difficulty(db(), authenticate(), query.get("year"))


@difficulty.route("/<org_unit_id>/<int:year>")
class DifficultyOne(MethodView):
    @require(HR_ADMIN, SERVICE)
    @difficulty.arguments(sc.DifficultyIn)
    @difficulty.response(200, sc.DifficultyOut)
    def put(self, data: dict[str, Any], org_unit_id: str, year: int) -> Any:
        """Set an enterprise's difficulty coefficient for a year (multiplies the
        organisational part of its managers' scores)."""
        if not sc.YEAR.min <= year <= sc.YEAR.max:  # type: ignore[operator]
            raise ApiProblem(422, "Unprocessable Entity", f"year must be {sc.YEAR.min} to "
                             f"{sc.YEAR.max}", errors={"year": ["out of range"]})
        return svc.set_difficulty(db(), authenticate(), org_unit_id, year,
                                  data["coefficient"])


@pay_bases.route("")
class PayBases(MethodView):
    @require(HR_ADMIN, SERVICE)
    @pay_bases.arguments(sc.PayBasesIn)
    @pay_bases.response(200, sc.ImportOutcome)
    def post(self, data: dict[str, Any]) -> Any:
        """Base figures for performance pay; unknown managers are reported by row."""
        return svc.record_pay_bases(db(), authenticate(), data["items"])


@departures.route("")
class Departures(MethodView):
    @require(*ANY_STAFF)
    @departures.arguments(sc.YearQuery, location="query")
    @departures.response(200, sc.DepartureOut(many=True))
    def get(self, query: dict[str, Any]) -> Any:
        return svc.list_departures(db(), authenticate(), query.get("year"))

    @require(HR_ADMIN, SERVICE)
    @departures.arguments(sc.DepartureIn)
    @departures.response(201, sc.DepartureOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Record a departure for another reason; reports never count it as an exit."""
        return svc.record_departure_api(db(), authenticate(), data)


# --- actuals ------------------------------------------------------------------------------------

def _import(rows: list[Any], numbers: list[int], dry_run: bool = False) -> dict[str, Any]:
    """Validate each row on its own; keep the good ones, report the bad ones by row."""
    with gc_paused():
        loaded, errors = load_rows(sc.ActualIn(), rows, numbers)
        outcome = svc.record_actuals(db(), authenticate(), [row for _, row in loaded],
                                     preset_errors=errors, row_numbers=[n for n, _ in loaded],
                                     dry_run=dry_run)
        return outcome.as_dict()


@actuals.route("")
class Actuals(MethodView):
    @require(*ANY_STAFF)
    @actuals.arguments(sc.ActualQuery, location="query")
    @actuals.response(200, sc.ActualPage)
    def get(self, query: dict[str, Any]) -> Any:
        page = svc.list_actuals(db(), authenticate(), query)
        return page_of(page, query, list(page.items))

    @require(HR_ADMIN, SERVICE)
    @actuals.arguments(sc.ActualIn)
    @actuals.response(201, sc.ActualOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Record one actual (it replaces an earlier one for the same line and year).

        Only for a line of the manager's locked targets (or an enterprise's organisational
        line); the field given must be the one the line reads."""
        outcome = svc.record_actuals(db(), authenticate(), [data], with_saved=True)
        if outcome.errors:
            raise ApiProblem(422, "Unprocessable Entity", outcome.errors[0].message,
                             errors={e.field: [e.message] for e in outcome.errors})
        return svc.actual_out(outcome.saved[0]), 201


@actuals.route("/bulk")
class ActualsBulk(MethodView):
    @require(HR_ADMIN, SERVICE)
    @actuals.arguments(sc.ActualsBulkIn)
    @actuals.arguments(sc.ImportQuery, location="query")
    @actuals.response(200, sc.ImportOutcome)
    def post(self, data: dict[str, Any], query: dict[str, Any]) -> Any:
        """Many actuals as JSON: good rows are kept, bad ones reported by row and field
        (`dry_run=true`: reported, none kept)."""
        items = data["items"]
        return _import(items, list(range(1, len(items) + 1)), query["dry_run"])


@actuals.route("/csv")
class ActualsCsv(MethodView):
    @require(HR_ADMIN, SERVICE)
    @actuals.arguments(sc.ImportQuery, location="query")
    @actuals.response(200, sc.ImportOutcome)
    @actuals.doc(requestBody={"content": {
        "text/csv": {"schema": {"type": "string"}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": {"type": "string", "format": "binary"}}}}}})
    def post(self, query: dict[str, Any]) -> Any:
        """Many actuals as CSV (a `text/csv` body or a `file` upload); `dry_run=true`
        reports every fault and keeps nothing.

        Columns: manager_id or employee_no or enterprise_id, year, kind, indicator_code,
        one of value / rating / milestones_met / veto_hit / points, source, note. Errors
        name the line (the header is line 1) and the column."""
        upload = request.files.get("file")
        raw = upload.read() if upload is not None else request.get_data()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ApiProblem(415, "Unsupported Media Type", "The CSV must be UTF-8",
                             errors={"file": ["not UTF-8"]}) from exc
        with gc_paused():
            rows, numbers, _ = svc.parse_actuals_csv(text)
            rows = [TextValues(row) for row in rows]  # CSV: every value is text
            if not rows:
                raise ApiProblem(422, "Unprocessable Entity", "The CSV file has no rows",
                                 errors={"file": ["no data rows"]})
            return _import(rows, numbers, query["dry_run"])


# --- appraisals ---------------------------------------------------------------------------------

@appraisals.route("")
class Appraisals(MethodView):
    @require()
    @appraisals.arguments(sc.AppraisalQuery, location="query")
    @appraisals.response(200, sc.AppraisalPage)
    def get(self, query: dict[str, Any]) -> Any:
        """Appraisals in your scope (a manager sees their own published ones)."""
        page = svc.list_appraisals(db(), authenticate(), query)
        return page_of(page, query, list(page.items))


@appraisals.route("/open")
class AppraisalsOpen(MethodView):
    @idempotent
    @require(HR_ADMIN, SERVICE)
    @appraisals.arguments(sc.OpenIn)
    @appraisals.response(200, sc.OpenOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Open the year's appraisals of a cohort (appraisal.opened for each)."""
        return svc.open_appraisals(db(), authenticate(), data)


@appraisals.route("/<appraisal_id>")
class AppraisalOne(MethodView):
    @require()
    @appraisals.response(200, sc.AppraisalOut)
    def get(self, appraisal_id: str) -> Any:
        """The appraisal with its full trace: per indicator the actual, levels, rule,
        share and points, then parts, composition, total, grade, triggers, pay."""
        a = svc.get_appraisal(db(), authenticate(), appraisal_id)
        return with_etag(a, a.row_version)


@appraisals.route("/<appraisal_id>/history")
class AppraisalHistory(MethodView):
    @require()
    @appraisals.response(200, sc.HistoryOut)
    def get(self, appraisal_id: str) -> Any:
        """Every state change with who and why, and every appeal with its decision."""
        return svc.appraisal_history(db(), authenticate(), appraisal_id)


def _transition_view(action: str, doc: str) -> type[MethodView]:
    class Transition(MethodView):
        @require(HR_ADMIN, SERVICE, APPRAISER)
        @appraisals.arguments(sc.TransitionIn)
        @appraisals.response(200, sc.AppraisalOut)
        def post(self, data: dict[str, Any], appraisal_id: str) -> Any:
            a = svc.transition(db(), authenticate(), appraisal_id, action, if_match(),
                              data.get("note", ""), data.get("conditions"))
            return with_etag(a, a.row_version)

    Transition.post.__doc__ = doc
    Transition.__name__ = f"Appraisal{action.title()}"
    return Transition


for _action, _doc in (
        ("submit", "Mark the actuals submitted (open -> actuals_submitted)."),
        ("review", "Review a scored appraisal (appraiser or HR); every line needs its actual."),
        ("approve", "Approve a reviewed appraisal (HR)."),
        ("publish", "Publish an approved appraisal (HR): appraisal.published, and "
                    "exit.triggered / tenure.concluded as the result says.")):
    appraisals.route(f"/<appraisal_id>/{_action}")(_transition_view(_action, _doc))


@appraisals.route("/<appraisal_id>/score")
class AppraisalScore(MethodView):
    @require(HR_ADMIN, SERVICE)
    @appraisals.response(200, sc.AppraisalOut)
    def post(self, appraisal_id: str) -> Any:
        """Score one appraisal now (after an appeal, or a late actual), within the quota
        of its cohort's forced distribution."""
        a = svc.score_one(db(), authenticate(), appraisal_id, if_match())
        return with_etag(a, a.row_version)


@appraisals.route("/<appraisal_id>/appeal")
class AppraisalAppeal(MethodView):
    @require(HR_ADMIN, SERVICE, MANAGER)
    @appraisals.arguments(sc.AppealIn)
    @appraisals.response(201, sc.AppealOut)
    def post(self, data: dict[str, Any], appraisal_id: str) -> Any:
        """Appeal a published appraisal: it reopens, with the reason recorded. The manager
        (or HR on their behalf) until the appeal deadline; after it, HR only, with
        `late_reason`. An appeal on an exit holds it: nothing is terminated while it is open."""
        return svc.file_appeal(db(), authenticate(), appraisal_id, data["reason"],
                               data.get("late_reason"))


@appraisals.route("/<appraisal_id>/appeal/decision")
class AppraisalAppealDecision(MethodView):
    @require(HR_ADMIN)
    @appraisals.arguments(sc.AppealDecisionIn)
    @appraisals.response(200, sc.AppealOut)
    def post(self, data: dict[str, Any], appraisal_id: str) -> Any:
        """Decide the open appeal: `rejected` restores the published result; `upheld`
        publishes the re-scored and approved one."""
        return svc.decide_appeal(db(), authenticate(), appraisal_id, data["decision"],
                                data["note"])


# --- the manager's self-report -------------------------------------------------------------------

@appraisals.route("/<appraisal_id>/self-report")
class AppraisalSelfReport(MethodView):
    @require()
    @appraisals.response(200, sc.SelfReportOut)
    def get(self, appraisal_id: str) -> Any:
        """The manager's self-report: deadline, status, current text, attachments and
        actuals confirmed or disputed, and every revision (HR in scope; the manager)."""
        view = svc.get_self_report(db(), authenticate(), appraisal_id)
        return with_etag(view, view["revision"])

    @require()
    @appraisals.arguments(sc.SelfReportIn)
    @appraisals.response(200, sc.SelfReportOut)
    def put(self, data: dict[str, Any], appraisal_id: str) -> Any:
        """Submit or revise the self-report: the manager, with their own token, until the
        deadline or the review. `If-Match` (the ETag read) guards a revision."""
        view = svc.submit_self_report(db(), authenticate(), appraisal_id, data, if_match())
        return with_etag(view, view["revision"])


@appraisals.route("/<appraisal_id>/self-report/paper")
class AppraisalSelfReportPaper(MethodView):
    @require(HR_ADMIN)
    @appraisals.arguments(sc.PaperSelfReportIn)
    @appraisals.response(201, sc.SelfReportOut)
    def post(self, data: dict[str, Any], appraisal_id: str) -> Any:
        """Record a self-report the manager handed in on paper (HR), marked as such with
        the day received and its document number; never over the manager's own."""
        view = svc.record_paper_self_report(db(), authenticate(), appraisal_id, data,
                                            if_match())
        return with_etag(view, view["revision"], 201)


@appraisals.route("/<appraisal_id>/self-report/dispute")
class AppraisalSelfReportDispute(MethodView):
    @require(HR_ADMIN)
    @appraisals.arguments(sc.DisputeDecisionIn)
    @appraisals.response(200, sc.SelfReportOut)
    def post(self, data: dict[str, Any], appraisal_id: str) -> Any:
        """Resolve the disputed actual before review: `upheld` once the corrected actual is
        recorded and scored, `overruled` keeps the recorded one; the note says why."""
        view = svc.resolve_dispute(db(), authenticate(), appraisal_id, data["decision"],
                                   data["note"], if_match())
        return with_etag(view, view["revision"])


@appraisals.route("/self-report-deadline")
class SelfReportDeadline(MethodView):
    @require(HR_ADMIN)
    @appraisals.arguments(sc.SelfReportDeadlineIn)
    @appraisals.response(200, sc.SelfReportDeadlineOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Set or move the self-report deadline of a cohort's appraisals not yet reviewed."""
        return svc.set_self_report_deadline(db(), authenticate(), data)


# --- runs ---------------------------------------------------------------------------------------

@runs.route("")
class Runs(MethodView):
    @require(*ANY_STAFF)
    @runs.arguments(sc.YearQuery, location="query")
    @runs.response(200, sc.RunSummaryOut(many=True))
    def get(self, query: dict[str, Any]) -> Any:
        return svc.list_runs(db(), authenticate(), query.get("year"))

    @idempotent
    @require(HR_ADMIN, SERVICE)
    @runs.arguments(sc.CohortIn)
    @runs.response(202, sc.RunOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Score a cohort (a year, a subtree, a layer, a category) in the background.

        Re-running is safe: the same appraisals are re-scored (reviewed, approved and
        published ones are left alone and listed in the skips)."""
        run = svc.start_run(db(), authenticate(), data)
        svc.start_run_worker(db(), run.id)
        return run, 202, {"Location": f"/api/v1/appraisal-runs/{run.id}"}


@runs.route("/<run_id>")
class RunOne(MethodView):
    @require(*ANY_STAFF)
    @runs.response(200, sc.RunOut)
    def get(self, run_id: str) -> Any:
        """Progress, then the cohorts, grades, outcomes and what was skipped and why."""
        return svc.get_run(db(), authenticate(), run_id)


@runs.route("/<run_id>/<any(review, approve, publish):action>")
class RunAction(MethodView):
    @require(HR_ADMIN, APPRAISER)
    @runs.arguments(sc.RunActionIn)
    @runs.response(200, sc.RunActionOut)
    def post(self, data: dict[str, Any], run_id: str, action: str) -> Any:
        """Review, approve or publish every appraisal of the run that is ready for it."""
        return svc.act_on_run(db(), authenticate(), run_id, action, data.get("note", ""))


# --- what-if, reports, maintenance ------------------------------------------------------------

@what_if.route("")
class WhatIf(MethodView):
    @require(HR_ADMIN, SERVICE, APPRAISER, MANAGER)
    @what_if.arguments(sc.WhatIfIn)
    @what_if.response(200, sc.WhatIfOut)
    def post(self, data: dict[str, Any]) -> Any:
        """The score and grade with these actuals (recorded ones fill the rest), now."""
        return svc.what_if(db(), authenticate(), data)


@reports.route("/appraisals")
class AppraisalReport(MethodView):
    @require(*ANY_STAFF)
    @reports.arguments(sc.ReportQuery, location="query")
    @reports.response(200)
    def get(self, query: dict[str, Any]) -> Any:
        """Grade distribution, bottom-grade adjustments and exits by reason, by layer and
        category; departures for other reasons apart. `format=csv` for CSV."""
        report = svc.appraisal_report(db(), authenticate(), query["year"], query["kind"],
                                     query.get("org_unit_id"),
                                     tuple(query["group_by"].split(",")))
        if wants_csv(query["format"]):
            return Response(svc.report_csv(report), mimetype="text/csv", headers={
                "Content-Disposition": "attachment; filename=appraisals.csv"})
        return report


@maintenance.route("/actuals-reminders")
class ActualsReminders(MethodView):
    @require(HR_ADMIN, SERVICE)
    @maintenance.arguments(sc.RemindIn)
    @maintenance.response(200)
    def post(self, data: dict[str, Any]) -> Any:
        """actuals.due, once, for each open appraisal whose actuals are due within `days`."""
        if authenticate().org_scope is not None:
            raise ApiProblem(403, "Forbidden", "Reminders run for the whole group")
        return svc.remind_actuals_due(db(), data.get("as_of") or date.today(), data["days"])


@maintenance.route("/self-report-reminders")
class SelfReportReminders(MethodView):
    @require(HR_ADMIN, SERVICE)
    @maintenance.arguments(sc.AsOfIn)
    @maintenance.response(200)
    def post(self, data: dict[str, Any]) -> Any:
        """self_report.due to managers whose report is missing, 7 and 1 days before its
        deadline (once each); the daily `remind` job does the same."""
        if authenticate().org_scope is not None:
            raise ApiProblem(403, "Forbidden", "Reminders run for the whole group")
        return svc.remind_self_reports_due(db(), data.get("as_of") or date.today())


@maintenance.route("/exit-windows")
class ExitWindows(MethodView):
    @require(HR_ADMIN, SERVICE)
    @maintenance.arguments(sc.CloseWindowsIn)
    @maintenance.response(200)
    def post(self, data: dict[str, Any]) -> Any:
        """Confirm every exit whose appeal window closed without an appeal (exit.confirmed:
        the contract is terminated). The daily job; idempotent, safe to run concurrently."""
        if authenticate().org_scope is not None:
            raise ApiProblem(403, "Forbidden", "The appeal windows close for the whole group")
        return svc.close_elapsed_windows(db(), data.get("as_of"))


# --- exit decisions and appeals: the queues ---------------------------------------------------

@exits.route("")
class ExitDecisions(MethodView):
    @require()
    @exits.arguments(sc.ExitDecisionQuery, location="query", unknown=ma.RAISE)
    @exits.response(200, sc.ExitDecisionPage)
    def get(self, query: dict[str, Any]) -> Any:
        """Exit decisions in your scope, soonest deadline first (`state=pending`: exits
        waiting out their appeal window; a manager sees their own)."""
        page = svc.list_exit_decisions(db(), authenticate(), query)
        return page_of(page, query, list(page.items))


@exits.route("/<decision_id>")
class ExitDecisionOne(MethodView):
    @require()
    @exits.response(200, sc.ExitDecisionOut)
    def get(self, decision_id: str) -> Any:
        """One exit decision: its state, appeal deadline and every event about it."""
        found = svc.get_exit_decision(db(), authenticate(), decision_id)
        return with_etag(found, found.row_version)


@appeals.route("")
class Appeals(MethodView):
    @require()
    @appeals.arguments(sc.AppealQuery, location="query", unknown=ma.RAISE)
    @appeals.response(200, sc.AppealPage)
    def get(self, query: dict[str, Any]) -> Any:
        """Appeals in your scope, oldest first (`status=open`: HR's queue to decide; a
        manager sees their own)."""
        page = svc.list_appeals(db(), authenticate(), query)
        return page_of(page, query, list(page.items))
