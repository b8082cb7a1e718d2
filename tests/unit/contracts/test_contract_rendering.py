"""The contract renderer of the hottest reads and the shared timestamp field: pure functions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import orjson

from services.contracts import reads
from shared.fields import UtcDateTime

BEIJING = timezone(timedelta(hours=8))


def row(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "c1", "manager_id": "m1", "org_unit_id": "u1", "position": "general_manager",
        "start_date": date(2026, 1, 1), "end_date": date(2028, 12, 31), "term_years": 3,
        "term_number": 1, "max_consecutive_terms": 2, "state": "active", "version": 1,
        "signatory": '{"kind": "board", "description": "The chair signs"}',
        "template_id": None, "previous_contract_id": None, "issued_on": date(2026, 1, 2),
        "signing_deadline": None, "signed_at": datetime(2026, 1, 5, 9, 30, tzinfo=BEIJING),
        "signed_by": "Li", "ended_at": None, "end_reason": None,
        "appraisable": '{"annual": true, "tenure": true, "reasons": []}', "row_version": 4,
        "signatures": "[]",
        "employee_no": "E1", "manager_name": "张三", "unit_path": "/u1/", "layer": 2,
        "category": "public_welfare",
        "doc_id": "d1", "doc_kind": "appointment_agreement", "doc_year": 0,
        "doc_signed_at": datetime(2026, 1, 5, 1, 30), "doc_targets": "[]",
        "doc_row_version": 1, "doc_signing_state": "in_force", "doc_amendment_version": None,
        "doc_amendment_state": None, "doc_amended_targets": None,
    }
    base.update(overrides)
    return base


def test_timestamps_leave_in_utc_whatever_zone_the_database_answered_in() -> None:
    body = reads.contract_body(row())
    assert body["signed_at"] == "2026-01-05T01:30:00+00:00"
    # SQLite answers without a zone: the value is UTC already.
    assert reads.document_body(row())["signed_at"] == "2026-01-05T01:30:00+00:00"
    field = UtcDateTime()
    assert field.serialize("t", {"t": datetime(2026, 1, 5, 9, 30, tzinfo=BEIJING)}) \
        == "2026-01-05T01:30:00+00:00"
    assert field.serialize("t", {"t": datetime(2026, 1, 5, 1, 30)}) \
        == "2026-01-05T01:30:00+00:00"


def test_dates_are_iso_and_missing_ones_stay_null() -> None:
    body = reads.contract_body(row())
    assert body["start_date"] == "2026-01-01" and body["signing_deadline"] is None


def test_term_wide_documents_have_no_year_and_annual_ones_keep_theirs() -> None:
    assert reads.document_body(row(doc_year=0))["year"] is None
    assert reads.document_body(row(doc_year=2027))["year"] == 2027


def test_stored_json_is_sent_as_stored_and_sql_null_as_null() -> None:
    targets = '[{"indicator_code": "PROFIT", "weight": "60.00"}]'
    doc = reads.document_body(row(doc_targets=targets))
    body = reads.contract_body(row(signatory=None), [doc])
    sent = orjson.loads(orjson.dumps(body))
    assert sent["signatory"] is None
    assert sent["documents"][0]["targets"] == [{"indicator_code": "PROFIT", "weight": "60.00"}]
    assert sent["manager_name"] == "张三"
    assert list(sent)[:7] == ["id", "manager_id", "employee_no", "manager_name", "org_unit_id",
                              "layer", "category"]


def test_a_list_item_has_no_documents_key() -> None:
    assert "documents" not in reads.contract_body(row())
    assert reads.contract_body(row(), [])["documents"] == []


def test_utc_field_passes_utc_values_through_unchanged() -> None:
    value = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert UtcDateTime().serialize("t", {"t": value}) == "2026-03-01T12:00:00+00:00"
