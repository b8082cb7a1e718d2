"""Versioned marshmallow schemas of each event type's `data`, and event validation.

A schema states the keys an event of that type always carries, and the types of the
optional keys it may carry. Unknown keys are kept (`unknown = INCLUDE`): a producer may add a
field without a new version, and consumers ignore what they do not read. A change that
removes or retypes a key is a new version: add `Schema2` under the same type with a higher
number, raise `EventSpec.version` in the catalogue, and keep the old schema while events of
the old version may still be in a topic. The envelope's `dataschema`
(`urn:tenure:event:<type>:<version>`) says which version an event was written with.
"""

from __future__ import annotations

from typing import Any

from marshmallow import INCLUDE, Schema, fields, validate

from shared.events.catalogue import CATALOGUE
from shared.events.envelope import MalformedEvent, schema_version
from shared.events.fast_check import accepts


class EventRejected(ValueError):
    """An envelope that decodes but that no consumer should apply (dead-letter it)."""


class UnknownEventType(EventRejected):
    """The event type is not in the catalogue, or not at the version it claims."""


class InvalidEventData(EventRejected):
    """The event's `data` does not match its type's schema."""

    def __init__(self, event_type: str, version: int, errors: dict[str, Any]) -> None:
        self.event_type = event_type
        self.version = version
        self.errors = errors
        super().__init__(f"{event_type} v{version} data is invalid: {errors}")


class EventData(Schema):
    """Base of every event data schema: lenient to keys it does not declare."""

    class Meta:
        unknown = INCLUDE


def _id(**kwargs: Any) -> fields.UUID:
    return fields.UUID(**kwargs)


def _decimal(**kwargs: Any) -> fields.Decimal:
    """A decimal travels as a string ("87.50"); a JSON number is tolerated on input."""
    return fields.Decimal(allow_nan=False, metadata={"type": "string", "format": "decimal"},
                          **kwargs)


# -- hr.contracts -----------------------------------------------------------------------------


class OrgUnitData(EventData):
    org_unit_id = _id(required=True)
    parent_id = _id(required=True, allow_none=True)
    code = fields.String(required=True)
    name = fields.String()
    kind = fields.String()
    category = fields.String()
    has_board = fields.Boolean()
    layer = fields.Integer(required=True, validate=validate.Range(min=1))


class OrgUnitMovedData(OrgUnitData):
    previous_parent_id = _id(required=True, allow_none=True)


class ManagerData(EventData):
    manager_id = _id(required=True)
    employee_no = fields.String(required=True)
    name = fields.String(required=True)
    email = fields.String()
    language = fields.String()
    org_unit_id = _id(required=True)
    layer = fields.Integer()
    category = fields.String()
    position = fields.String(required=True)
    management_level = fields.String()
    employment_status = fields.String()
    departure_reason = fields.String(allow_none=True)


class DocumentData(EventData):
    document_id = _id(required=True)
    kind = fields.String(required=True)
    year = fields.Integer(allow_none=True)
    signed = fields.Boolean()
    targets = fields.List(fields.Dict())


class ContractData(EventData):
    """The facts of a tenure contract, as every contract.* event carries them."""

    contract_id = _id(required=True)
    manager_id = _id(required=True)
    state = fields.String(required=True)
    start_date = fields.Date(required=True)
    end_date = fields.Date(required=True)
    term_years = fields.Integer()
    term_number = fields.Integer()
    version = fields.Integer()
    position = fields.String()
    management_level = fields.String()
    org_unit_id = _id()
    org_unit_name = fields.String()
    enterprise_id = _id(allow_none=True)
    layer = fields.Integer()
    category = fields.String()
    employee_no = fields.String()
    manager_name = fields.String()
    manager_email = fields.String(allow_none=True)
    manager_language = fields.String(allow_none=True)
    signatory = fields.Dict(allow_none=True)
    signing_deadline = fields.Date(allow_none=True)
    documents = fields.List(fields.Nested(DocumentData))


class ContractTerminatedData(ContractData):
    reason = fields.String(required=True)
    previous_state = fields.String()
    action = fields.String()


class ContractAmendedData(ContractData):
    reason = fields.String(required=True)
    approved_by = fields.String(required=True)
    documents_to_sign = fields.List(fields.Dict(), metadata={
        "description": "documents whose amended targets both sides sign again; the targets "
                       "signed before stay in force until they have"})


class ContractExpiringData(ContractData):
    days_left = fields.Integer(required=True, validate=validate.OneOf([90, 30, 7]),
                               metadata={"description": "The reminder threshold reached"})
    days_remaining = fields.Integer()


