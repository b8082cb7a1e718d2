"""The contracts API over real databases: SQLite and the throw-away PostgreSQL server."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import create_engine, func, select

from services.contracts.models import TenureContract, outbox
from tests.conftest import auth
from tests.support.contracts_world import (
    STANDARD_TARGETS,
    Client,
    countersign,
    manager,
    sign_as_manager,
    sign_both_sides,
    small_group,
    template,
    unit,
    wait_for_job,
)


def outbox_types(app: Any) -> list[str]:
    engine = app.extensions["tenure_db"].engine
    with engine.connect() as conn:
        return [r.event_type for r in conn.execute(select(outbox).order_by(outbox.c.id))]


def count_contracts(app: Any) -> int:
    with app.extensions["tenure_db"].engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(TenureContract.__table__))


def draft(api: Client, manager_id: str, template_id: str | None = None,
          start: str = "2026-01-01", expect: int = 201, **extra: Any) -> Any:
    body: dict[str, Any] = {"manager_id": manager_id, "start_date": start, **extra}
    if template_id:
        body["template_id"] = template_id
    return api.post("/api/v1/contracts", body, expect=expect)


# --- auth -------------------------------------------------------------------------------------

def test_unauthenticated_call_gets_401_problem(api: Client) -> None:
    resp = api.as_({}).get("/api/v1/managers", expect=401)
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["status"] == 401
    assert "Bearer" in resp.headers["WWW-Authenticate"]


def test_token_signed_with_another_secret_is_refused(api: Client) -> None:
    from shared.auth import issue_token

    bad = issue_token("not-the-secret", "x", ["hr_admin"])
    api.as_({"Authorization": f"Bearer {bad}"}).get("/api/v1/managers", expect=401)


def test_manager_role_cannot_create(api: Client) -> None:
    resp = api.as_(auth("manager", manager_id="m")).post(
        "/api/v1/org-units", {"code": "X", "name": "X", "kind": "group",
                              "category": "public_welfare"}, expect=403)
    assert resp.mimetype == "application/problem+json"


# --- validation: bad input is refused with the field named and changes nothing --------------

def test_unknown_field_is_refused_with_its_name(api: Client, app: Any) -> None:
    resp = api.post("/api/v1/org-units", {"code": "HQ", "name": "HQ", "kind": "group",
                                          "category": "public_welfare", "colour": "red"},
                    expect=422)
    body = resp.get_json()
    assert resp.mimetype == "application/problem+json"
    assert "colour" in body["errors"]
    assert outbox_types(app) == []


def test_weights_not_summing_to_100_are_refused_and_nothing_is_saved(api: Client) -> None:
    small_group(api)
    bad = [dict(t) for t in STANDARD_TARGETS]
    bad[0]["weight"] = "40.01"
    resp = api.post("/api/v1/templates", {"name": "bad", "targets": bad}, expect=422)
    body = resp.get_json()
    assert "targets" in body["errors"]  # the field as sent
    assert "100.01" in json.dumps(body["errors"])
    assert api.get("/api/v1/templates").get_json() == []


def test_levels_out_of_order_name_the_indicator_line(api: Client) -> None:
    small_group(api)
    bad = [dict(t) for t in STANDARD_TARGETS]
    bad[2] = {**bad[2], "base": "60", "target": "65", "challenge": "70"}  # lower is better
    body = api.post("/api/v1/templates", {"name": "bad", "targets": bad}, expect=422).get_json()
    assert any(k.startswith("targets[2]") for k in body["errors"])


def test_float_scores_are_refused(api: Client) -> None:
    small_group(api)
    bad = [dict(t) for t in STANDARD_TARGETS]
    bad[0]["weight"] = 40.0
    body = api.post("/api/v1/templates", {"name": "bad", "targets": bad}, expect=422).get_json()
    assert any("weight" in k for k in body["errors"])


def test_malformed_json_is_a_400_problem(api: Client) -> None:
    resp = api.call("POST", "/api/v1/org-units", 400, data="{not json",
                    headers={"Content-Type": "application/json"})
    assert resp.mimetype == "application/problem+json"


# --- org tree ---------------------------------------------------------------------------------

def test_layers_follow_the_tree_and_a_move_keeps_history(api: Client) -> None:
    g = small_group(api)
    assert (g["hq"]["layer"], g["sub_a"]["layer"], g["third"]["layer"]) == (1, 2, 3)
    etag = api.get(f"/api/v1/org-units/{g['third']['id']}").headers["ETag"]
    moved = api.post(f"/api/v1/org-units/{g['third']['id']}/move",
                     {"parent_id": g["hq"]["id"]}, expect=200,
                     headers={"If-Match": etag}).get_json()
    assert moved["layer"] == 2
    history = api.get(f"/api/v1/org-units/{g['third']['id']}/history").get_json()
    assert history[-1]["change"] == "moved"
    assert history[-1]["before"]["parent_id"] == g["sub_a"]["id"]
    assert history[-1]["after"]["layer"] == 2


def test_moving_a_unit_under_its_own_descendant_is_refused(api: Client) -> None:
    g = small_group(api)
    etag = api.get(f"/api/v1/org-units/{g['sub_a']['id']}").headers["ETag"]
    resp = api.post(f"/api/v1/org-units/{g['sub_a']['id']}/move",
                    {"parent_id": g["third"]["id"]}, expect=422, headers={"If-Match": etag})
    assert resp.mimetype == "application/problem+json"
    assert api.get(f"/api/v1/org-units/{g['sub_a']['id']}").get_json()["parent_id"] == \
        g["hq"]["id"]


def test_scoped_hr_admin_sees_only_their_subtree(api: Client) -> None:
    g = small_group(api)
    manager(api, "A001", g["sub_a"]["id"])
    manager(api, "B001", g["sub_b"]["id"])
    scoped = api.as_(auth("hr_admin", subject="hr-a", org_scope=g["sub_a"]["id"]))
    seen = [m["employee_no"] for m in scoped.get("/api/v1/managers").get_json()["items"]]
    assert seen == ["A001"]
    scoped.get(f"/api/v1/org-units/{g['sub_b']['id']}", expect=404)
    b_manager = api.get("/api/v1/managers?org_unit_id=" + g["sub_b"]["id"]).get_json()
    scoped.get(f"/api/v1/managers/{b_manager['items'][0]['id']}", expect=404)
    scoped.post("/api/v1/managers", {
        "employee_no": "B002", "name": "x", "email": "x@example.com",
        "org_unit_id": g["sub_b"]["id"], "position": "chair"}, expect=404)


# --- concurrency and idempotency --------------------------------------------------------------

def test_update_without_if_match_is_428_and_stale_etag_is_412(api: Client) -> None:
    g = small_group(api)
    m = manager(api, "A001", g["sub_a"]["id"])
    api.patch(f"/api/v1/managers/{m['id']}", {"name": "New"}, expect=428)
    first = api.get(f"/api/v1/managers/{m['id']}").headers["ETag"]
    api.patch(f"/api/v1/managers/{m['id']}", {"name": "Clerk one"}, expect=200,
              headers={"If-Match": first})
    api.patch(f"/api/v1/managers/{m['id']}", {"name": "Clerk two"}, expect=412,
              headers={"If-Match": first})
    assert api.get(f"/api/v1/managers/{m['id']}").get_json()["name"] == "Clerk one"


def test_idempotency_key_replays_the_first_response(api: Client, app: Any) -> None:
    g = small_group(api)
    body = {"employee_no": "A001", "name": "A", "email": "a@example.com",
            "org_unit_id": g["sub_a"]["id"], "position": "general_manager"}
    key = {"Idempotency-Key": "hr-system-42"}
    first = api.post("/api/v1/managers", body, expect=201, headers=key)
    second = api.post("/api/v1/managers", body, expect=201, headers=key)
    assert second.get_json()["id"] == first.get_json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert outbox_types(app).count("manager.registered") == 1
    api.post("/api/v1/managers", {**body, "name": "Other"}, expect=422, headers=key)


def test_duplicate_employee_number_is_409_naming_the_field(api: Client) -> None:
    g = small_group(api)
    manager(api, "A001", g["sub_a"]["id"])
    body = api.post("/api/v1/managers", {
        "employee_no": "A001", "name": "dup", "email": "d@example.com",
        "org_unit_id": g["sub_a"]["id"], "position": "chair"}, expect=409).get_json()
    assert "employee_no" in body["errors"]


# --- contract life cycle ----------------------------------------------------------------------

def test_contract_life_cycle_records_events_in_the_outbox(api: Client, app: Any) -> None:
    g = small_group(api)
    t = template(api)
    m = manager(api, "A001", g["sub_a"]["id"])
    c = draft(api, m["id"], t["id"]).get_json()
    assert c["state"] == "draft"
    assert c["end_date"] == "2028-12-31"
    kinds = sorted((doc["kind"], doc["year"]) for doc in c["documents"])
    assert kinds == [("annual_performance_contract", 2026), ("annual_performance_contract", 2027),
                     ("annual_performance_contract", 2028), ("appointment_agreement", None),
                     ("tenure_performance_contract", None)]
    # Board enterprise: the chair signs for the board with the general manager.
    assert c["signatory"]["kind"] == "board"
    api.post(f"/api/v1/contracts/{c['id']}/issue", expect=200)
    mgr = api.as_(auth("manager", subject="a001", manager_id=m["id"]))
    half = mgr.post(f"/api/v1/contracts/{c['id']}/sign", {}, expect=200).get_json()
    assert half["state"] == "pending_signature"  # in force only when both sides signed
    signed = countersign(api, c).get_json()
    assert signed["state"] == "active"
    annual = {doc["year"]: doc for doc in signed["documents"] if doc["year"]}
    assert annual[2026]["signed_at"] is not None and annual[2027]["signed_at"] is None
    assert annual[2026]["signing_state"] == "in_force"
    # The template carries no tenure targets: the tenure performance contract is signed on its
    # own once they are set, so the first signatures cover the agreement and the 2026 contract.
    assert outbox_types(app)[-8:] == [
        "contract.drafted", "contract.issued", *["contract.signature_recorded"] * 2,
        "contract.countersignature_requested", *["contract.signature_recorded"] * 2,
        "contract.signed"]


def test_targets_lock_when_the_annual_contract_is_signed(api: Client) -> None:
    g = small_group(api)
    t = template(api)
    m = manager(api, "A001", g["sub_a"]["id"])
    c = draft(api, m["id"], t["id"]).get_json()
    api.post(f"/api/v1/contracts/{c['id']}/issue", expect=200)
    signed = sign_both_sides(api, c)
    doc_2026 = next(doc for doc in signed["documents"] if doc["year"] == 2026)
    doc_2027 = next(doc for doc in signed["documents"] if doc["year"] == 2027)
    path = f"/api/v1/contracts/{c['id']}/documents/{doc_2026['id']}/targets"
    resp = api.put(path, {"indicators": STANDARD_TARGETS}, expect=409,
                   headers={"If-Match": f'"v{doc_2026["row_version"]}"'})
    assert resp.mimetype == "application/problem+json"
    path = f"/api/v1/contracts/{c['id']}/documents/{doc_2027['id']}/targets"
    changed = [dict(x) for x in STANDARD_TARGETS]
    changed[0]["target"] = "1100"
    api.put(path, {"indicators": changed}, expect=200,
            headers={"If-Match": f'"v{doc_2027["row_version"]}"'})
    sign_as_manager(api, c, path=f"documents/{doc_2027['id']}/sign")
    # Signed by the manager only: not in force yet, but what they signed no longer changes.
    api.put(path, {"indicators": STANDARD_TARGETS}, expect=409,
            headers={"If-Match": f'"v{doc_2027["row_version"] + 2}"'})
    countersign(api, c, path=f"documents/{doc_2027['id']}/sign")
    api.put(path, {"indicators": STANDARD_TARGETS}, expect=409,
            headers={"If-Match": f'"v{doc_2027["row_version"] + 3}"'})


def test_overlapping_term_for_same_manager_and_position_is_refused(api: Client,
                                                                   app: Any) -> None:
    g = small_group(api)
    m = manager(api, "A001", g["sub_a"]["id"])
    first = draft(api, m["id"]).get_json()
    resp = draft(api, m["id"], start="2028-12-31", expect=409)
    assert first["id"] in resp.get_json()["detail"]
    assert count_contracts(app) == 1
    draft(api, m["id"], start="2029-01-01", expect=201)  # adjacent term is fine


def test_illegal_transition_is_409_and_state_unchanged(api: Client) -> None:
    g = small_group(api)
    m = manager(api, "A001", g["sub_a"]["id"])
    c = draft(api, m["id"]).get_json()
    sign_as_manager(api, c, expect=409)
    assert api.get(f"/api/v1/contracts/{c['id']}").get_json()["state"] == "draft"


def test_signing_needs_complete_targets(api: Client) -> None:
    g = small_group(api)
    m = manager(api, "A001", g["sub_a"]["id"])
    c = draft(api, m["id"]).get_json()  # no template: no targets yet
    api.post(f"/api/v1/contracts/{c['id']}/issue", expect=200)
    sign_as_manager(api, c, expect=422)


def test_amendment_is_a_new_version_and_history_is_readable(api: Client, app: Any) -> None:
    g = small_group(api)
    t = template(api)
    m = manager(api, "A001", g["sub_a"]["id"])
    c = draft(api, m["id"], t["id"]).get_json()
    api.post(f"/api/v1/contracts/{c['id']}/issue", expect=200)
    sign_both_sides(api, c)
    etag = api.get(f"/api/v1/contracts/{c['id']}").headers["ETag"]
    api.post(f"/api/v1/contracts/{c['id']}/amendments", {"end_date": "2028-06-30"},
             expect=422, headers={"If-Match": etag})
    amended = api.post(f"/api/v1/contracts/{c['id']}/amendments", {
        "end_date": "2028-06-30", "reason": "Restructuring of the enterprise",
        "approved_by": "Board resolution 2026-7"}, expect=200,
        headers={"If-Match": etag}).get_json()
    assert amended["version"] == 2 and amended["end_date"] == "2028-06-30"
    versions = api.get(f"/api/v1/contracts/{c['id']}/versions").get_json()
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["terms"]["end_date"] == "2028-12-31"
    assert versions[1]["approved_by"] == "Board resolution 2026-7"
    assert outbox_types(app)[-1] == "contract.amended"


def test_renewal_respects_the_maximum_of_consecutive_terms(api: Client) -> None:
    g = small_group(api)
    t = template(api, max_consecutive_terms=2, term_years=1)
    m = manager(api, "A001", g["sub_a"]["id"])
    c = draft(api, m["id"], t["id"]).get_json()
    api.post(f"/api/v1/contracts/{c['id']}/issue", expect=200)
    sign_both_sides(api, c)
    second = api.post(f"/api/v1/contracts/{c['id']}/renew", {}, expect=201).get_json()
    assert second["term_number"] == 2 and second["start_date"] == "2027-01-01"
    assert api.get(f"/api/v1/contracts/{c['id']}").get_json()["state"] == "renewed"
    api.post(f"/api/v1/contracts/{second['id']}/issue", expect=200)
    sign_both_sides(api, second)
    api.post(f"/api/v1/contracts/{second['id']}/renew", {}, expect=409)


def test_manager_reads_only_their_own_contracts(api: Client) -> None:
    g = small_group(api)
    a = manager(api, "A001", g["sub_a"]["id"])
    b = manager(api, "B001", g["sub_b"]["id"])
    ca = draft(api, a["id"]).get_json()
    cb = draft(api, b["id"]).get_json()
    as_a = api.as_(auth("manager", subject="a001", manager_id=a["id"]))
    assert [c["id"] for c in as_a.get("/api/v1/contracts").get_json()["items"]] == [ca["id"]]
    as_a.get(f"/api/v1/contracts/{cb['id']}", expect=404)
    # Signing someone else's contract: for A it does not exist, and nothing about it leaks.
    refused = as_a.post(f"/api/v1/contracts/{cb['id']}/sign", {}, expect=404).get_json()
    assert "B001" not in refused["detail"]


def test_list_filters_by_subtree_layer_state_and_year(api: Client) -> None:
    g = small_group(api)
    a = manager(api, "A001", g["sub_a"]["id"])
    third = manager(api, "C001", g["third"]["id"])
    draft(api, a["id"], start="2026-01-01")
    draft(api, third["id"], start="2030-01-01")
    sub_a_tree = api.get(f"/api/v1/contracts?org_unit_id={g['sub_a']['id']}").get_json()
    assert sub_a_tree["page"]["total"] == 2
    assert api.get("/api/v1/contracts?layer=3").get_json()["page"]["total"] == 1
    assert api.get("/api/v1/contracts?year=2027").get_json()["page"]["total"] == 1
    assert api.get("/api/v1/contracts?state=active").get_json()["page"]["total"] == 0
    page = api.get("/api/v1/contracts?page_size=1&page=2").get_json()
    assert page["page"] == {"page": 2, "page_size": 1, "total": 2, "pages": 2}
    api.get("/api/v1/contracts?state=nonsense", expect=422)


# --- bulk issue, coverage, expiry -------------------------------------------------------------

def test_bulk_issue_issues_matching_managers_and_says_why_others_were_skipped(
        api: Client, app: Any) -> None:
    g = small_group(api)
    t = template(api)
    gm_a = manager(api, "A001", g["sub_a"]["id"])
    gm_b = manager(api, "B001", g["sub_b"]["id"])  # public welfare: template does not match
    deputy = manager(api, "A002", g["sub_a"]["id"], position="deputy_general_manager")
    busy = manager(api, "A003", g["sub_a"]["id"])
    draft(api, busy["id"], start="2026-06-01")
    job = api.post("/api/v1/bulk-issues", {
        "template_id": t["id"], "start_date": "2026-01-01",
        "filter": {"layer": 2, "position": "general_manager"}}, expect=202).get_json()
    job = wait_for_job(api, job["id"])
    assert job["status"] == "done", job
    decisions = {x["employee_no"]: x for x in job["decisions"]}
    assert decisions["A001"]["issued"] is True
    assert decisions["A003"] == {**decisions["A003"], "issued": False,
                                 "reason": "overlapping_contract"}
    assert decisions["B001"]["issued"] is False
    assert "A002" not in decisions
    assert (job["issued"], job["progress"]) == (1, "100.00")
    issued = api.get(f"/api/v1/contracts?manager_id={gm_a['id']}").get_json()["items"]
    assert [c["state"] for c in issued] == ["pending_signature"]
    assert api.get(f"/api/v1/contracts?manager_id={gm_b['id']}").get_json()["items"] == []
    assert api.get(f"/api/v1/contracts?manager_id={deputy['id']}").get_json()["items"] == []
    assert outbox_types(app).count("contract.issued") == 1


def test_coverage_report_counts_active_contracts_and_lists_overdue(api: Client) -> None:
    g = small_group(api)
    t = template(api, layer=None, position=None, category=None)
    signed = manager(api, "A001", g["sub_a"]["id"])
    pending = manager(api, "B001", g["sub_b"]["id"])
    manager(api, "C001", g["third"]["id"])  # no contract at all
    c = draft(api, signed["id"], t["id"]).get_json()
    api.post(f"/api/v1/contracts/{c['id']}/issue", expect=200)
    sign_both_sides(api, c)
    p = draft(api, pending["id"], t["id"]).get_json()
    api.post(f"/api/v1/contracts/{p['id']}/issue", expect=200)
    far_future = date(date.today().year + 1, 12, 31).isoformat()
    report = api.get(f"/api/v1/reports/coverage?group_by=layer&as_of={far_future}"
                     ).get_json()
    assert report["totals"]["managers"] == 3 and report["totals"]["active"] == 1
    assert report["totals"]["signing_rate"] == "33.33"
    by_layer = {grp["key"]["layer"]: grp for grp in report["groups"]}
    assert by_layer[2]["signing_rate"] == "50.00" and by_layer[3]["signing_rate"] == "0.00"
    assert [o["employee_no"] for o in report["overdue"]] == ["B001"]
    csv = api.get("/api/v1/reports/coverage?group_by=layer&format=csv")
    assert csv.mimetype == "text/csv"
    assert csv.get_data(as_text=True).splitlines()[0].startswith("layer")


def test_expiry_marks_ended_contracts_and_sends_each_reminder_once(api: Client,
                                                                    app: Any) -> None:
    g = small_group(api)
    t = template(api, term_years=1)
    m = manager(api, "A001", g["sub_a"]["id"])
    c = draft(api, m["id"], t["id"], start="2026-01-01").get_json()
    api.post(f"/api/v1/contracts/{c['id']}/issue", expect=200)
    sign_both_sides(api, c)
    from services.contracts.service import run_expiry

    # The API sweeps only today; the use case takes the day, so a year can be walked here.
    run = lambda day: run_expiry(app.extensions["tenure_db"],  # noqa: E731
                                 date.fromisoformat(day))
    assert run("2026-10-02") == {"expired": 0, "expiring": 1}  # 90 days before 2026-12-31
    assert run("2026-10-03") == {"expired": 0, "expiring": 0}
    assert run("2026-12-24") == {"expired": 0, "expiring": 1}  # 7 days: 30 passed unsent
    assert run("2026-12-31") == {"expired": 0, "expiring": 0}
    assert run("2027-01-01") == {"expired": 1, "expiring": 0}
    assert api.get(f"/api/v1/contracts/{c['id']}").get_json()["state"] == "expired"
    assert outbox_types(app).count("contract.expiring") == 2


def test_openapi_document_and_health(api: Client) -> None:
    spec = api.get("/openapi.json").get_json()
    assert "/api/v1/contracts" in spec["paths"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert api.get("/healthz").get_json()["status"] == "ok"
    assert api.get("/readyz").get_json()["checks"]["database"]["ok"] is True
    assert api.get("/docs").status_code == 200


def test_outbox_row_is_a_cloudevent_in_the_same_commit(api: Client, app: Any) -> None:
    g = small_group(api)
    m = manager(api, "A001", g["sub_a"]["id"])
    engine = create_engine(app.extensions["tenure_db"].url)
    with engine.connect() as conn:
        row = conn.execute(select(outbox).where(outbox.c.event_type == "manager.registered")
                           ).one()
    engine.dispose()
    envelope = json.loads(row.payload)
    assert envelope["specversion"] == "1.0" and envelope["subject"] == m["id"]
    assert row.key == m["id"] and row.topic == "hr.contracts"
    assert envelope["data"]["employee_no"] == "A001"


def test_unit_helper_refuses_second_group_root_kind_mismatch(api: Client) -> None:
    g = small_group(api)
    body = api.post("/api/v1/org-units", {"code": "X", "name": "x", "kind": "group",
                                          "category": "public_welfare",
                                          "parent_id": g["hq"]["id"]}, expect=422).get_json()
    assert "kind" in body["errors"]
    unit(api, "DEPT", "department", g["sub_a"]["id"])


def test_request_id_travels_with_the_event_it_caused(api: Client, app: Any) -> None:
    g = small_group(api)
    api.post("/api/v1/managers", {
        "employee_no": "R001", "name": "R", "email": "r@example.com",
        "org_unit_id": g["sub_a"]["id"], "position": "chair"}, expect=201,
        headers={"X-Request-ID": "hr-system-req-77"})
    with app.extensions["tenure_db"].engine.connect() as conn:
        payload = conn.execute(select(outbox.c.payload).where(
            outbox.c.event_type == "manager.registered")).scalar_one()
    assert json.loads(payload)["requestid"] == "hr-system-req-77"


def test_hr_searches_managers_by_part_of_the_name_or_number_any_case(api: Client) -> None:
    g = small_group(api)
    manager(api, "A001", g["sub_a"]["id"])
    manager(api, "B_01", g["sub_b"]["id"])
    found = api.get("/api/v1/managers?q=manager%20a0").get_json()
    assert [m["employee_no"] for m in found["items"]] == ["A001"]
    # The wildcard characters of SQL are matched as themselves.
    assert [m["employee_no"] for m in api.get("/api/v1/managers?q=_").get_json()["items"]] \
        == ["B_01"]
    assert api.get("/api/v1/managers?q=%25").get_json()["items"] == []
