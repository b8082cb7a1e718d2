"""Bulk import of org units and managers over HTTP, on SQLite and on PostgreSQL."""

from __future__ import annotations

import io
import json
from typing import Any

from sqlalchemy import func, select

from services.contracts.models import Manager, OrgUnit, outbox
from tests.conftest import auth
from tests.support.contracts_world import Client
from tests.support.statements import sent_statements

UNITS_CSV = """code,name,kind,category,has_board,parent_code
E1,Enterprise one,enterprise,commercial_competitive,true,HQ
D1,Department of E1,department,commercial_competitive,,E1
HQ,Group HQ,group,public_welfare,,
E2,Enterprise two,enterprise,commercial_special_function,false,HQ
"""


def counts(app: Any) -> tuple[int, int, dict[str, int]]:
    with app.extensions["tenure_db"].engine.connect() as conn:
        units = conn.scalar(select(func.count()).select_from(OrgUnit.__table__))
        managers = conn.scalar(select(func.count()).select_from(Manager.__table__))
        events = dict(conn.execute(select(outbox.c.event_type, func.count())
                                   .group_by(outbox.c.event_type)).all())
    return units, managers, events


def post_csv(api: Client, path: str, text: str, expect: int = 200, **kw: Any) -> Any:
    return api.call("POST", path, expect, data=text.encode(), content_type="text/csv", **kw)


def load_units(api: Client) -> dict[str, Any]:
    return post_csv(api, "/api/v1/org-units/bulk", UNITS_CSV).get_json()


def units_by_code(api: Client) -> dict[str, dict[str, Any]]:
    items = api.get("/api/v1/org-units?page_size=100").get_json()["items"]
    return {u["code"]: u for u in items}


def test_units_csv_with_parents_defined_later_is_loaded_in_parent_order_with_events(
        api: Client, app: Any) -> None:
    outcome = load_units(api)
    assert outcome == {"accepted": 4, "created": 4, "unchanged": 0, "rejected": 0,
                       "dry_run": False, "errors": []}
    units = units_by_code(api)
    assert units["E1"]["parent_id"] == units["HQ"]["id"]
    assert units["D1"]["parent_id"] == units["E1"]["id"]
    assert [units[c]["layer"] for c in ("HQ", "E1", "D1", "E2")] == [1, 2, 3, 2]
    assert units["E1"]["has_board"] is True
    assert counts(app) == (4, 0, {"org_unit.created": 4})


def test_resending_the_same_units_file_creates_nothing_new(api: Client, app: Any) -> None:
    load_units(api)
    again = load_units(api)
    assert (again["created"], again["unchanged"], again["rejected"]) == (0, 4, 0)
    assert counts(app) == (4, 0, {"org_unit.created": 4})


def test_a_bad_unit_row_in_the_middle_is_reported_by_row_and_field_and_the_rest_kept(
        api: Client, app: Any) -> None:
    rows = [
        {"code": "HQ", "name": "Group", "kind": "group", "category": "public_welfare"},
        {"code": "E1", "name": "One", "kind": "enterprise",
         "category": "commercial_competitive", "parent_code": "HQ"},
        {"code": "bad code!", "name": "", "kind": "castle",
         "category": "commercial_competitive", "parent_code": "HQ"},
        {"code": "E9", "name": "Orphan", "kind": "enterprise",
         "category": "commercial_competitive", "parent_code": "NOWHERE"},
        {"code": "D1", "name": "Dept", "kind": "department",
         "category": "commercial_competitive", "parent_code": "E9"},
        {"code": "E2", "name": "Two", "kind": "enterprise",
         "category": "commercial_competitive", "parent_code": "HQ"},
    ]
    outcome = api.post("/api/v1/org-units/bulk", rows, expect=200).get_json()
    assert (outcome["created"], outcome["rejected"]) == (3, 3)
    faults = {(e["row"], e["field"]) for e in outcome["errors"]}
    assert {(3, "code"), (3, "name"), (3, "kind"), (4, "parent_code"),
            (5, "parent_code")} <= faults
    assert not any(e["row"] in (1, 2, 6) for e in outcome["errors"])
    assert "rejected (row 4)" in next(e["message"] for e in outcome["errors"]
                                      if e["row"] == 5)
    assert sorted(units_by_code(api)) == ["E1", "E2", "HQ"]
    assert counts(app)[2] == {"org_unit.created": 3}


def test_dry_run_reports_what_would_be_created_and_keeps_nothing(api: Client, app: Any) -> None:
    outcome = post_csv(api, "/api/v1/org-units/bulk?dry_run=true", UNITS_CSV).get_json()
    assert (outcome["created"], outcome["dry_run"]) == (4, True)
    assert counts(app) == (0, 0, {})


