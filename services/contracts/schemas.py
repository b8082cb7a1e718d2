"""The contracts API's shapes, in and out: validation, serialisation and docs at once."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate, validates_schema

from services.contracts import domain as d
from shared.fields import DecimalString, PageInfo, PageQuery, StrictSchema, UtcDateTime
from shared.vocabulary import GROUP_LAYER, MAX_LAYER

CODE = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$",
                       error="1-64 letters, digits, '_', '.', '-'")
NAME = validate.Length(min=1, max=200)
LAYER = validate.Range(min=GROUP_LAYER, max=MAX_LAYER)
positions = [p.value for p in d.Position]


def _fail(message: str) -> bool:
    raise ma.ValidationError(message)


def _enum(enum: type) -> validate.OneOf:
    return validate.OneOf([e.value for e in enum])


class CategoryField(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        value = super()._deserialize(value, attr, data, **kwargs)
        try:
            return d.validate_category(value)
        except (ValueError, d.DomainError) as exc:
            raise ma.ValidationError(str(exc) or "invalid category") from exc


# --- org units --------------------------------------------------------------------------------

class OrgUnitIn(StrictSchema):
    code = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=NAME)
    kind = fields.String(required=True, validate=_enum(d.UnitKind))
    category = CategoryField(required=True, metadata={
        "description": "commercial_competitive, commercial_special_function, public_welfare "
                       "or a custom slug"})
    has_board = fields.Boolean(load_default=False)
    parent_id = fields.String(load_default=None, allow_none=True)


class OrgUnitImportRow(StrictSchema):
    """One row of an org-unit upload: the parent by `parent_code` (stored or in the same file)
    or by `parent_id`; neither for the group root."""

    code = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=NAME)
    kind = fields.String(required=True, validate=_enum(d.UnitKind))
    category = CategoryField(required=True)
    has_board = fields.Boolean(load_default=False)
    parent_code = fields.String(load_default=None, allow_none=True, validate=CODE)
    parent_id = fields.String(load_default=None, allow_none=True)

    @validates_schema
    def _one_parent(self, data: dict, **_: object) -> None:  # type: ignore[type-arg]
        if data.get("parent_code") and data.get("parent_id"):
            raise ma.ValidationError("give parent_code or parent_id, not both", "parent_id")


class ImportQuery(StrictSchema):
    dry_run = fields.Boolean(load_default=False, metadata={
        "description": "check every row and report, keep nothing"})


class ImportOutcome(ma.Schema):
    accepted = fields.Integer(metadata={"description": "created + unchanged"})
    created = fields.Integer()
    unchanged = fields.Integer(metadata={
        "description": "rows matching a stored unit code / employee number: nothing changed"})
    rejected = fields.Integer()
    dry_run = fields.Boolean()
    errors = fields.List(fields.Dict(), metadata={
        "description": "one entry per fault: row (JSON: position from 1; CSV: line number, "
                       "the header is line 1), field and message"})


class OrgUnitPatch(StrictSchema):
    name = fields.String(validate=NAME)
    category = CategoryField()
    has_board = fields.Boolean()


class OrgUnitMove(StrictSchema):
    parent_id = fields.String(required=True)


class OrgUnitOut(ma.Schema):
    id = fields.String()
    code = fields.String()
    name = fields.String()
    kind = fields.String()
    category = fields.String()
    has_board = fields.Boolean()
    parent_id = fields.String(allow_none=True)
    layer = fields.Integer()
    row_version = fields.Integer()


class OrgUnitHistoryOut(ma.Schema):
    change = fields.String()
    before = fields.Dict()
    after = fields.Dict()
    changed_by = fields.String()
    changed_at = UtcDateTime()


class OrgUnitQuery(PageQuery):
    parent_id = fields.String()
    subtree_of = fields.String()
    layer = fields.Integer(validate=LAYER)
    category = CategoryField()
    kind = fields.String(validate=_enum(d.UnitKind))


class OrgUnitPage(ma.Schema):
    items = fields.List(fields.Nested(OrgUnitOut))
    page = fields.Nested(PageInfo)


# --- managers ---------------------------------------------------------------------------------

class ManagerIn(StrictSchema):
    employee_no = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=NAME)
    email = fields.Email(required=True)
    language = fields.String(load_default="zh", validate=validate.OneOf(["zh", "en"]))
    org_unit_id = fields.String(required=True)
    position = fields.String(required=True, validate=validate.OneOf(positions))
    management_level = fields.String(validate=_enum(d.ManagementLevel))


class ManagerImportRow(StrictSchema):
    """One row of a manager upload: the unit by `org_unit_code` or `org_unit_id`."""

    employee_no = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=NAME)
    email = fields.Email(required=True)
    language = fields.String(load_default="zh", validate=validate.OneOf(["zh", "en"]))
    org_unit_code = fields.String(validate=CODE)
    org_unit_id = fields.String()
    position = fields.String(required=True, validate=validate.OneOf(positions))
    management_level = fields.String(validate=_enum(d.ManagementLevel))

    @validates_schema
    def _one_unit(self, data: dict, **_: object) -> None:  # type: ignore[type-arg]
        if bool(data.get("org_unit_code")) == bool(data.get("org_unit_id")):
            raise ma.ValidationError("give org_unit_code or org_unit_id (one of them)",
                                     "org_unit_code")


class ManagerPatch(StrictSchema):
    name = fields.String(validate=NAME)
    email = fields.Email()
    language = fields.String(validate=validate.OneOf(["zh", "en"]))
    org_unit_id = fields.String()
    position = fields.String(validate=validate.OneOf(positions))
    management_level = fields.String(validate=_enum(d.ManagementLevel))
    employment_status = fields.String(validate=validate.OneOf(["active", "departed"]))
    departure_reason = fields.String(validate=validate.OneOf(
        ["retirement", "resignation", "transfer", "misconduct", "appraisal_exit", "other"]))


class ManagerOut(ma.Schema):
    id = fields.String()
    employee_no = fields.String()
    name = fields.String()
    email = fields.String()
    language = fields.String()
    org_unit_id = fields.String()
    layer = fields.Integer()
    category = fields.String()
    position = fields.String()
    management_level = fields.String()
    employment_status = fields.String()
    departure_reason = fields.String(allow_none=True)
    row_version = fields.Integer()


class ManagerQuery(PageQuery):
    q = fields.String(validate=validate.Length(min=1, max=100), metadata={
        "description": "part of the name or employee number, any case"})
    org_unit_id = fields.String(metadata={"description": "the whole subtree of this unit"})
    layer = fields.Integer(validate=LAYER)
    category = CategoryField()
    position = fields.String(validate=validate.OneOf(positions))
    management_level = fields.String(validate=_enum(d.ManagementLevel))
    employment_status = fields.String(validate=validate.OneOf(["active", "departed"]))


class ManagerPage(ma.Schema):
    items = fields.List(fields.Nested(ManagerOut))
    page = fields.Nested(PageInfo)


# --- indicators, targets, templates -----------------------------------------------------------

class IndicatorIn(StrictSchema):
    code = fields.String(required=True, validate=CODE)
    name = fields.String(required=True, validate=NAME)
    unit = fields.String(load_default="", validate=validate.Length(max=32))
    kind = fields.String(required=True, validate=_enum(d.IndicatorKind))
    direction = fields.String(load_default=d.Direction.HIGHER_IS_BETTER.value,
                              validate=_enum(d.Direction))
    description = fields.String(load_default="", validate=validate.Length(max=2000))


class IndicatorOut(ma.Schema):
    code = fields.String()
    name = fields.String()
    unit = fields.String()
    kind = fields.String()
    direction = fields.String()
    description = fields.String()


class TargetLineIn(StrictSchema):
    indicator_code = fields.String(required=True, validate=CODE)
    role = fields.String(load_default="scored", validate=_enum(d.TargetRole))
    weight = DecimalString(places=2, allow_none=True, load_default=None)
    base = DecimalString(places=4, allow_none=True, load_default=None)
    target = DecimalString(places=4, allow_none=True, load_default=None)
    challenge = DecimalString(places=4, allow_none=True, load_default=None)
    main = fields.Boolean(load_default=False)
    part = fields.String(load_default=None, validate=_enum(d.TargetPart), metadata={
        "description": "organisational or individual; left out, it comes from the position "
                       "(chair and general manager: organisational); a scored annual line of "
                       "a position scored on both parts must say it"})
    max_points = DecimalString(places=2, allow_none=True, load_default=None)
    milestones = fields.Integer(allow_none=True, load_default=None,
                                validate=validate.Range(min=1, max=100))
    description = fields.String(load_default="", validate=validate.Length(max=2000))


class TargetLineOut(ma.Schema):
    indicator_code = fields.String()
    name = fields.String()
    unit = fields.String()
    kind = fields.String()
    direction = fields.String()
    role = fields.String()
    weight = fields.String(allow_none=True)
    base = fields.String(allow_none=True)
    target = fields.String(allow_none=True)
    challenge = fields.String(allow_none=True)
    main = fields.Boolean()
    part = fields.String()
    max_points = fields.String(allow_none=True)
    milestones = fields.Integer(allow_none=True)
    description = fields.String()


class TargetsIn(StrictSchema):
    indicators = fields.List(fields.Nested(TargetLineIn), required=True,
                             validate=validate.Length(min=1, max=100))


class TemplateIn(StrictSchema):
    name = fields.String(required=True, validate=NAME)
    layer = fields.Integer(allow_none=True, load_default=None,
                           validate=LAYER)
    category = CategoryField(allow_none=True, load_default=None)
    position = fields.String(allow_none=True, load_default=None,
                             validate=validate.OneOf(positions))
    term_years = fields.Integer(load_default=3, validate=validate.Range(min=1, max=10))
    max_consecutive_terms = fields.Integer(load_default=2, validate=validate.Range(min=1, max=10))
    signing_deadline_days = fields.Integer(load_default=30,
                                           validate=validate.Range(min=1, max=365))
    # A template issues contracts that must be appraised: it carries at least one target.
    targets = fields.List(fields.Nested(TargetLineIn), required=True,
                          validate=validate.Length(min=1, max=100),
                          metadata={"description": "the annual performance contract's "
                                                   "targets, for every year of the term"})
    tenure_targets = fields.List(fields.Nested(TargetLineIn), load_default=list,
                                 validate=validate.Length(max=100),
                                 metadata={"description": "the tenure performance "
                                                          "contract's targets, for the term"})
    org_unit_id = fields.String(allow_none=True, load_default=None,
                                validate=validate.Length(min=1, max=36), metadata={
                                    "description": "The unit that owns the template; null "
                                    "for a group template (group-wide HR only)"})


class TemplateOut(ma.Schema):
    id = fields.String()
    name = fields.String()
    layer = fields.Integer(allow_none=True)
    category = fields.String(allow_none=True)
    position = fields.String(allow_none=True)
    term_years = fields.Integer()
    max_consecutive_terms = fields.Integer()
    signing_deadline_days = fields.Integer()
    targets = fields.List(fields.Nested(TargetLineOut))
    tenure_targets = fields.List(fields.Nested(TargetLineOut))
    org_unit_id = fields.String(allow_none=True)
    row_version = fields.Integer()


# --- contracts --------------------------------------------------------------------------------

class SignatoryOverrideIn(StrictSchema):
    kind = fields.String(required=True, validate=validate.Length(min=1, max=64))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class ContractIn(StrictSchema):
    manager_id = fields.String(required=True)
    start_date = fields.Date(required=True)
    term_years = fields.Integer(validate=validate.Range(min=1, max=10))
    max_consecutive_terms = fields.Integer(validate=validate.Range(min=1, max=10))
    template_id = fields.String()
    targets = fields.List(fields.Nested(TargetLineIn), validate=validate.Length(max=100))
    tenure_targets = fields.List(fields.Nested(TargetLineIn),
                                 validate=validate.Length(max=100))
    signatory_override = fields.Nested(SignatoryOverrideIn)


class SignIn(StrictSchema):
    """One party's signature: electronic with the signer's own token, or paper, recorded by HR."""

    method = fields.String(load_default="electronic", validate=_enum(d.SignatureMethod),
                           metadata={"description": "electronic (your own token) or paper "
                                                    "(HR records a signature made on paper)"})
    party = fields.String(validate=_enum(d.Party), metadata={
        "description": "manager or employer: required for paper; for electronic it follows "
                       "from the token and, if given, must match"})
    signed_on = fields.Date(metadata={"description": "paper only: the date on the paper"})
    paper_reference = fields.String(validate=validate.Length(min=1, max=200), metadata={
        "description": "paper only: the document number or scan reference"})


class EndIn(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class RenewIn(StrictSchema):
    term_years = fields.Integer(validate=validate.Range(min=1, max=10))


class AnnualTargetsIn(StrictSchema):
    year = fields.Integer(required=True, validate=validate.Range(min=1990, max=2200))
    indicators = fields.List(fields.Nested(TargetLineIn), required=True,
                             validate=validate.Length(min=1, max=100))


class AmendIn(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    approved_by = fields.String(required=True, validate=validate.Length(min=1, max=200))
    end_date = fields.Date()
    signatory_override = fields.Nested(SignatoryOverrideIn)
    tenure_targets = fields.List(fields.Nested(TargetLineIn),
                                 validate=validate.Length(min=1, max=100), metadata={
                                     "description": "new targets of the tenure performance "
                                                    "contract; both sides sign them again"})
    annual_targets = fields.List(fields.Nested(AnnualTargetsIn),
                                 validate=validate.Length(min=1, max=20), metadata={
                                     "description": "new targets of annual performance "
                                                    "contracts, by year; both sides sign "
                                                    "them again"})

    @validates_schema
    def _something_changes(self, data, **kwargs):  # type: ignore[no-untyped-def]
        if not {"end_date", "signatory_override", "tenure_targets",
                "annual_targets"} & set(data):
            raise ma.ValidationError("An amendment changes end_date, signatory_override, "
                                     "tenure_targets or annual_targets", field_name="end_date")
        years = [a["year"] for a in data.get("annual_targets", [])]
        if len(set(years)) != len(years):
            raise ma.ValidationError("each year appears once", field_name="annual_targets")


class DocumentOut(ma.Schema):
    id = fields.String()
    kind = fields.String()
    year = fields.Method("_year")
    signed_at = UtcDateTime(allow_none=True, metadata={
        "description": "when it came into force: both sides had signed"})
    targets = fields.List(fields.Nested(TargetLineOut))
    row_version = fields.Integer()
    signing_state = fields.String(metadata={
        "description": "awaiting_manager, awaiting_employer or in_force"})
    amendment_version = fields.Integer(allow_none=True, metadata={
        "description": "the amendment of the targets awaiting signatures, if any"})
    amendment_state = fields.String(allow_none=True)
    amended_targets = fields.List(fields.Nested(TargetLineOut), allow_none=True, metadata={
        "description": "the amended targets; the targets above stay in force until both "
                       "sides sign these"})

    def _year(self, doc):  # type: ignore[no-untyped-def]
        return doc.year or None


class DocumentQuery(StrictSchema):
    lang = fields.String(validate=validate.OneOf(("zh", "en")),
                         metadata={"description": "language of the printed document; default "
                                                  "from Accept-Language, else zh"})


class SignatoryOut(ma.Schema):
    kind = fields.String()
    description = fields.String()
    signed_by_position = fields.String(allow_none=True)
    authorised_by = fields.String(allow_none=True)
    override_reason = fields.String(allow_none=True)


class UnappraisableOut(ma.Schema):
    document = fields.String(metadata={"description": "annual or tenure"})
    year = fields.Integer(allow_none=True)
    reason = fields.String()


class AppraisableOut(ma.Schema):
    """Whether the appraisals can score the contract's targets under the shared default
    rule (docs/performance-contract.md); the appraisal service judges it again under the
    scheme that applies."""

    annual = fields.Boolean()
    tenure = fields.Boolean()
    reasons = fields.List(fields.Nested(UnappraisableOut))


class SignatureOut(ma.Schema):
    """One party's signature of one document; rendered from stored JSON, hence strings."""

    document_id = fields.String()
    document_kind = fields.String()
    year = fields.Integer(allow_none=True)
    amendment_version = fields.Integer(allow_none=True)
    party = fields.String(metadata={"description": "manager or employer"})
    method = fields.String(metadata={"description": "electronic or paper"})
    signed_by = fields.String(allow_none=True, metadata={
        "description": "the subject of the token that signed (electronic only)"})
    person_manager_id = fields.String(allow_none=True, metadata={
        "description": "the manager whose signature it is, where a manager signed"})
    on_behalf_of = fields.String()
    signed_at = fields.String(metadata={"description": "when it was signed or recorded (UTC)"})
    paper_signed_on = fields.String(allow_none=True)
    paper_reference = fields.String(allow_none=True)
    recorded_by = fields.String(allow_none=True, metadata={
        "description": "the HR user who recorded a paper signature"})


