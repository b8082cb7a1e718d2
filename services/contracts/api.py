"""HTTP endpoints of the contracts service: schemas in, service call, schemas out."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint

from services.contracts import domain as d
from services.contracts import schemas as sc
from services.contracts import service as svc
from services.contracts.service.common import audit_units
from services.contracts.service.countersign import (
    awaiting_countersignature_json,
    countersign_contracts,
    countersignatures,
)
from shared.audit import audit_blueprint
from shared.auth import APPRAISER, HR_ADMIN, SERVICE, authenticate, require
from shared.bulk_rows import load_rows, read_upload
from shared.errors import ApiProblem
from shared.http import db, if_match, json_response, page_of, with_etag
from shared.idempotency import idempotent

ANY_STAFF = (HR_ADMIN, SERVICE, APPRAISER)
# One instance for every signature: given a class, webargs builds the schema (a deep copy of
# its fields) on each request, and signing is the busiest write of the year.
SIGN_IN = sc.SignIn()

org = Blueprint("org-units", __name__, url_prefix="/api/v1/org-units",
                description="The group's org tree: enterprises by layer and category")
people = Blueprint("managers", __name__, url_prefix="/api/v1/managers",
                   description="Managers at all levels")
library = Blueprint("indicators", __name__, url_prefix="/api/v1/indicators",
                    description="The indicator library")
templates = Blueprint("templates", __name__, url_prefix="/api/v1/templates",
                      description="Contract templates by layer, category and position")
contracts = Blueprint("contracts", __name__, url_prefix="/api/v1/contracts",
                      description="Tenure contracts: two letters and one agreement")
bulk = Blueprint("bulk-issues", __name__, url_prefix="/api/v1/bulk-issues",
                 description="Issue contracts from a template to every matching manager")
reports = Blueprint("reports", __name__, url_prefix="/api/v1/reports",
                    description="Coverage figures for the regulator")
maintenance = Blueprint("maintenance", __name__, url_prefix="/api/v1/maintenance",
                        description="Scheduled work, callable by a scheduler")
BLUEPRINTS = (org, people, library, templates, contracts, bulk, reports, maintenance,
              audit_blueprint(audit_units))

# --- org units --------------------------------------------------------------------------------

@org.route("")
class OrgUnits(MethodView):
    @require(*ANY_STAFF)
    @org.arguments(sc.OrgUnitQuery, location="query")
    @org.response(200, sc.OrgUnitPage)
    def get(self, query: dict[str, Any]) -> Any:
        """List org units in your scope."""
        page = svc.list_org_units(db(), authenticate(), query)
        return page_of(page, query, list(page.items))

    @idempotent
    @require(HR_ADMIN, SERVICE)
    @org.arguments(sc.OrgUnitIn)
    @org.response(201, sc.OrgUnitOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Add an org unit (the group root, an enterprise or a department)."""
        unit = svc.create_org_unit(db(), authenticate(), data)
        return with_etag(unit, unit.row_version, 201, f"/api/v1/org-units/{unit.id}")


_UPLOAD_DOC = {"requestBody": {"content": {
    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
    "text/csv": {"schema": {"type": "string"}},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}}}}}}}
ORG_UNIT_COLUMNS = tuple(sc.OrgUnitImportRow().fields)
MANAGER_COLUMNS = tuple(sc.ManagerImportRow().fields)


def _bulk_import(columns: tuple[str, ...], schema: Any, use_case: Any,
                 dry_run: bool) -> dict[str, Any]:
    """The upload's rows, each through `schema`, then the import use case."""
    rows, numbers = read_upload(columns)
    loaded, errors = load_rows(schema, rows, numbers)
    return use_case(db(), authenticate(), loaded, errors, dry_run=dry_run).as_dict()


@org.route("/bulk")
class OrgUnitsBulk(MethodView):
    @idempotent
    @require(HR_ADMIN, SERVICE)
    @org.arguments(sc.ImportQuery, location="query")
    @org.response(200, sc.ImportOutcome)
    @org.doc(**_UPLOAD_DOC)
    def post(self, query: dict[str, Any]) -> Any:
        """Load many org units: a JSON array or CSV (`text/csv` body or a `file` upload).

        Columns: code, name, kind, category, has_board, parent_code or parent_id. Parents
        may come later in the file. A stored code is matched, not created again; each bad
        row is reported by row and field; `dry_run=true` keeps nothing."""
        return _bulk_import(ORG_UNIT_COLUMNS, sc.OrgUnitImportRow(), svc.import_org_units,
                            query["dry_run"])