def test_managers_csv_upload_registers_each_once_and_matches_on_employee_no(
        api: Client, app: Any) -> None:
    load_units(api)
    text = ("employee_no,name,email,org_unit_code,position,language\n"
            "M1,Li Wei,li@example.com,E1,general_manager,zh\n"
            "M2,Wang Fang,not-an-email,E1,chair,en\n"
            "M3,Zhang Min,zhang@example.com,D1,middle_manager,\n"
            "M4,Chen Jie,chen@example.com,NOPE,general_manager,zh\n"
            "M1,Li Wei again,li2@example.com,E1,general_manager,zh\n")
    upload = {"file": (io.BytesIO(text.encode()), "people.csv")}
    outcome = api.call("POST", "/api/v1/managers/bulk", 200, data=upload,
                       content_type="multipart/form-data").get_json()
    assert (outcome["created"], outcome["rejected"]) == (2, 3)
    assert {(e["row"], e["field"]) for e in outcome["errors"]} == {
        (3, "email"), (5, "org_unit_code"), (6, "employee_no")}
    listed = api.get("/api/v1/managers?page_size=100").get_json()["items"]
    assert sorted(m["employee_no"] for m in listed) == ["M1", "M3"]
    m3 = next(m for m in listed if m["employee_no"] == "M3")
    assert (m3["layer"], m3["language"]) == (3, "zh")
    assert counts(app)[2]["manager.registered"] == 2

    again = api.post("/api/v1/managers/bulk", [
        {"employee_no": "M1", "name": "Li Wei", "email": "li@example.com",
         "org_unit_code": "E1", "position": "general_manager"}], expect=200).get_json()
    assert (again["created"], again["unchanged"]) == (0, 1)
    assert counts(app)[1] == 2


def test_idempotency_key_replays_the_first_outcome_for_the_same_upload(
        api: Client, app: Any) -> None:
    headers = {"Idempotency-Key": "units-2026-01"}
    first = post_csv(api, "/api/v1/org-units/bulk", UNITS_CSV, headers=headers).get_json()
    second = post_csv(api, "/api/v1/org-units/bulk", UNITS_CSV, headers=headers).get_json()
    assert first == second and first["created"] == 4
    assert counts(app)[0] == 4
    changed = UNITS_CSV + "E3,Three,enterprise,commercial_competitive,,HQ\n"
    post_csv(api, "/api/v1/org-units/bulk", changed, expect=422, headers=headers)


def test_whole_file_faults_are_problems_and_change_nothing(api: Client, app: Any) -> None:
    resp = post_csv(api, "/api/v1/org-units/bulk", "code,name,colour\nX,Y,red\n", expect=422)
    assert resp.mimetype == "application/problem+json"
    assert "file" in resp.get_json()["errors"]
    api.call("POST", "/api/v1/org-units/bulk", 415, data=b"\xff\xfe", content_type="text/csv")
    api.call("POST", "/api/v1/managers/bulk", 400, data=json.dumps({"rows": 1}),
             content_type="application/json")
    api.as_(auth("manager", manager_id="m")).call(
        "POST", "/api/v1/org-units/bulk", 403, data=UNITS_CSV, content_type="text/csv")
    assert counts(app) == (0, 0, {})


def test_a_scoped_hr_admin_loads_only_inside_their_subtree(api: Client, app: Any) -> None:
    load_units(api)
    e1 = units_by_code(api)["E1"]["id"]
    scoped = api.as_(auth("hr_admin", org_scope=e1))
    outcome = scoped.post("/api/v1/org-units/bulk", [
        {"code": "D2", "name": "Inside", "kind": "department",
         "category": "commercial_competitive", "parent_code": "E1"},
        {"code": "D3", "name": "Outside", "kind": "department",
         "category": "commercial_competitive", "parent_code": "E2"},
        {"code": "G2", "name": "Second root", "kind": "group", "category": "public_welfare"},
    ], expect=200).get_json()
    assert outcome["created"] == 1
    assert {(e["row"], e["field"]) for e in outcome["errors"]} == {
        (2, "parent_code"), (3, "parent_code")}


def test_a_managers_file_looks_up_stored_employee_numbers_in_one_statement(
        pg_api: Client, pg_app: Any) -> None:
    """One statement for the whole file, the numbers as one array: never a list of values
    the server may compare each stored row with in turn (docs/scale-bulk-issue.md)."""
    load_units(pg_api)
    people = [{"employee_no": f"M{n:05d}", "name": f"Manager {n}",
               "email": f"m{n}@example.com", "org_unit_code": "E1",
               "position": "middle_manager"} for n in range(2500)]
    first = pg_api.post("/api/v1/managers/bulk", people[:1200], expect=200).get_json()
    assert first["created"] == 1200
    with sent_statements(pg_app.extensions["tenure_db"].engine) as sent:
        outcome = pg_api.post("/api/v1/managers/bulk", people, expect=200).get_json()
    assert (outcome["created"], outcome["unchanged"], outcome["rejected"]) == (1300, 1200, 0)
    lookups = [s for s in sent if s.startswith("SELECT managers.employee_no")]
    assert len(lookups) == 1 and "unnest" in lookups[0]
    assert counts(pg_app)[1] == 2500