class SignerOut(ma.Schema):
    manager = fields.Dict()
    employer = fields.Dict()
    summary = fields.String()


class ContractOut(ma.Schema):
    id = fields.String()
    manager_id = fields.String()
    employee_no = fields.String()
    manager_name = fields.String()
    org_unit_id = fields.String()
    layer = fields.Integer()
    category = fields.String()
    position = fields.String()
    start_date = fields.Date()
    end_date = fields.Date()
    term_years = fields.Integer()
    term_number = fields.Integer()
    max_consecutive_terms = fields.Integer()
    state = fields.String()
    version = fields.Integer()
    signatory = fields.Nested(SignatoryOut)
    template_id = fields.String(allow_none=True)
    previous_contract_id = fields.String(allow_none=True)
    issued_on = fields.Date(allow_none=True)
    signing_deadline = fields.Date(allow_none=True)
    signed_at = UtcDateTime(allow_none=True)
    signed_by = fields.String(allow_none=True)
    ended_at = UtcDateTime(allow_none=True)
    end_reason = fields.String(allow_none=True)
    appraisable = fields.Nested(AppraisableOut, allow_none=True)
    row_version = fields.Integer()
    signatures = fields.List(fields.Nested(SignatureOut))
    documents = fields.List(fields.Nested(DocumentOut))
    org_unit_name = fields.String(metadata={
        "description": "in GET /contracts?awaiting=my_countersignature only"})


