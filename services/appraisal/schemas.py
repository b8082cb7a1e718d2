"""The appraisal API's shapes, in and out: validation, serialisation and docs at once."""

from __future__ import annotations

from decimal import Decimal

import marshmallow as ma
from marshmallow import fields, validate

from shared.fields import DecimalString, PageInfo, PageQuery, StrictSchema, UtcDateTime
from shared.vocabulary import GRADE_ORDER, GROUP_LAYER, MAX_LAYER

KINDS = validate.OneOf(["annual", "tenure"])
STATES = validate.OneOf(["open", "actuals_submitted", "scored", "reviewed", "approved",
                         "published"])
GRADES = validate.OneOf([g.value for g in GRADE_ORDER])
YEAR = validate.Range(min=1990, max=2200)
LAYER = validate.Range(min=GROUP_LAYER, max=MAX_LAYER)
CODE = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$",
                       error="1-64 letters, digits, '_', '.', '-'")
DEPARTURE_REASONS = ["retirement", "resignation", "misconduct", "transfer", "other"]
MAX_DIFFICULTY = Decimal("2")
SECTIONS = ("scoring", "composition", "items", "grades", "distribution", "pay", "exits",
            "tenure")


def _fail(message: str) -> bool:
    raise ma.ValidationError(message)


def _positive(value: Decimal) -> bool:
    # A plain check, not validate.Range: the OpenAPI document would show its bound as a
    # string (DecimalString dumps strings), which no JSON schema accepts as a minimum.
    return value > 0 or _fail("must be greater than 0")


def _not_negative(value: Decimal) -> bool:
    return value >= 0 or _fail("must not be negative")


# --- read model -------------------------------------------------------------------------------

class TargetSetOut(ma.Schema):
    document_id = fields.String()
    kind = fields.String()
    year = fields.Integer(allow_none=True)
    locked = fields.Boolean()
    targets = fields.List(fields.Dict())


class UnappraisableOut(ma.Schema):
    document = fields.String(metadata={"description": "annual or tenure"})
    year = fields.Integer(allow_none=True)
    reason = fields.String()


class AppraisableOut(ma.Schema):
    """Whether this service can score the contract's targets under the schemes that apply
    (each year's, and the term's last year's for the tenure appraisal), and why not."""

    annual = fields.Boolean()
    tenure = fields.Boolean()
    reasons = fields.List(fields.Nested(UnappraisableOut))


class ContractOut(ma.Schema):
    id = fields.String()
    state = fields.String()
    start_date = fields.Date()
    end_date = fields.Date()
    term_number = fields.Integer()
    position = fields.String(allow_none=True)
    layer = fields.Integer(allow_none=True)
    category = fields.String(allow_none=True)
    ended_by_exit = fields.Boolean()
    end_reason = fields.String(allow_none=True)
    target_sets = fields.List(fields.Nested(TargetSetOut))
    appraisable = fields.Nested(AppraisableOut, allow_none=True)


class ManagerSummaryOut(ma.Schema):
    id = fields.String()
    employee_no = fields.String()
    name = fields.String()
    email = fields.String(allow_none=True)
    language = fields.String()
    org_unit_id = fields.String()
    enterprise_id = fields.String(allow_none=True)
    layer = fields.Integer(allow_none=True)
    category = fields.String(allow_none=True)
    position = fields.String(allow_none=True)
    management_level = fields.String(allow_none=True)
    employment_status = fields.String()
    departure_reason = fields.String(allow_none=True)


class ManagerOut(ManagerSummaryOut):
    contracts = fields.List(fields.Nested(ContractOut))


class ManagerQuery(PageQuery):
    org_unit_id = fields.String(metadata={"description": "the whole subtree of this unit"})
    layer = fields.Integer(validate=LAYER)
    category = fields.String()
    position = fields.String()
    employment_status = fields.String(validate=validate.OneOf(["active", "departed"]))


class ManagerPage(ma.Schema):
    items = fields.List(fields.Nested(ManagerSummaryOut))
    page = fields.Nested(PageInfo)


# --- schemes ----------------------------------------------------------------------------------