class ContractRenewedData(ContractData):
    successor_contract_id = _id(required=True)


class ContractReinstatedData(ContractData):
    """A contract active again because the exit that terminated it was cancelled."""

    reason = fields.String(required=True)
    exit_decision_id = _id(required=True)
    appraisal_id = _id(allow_none=True)
    reinstated_by = fields.String()
    reinstated_at = fields.String()
    terminated_at = fields.String(allow_none=True)
    cancelled_event_id = fields.String()
    confirmed_event_id = fields.String(allow_none=True)


class TargetsSetData(ContractData):
    """contract.* facts plus the performance contract document whose targets were set."""

    document_id = _id(required=True)
    kind = fields.String(required=True)
    year = fields.Integer(allow_none=True)
    signed = fields.Boolean()
    targets = fields.List(fields.Dict(), required=True)
    locked = fields.Boolean()
    amendment_version = fields.Integer(allow_none=True, metadata={
        "description": "set when an amendment signed by both sides replaced the targets"})


class SignatureRecordedData(ContractData):
    """contract.* facts plus one party's signature of one document."""

    document_id = _id(required=True)
    document_kind = fields.String(required=True)
    year = fields.Integer(allow_none=True)
    amendment_version = fields.Integer(allow_none=True)
    party = fields.String(required=True, validate=validate.OneOf(["manager", "employer"]))
    method = fields.String(required=True, validate=validate.OneOf(["electronic", "paper"]))
    signed_by = fields.String(allow_none=True, metadata={
        "description": "subject of the signer's token (electronic only)"})
    person_manager_id = _id(allow_none=True)
    on_behalf_of = fields.String(required=True)
    signed_at = fields.DateTime(required=True)
    paper_signed_on = fields.Date(allow_none=True)
    paper_reference = fields.String(allow_none=True)
    recorded_by = fields.String(allow_none=True, metadata={
        "description": "the HR user who recorded a paper signature"})
    document_state = fields.String(
        validate=validate.OneOf(["awaiting_manager", "awaiting_employer", "in_force"]))
    countersigner = fields.String()


class CountersignatureRequestedData(ContractData):
    """contract.* facts, the documents the manager signed, and who countersigns them."""

    countersigner = fields.String(required=True)
    signatory_manager_id = _id(allow_none=True, metadata={
        "description": "the manager who countersigns, where a manager holds the post"})
    signatory_manager_ids = fields.List(fields.String())
    signatory_name = fields.String(allow_none=True)


# -- hr.appraisals ----------------------------------------------------------------------------


class AppraisalData(EventData):
    appraisal_id = _id(required=True)
    manager_id = _id(required=True)
    year = fields.Integer()
    contract_id = _id(allow_none=True)
    kind = fields.String()
    state = fields.String()


class ActualsDueData(AppraisalData):
    due_date = fields.Date()


class AppraisalScoredData(AppraisalData):
    score = _decimal(required=True)
    grade = fields.String(allow_none=True)


class AppraisalPublishedData(AppraisalData):
    score = _decimal(allow_none=True)
    grade = fields.String(required=True)


class AppraisalAppealedData(AppraisalData):
    reason = fields.String()


class ExitTriggeredData(EventData):
    manager_id = _id(required=True)
    trigger = fields.String(required=True)
    reason = fields.String()
    appraisal_id = _id(allow_none=True)
    contract_id = _id(allow_none=True)
    year = fields.Integer(allow_none=True)
    exit_decision_id = _id()
    exit_state = fields.String(metadata={"description": "pending when triggered"})
    appeal_deadline = fields.Date(metadata={
        "description": "the last calendar day (in appeal_window_zone) to appeal in time"})
    appeal_closes_at = fields.String(metadata={"description": "ISO instant the window closes"})
    appeal_window_days = fields.Integer()
    appeal_window_zone = fields.String()


class ExitSettledData(ExitTriggeredData):
    """What an exit decision's confirmation or cancellation always names."""

    exit_decision_id = _id(required=True)
    appraisal_id = _id(required=True)
    because = fields.String(required=True)


class ExitConfirmedData(ExitSettledData):
    because = fields.String(required=True, validate=validate.OneOf(
        ["window_closed", "appeal_rejected", "appeal_upheld_still_exits"]))
    confirmed_at = fields.String()
    confirmed_by = fields.String()


class ExitCancelledData(ExitSettledData):
    appeal_id = _id(allow_none=True)
    contract_terminated = fields.Boolean(required=True, metadata={
        "description": "true: the exit had terminated the contract; reinstate it"})
    confirmed_event_id = fields.String(allow_none=True)
    cancelled_at = fields.String()
    cancelled_by = fields.String()