#: The values of `GET /contracts?awaiting=`: the lists of what waits for the caller.
AWAITING_LISTS = ("my_countersignature",)


class ContractQuery(PageQuery):
    org_unit_id = fields.String(metadata={"description": "the whole subtree of this unit"})
    layer = fields.Integer(validate=LAYER)
    category = CategoryField()
    position = fields.String(validate=validate.OneOf(positions))
    state = fields.String(validate=_enum(d.ContractState))
    year = fields.Integer(validate=validate.Range(min=1990, max=2200))
    manager_id = fields.String()
    ends_before = fields.Date(metadata={
        "description": "contracts whose term ends before this day (e.g. with state=active: "
                       "the ones about to expire); sends nothing"})
    after = fields.String(metadata={
        "description": "continue after this cursor (the `next` link of a previous page, "
                       "docs/api-contracts.md): the page after it in the same order, as "
                       "deep pages cost what the first does; not with `page`. The page "
                       "then carries `page_size` and `next`, no total"})

    awaiting = fields.String(validate=validate.OneOf(AWAITING_LISTS), metadata={
        "description": "my_countersignature (the only value; any other is a 422): the "
                       "contracts awaiting the caller's "
                       "countersignature for the employer (docs/portal-countersign.md): "
                       "what POST /contracts/countersignatures would countersign for them. "
                       "Each item then also has org_unit_name and the documents awaiting "
                       "the employer"})

    @validates_schema(pass_original=True)
    def _cursor_or_page_number(self, data: dict[str, Any], original: Any,
                               **kwargs: Any) -> None:
        """A cursor says where the page starts: a page number as well would be ambiguous."""
        if "after" in data and "page" in original:
            raise ma.ValidationError("send either page or after, not both", "page")
        if "after" in data and "awaiting" in data:
            raise ma.ValidationError("the awaiting list pages by number: send page, not after",
                                     "after")