class SchemeIn(StrictSchema):
    """A scheme version in the domain's dict form; sections left out are inherited from the
    previous version (or the group default). The domain checks every rule and names each
    faulty field by its path (e.g. `scoring.base_share`)."""

    code = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_]{1,47}$"))
    # Bounded well inside a database integer, so "the next version" always fits one too.
    version = fields.Integer(validate=validate.Range(min=1, max=1_000_000),
                             metadata={"description": "default: the next version"})
    name = fields.String(validate=validate.Length(max=200))
    layer = fields.Integer(allow_none=True, validate=LAYER)
    category = fields.String(allow_none=True)
    position = fields.String(allow_none=True)
    valid_from_year = fields.Integer(allow_none=True, validate=YEAR)
    scoring = fields.Dict()
    composition = fields.Dict()
    items = fields.Dict()
    grades = fields.Dict()
    distribution = fields.Dict()
    pay = fields.Dict()
    exits = fields.Dict()
    tenure = fields.Dict()


class SchemeOut(ma.Schema):
    code = fields.String()
    version = fields.Integer()
    name = fields.String()
    layer = fields.Integer(allow_none=True)
    category = fields.String(allow_none=True)
    position = fields.String(allow_none=True)
    valid_from_year = fields.Integer(allow_none=True)
    scoring = fields.Dict()
    composition = fields.Dict()
    items = fields.Dict()
    grades = fields.Dict()
    distribution = fields.Dict()
    pay = fields.Dict()
    exits = fields.Dict()
    tenure = fields.Dict()
    builtin = fields.Boolean()
    created_by = fields.String(allow_none=True)
    created_at = UtcDateTime(allow_none=True)


class SchemeVersionQuery(StrictSchema):
    version = fields.Integer(validate=validate.Range(min=1))


class SchemeResolveQuery(StrictSchema):
    layer = fields.Integer(validate=LAYER)
    category = fields.String()
    position = fields.String()
    year = fields.Integer(validate=YEAR)


# --- difficulty, pay bases, departures --------------------------------------------------------

def _within_any_scheme(value: Decimal) -> bool:
    # No scheme may allow more than MAX_SHARE (domain/scheme.py); the scheme that applies
    # checks its own, narrower range (default 0.80-1.20) when the enterprise is scored.
    return value <= MAX_DIFFICULTY or _fail(f"must be at most {MAX_DIFFICULTY}")


class DifficultyIn(StrictSchema):
    coefficient = DecimalString(places=4, required=True,
                                validate=[_positive, _within_any_scheme])


class DifficultyOut(ma.Schema):
    org_unit_id = fields.String()
    year = fields.Integer()
    coefficient = fields.String()
    set_by = fields.String()
    set_at = UtcDateTime()


class YearQuery(StrictSchema):
    year = fields.Integer(validate=YEAR)


class PayBaseIn(StrictSchema):
    manager_id = fields.String(required=True)
    year = fields.Integer(required=True, validate=YEAR)
    amount = DecimalString(places=2, required=True, validate=_not_negative)
    source = fields.String(required=True, validate=validate.Length(min=1, max=100))


class PayBasesIn(StrictSchema):
    items = fields.List(fields.Nested(PayBaseIn), required=True,
                        validate=validate.Length(min=1, max=50_000))


class DepartureIn(StrictSchema):
    manager_id = fields.String(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(DEPARTURE_REASONS))
    on = fields.Date()
    note = fields.String(load_default="", validate=validate.Length(max=2000))


class DepartureOut(ma.Schema):
    id = fields.Integer()
    manager_id = fields.String()
    reason = fields.String()
    year = fields.Integer()
    on = fields.Date()
    layer = fields.Integer(allow_none=True)
    category = fields.String(allow_none=True)
    org_unit_id = fields.String(allow_none=True)
    note = fields.String()
    source = fields.String()


class ImportQuery(StrictSchema):
    dry_run = fields.Boolean(load_default=False, metadata={
        "description": "check every row and report, keep nothing"})


class ImportOutcome(ma.Schema):
    accepted = fields.Integer()
    created = fields.Integer()
    updated = fields.Integer()
    rejected = fields.Integer()
    errors = fields.List(fields.Dict(), metadata={
        "description": "one entry per fault: row (JSON: position from 1; CSV: line number, "
                       "the header is line 1), field and message"})


# --- actuals ----------------------------------------------------------------------------------