@org.route("/<unit_id>")
class OrgUnitOne(MethodView):
    @require(*ANY_STAFF)
    @org.response(200, sc.OrgUnitOut)
    def get(self, unit_id: str) -> Any:
        unit = svc.get_org_unit(db(), authenticate(), unit_id)
        return with_etag(unit, unit.row_version)

    @require(HR_ADMIN, SERVICE)
    @org.arguments(sc.OrgUnitPatch)
    @org.response(200, sc.OrgUnitOut)
    def patch(self, changes: dict[str, Any], unit_id: str) -> Any:
        """Rename, re-categorise or record a board; needs If-Match."""
        unit = svc.update_org_unit(db(), authenticate(), unit_id, changes, if_match(True))
        return with_etag(unit, unit.row_version)


@org.route("/<unit_id>/move")
class OrgUnitMove(MethodView):
    @require(HR_ADMIN, SERVICE)
    @org.arguments(sc.OrgUnitMove)
    @org.response(200, sc.OrgUnitOut)
    def post(self, data: dict[str, Any], unit_id: str) -> Any:
        """Move a unit (and its subtree) under another parent; history is kept."""
        unit = svc.move_org_unit(db(), authenticate(), unit_id, data["parent_id"],
                                 if_match(True))
        return with_etag(unit, unit.row_version)


@org.route("/<unit_id>/history")
class OrgUnitHistory(MethodView):
    @require(*ANY_STAFF)
    @org.response(200, sc.OrgUnitHistoryOut(many=True))
    def get(self, unit_id: str) -> Any:
        return svc.org_unit_history(db(), authenticate(), unit_id)


# --- managers ---------------------------------------------------------------------------------

def manager_out(m: Any, unit: Any) -> dict[str, Any]:
    out = {c: getattr(m, c) for c in ("id", "employee_no", "name", "email", "language",
                                      "org_unit_id", "position", "management_level",
                                      "employment_status", "departure_reason", "row_version")}
    out.update(layer=unit.layer, category=unit.category)
    return out


@people.route("")
class Managers(MethodView):
    @require()
    @people.arguments(sc.ManagerQuery, location="query")
    @people.response(200, sc.ManagerPage)
    def get(self, query: dict[str, Any]) -> Any:
        """Managers at all levels, by subtree, layer, category, position and level."""
        page = svc.list_managers(db(), authenticate(), query)
        return page_of(page, query, [manager_out(m, u) for m, u in page.items])

    @idempotent
    @require(HR_ADMIN, SERVICE)
    @people.arguments(sc.ManagerIn)
    @people.response(201, sc.ManagerOut)
    def post(self, data: dict[str, Any]) -> Any:
        m = svc.create_manager(db(), authenticate(), data)
        _, unit = svc.get_manager(db(), authenticate(), m.id)
        return with_etag(manager_out(m, unit), m.row_version, 201, f"/api/v1/managers/{m.id}")


@people.route("/bulk")
class ManagersBulk(MethodView):
    @idempotent
    @require(HR_ADMIN, SERVICE)
    @people.arguments(sc.ImportQuery, location="query")
    @people.response(200, sc.ImportOutcome)
    @people.doc(**_UPLOAD_DOC)
    def post(self, query: dict[str, Any]) -> Any:
        """Register many managers: a JSON array or CSV (`text/csv` body or a `file` upload).

        Columns: employee_no, name, email, language, org_unit_code or org_unit_id, position,
        management_level. A stored employee number is matched, not registered again; each
        bad row is reported by row and field; `dry_run=true` keeps nothing."""
        return _bulk_import(MANAGER_COLUMNS, sc.ManagerImportRow(), svc.import_managers,
                            query["dry_run"])