class ContractPageInfo(PageInfo):
    next = fields.String(allow_none=True, metadata={
        "description": "with `after` only: the cursor of the next page, null on the last"})


class ContractPage(ma.Schema):
    items = fields.List(fields.Nested(ContractOut))
    page = fields.Nested(ContractPageInfo)


class VersionOut(ma.Schema):
    version = fields.Integer()
    terms = fields.Dict()
    reason = fields.String()
    approved_by = fields.String(allow_none=True)
    recorded_by = fields.String()
    recorded_at = UtcDateTime()


# --- bulk issue, coverage, expiry -------------------------------------------------------------

class BulkFilterIn(StrictSchema):
    org_unit_id = fields.String()
    layer = fields.Integer(validate=LAYER)
    category = CategoryField()
    position = fields.String(validate=validate.OneOf(positions))
    management_level = fields.String(validate=_enum(d.ManagementLevel))


class BulkIssueIn(StrictSchema):
    template_id = fields.String(required=True)
    start_date = fields.Date(required=True)
    filter = fields.Nested(BulkFilterIn, load_default=dict)
    all_or_nothing = fields.Boolean(load_default=False, metadata={
        "description": "issue nobody when any manager cannot be issued"})


class BulkDecisionOut(ma.Schema):
    manager_id = fields.String()
    employee_no = fields.String()
    decision = fields.String(metadata={
        "description": "issued, skipped or failed (pending while the job runs)"})
    issued = fields.Boolean()
    reason = fields.String(allow_none=True)
    detail = fields.String(allow_none=True)


