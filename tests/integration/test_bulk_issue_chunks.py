"""A bulk issue decides and writes chunk by chunk: a job larger than its chunk ends exactly as
one chunk would have ended it (decisions, contracts, events, audit), all-or-nothing still
holds across chunks, and an error mid-job leaves no chunk half issued and can be issued
again without a second contract for anybody."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from services.contracts.models import TenureContract, audit_log, outbox
from services.contracts.service import bulk
from shared.auth import Principal
from tests.support.contracts_world import Client, manager, small_group, template, unit, wait_for_job
from tests.support.statements import sent_statements

#: Each manager's decision (in employee number order) whatever the chunk.
EXPECTED = [
    ("A001", "issued", None),
    ("A002", "skipped", "template_does_not_match"),
    ("C001", "issued", None),
    ("C002", "issued", None),
    ("C003", "issued", None),
    ("C004", "issued", None),
    ("D001", "failed", "signatory_required"),
]


def _world(api: Client) -> dict[str, Any]:
    """Seven managers below SUB-A: five general managers the template issues to, a deputy it
    does not match, and a department's general manager no rule names a signatory for."""
    g = small_group(api)
    thirds = [g["third"]] + [unit(api, f"SUB-A-{k}", "enterprise", g["sub_a"]["id"])
                             for k in (2, 3, 4)]
    dept = unit(api, "SUB-A-D1", "department", g["sub_a"]["id"])
    people = [manager(api, "A001", g["sub_a"]["id"]),
              manager(api, "A002", g["sub_a"]["id"], position="deputy_general_manager")]
    people += [manager(api, f"C00{k + 1}", t["id"]) for k, t in enumerate(thirds)]
    people.append(manager(api, "D001", dept["id"]))
    return {"template": template(api, layer=None, category=None), "group": g,
            "thirds": thirds, "ids": {p["employee_no"]: p["id"] for p in people}}


def _issue(api: Client, w: dict[str, Any], **extra: Any) -> dict[str, Any]:
    job = api.post("/api/v1/bulk-issues", {
        "template_id": w["template"]["id"], "start_date": "2026-01-01",
        "filter": {"org_unit_id": w["group"]["sub_a"]["id"]}, **extra}, expect=202).get_json()
    return wait_for_job(api, job["id"])


def _written(app: Any) -> dict[str, Any]:
    """What the jobs wrote: contracts by manager, contract.issued events by manager, and
    the audit records of contracts created."""
    db = app.extensions["tenure_db"]
    with db.read() as s:
        contracts = s.execute(select(TenureContract.manager_id, TenureContract.id,
                                     TenureContract.state)).all()
        events = s.execute(select(outbox.c.key).where(
            outbox.c.event_type == "contract.issued")).scalars().all()
        audited = s.execute(select(audit_log.c.object_id).where(
            audit_log.c.object_type == "tenure_contracts",
            audit_log.c.action == "created")).scalars().all()
    return {"contracts": sorted((c.manager_id, c.state) for c in contracts),
            "contract_ids": sorted(c.id for c in contracts),
            "events": sorted(events), "audited": sorted(audited)}