@people.route("/<manager_id>")
class ManagerOne(MethodView):
    @require()
    @people.response(200, sc.ManagerOut)
    def get(self, manager_id: str) -> Any:
        m, unit = svc.get_manager(db(), authenticate(), manager_id)
        return with_etag(manager_out(m, unit), m.row_version)

    @require(HR_ADMIN, SERVICE)
    @people.arguments(sc.ManagerPatch)
    @people.response(200, sc.ManagerOut)
    def patch(self, changes: dict[str, Any], manager_id: str) -> Any:
        """Change a manager's unit, position, level, contact or employment; needs If-Match."""
        svc.update_manager(db(), authenticate(), manager_id, changes, if_match(True))
        m, unit = svc.get_manager(db(), authenticate(), manager_id)
        return with_etag(manager_out(m, unit), m.row_version)


# --- indicators and templates -----------------------------------------------------------------

@library.route("")
class Indicators(MethodView):
    @require()
    @library.response(200, sc.IndicatorOut(many=True))
    def get(self) -> Any:
        return svc.list_indicators(db())

    @idempotent
    @require(HR_ADMIN, SERVICE)
    @library.arguments(sc.IndicatorIn)
    @library.response(201, sc.IndicatorOut)
    def post(self, data: dict[str, Any]) -> Any:
        return svc.create_indicator(db(), authenticate(), data)


@templates.route("")
class Templates(MethodView):
    @require(*ANY_STAFF)
    @templates.response(200, sc.TemplateOut(many=True))
    def get(self) -> Any:
        return svc.list_templates(db(), authenticate())

    @idempotent
    @require(HR_ADMIN, SERVICE)
    @templates.arguments(sc.TemplateIn)
    @templates.response(201, sc.TemplateOut)
    def post(self, data: dict[str, Any]) -> Any:
        t = svc.create_template(db(), authenticate(), data)
        return with_etag(t, t.row_version, 201, f"/api/v1/templates/{t.id}")


@templates.route("/<template_id>")
class TemplateOne(MethodView):
    @require(*ANY_STAFF)
    @templates.response(200, sc.TemplateOut)
    def get(self, template_id: str) -> Any:
        t = svc.get_template(db(), authenticate(), template_id)
        return with_etag(t, t.row_version)

    @require(HR_ADMIN, SERVICE)
    @templates.arguments(sc.TemplateIn)
    @templates.response(200, sc.TemplateOut)
    def put(self, data: dict[str, Any], template_id: str) -> Any:
        t = svc.replace_template(db(), authenticate(), template_id, data, if_match(True))
        return with_etag(t, t.row_version)


# --- contracts --------------------------------------------------------------------------------

def next_link(cursor: str) -> str:
    """The Link header to the page after `cursor`: this request's filters and page size,
    `after` in place of `page`."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k not in ("page", "after")]
    return f'<{request.path}?{urlencode([*args, ("after", cursor)])}>; rel="next"'


def _contract_response(contract_id: str, status: int = 200) -> Response:
    """Rendered by service.read_contract in the shape schemas.ContractOut documents."""
    body, row_version = svc.read_contract(db(), authenticate(), contract_id)
    return json_response(body, status, etag=row_version,
                         location=f"/api/v1/contracts/{contract_id}" if status == 201 else None)


@contracts.route("")
class Contracts(MethodView):
    @require()
    # An instance, not the class: webargs would build the schema again for every request.
    @contracts.arguments(sc.ContractQuery(), location="query")
    @contracts.response(200, sc.ContractPage)
    def get(self, query: dict[str, Any]) -> Any:
        """Contracts by subtree, layer, category, position, state, year and end date.

        `state=active&ends_before=2027-06-30` lists the contracts about to expire.
        `awaiting=my_countersignature` lists those awaiting the caller's countersignature
        (docs/portal-countersign.md). A page that has a next one links to it
        (`Link: <...&after=cursor>; rel="next"`): a page after a cursor costs what the first
        does, however deep (docs/api-contracts.md)."""
        if "awaiting" in query:
            return json_response(awaiting_countersignature_json(db(), authenticate(), query))
        body, next_cursor = svc.contracts_page_json(db(), authenticate(), query)
        resp = json_response(body)
        if next_cursor is not None:
            resp.headers["Link"] = next_link(next_cursor)
        return resp

    @idempotent
    @require(HR_ADMIN, SERVICE)
    @contracts.arguments(sc.ContractIn)
    @contracts.response(201, sc.ContractOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Draft a tenure contract for a manager's current position."""
        c = svc.create_contract(db(), authenticate(), data)
        return _contract_response(c.id, 201)


