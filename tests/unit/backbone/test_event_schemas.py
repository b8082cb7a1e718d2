"""Envelope decoding, the catalogue's data schemas and event validation (no I/O)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from shared.events.catalogue import CATALOGUE, TOPICS, topic_for
from shared.events.envelope import (
    MalformedEvent,
    decode_envelope,
    encode_envelope,
    make_event,
    schema_version,
)
from shared.events.schemas import (
    DATA_SCHEMAS,
    EventRejected,
    InvalidEventData,
    UnknownEventType,
    schema_for,
    validate_event,
)


def _id() -> str:
    return str(uuid.uuid4())


M, C, U, A, D = _id(), _id(), _id(), _id(), _id()
CONTRACT = {"contract_id": C, "manager_id": M, "state": "active",
            "start_date": "2025-01-01", "end_date": "2027-12-31"}
UNIT = {"org_unit_id": U, "parent_id": None, "code": "G1", "layer": 1}
MANAGER = {"manager_id": M, "employee_no": "E001", "name": "Li Wei", "org_unit_id": U,
           "position": "general_manager"}
APPRAISAL = {"appraisal_id": A, "manager_id": M, "year": 2025}

# One valid `data` per event type, as its producer sends it.
SAMPLES: dict[str, dict[str, Any]] = {
    "org_unit.created": UNIT,
    "org_unit.moved": {**UNIT, "parent_id": _id(), "layer": 2, "previous_parent_id": _id()},
    "manager.registered": MANAGER,
    "manager.updated": {**MANAGER, "employment_status": "departed"},
    "contract.drafted": CONTRACT,
    "contract.issued": {**CONTRACT, "state": "issued", "signing_deadline": "2025-01-15"},
    "contract.signed": {**CONTRACT, "documents": [
        {"document_id": D, "kind": "annual_performance", "year": 2025, "signed": True,
         "targets": [{"indicator": "profit", "weight": "40.00"}]}]},
    "contract.amended": {**CONTRACT, "reason": "board decision", "approved_by": "hr-1"},
    "contract.terminated": {**CONTRACT, "state": "terminated", "reason": "resigned"},
    "contract.expiring": {**CONTRACT, "days_left": 30, "days_remaining": 29},
    "contract.expired": {**CONTRACT, "state": "expired"},
    "contract.renewed": {**CONTRACT, "successor_contract_id": _id()},
    "contract.reinstated": {**CONTRACT, "reason": "exit cancelled by an upheld appeal",
                            "exit_decision_id": _id(), "cancelled_event_id": _id()},
    "targets.set": {**CONTRACT, "document_id": D, "kind": "annual_performance", "year": 2026,
                    "targets": [], "locked": False},
    "contract.signature_recorded": {
        **CONTRACT, "state": "pending_signature", "document_id": D,
        "document_kind": "appointment_agreement", "year": None, "amendment_version": None,
        "party": "manager", "method": "paper", "signed_by": None, "person_manager_id": M,
        "on_behalf_of": "Li Wei (E001), the manager", "signed_at": "2026-01-05T09:30:00+00:00",
        "paper_signed_on": "2026-01-04", "paper_reference": "HR-2026-0042",
        "recorded_by": "hr-1", "document_state": "awaiting_employer"},
    "contract.countersignature_requested": {
        **CONTRACT, "state": "pending_signature", "countersigner": "the chair of Energy Co.",
        "signatory_manager_id": _id(), "signatory_name": "Zhao Min"},
    "appraisal.opened": APPRAISAL,
    "actuals.due": {**APPRAISAL, "due_date": "2026-01-31"},
    "appraisal.scored": {**APPRAISAL, "score": "87.50", "grade": "good"},
    "appraisal.published": {**APPRAISAL, "score": "87.50", "grade": "good"},
    "appraisal.appealed": {**APPRAISAL, "reason": "target misread"},
    "exit.triggered": {"manager_id": M, "trigger": "two_years_basic_competent"},
    "tenure.concluded": {"manager_id": M, "contract_id": C, "outcome": "renew"},
    "self_report.submitted": {**APPRAISAL, "revision": 1, "actuals": "disputed",
                              "channel": "manager", "disputed_indicator": "PROFIT",
                              "dispute_reason": "audited figure is higher"},
    "self_report.due": {**APPRAISAL, "due_date": "2026-01-20", "days_left": 7},
    "exit.confirmed": {"manager_id": M, "trigger": "grade_not_competent",
                       "exit_decision_id": _id(), "appraisal_id": _id(),
                       "because": "window_closed", "appeal_deadline": "2027-03-18"},
    "exit.cancelled": {"manager_id": M, "trigger": "grade_not_competent",
                       "exit_decision_id": _id(), "appraisal_id": _id(),
                       "because": "appeal_upheld_passes", "contract_terminated": False},
    "notice.given_up": {"notice_id": _id(), "manager_id": M, "channel": "email",
                        "attempts": 8},
}


def _envelope(event_type: str, data: dict[str, Any], version: int = 1) -> dict[str, Any]:
    return make_event(event_type, "/tenure/contracts", M, data, version=version)


def test_every_catalogue_type_has_a_schema_at_its_current_version_and_a_sample() -> None:
    assert set(DATA_SCHEMAS) == set(CATALOGUE) == set(SAMPLES)
    for event_type, spec in CATALOGUE.items():
        assert spec.version in DATA_SCHEMAS[event_type]
        assert spec.topic in TOPICS


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_each_event_type_accepts_the_data_its_producer_sends(event_type: str) -> None:
    envelope = decode_envelope(encode_envelope(_envelope(event_type, SAMPLES[event_type])))
    validate_event(envelope)


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_each_event_type_rejects_data_missing_a_required_key(event_type: str) -> None:
    schema = schema_for(event_type)
    required = sorted(name for name, field in schema.fields.items() if field.required)
    assert required, f"{event_type} declares no required key"
    data = {k: v for k, v in SAMPLES[event_type].items() if k != required[0]}
    with pytest.raises(InvalidEventData) as caught:
        validate_event(_envelope(event_type, data))
    assert required[0] in caught.value.errors


def test_keys_a_producer_adds_are_accepted_without_a_new_version() -> None:
    validate_event(_envelope("contract.signed", {**CONTRACT, "board_resolution": "2025-07"}))


def test_unknown_event_type_is_rejected_as_unknown() -> None:
    with pytest.raises(UnknownEventType, match=r"contract\.vanished"):
        validate_event(_envelope("contract.vanished", CONTRACT))


def test_a_schema_version_nobody_knows_is_rejected_as_unknown() -> None:
    envelope = _envelope("contract.signed", CONTRACT, version=7)
    assert schema_version(envelope) == 7
    with pytest.raises(UnknownEventType, match="version 7"):
        validate_event(envelope)


def test_rejections_share_one_base_class_the_consumer_dead_letters() -> None:
    assert issubclass(UnknownEventType, EventRejected)
    assert issubclass(InvalidEventData, EventRejected)


@pytest.mark.parametrize("days_left", [90, 30, 7])
def test_expiring_reminder_at_90_30_or_7_days_is_valid(days_left: int) -> None:
    validate_event(_envelope("contract.expiring", {**CONTRACT, "days_left": days_left}))


@pytest.mark.parametrize("days_left", [0, 8, 31, 60, 91])
def test_expiring_reminder_at_any_other_day_count_is_invalid(days_left: int) -> None:
    with pytest.raises(InvalidEventData) as caught:
        validate_event(_envelope("contract.expiring", {**CONTRACT, "days_left": days_left}))
    assert "days_left" in caught.value.errors


def test_score_as_decimal_string_is_valid_and_as_words_is_not() -> None:
    validate_event(_envelope("appraisal.scored", {**APPRAISAL, "score": "100.00"}))
    with pytest.raises(InvalidEventData) as caught:
        validate_event(_envelope("appraisal.scored", {**APPRAISAL, "score": "high"}))
    assert "score" in caught.value.errors


def test_ids_must_be_uuids() -> None:
    with pytest.raises(InvalidEventData) as caught:
        validate_event(_envelope("contract.signed", {**CONTRACT, "manager_id": "m-1"}))
    assert "manager_id" in caught.value.errors


def test_envelope_round_trips_through_bytes_with_all_cloudevents_attributes() -> None:
    envelope = _envelope("contract.signed", CONTRACT)
    decoded = decode_envelope(encode_envelope(envelope))
    assert decoded == envelope
    assert decoded["specversion"] == "1.0"
    assert decoded["dataschema"] == "urn:tenure:event:contract.signed:1"
    assert decoded["time"].endswith("Z")
    assert decoded["subject"] == M


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe",
                                 json.dumps({"specversion": "1.0", "id": "x",
                                             "source": "/s"}).encode(),
                                 json.dumps({"specversion": "0.3", "id": "x", "source": "/s",
                                             "type": "contract.signed"}).encode(),
                                 json.dumps({"specversion": "1.0", "id": "x", "source": "/s",
                                             "type": "contract.signed",
                                             "data": [1]}).encode()])
def test_bytes_that_are_not_a_cloudevents_envelope_are_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedEvent):
        decode_envelope(raw)


def test_every_event_type_maps_to_its_services_topic() -> None:
    assert topic_for("contract.signed") == "hr.contracts"
    assert topic_for("appraisal.published") == "hr.appraisals"
    assert topic_for("notice.given_up") == "hr.notices"
    with pytest.raises(KeyError):
        topic_for("nothing.happened")