class StoredDecisions(fields.List):
    """Decisions as the job row stores them, already in BulkDecisionOut's shape (written by
    service.bulk): sent as they are, the stored JSON text spliced into the answer
    (`get_bulk_job`). Dumping every decision again took the CPU a polled job's worker
    needed, and parsing them all its memory."""

    def _serialize(self, value, attr, obj, **kwargs):  # type: ignore[no-untyped-def]
        return value


class BulkJobQuery(StrictSchema):
    decisions = fields.Boolean(load_default=True, metadata={
        "description": "false leaves the decisions out: a poll for a large job's progress"})


class BulkDecisionQuery(StrictSchema):
    decision = fields.String(validate=_enum(d.BulkOutcome), metadata={
        "description": "only the managers with this outcome: issued, skipped or failed"})
    page_size = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))
    after = fields.Integer(load_default=0, validate=validate.Range(min=0, max=100_000_000),
                           metadata={"description": "the `index` of the last decision read "
                                     "(the page's `next`); 0 or absent: from the first"})


class BulkDecisionItemOut(BulkDecisionOut):
    index = fields.Integer(metadata={"description": "the decision's place in the job's list "
                                     "(employee number order), from 1"})

    class Meta:
        fields = ("index", *BulkDecisionOut._declared_fields)  # its place first