@contracts.route("/<contract_id>")
class ContractOne(MethodView):
    @require()
    @contracts.response(200, sc.ContractOut)
    def get(self, contract_id: str) -> Any:
        """One contract: for HR in scope, its manager, and its employer's signatory."""
        body, row_version = svc.read_contract_or_countersigned(db(), authenticate(),
                                                               contract_id)
        return json_response(body, 200, etag=row_version)


@contracts.route("/<contract_id>/issue")
class ContractIssue(MethodView):
    @require(HR_ADMIN, SERVICE)
    @contracts.response(200, sc.ContractOut)
    def post(self, contract_id: str) -> Any:
        """Send a draft to the manager for signature."""
        svc.issue_contract(db(), authenticate(), contract_id, if_match(False))
        return _contract_response(contract_id)


@contracts.route("/<contract_id>/sign")
class ContractSign(MethodView):
    @require()
    @contracts.arguments(SIGN_IN)
    @contracts.response(200, sc.ContractOut)
    def post(self, data: dict[str, Any], contract_id: str) -> Any:
        """Sign your side of the contract (see docs/signing.md).

        The manager signs with their own token; then the employer's signatory countersigns
        with theirs. Awaiting signature, this signs the appointment agreement, the tenure
        contract and the first year's annual contract; once active, any amendment awaiting
        signatures. HR records a signature made on paper with `method: paper`, the `party`,
        `signed_on` and `paper_reference`. The contract is active when both sides signed."""
        # Answered from what the signature wrote: no second transaction to read it back.
        signed = svc.sign_contract(db(), authenticate(), contract_id, None, data,
                                   if_match(False))
        return json_response(signed.contract_json(), 200, etag=signed.contract.row_version)