class ActualIn(StrictSchema):
    """One actual: for a manager (manager_id or employee_no) or, for an organisational
    line shared by the team, for the enterprise; exactly one of value, rating,
    milestones_met, veto_hit, points, as the line's kind and role require."""

    manager_id = fields.String()
    employee_no = fields.String()
    enterprise_id = fields.String()
    year = fields.Integer(required=True, validate=YEAR)
    kind = fields.String(load_default="annual", validate=KINDS)
    indicator_code = fields.String(required=True, validate=CODE)
    value = DecimalString(places=6)
    rating = fields.String(validate=validate.Length(min=1, max=16))
    milestones_met = fields.Integer(validate=validate.Range(min=0, max=1000))
    veto_hit = fields.Boolean()
    points = DecimalString(places=2, validate=_not_negative)
    source = fields.String(required=True, validate=validate.Length(min=1, max=100),
                           metadata={"description": "the HR or finance system it came from"})
    note = fields.String(load_default="", validate=validate.Length(max=2000))


class ActualsBulkIn(StrictSchema):
    items = fields.List(fields.Dict(), required=True,
                        validate=validate.Length(min=1, max=100_000),
                        metadata={"description": "rows shaped like ActualIn, each checked "
                                                 "on its own"})


class ActualOut(ma.Schema):
    id = fields.Integer()
    subject_id = fields.String()
    subject_kind = fields.String()
    manager_id = fields.String(allow_none=True)
    enterprise_id = fields.String(allow_none=True)
    year = fields.Integer()
    kind = fields.String()
    indicator_code = fields.String()
    value = fields.String(allow_none=True)
    rating = fields.String(allow_none=True)
    milestones_met = fields.Integer(allow_none=True)
    veto_hit = fields.Boolean(allow_none=True)
    points = fields.String(allow_none=True)
    source = fields.String()
    note = fields.String()
    recorded_by = fields.String()
    recorded_at = UtcDateTime()
    row_version = fields.Integer()


class ActualQuery(PageQuery):
    manager_id = fields.String()
    enterprise_id = fields.String()
    year = fields.Integer(validate=YEAR)
    kind = fields.String(validate=KINDS)
    indicator_code = fields.String()


class ActualPage(ma.Schema):
    items = fields.List(fields.Nested(ActualOut))
    page = fields.Nested(PageInfo)


# --- appraisals -------------------------------------------------------------------------------

class CohortIn(StrictSchema):
    year = fields.Integer(required=True, validate=YEAR)
    kind = fields.String(load_default="annual", validate=KINDS)
    org_unit_id = fields.String(metadata={"description": "the whole subtree of this unit"})
    layer = fields.Integer(validate=LAYER)
    category = fields.String()
    position = fields.String()


class OpenIn(CohortIn):
    manager_ids = fields.List(fields.String(), validate=validate.Length(max=100_000))
    actuals_due = fields.Date()
    review_due = fields.Date()
    self_report_due = fields.Date(metadata={
        "description": "last day for the managers' self-reports (docs/self-report.md)"})
    appraiser_ids = fields.List(fields.String(), load_default=list)


class OpenOut(ma.Schema):
    opened = fields.Integer()
    already_open = fields.Integer()
    appraisal_ids = fields.List(fields.String())
    skipped = fields.List(fields.Dict())


class AppraisalSummaryOut(ma.Schema):
    id = fields.String()
    manager_id = fields.String()
    contract_id = fields.String()
    year = fields.Integer()
    kind = fields.String()
    state = fields.String()
    org_unit_id = fields.String(allow_none=True)
    enterprise_id = fields.String(allow_none=True)
    layer = fields.Integer(allow_none=True)
    category = fields.String(allow_none=True)
    position = fields.String(allow_none=True)
    scheme_code = fields.String(allow_none=True)
    scheme_version = fields.Integer(allow_none=True)
    score = fields.String(attribute="total", allow_none=True)
    grade = fields.String(allow_none=True)
    grade_before_distribution = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)
    exit_rule = fields.String(allow_none=True)
    tenure_outcome = fields.String(allow_none=True)
    conditions = fields.String(allow_none=True)
    run_id = fields.String(allow_none=True)
    appraiser_ids = fields.List(fields.String())
    actuals_due = fields.Date(allow_none=True)
    review_due = fields.Date(allow_none=True)
    self_report_due = fields.Date(allow_none=True)
    self_report = fields.String(allow_none=True, metadata={
        "description": "submitted, on_paper, or none (reviewed without a report); null "
                       "while none has come"})
    self_report_dispute = fields.String(allow_none=True, metadata={
        "description": "open, upheld or overruled when the report disputes an actual"})
    scored_at = UtcDateTime(allow_none=True)
    reviewed_by = fields.String(allow_none=True)
    approved_by = fields.String(allow_none=True)
    published_at = UtcDateTime(allow_none=True)
    published_by = fields.String(allow_none=True)
    row_version = fields.Integer()


