"""Bulk issue tells the truth: each manager issued, skipped or failed; the job done, partial
or failed accordingly; a business refusal leaves no traceback in the log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from services.contracts.schemas import BulkDecisionOut
from tests.support.contracts_world import (
    Client,
    manager,
    small_group,
    template,
    unit,
    wait_for_job,
)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def contracts_log() -> Iterator[_Records]:
    handler = _Records()
    logger = logging.getLogger("tenure.contracts")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def _world(api: Client) -> dict[str, Any]:
    """Two enterprise general managers and one of a department, which no rule signs for."""
    g = small_group(api)
    dept = unit(api, "SUB-A-D1", "department", g["sub_a"]["id"])
    return {
        "template": template(api, layer=None, category=None),
        "a": manager(api, "A001", g["sub_a"]["id"]),
        "third": manager(api, "C001", g["third"]["id"]),
        "dept": manager(api, "D001", dept["id"]),
    }


def _contracts_of(api: Client, manager_id: str) -> list[dict[str, Any]]:
    return api.get(f"/api/v1/contracts?manager_id={manager_id}").get_json()["items"]


def _no_traceback(log: _Records) -> None:
    assert [r.getMessage() for r in log.records if r.exc_info] == []


def test_manager_without_signatory_rule_fails_alone_and_the_job_is_partial(
        api: Client, contracts_log: _Records) -> None:
    w = _world(api)
    job = api.post("/api/v1/bulk-issues", {
        "template_id": w["template"]["id"], "start_date": "2026-01-01",
        "filter": {"position": "general_manager"}}, expect=202).get_json()
    job = wait_for_job(api, job["id"])
    assert job["status"] == "partial", job
    decisions = {x["employee_no"]: x for x in job["decisions"]}
    assert decisions["A001"]["decision"] == "issued" and decisions["A001"]["issued"] is True
    assert decisions["C001"]["decision"] == "issued"
    failed = decisions["D001"]
    assert (failed["decision"], failed["issued"], failed["reason"]) == (
        "failed", False, "signatory_required")
    assert "signatory override" in failed["detail"]
    assert (job["issued"], job["failed"], job["progress"]) == (2, 1, "100.00")
    # Decisions are sent as stored: exactly the documented shape.
    for decision in job["decisions"]:
        assert list(decision) == list(BulkDecisionOut().fields)
    assert job["error"] is None
    assert [c["state"] for c in _contracts_of(api, w["a"]["id"])] == ["pending_signature"]
    assert _contracts_of(api, w["dept"]["id"]) == []
    _no_traceback(contracts_log)


def test_all_or_nothing_issues_nobody_when_one_manager_fails(
        api: Client, contracts_log: _Records) -> None:
    w = _world(api)
    job = api.post("/api/v1/bulk-issues", {
        "template_id": w["template"]["id"], "start_date": "2026-01-01",
        "filter": {"position": "general_manager"}, "all_or_nothing": True},
        expect=202).get_json()
    job = wait_for_job(api, job["id"])
    assert (job["status"], job["issued"], job["failed"], job["all_or_nothing"]) == (
        "failed", 0, 1, True)
    decisions = {x["employee_no"]: (x["decision"], x["reason"]) for x in job["decisions"]}
    assert decisions == {"A001": ("skipped", "all_or_nothing"),
                         "C001": ("skipped", "all_or_nothing"),
                         "D001": ("failed", "signatory_required")}
    for m in (w["a"], w["third"], w["dept"]):
        assert _contracts_of(api, m["id"]) == []
    _no_traceback(contracts_log)


def test_all_or_nothing_issues_everyone_when_nobody_fails(api: Client) -> None:
    w = _world(api)
    job = api.post("/api/v1/bulk-issues", {
        "template_id": w["template"]["id"], "start_date": "2026-01-01",
        "filter": {"org_unit_id": w["a"]["org_unit_id"], "layer": 2},
        "all_or_nothing": True}, expect=202).get_json()
    job = wait_for_job(api, job["id"])
    assert (job["status"], job["issued"], job["failed"]) == ("done", 1, 0)
    assert [x["decision"] for x in job["decisions"]] == ["issued"]


def test_a_progress_poll_can_leave_the_decisions_out(api: Client) -> None:
    """A job for 100,000 managers holds ~15 MB of decisions; polling its progress needs none."""
    w = _world(api)
    job = api.post("/api/v1/bulk-issues", {
        "template_id": w["template"]["id"], "start_date": "2026-01-01",
        "filter": {"org_unit_id": w["a"]["org_unit_id"], "layer": 2}}, expect=202).get_json()
    full = wait_for_job(api, job["id"])
    brief = api.get(f"/api/v1/bulk-issues/{job['id']}?decisions=false").get_json()
    assert "decisions" not in brief
    assert brief == {k: v for k, v in full.items() if k != "decisions"}
    assert [x["decision"] for x in full["decisions"]] == ["issued"]
    again = api.get(f"/api/v1/bulk-issues/{job['id']}?decisions=true").get_json()
    assert again["decisions"] == full["decisions"]
    refused = api.get(f"/api/v1/bulk-issues/{job['id']}?decisions=maybe", expect=422)
    assert "decisions" in refused.get_json()["errors"]


def test_an_unexpected_error_fails_the_job_logs_its_traceback_and_keeps_issued_chunks(
        api: Client, contracts_log: _Records, monkeypatch: pytest.MonkeyPatch) -> None:
    from services.contracts.service import bulk

    w = _world(api)
    real_chunk = bulk._issue_chunk
    calls: list[int] = []

    def second_chunk_breaks(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        real_chunk(*args, **kwargs)

    monkeypatch.setattr(bulk, "BULK_CHUNK", 1)
    monkeypatch.setattr(bulk, "_issue_chunk", second_chunk_breaks)
    job = api.post("/api/v1/bulk-issues", {
        "template_id": w["template"]["id"], "start_date": "2026-01-01",
        "filter": {"position": "general_manager"}}, expect=202).get_json()
    job = wait_for_job(api, job["id"])
    assert job["status"] == "failed" and "disk full" in job["error"]
    outcomes = sorted((x["decision"], x["reason"]) for x in job["decisions"])
    assert outcomes == [("failed", "error"), ("failed", "signatory_required"),
                        ("issued", None)]
    assert job["issued"] == 1
    assert [r.getMessage() for r in contracts_log.records if r.exc_info] == [
        "bulk issue failed"]


def test_unknown_field_of_a_bulk_issue_is_refused_with_its_name(api: Client) -> None:
    w = _world(api)
    body = api.post("/api/v1/bulk-issues", {
        "template_id": w["template"]["id"], "start_date": "2026-01-01",
        "all_or_nothin": True}, expect=422).get_json()
    assert "all_or_nothin" in body["errors"]