class TenureConcludedData(EventData):
    manager_id = _id(required=True)
    contract_id = _id(allow_none=True)
    outcome = fields.String(required=True)
    appraisal_id = _id(allow_none=True)


class SelfReportSubmittedData(AppraisalData):
    revision = fields.Integer(required=True, validate=validate.Range(min=1))
    actuals = fields.String(required=True, validate=validate.OneOf(["confirmed", "disputed"]))
    channel = fields.String(required=True, validate=validate.OneOf(["manager", "paper"]))
    due_date = fields.Date(allow_none=True)
    disputed_indicator = fields.String(allow_none=True)
    dispute_reason = fields.String(allow_none=True)


class SelfReportDueData(AppraisalData):
    due_date = fields.Date(required=True)
    days_left = fields.Integer(required=True, validate=validate.Range(min=0))
    reminder_days = fields.Integer()


# -- hr.notices -------------------------------------------------------------------------------


class NoticeGivenUpData(EventData):
    notice_id = _id(required=True)
    manager_id = _id(allow_none=True)
    channel = fields.String()
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    event_id = fields.String(allow_none=True)
    event_type = fields.String(allow_none=True)


# -- the registry -----------------------------------------------------------------------------

# event type -> {version: schema}. Every catalogue type has a schema at its current version.
DATA_SCHEMAS: dict[str, dict[int, type[EventData]]] = {
    "org_unit.created": {1: OrgUnitData},
    "org_unit.moved": {1: OrgUnitMovedData},
    "manager.registered": {1: ManagerData},
    "manager.updated": {1: ManagerData},
    "contract.drafted": {1: ContractData},
    "contract.issued": {1: ContractData},
    "contract.signed": {1: ContractData},
    "contract.amended": {1: ContractAmendedData},
    "contract.terminated": {1: ContractTerminatedData},
    "contract.expiring": {1: ContractExpiringData},
    "contract.expired": {1: ContractData},
    "contract.renewed": {1: ContractRenewedData},
    "targets.set": {1: TargetsSetData},
    "contract.signature_recorded": {1: SignatureRecordedData},
    "contract.countersignature_requested": {1: CountersignatureRequestedData},
    "contract.reinstated": {1: ContractReinstatedData},
    "appraisal.opened": {1: AppraisalData},
    "actuals.due": {1: ActualsDueData},
    "appraisal.scored": {1: AppraisalScoredData},
    "appraisal.published": {1: AppraisalPublishedData},
    "appraisal.appealed": {1: AppraisalAppealedData},
    "exit.triggered": {1: ExitTriggeredData},
    "tenure.concluded": {1: TenureConcludedData},
    "self_report.submitted": {1: SelfReportSubmittedData},
    "self_report.due": {1: SelfReportDueData},
    "exit.confirmed": {1: ExitConfirmedData},
    "exit.cancelled": {1: ExitCancelledData},
    "notice.given_up": {1: NoticeGivenUpData},
}

_INSTANCES: dict[tuple[str, int], EventData] = {}


def schema_for(event_type: str, version: int | None = None) -> EventData:
    """The data schema of a type at a version (default: the catalogue's current one)."""
    spec = CATALOGUE.get(event_type)
    versions = DATA_SCHEMAS.get(event_type)
    if spec is None or versions is None:
        raise UnknownEventType(f"unknown event type {event_type!r}")
    version = spec.version if version is None else version
    if version not in versions:
        raise UnknownEventType(f"{event_type} has no schema version {version} "
                               f"(known: {sorted(versions)})")
    key = (event_type, version)
    if key not in _INSTANCES:
        _INSTANCES[key] = versions[version]()
    return _INSTANCES[key]


def validate_data(event_type: str, data: Any, version: int | None = None) -> None:
    """Raise InvalidEventData unless `data` matches the type's schema at `version`."""
    schema = schema_for(event_type, version)
    if not isinstance(data, dict):
        raise InvalidEventData(event_type, version or 1, {"_schema": ["data must be an object"]})
    if accepts(schema, data):  # the plain, valid case, without marshmallow's machinery
        return
    errors = schema.validate(data)
    if errors:
        raise InvalidEventData(event_type, version or CATALOGUE[event_type].version, errors)


def validate_event(envelope: dict[str, Any]) -> None:
    """Check a decoded envelope against the catalogue and its data schema.

    Raises UnknownEventType (type not in the catalogue, or a schema version we do not
    know), InvalidEventData (data does not match), or MalformedEvent (no type at all).
    """
    event_type = envelope.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise MalformedEvent("the envelope has no type")
    validate_data(event_type, envelope.get("data", {}), schema_version(envelope))