class AppraisalOut(AppraisalSummaryOut):
    result = fields.Dict(attribute="full_trace", allow_none=True, metadata={
        "description": "the full trace: per indicator the actual, levels, rule, share and "
                       "points; parts, composition, totals, veto, grade, distribution, exit "
                       "triggers with evidence, outcome and pay"})
    self_report_detail = fields.Nested(
        "SelfReportSummaryOut", attribute="self_report_view",
        metadata={"description": "the manager's self-report beside the score; every "
                                 "revision at /api/v1/appraisals/{id}/self-report"})


class AppraisalQuery(PageQuery):
    year = fields.Integer(validate=YEAR)
    kind = fields.String(validate=KINDS)
    state = fields.String(validate=STATES)
    org_unit_id = fields.String()
    layer = fields.Integer(validate=LAYER)
    category = fields.String()
    position = fields.String()
    grade = fields.String(validate=GRADES)
    outcome = fields.String()
    manager_id = fields.String()
    run_id = fields.String()


class AppraisalPage(ma.Schema):
    items = fields.List(fields.Nested(AppraisalSummaryOut))
    page = fields.Nested(PageInfo)


class TransitionIn(StrictSchema):
    note = fields.String(load_default="", validate=validate.Length(max=2000))
    conditions = fields.String(validate=validate.Length(min=1, max=2000), metadata={
        "description": "tenure appraisals: the conditions of a renewal with conditions"})


class AppealIn(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=4000))
    late_reason = fields.String(validate=validate.Length(min=1, max=4000), metadata={
        "description": "HR only, after the appeal deadline: why the late appeal is accepted"})


class AppealDecisionIn(StrictSchema):
    decision = fields.String(required=True, validate=validate.OneOf(["upheld", "rejected"]))
    note = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class AppealOut(ma.Schema):
    id = fields.String()
    appraisal_id = fields.String()
    reason = fields.String()
    filed_by = fields.String()
    filed_at = UtcDateTime()
    status = fields.String()
    decision = fields.String(allow_none=True)
    decision_note = fields.String(allow_none=True)
    decided_by = fields.String(allow_none=True)
    decided_at = UtcDateTime(allow_none=True)
    result_before = fields.Dict(attribute="result_before_view", allow_none=True)
    result_after = fields.Dict(attribute="result_after_view", allow_none=True)
    late = fields.Boolean()
    late_reason = fields.String(allow_none=True)
    exit_decision_id = fields.String(allow_none=True)


class LogOut(ma.Schema):
    action = fields.String()
    from_state = fields.String(allow_none=True)
    to_state = fields.String()
    actor = fields.String()
    reason = fields.String()
    at = UtcDateTime()


class HistoryOut(ma.Schema):
    log = fields.List(fields.Nested(LogOut))
    appeals = fields.List(fields.Nested(AppealOut))


# --- runs -------------------------------------------------------------------------------------

class RunSummaryOut(ma.Schema):
    id = fields.String()
    year = fields.Integer()
    kind = fields.String()
    criteria = fields.Dict()
    status = fields.String()
    total = fields.Integer()
    processed = fields.Integer()
    scored = fields.Integer()
    skipped = fields.Integer()
    progress = fields.Method("_progress")
    summary = fields.Dict()
    error = fields.String(allow_none=True)
    requested_by = fields.String()
    created_at = UtcDateTime()
    started_at = UtcDateTime(allow_none=True)
    finished_at = UtcDateTime(allow_none=True)

    def _progress(self, run):  # type: ignore[no-untyped-def]
        from services.appraisal.service import run_progress

        return run_progress(run)