@pytest.mark.parametrize("chunk", [2, 3, 500])
def test_a_job_larger_than_its_chunk_ends_as_one_chunk_would(
        app: Any, api: Client, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(bulk, "BULK_CHUNK", chunk)
    w = _world(api)
    job = _issue(api, w)
    assert [(x["employee_no"], x["decision"], x["reason"]) for x in job["decisions"]] == (
        EXPECTED)
    assert [x["manager_id"] for x in job["decisions"]] == [w["ids"][n] for n, *_ in EXPECTED]
    assert all(x["issued"] is (x["decision"] == "issued") for x in job["decisions"])
    assert (job["status"], job["total"], job["processed"], job["issued"], job["skipped"],
            job["failed"], job["progress"], job["error"]) == (
        "partial", 7, 7, 5, 1, 1, "100.00", None)
    issued = sorted(w["ids"][n] for n, decision, _ in EXPECTED if decision == "issued")
    written = _written(app)
    assert written["contracts"] == [(m, "pending_signature") for m in issued]
    assert written["events"] == issued  # one contract.issued each, keyed by the manager
    assert written["audited"] == written["contract_ids"]  # one record per contract


def test_all_or_nothing_holds_across_chunks_when_the_last_chunk_fails(
        app: Any, api: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """The department's manager, who fails, comes last: the chunks before issue nobody."""
    monkeypatch.setattr(bulk, "BULK_CHUNK", 1)
    w = _world(api)
    job = _issue(api, w, all_or_nothing=True)
    assert [(x["employee_no"], x["decision"], x["reason"]) for x in job["decisions"]] == [
        (n, "failed", r) if d == "failed" else
        (n, "skipped", r if d == "skipped" else "all_or_nothing") for n, d, r in EXPECTED]
    assert (job["status"], job["issued"], job["skipped"], job["failed"]) == (
        "failed", 0, 6, 1)
    assert _written(app) == {"contracts": [], "contract_ids": [], "events": [],
                             "audited": []}


def test_an_error_mid_job_leaves_no_chunk_half_issued_and_issuing_again_completes_it(
        app: Any, api: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "BULK_CHUNK", 2)  # [A001 A002] [C001 C002] [C003 C004] [D001]
    real_chunk = bulk._issue_chunk
    calls: list[int] = []

    def second_chunk_breaks_after_writing(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        real_chunk(*args, **kwargs)  # its rows are written, then the chunk fails
        if len(calls) == 2:
            raise RuntimeError("disk full")

    monkeypatch.setattr(bulk, "_issue_chunk", second_chunk_breaks_after_writing)
    w = _world(api)
    job = _issue(api, w)
    assert job["status"] == "failed" and "disk full" in job["error"]
    assert [(x["employee_no"], x["decision"], x["reason"]) for x in job["decisions"]] == [
        ("A001", "issued", None), ("A002", "skipped", "template_does_not_match"),
        ("C001", "failed", "error"), ("C002", "failed", "error"),
        ("C003", "failed", "error"), ("C004", "failed", "error"),
        ("D001", "failed", "signatory_required")]
    assert (job["issued"], job["skipped"], job["failed"], job["processed"]) == (1, 1, 5, 7)
    written = _written(app)
    a001 = w["ids"]["A001"]
    # The broken chunk wrote nothing that stayed: no contract, event or audit record.
    assert written["contracts"] == [(a001, "pending_signature")]
    assert written["events"] == [a001]
    assert written["audited"] == written["contract_ids"]

    monkeypatch.setattr(bulk, "_issue_chunk", real_chunk)
    again = _issue(api, w)
    assert [(x["employee_no"], x["decision"], x["reason"]) for x in again["decisions"]] == [
        ("A001", "skipped", "overlapping_contract"), *EXPECTED[1:]]
    issued = sorted(w["ids"][n] for n, decision, _ in EXPECTED if decision == "issued")
    written = _written(app)
    assert written["contracts"] == [(m, "pending_signature") for m in issued]
    assert written["events"] == issued
    assert written["audited"] == written["contract_ids"]


def test_each_chunk_costs_the_same_few_statements_whatever_the_job(
        pg_app: Any, pg_api: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk reads its managers and their contracts, writes its rows one statement a
    table, and adds its counts to the job: the same statements for every chunk, none per
    manager."""
    monkeypatch.setattr(bulk, "BULK_CHUNK", 1)
    g = small_group(pg_api)
    crowded = unit(pg_api, "SUB-A-2", "enterprise", g["sub_a"]["id"])
    manager(pg_api, "C001", g["third"]["id"])
    for n in range(3):
        manager(pg_api, f"E00{n}", crowded["id"])
    t = template(pg_api, layer=None, category=None)
    db = pg_app.extensions["tenure_db"]
    hr = Principal("hr-1", frozenset({"hr_admin"}))

    def statements_of(unit_id: str) -> int:
        job = bulk.start_bulk_issue(db, hr, {"template_id": t["id"], "filter": {
            "org_unit_id": unit_id}, "start_date": date(2026, 1, 1)})
        with sent_statements(db.engine) as sent:
            bulk.run_bulk_issue(db, job.id)
        assert db.engine.pool.checkedout() == 0
        return len(sent)

    one = statements_of(g["third"]["id"])
    three = statements_of(crowded["id"])
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(TenureContract)) == 4
    per_chunk = (three - one) / 2
    assert per_chunk == PER_CHUNK, (one, three)


def test_a_chunk_reads_the_units_above_its_departments_in_one_statement(
        pg_app: Any, pg_api: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each contract's event names its enterprise, which for a department's manager sits
    above their unit: each chunk reads the units above its departments in one statement,
    not one a department, and each event names the right enterprise."""
    monkeypatch.setattr(bulk, "BULK_CHUNK", 3)
    g = small_group(pg_api)
    enterprises = [g["third"]] + [unit(pg_api, f"SUB-A-{k}", "enterprise", g["sub_a"]["id"])
                                  for k in (2, 3)]
    departments = [unit(pg_api, f"DEPT-{k}", "department", e["id"])
                   for k, e in enumerate(enterprises)]
    for n in range(6):  # two a department: chunks of three span two departments each
        manager(pg_api, f"M00{n}", departments[n // 2]["id"], position="middle_manager")
    t = template(pg_api, layer=None, category=None, position="middle_manager")
    db = pg_app.extensions["tenure_db"]
    hr = Principal("hr-1", frozenset({"hr_admin"}))
    job = bulk.start_bulk_issue(db, hr, {"template_id": t["id"], "filter": {
        "org_unit_id": g["sub_a"]["id"]}, "start_date": date(2026, 1, 1)})
    with sent_statements(db.engine) as sent:
        bulk.run_bulk_issue(db, job.id)
    assert wait_for_job(pg_api, job.id)["issued"] == 6
    unit_reads = [sql for sql in sent if "FROM org_units" in sql and "managers" not in sql]
    # One unit at a time only for the job: the filter's unit and, once a job, each
    # department's signatory; then one read of many units a chunk.
    assert len([sql for sql in unit_reads if " IN (" not in sql]) == 1 + len(departments)
    assert len([sql for sql in unit_reads if " IN (" in sql]) == 2
    with db.read() as s:
        events = [json.loads(payload)["data"] for payload in s.scalars(
            select(outbox.c.payload).where(outbox.c.event_type == "contract.issued"))]
    assert len(events) == 6
    named = {(e["org_unit_id"], e["enterprise_id"]) for e in events}
    assert named == {(dept["id"], e["id"])
                     for dept, e in zip(departments, enterprises, strict=True)}


#: The chunk's managers, their contracts, the job's counts; then one statement each for the
#: contracts, documents, versions, audit records, events and decisions (`bulk_insert`: one
#: INSERT ... VALUES below `shared.db.COPY_FROM` rows, as with these chunks of one manager;
#: COPY from there on, which the engine does not report). BEGIN and COMMIT are not
#: statements the engine reports.
PER_CHUNK = 9