class BulkDecisionPageInfo(ma.Schema):
    page_size = fields.Integer()
    total = fields.Integer(metadata={"description": "decisions with this outcome (all "
                                     "decisions without `decision`)"})
    next = fields.Integer(allow_none=True, metadata={
        "description": "`after` for the next page; null on the last"})


class BulkDecisionPage(ma.Schema):
    job_id = fields.String()
    status = fields.String()
    items = fields.List(fields.Nested(BulkDecisionItemOut))
    page = fields.Nested(BulkDecisionPageInfo)


class BulkJobOut(ma.Schema):
    id = fields.String()
    template_id = fields.String()
    criteria = fields.Dict()
    start_date = fields.Date()
    status = fields.String()
    total = fields.Integer()
    processed = fields.Integer()
    issued = fields.Integer()
    skipped = fields.Integer()
    failed = fields.Integer()
    all_or_nothing = fields.Boolean()
    progress = fields.Method("_progress")
    decisions = StoredDecisions(fields.Nested(BulkDecisionOut))
    error = fields.String(allow_none=True)
    created_at = UtcDateTime()
    finished_at = UtcDateTime(allow_none=True)

    @ma.post_dump
    def _without_decisions(self, data, **kwargs):  # type: ignore[no-untyped-def]
        if data.get("decisions") is None:  # asked for without them (`decisions=false`)
            data.pop("decisions", None)
        return data

    def _progress(self, job):  # type: ignore[no-untyped-def]
        if job.status in d.FINISHED_JOB_STATUSES:
            return "100.00"
        return f"{(100 * job.processed / job.total) if job.total else 0:.2f}"


class CoverageQuery(StrictSchema):
    org_unit_id = fields.String()
    as_of = fields.Date()
    group_by = fields.String(load_default="layer,category,position", validate=[
        validate.Regexp(r"^(layer|category|position)(,(layer|category|position))*$"),
        lambda v: len(set(v.split(","))) == len(v.split(",")) or _fail("fields repeat"),
    ])
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