class RunOut(RunSummaryOut):
    skips = fields.List(fields.Dict(), metadata={
        "description": "who was left out and why (the first 1,000; the counts cover all)"})


class RunActionIn(StrictSchema):
    note = fields.String(load_default="", validate=validate.Length(max=2000))


class RunActionOut(ma.Schema):
    run_id = fields.String()
    action = fields.String()
    done = fields.Integer()
    refused = fields.List(fields.Dict())
    events = fields.Dict()


# --- what-if and reports ----------------------------------------------------------------------

class WhatIfActualIn(StrictSchema):
    indicator_code = fields.String(required=True, validate=CODE)
    value = DecimalString(places=6)
    rating = fields.String(validate=validate.Length(min=1, max=16))
    milestones_met = fields.Integer(validate=validate.Range(min=0, max=1000))
    veto_hit = fields.Boolean()
    points = DecimalString(places=2, validate=_not_negative)


class WhatIfIn(StrictSchema):
    manager_id = fields.String(required=True)
    year = fields.Integer(required=True, validate=YEAR)
    kind = fields.String(load_default="annual", validate=KINDS)
    actuals = fields.List(fields.Nested(WhatIfActualIn), load_default=list,
                          validate=validate.Length(max=200))


class WhatIfOut(ma.Schema):
    manager_id = fields.String()
    contract_id = fields.String()
    year = fields.Integer()
    kind = fields.String()
    score = fields.String()
    grade = fields.String()
    outcome = fields.String()
    tenure_outcome = fields.String(allow_none=True)
    scheme_code = fields.String()
    scheme_version = fields.Integer()
    forced_distribution_applied = fields.Boolean()
    saved = fields.Boolean()
    result = fields.Dict()


class ReportQuery(StrictSchema):
    year = fields.Integer(required=True, validate=YEAR)
    kind = fields.String(load_default="annual", validate=KINDS)
    org_unit_id = fields.String()
    group_by = fields.String(load_default="layer,category", validate=[
        validate.Regexp(r"^(layer|category|position)(,(layer|category|position))*$"),
        lambda v: len(set(v.split(","))) == len(v.split(",")) or _fail("fields repeat"),
    ])
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


EXIT_STATES = validate.OneOf(["pending", "held", "confirmed", "reopened", "cancelled"])


class ExitDecisionQuery(PageQuery):
    state = fields.String(validate=EXIT_STATES)
    year = fields.Integer(validate=YEAR)
    kind = fields.String(validate=KINDS)
    org_unit_id = fields.String()
    manager_id = fields.String()
    deadline_before = fields.Date(metadata={"description": "last day to appeal before this"})


class ExitEventOut(ma.Schema):
    type = fields.String()
    id = fields.String()
    at = fields.String()


class ExitDecisionOut(ma.Schema):
    id = fields.String()
    appraisal_id = fields.String()
    manager_id = fields.String()
    contract_id = fields.String()
    org_unit_id = fields.String(allow_none=True)
    year = fields.Integer()
    kind = fields.String()
    state = fields.String()
    rule = fields.String(allow_none=True)
    triggers = fields.List(fields.Dict())
    published_at = UtcDateTime()
    appeal_window_days = fields.Integer(attribute="window_days")
    appeal_window_zone = fields.String(attribute="window_zone")
    appeal_deadline = fields.Date(attribute="last_day", metadata={
        "description": "the last calendar day (in appeal_window_zone) to appeal in time"})
    appeal_closes_at = UtcDateTime(attribute="closes_at")
    appeal_id = fields.String(allow_none=True)
    confirmed_at = UtcDateTime(allow_none=True)
    confirmed_by = fields.String(allow_none=True)
    confirmed_because = fields.String(allow_none=True)
    cancelled_at = UtcDateTime(allow_none=True)
    cancelled_by = fields.String(allow_none=True)
    events = fields.List(fields.Nested(ExitEventOut))
    row_version = fields.Integer()


class ExitDecisionPage(ma.Schema):
    items = fields.List(fields.Nested(ExitDecisionOut))
    page = fields.Nested(PageInfo)


class AppealQuery(PageQuery):
    status = fields.String(validate=validate.OneOf(["open", "decided"]))
    late = fields.Boolean()
    year = fields.Integer(validate=YEAR)
    kind = fields.String(validate=KINDS)
    org_unit_id = fields.String()
    manager_id = fields.String()