@contracts.route("/countersignatures")
class ContractCountersignatures(MethodView):
    @require()
    @contracts.arguments(sc.CountersignaturesIn)
    @contracts.response(200, sc.CountersignaturesOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Countersign up to 500 contracts for the employer at once (docs/signing-batch.md).

        Each contract is countersigned exactly as POST /contracts/{id}/sign would do it, or
        refused with that call's problem; one refused contract holds back none of the
        others. 200 reports every contract (countersigned, already_countersigned, refused);
        a malformed request is a 422 that changes nothing."""
        outcome = countersign_contracts(db(), authenticate(), data["method"],
                                        countersignatures(data["contracts"]))
        return json_response(outcome)


@contracts.route("/<contract_id>/signers")
class ContractSigners(MethodView):
    @require()
    @contracts.response(200, sc.SignerOut)
    def get(self, contract_id: str) -> Any:
        """Who signs the manager's side, and who countersigns for the employer now."""
        return svc.contract_signers(db(), authenticate(), contract_id)


@contracts.route("/<contract_id>/terminate")
class ContractTerminate(MethodView):
    @require(HR_ADMIN, SERVICE)
    @contracts.arguments(sc.EndIn)
    @contracts.response(200, sc.ContractOut)
    def post(self, data: dict[str, Any], contract_id: str) -> Any:
        """End an active contract early, with its reason."""
        svc.end_contract(db(), authenticate(), contract_id, d.ContractAction.TERMINATE,
                         data["reason"], if_match(False))
        return _contract_response(contract_id)


@contracts.route("/<contract_id>/withdraw")
class ContractWithdraw(MethodView):
    @require(HR_ADMIN, SERVICE)
    @contracts.arguments(sc.EndIn)
    @contracts.response(200, sc.ContractOut)
    def post(self, data: dict[str, Any], contract_id: str) -> Any:
        """Withdraw a draft or an unsigned contract."""
        svc.end_contract(db(), authenticate(), contract_id, d.ContractAction.WITHDRAW,
                         data["reason"], if_match(False))
        return _contract_response(contract_id)


@contracts.route("/<contract_id>/renew")
class ContractRenew(MethodView):
    @require(HR_ADMIN, SERVICE)
    @contracts.arguments(sc.RenewIn)
    @contracts.response(201, sc.ContractOut)
    def post(self, data: dict[str, Any], contract_id: str) -> Any:
        """Renew an active contract: a new draft term follows the old one's end."""
        successor = svc.renew_contract(db(), authenticate(), contract_id, if_match(False),
                                       data.get("term_years"))
        return _contract_response(successor.id, 201)


@contracts.route("/<contract_id>/amendments")
class ContractAmend(MethodView):
    @require(HR_ADMIN, SERVICE)
    @contracts.arguments(sc.AmendIn)
    @contracts.response(200, sc.ContractOut)
    def post(self, data: dict[str, Any], contract_id: str) -> Any:
        """Amend signed terms: a new version with its reason and approver; needs If-Match."""
        svc.amend_contract(db(), authenticate(), contract_id, if_match(True), data)
        return _contract_response(contract_id)


@contracts.route("/<contract_id>/versions")
class ContractVersions(MethodView):
    @require()
    @contracts.response(200, sc.VersionOut(many=True))
    def get(self, contract_id: str) -> Any:
        """Every version of the contract's terms, oldest first."""
        return svc.contract_versions(db(), authenticate(), contract_id)


@contracts.route("/<contract_id>/documents/<document_id>/targets")
class DocumentTargets(MethodView):
    @require(HR_ADMIN, SERVICE)
    @contracts.arguments(sc.TargetsIn)
    @contracts.response(200, sc.DocumentOut)
    def put(self, data: dict[str, Any], contract_id: str, document_id: str) -> Any:
        """Set the targets of a performance contract before it is signed; needs If-Match."""
        doc = svc.set_targets(db(), authenticate(), contract_id, document_id,
                              data["indicators"], if_match(True))
        return with_etag(doc, doc.row_version)


@contracts.route("/<contract_id>/documents/<document_id>/sign")
class DocumentSign(MethodView):
    @require()
    @contracts.arguments(SIGN_IN)
    @contracts.response(200, sc.DocumentOut)
    def post(self, data: dict[str, Any], contract_id: str, document_id: str) -> Any:
        """Sign your side of one document (a later year's annual contract, an amendment).

        In force, and its targets locked, when both sides have signed it."""
        _, docs = svc.sign(db(), authenticate(), contract_id, document_id, data,
                           if_match(False))
        return with_etag(docs[0], docs[0].row_version)


def _document_language(query: dict[str, Any]) -> str:
    """`lang` if given, else the reader's Accept-Language (zh or en), else zh."""
    if query.get("lang"):
        return str(query["lang"])
    return request.accept_languages.best_match(["zh", "en"]) or "zh"


def _printed(contract_id: str, document_id: str, query: dict[str, Any]) -> Response:
    pdf, name = svc.print_document(db(), authenticate(), contract_id, document_id,
                                   _document_language(query))
    resp = Response(pdf, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = f'inline; filename="{name}"'
    resp.headers["Vary"] = "Accept, Accept-Language"
    return resp


@contracts.route("/<contract_id>/documents/<document_id>")
class DocumentOne(MethodView):
    @require()
    @contracts.arguments(sc.DocumentQuery, location="query")
    @contracts.response(200, sc.DocumentOut, content_type="application/json")
    @contracts.alt_response(200, description="the document printed as PDF (Accept: "
                            "application/pdf)", content_type="application/pdf",
                            success=True)
    def get(self, query: dict[str, Any], contract_id: str, document_id: str) -> Any:
        """One document: JSON, or with `Accept: application/pdf` the printable document."""
        best = request.accept_mimetypes.best_match(["application/json", "application/pdf"])
        if best == "application/pdf":
            return _printed(contract_id, document_id, query)
        # Already in DocumentOut's shape: cut from GET one contract's body.
        return json_response(svc.read_document(db(), authenticate(), contract_id, document_id))


@contracts.route("/<contract_id>/documents/<document_id>.pdf")
class DocumentPdf(MethodView):
    @require()
    @contracts.arguments(sc.DocumentQuery, location="query")
    @contracts.response(200, content_type="application/pdf",
                        description="the document printed as PDF, zh or en")
    def get(self, query: dict[str, Any], contract_id: str, document_id: str) -> Any:
        """The printable document (appointment agreement, tenure or annual contract)."""
        return _printed(contract_id, document_id, query)


# --- bulk issue -------------------------------------------------------------------------------

@bulk.route("")
class BulkIssues(MethodView):
    @idempotent
    @require(HR_ADMIN, SERVICE)
    @bulk.arguments(sc.BulkIssueIn)
    @bulk.response(202, sc.BulkJobOut)
    def post(self, data: dict[str, Any]) -> Any:
        """Issue contracts from a template to every manager matching the filter."""
        job = svc.start_bulk_issue(db(), authenticate(), data)
        svc.start_bulk_issue_worker(db(), job.id)
        return job, 202, {"Location": f"/api/v1/bulk-issues/{job.id}"}


@bulk.route("/<job_id>")
class BulkIssueOne(MethodView):
    @require(HR_ADMIN, SERVICE)
    @bulk.arguments(sc.BulkJobQuery, location="query")
    @bulk.response(200, sc.BulkJobOut)
    def get(self, query: dict[str, Any], job_id: str) -> Any:
        """Progress, then which managers were issued a contract and which skipped, and why.

        `decisions=false` leaves the decisions out, for polling a large job's progress."""
        job = svc.get_bulk_job(db(), authenticate(), job_id, decisions=query["decisions"])
        return json_response(sc.BulkJobOut().dump(job))  # decisions as stored, spliced in


@bulk.route("/<job_id>/decisions")
class BulkIssueDecisions(MethodView):
    @require(HR_ADMIN, SERVICE)
    @bulk.arguments(sc.BulkDecisionQuery, location="query")
    @bulk.response(200, sc.BulkDecisionPage)
    def get(self, query: dict[str, Any], job_id: str) -> Any:
        """A job's decisions a page at a time, in employee number order (while it runs,
        those of the chunks it has committed); `decision=failed` (or `issued`, `skipped`)
        keeps one outcome.

        A page that has a next one links to it (`Link: <...&after=n>; rel="next"`). Every
        page costs the same, so a job for the whole group is read through without any
        process holding all its decisions."""
        page = svc.bulk_decisions_page(db(), authenticate(), job_id, **query)
        resp = json_response(sc.BulkDecisionPage().dump(page))
        if page["page"]["next"] is not None:
            resp.headers["Link"] = next_link(str(page["page"]["next"]))
        return resp


# --- reports and maintenance ------------------------------------------------------------------

@reports.route("/coverage")
class Coverage(MethodView):
    @require(*ANY_STAFF)
    @reports.arguments(sc.CoverageQuery, location="query")
    @reports.response(200)
    def get(self, query: dict[str, Any]) -> Any:
        """Signing rate and enterprises in force by layer, category and position; JSON or CSV.

        `format=csv` (or `Accept: text/csv`) returns the groups as CSV."""
        report = svc.coverage_report(
            db(), authenticate(), query.get("as_of") or date.today(), query.get("org_unit_id"),
            tuple(query["group_by"].split(",")),
        )
        wants_csv = query["format"] == "csv" or (
            request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"
            and "application/json" not in request.headers.get("Accept", ""))
        if wants_csv:
            return Response(d.coverage_rows_csv(report), mimetype="text/csv", headers={
                "Content-Disposition": "attachment; filename=coverage.csv"})
        return json_response(d.coverage_as_dict(report))


@maintenance.route("/expiry")
class Expiry(MethodView):
    @require(HR_ADMIN, SERVICE)
    @maintenance.arguments(sc.ExpiryIn)
    @maintenance.response(200)
    def post(self, data: dict[str, Any]) -> Any:
        """Mark contracts past their end expired and record 90/30/7-day reminders, today.

        `dry_run: true` (optionally with `as_of`) changes and sends nothing and returns what
        the sweep would send."""
        principal = authenticate()
        if principal.org_scope is not None:
            raise ApiProblem(403, "Forbidden", "Expiry runs for the whole group")
        return svc.run_expiry(db(), data.get("as_of") or date.today(),
                              dry_run=data["dry_run"])