class ExpiryIn(StrictSchema):
    """The sweep runs for today; another day only as a dry run, which sends nothing."""

    dry_run = fields.Boolean(load_default=False, metadata={
        "description": "change and send nothing; return what the sweep would send"})
    as_of = fields.Date(metadata={"description": "the day to sweep for; only with dry_run"})

    @validates_schema
    def _as_of_only_in_a_dry_run(self, data: dict, **_: object) -> None:  # type: ignore[type-arg]
        if data.get("as_of") is not None and not data.get("dry_run"):
            raise ma.ValidationError(
                "the sweep sends real notices, so it runs for today only; send "
                "dry_run: true to see what a sweep on another day would send", "as_of")


# --- batch countersignature (docs/signing-batch.md) -------------------------------------------

COUNTERSIGNATURES_MAX = 500


class CountersignatureIn(SignIn):
    """One contract to countersign: the single call's paper fields (its method is the
    batch's, its party the employer), with the contract and the row version read."""

    class Meta(SignIn.Meta):
        exclude = ("method", "party")

    contract_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    row_version = fields.Integer(validate=validate.Range(min=1), metadata={
        "description": "the row_version you read (as If-Match on the single call): the "
                       "contract is refused with a 412 problem if it changed since"})


class CountersignaturesIn(StrictSchema):
    """The employer's countersignature of up to 500 contracts: electronic with the
    countersigner's own token, or their paper signatures recorded by HR."""

    method = fields.String(load_default="electronic", validate=_enum(d.SignatureMethod),
                           metadata={"description": "electronic (your own token) or paper "
                                                    "(HR records signatures made on paper)"})
    contracts = fields.List(fields.Nested(CountersignatureIn), required=True,
                            validate=validate.Length(min=1, max=COUNTERSIGNATURES_MAX))

    @validates_schema
    def _once_each_paper_fields_on_paper(self, data: dict, **_: object) -> None:  # type: ignore[type-arg]
        errors: dict[int, dict[str, list[str]]] = {}
        first: dict[str, int] = {}
        paper = data.get("method") == d.SignatureMethod.PAPER
        for i, item in enumerate(data.get("contracts") or []):
            faults: dict[str, list[str]] = {}
            seen = first.setdefault(item["contract_id"], i)
            if seen != i:
                faults["contract_id"] = [f"already listed as contracts[{seen}]"]
            for name, what in (("signed_on", "the date on the paper"),
                               ("paper_reference", "the document number or scan reference")):
                if paper and item.get(name) is None:
                    faults[name] = [f"required on paper: {what}"]
                elif not paper and item.get(name) is not None:
                    faults[name] = ["only a paper signature carries it; send method paper"]
            if faults:
                errors[i] = faults
        if errors:
            raise ma.ValidationError({"contracts": errors})


class CountersignatureProblemOut(ma.Schema):
    """Why one contract was not countersigned (RFC 7807), its fields named in the batch."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    invalid_params = fields.List(fields.Dict())
    current_row_version = fields.Integer(metadata={"description": "412 only"})


class CountersignatureOut(ma.Schema):
    index = fields.Integer(metadata={"description": "the contract's place in the request"})
    contract_id = fields.String()
    outcome = fields.String(metadata={
        "description": "countersigned, already_countersigned or refused"})
    state = fields.String(metadata={"description": "not for a refused contract"})
    row_version = fields.Integer(metadata={"description": "not for a refused contract"})
    signed_at = UtcDateTime(allow_none=True, metadata={
        "description": "when the contract came into force"})
    signatures = fields.List(fields.Nested(SignatureOut), metadata={
        "description": "the employer's signatures: recorded now, or found already"})
    problem = fields.Nested(CountersignatureProblemOut, metadata={
        "description": "refused only"})


class CountersignaturesOut(ma.Schema):
    countersigned = fields.Integer()
    already_countersigned = fields.Integer()
    refused = fields.Integer()
    contracts = fields.List(fields.Nested(CountersignatureOut), metadata={
        "description": "one per contract of the request, in its order"})