class AppealSummaryOut(ma.Schema):
    id = fields.String()
    appraisal_id = fields.String()
    manager_id = fields.String()
    year = fields.Integer()
    kind = fields.String()
    appraisal_state = fields.String()
    reason = fields.String()
    filed_by = fields.String()
    filed_at = UtcDateTime()
    status = fields.String()
    late = fields.Boolean()
    late_reason = fields.String(allow_none=True)
    exit_decision_id = fields.String(allow_none=True)
    decision = fields.String(allow_none=True)
    decided_by = fields.String(allow_none=True)
    decided_at = UtcDateTime(allow_none=True)


class AppealPage(ma.Schema):
    items = fields.List(fields.Nested(AppealSummaryOut))
    page = fields.Nested(PageInfo)


class CloseWindowsIn(StrictSchema):
    as_of = fields.AwareDateTime(default_timezone=None, metadata={
        "description": "confirm windows closed before this instant (default: now); for "
                       "tests and catching up"})


class RemindIn(StrictSchema):
    as_of = fields.Date()
    days = fields.Integer(load_default=14, validate=validate.Range(min=0, max=365))


# --- the manager's self-report ----------------------------------------------------------------

class AttachmentIn(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    reference = fields.String(required=True, validate=validate.Length(min=1, max=1000),
                              metadata={"description": "a URL, a document number or a scan "
                                                       "reference; files are kept elsewhere"})


class DisputeIn(StrictSchema):
    indicator_code = fields.String(required=True, validate=CODE, metadata={
        "description": "one line of the manager's own targets"})
    claimed_value = fields.String(allow_none=True, validate=validate.Length(max=200),
                                  metadata={"description": "what the manager says the actual "
                                                           "is, if a figure is in question"})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class SelfReportIn(StrictSchema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=20_000))
    attachments = fields.List(fields.Nested(AttachmentIn), load_default=list,
                              validate=validate.Length(max=20))
    actuals = fields.String(required=True, validate=validate.OneOf(["confirmed", "disputed"]),
                            metadata={"description": "confirmed, or disputed with `dispute`"})
    dispute = fields.Nested(DisputeIn, allow_none=True)


class PaperSelfReportIn(SelfReportIn):
    received_on = fields.Date(required=True)
    document_no = fields.String(required=True, validate=validate.Length(min=1, max=200),
                                metadata={"description": "document number or scan reference"})


class DisputeDecisionIn(StrictSchema):
    decision = fields.String(required=True, validate=validate.OneOf(["upheld", "overruled"]))
    note = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class SelfReportRevisionOut(ma.Schema):
    revision = fields.Integer()
    text = fields.String()
    attachments = fields.List(fields.Dict())
    actuals = fields.String()
    dispute = fields.Dict(allow_none=True)
    channel = fields.String(metadata={"description": "manager (own token) or paper"})
    received_on = fields.Date(allow_none=True)
    document_no = fields.String(allow_none=True)
    submitted_by = fields.String()
    submitted_at = UtcDateTime()
    resolution = fields.String(allow_none=True)
    resolution_note = fields.String(allow_none=True)
    resolved_by = fields.String(allow_none=True)
    resolved_at = UtcDateTime(allow_none=True)


class SelfReportSummaryOut(ma.Schema):
    appraisal_id = fields.String()
    manager_id = fields.String()
    year = fields.Integer()
    kind = fields.String()
    appraisal_state = fields.String()
    due = fields.Date(allow_none=True)
    status = fields.String(metadata={"description": "pending, submitted, on_paper or none"})
    dispute = fields.String(allow_none=True)
    revision = fields.Integer()
    current = fields.Nested(SelfReportRevisionOut, allow_none=True)


class SelfReportOut(SelfReportSummaryOut):
    revisions = fields.List(fields.Nested(SelfReportRevisionOut))


class SelfReportDeadlineIn(CohortIn):
    manager_ids = fields.List(fields.String(), validate=validate.Length(max=100_000))
    self_report_due = fields.Date(required=True)


class SelfReportDeadlineOut(ma.Schema):
    self_report_due = fields.Date()
    appraisals = fields.Integer()


class AsOfIn(StrictSchema):
    as_of = fields.Date()
