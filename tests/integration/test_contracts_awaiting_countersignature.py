"""`GET /api/v1/contracts?awaiting=my_countersignature`: the contracts awaiting the caller's
countersignature for the employer, exactly those the batch would countersign for them, in
one statement (docs/portal-countersign.md)."""

from __future__ import annotations

from typing import Any

from tests.conftest import auth
from tests.integration.test_contract_list_one_statement import statements
from tests.integration.test_contract_signing import as_manager, issued
from tests.integration.test_countersign_batch import BATCH, batch_world, rows
from tests.support.contracts_world import (
    STANDARD_TARGETS,
    Client,
    manager,
    sign_as_manager,
    template,
)

AWAITING = "/api/v1/contracts?awaiting=my_countersignature"


def awaiting(api: Client, headers: dict[str, str], query: str = "") -> dict[str, Any]:
    return api.as_(headers).get(AWAITING + query).get_json()


def ids(page: dict[str, Any]) -> set[str]:
    return {c["id"] for c in page["items"]}


def test_the_chair_sees_the_contracts_awaiting_their_countersignature_and_no_other(
        pg_api: Client) -> None:
    api = pg_api
    w = batch_world(api)
    # Issued to another general manager of SUB-A, not signed by them yet: not awaiting.
    unsigned = issued(api, manager(api, "A050", w["g"]["sub_a"]["id"]), w["t"])
    chair = as_manager(api, w["chair"]).headers
    page = awaiting(api, chair)
    assert ids(page) == {c["id"] for c in w["contracts"]}
    assert unsigned["id"] not in ids(page) and w["other"]["id"] not in ids(page)
    assert page["page"]["total"] == 3
    first = page["items"][0]
    assert first["org_unit_name"] == "Unit SUB-A"
    assert first["manager_name"].startswith("Manager A0") and first["position"] == \
        "general_manager"
    # The documents the countersignature covers, each awaiting the employer.
    assert [(doc["kind"], doc["signing_state"]) for doc in first["documents"]] == [
        ("appointment_agreement", "awaiting_employer"),
        ("annual_performance_contract", "awaiting_employer")]
    # A manager whose contract it is sees none of them as theirs to countersign.
    assert awaiting(api, as_manager(api, w["gms"][0]).headers)["items"] == []
    # Once countersigned, nothing awaits.
    as_manager(api, w["chair"]).post(BATCH, {"contracts": rows(api, *w["contracts"])},
                                     expect=200)
    assert awaiting(api, chair) == {"items": [], "page": {
        "page": 1, "page_size": 50, "total": 0, "pages": 0}}


def test_the_general_manager_countersigns_deputies_and_the_head_of_a_subsidiary_below(
        pg_api: Client) -> None:
    api = pg_api
    w = batch_world(api, contracts=1)
    g, gm = w["g"], w["gms"][0]
    # SUB-A-1 has no board: its general manager signs with the parent, SUB-A.
    third_gm = manager(api, "T001", g["third"]["id"])
    head_below = issued(api, third_gm, template(api, name="T", layer=3))
    sign_as_manager(api, head_below)
    page = awaiting(api, as_manager(api, gm).headers)
    assert ids(page) == {head_below["id"]}
    assert page["items"][0]["signatory"]["kind"] == "parent_enterprise"
    # The chair of SUB-A countersigns its general manager, not the subsidiary below.
    assert ids(awaiting(api, as_manager(api, w["chair"]).headers)) == {w["contracts"][0]["id"]}
    # The head of SUB-A-1 countersigns nothing of their own.
    assert awaiting(api, as_manager(api, third_gm).headers)["items"] == []


def test_an_employer_signatory_sees_what_no_post_signs_within_their_scope(
        pg_api: Client) -> None:
    api = pg_api
    w = batch_world(api, contracts=1)
    g = w["g"]
    # The head of the group HQ signs with the supervisor, outside the system.
    hq_chair = manager(api, "H001", g["hq"]["id"], position="chair")
    top = issued(api, hq_chair, template(api, name="H", layer=1, position="chair"))
    sign_as_manager(api, top)
    group_wide = auth("employer_signatory", subject="supervisor-signatory")
    assert ids(awaiting(api, group_wide)) == {top["id"]}
    elsewhere = auth("employer_signatory", subject="x", org_scope=g["sub_b"]["id"])
    assert awaiting(api, elsewhere)["items"] == []
    # HR countersigns nothing electronically: nothing awaits an HR token.
    assert awaiting(api, auth("hr_admin"))["items"] == []


def test_the_list_is_paged_and_combines_with_the_other_filters(pg_api: Client) -> None:
    api = pg_api
    w = batch_world(api)
    chair = as_manager(api, w["chair"]).headers
    first = awaiting(api, chair, "&page_size=2")
    second = awaiting(api, chair, "&page_size=2&page=2")
    assert first["page"] == {"page": 1, "page_size": 2, "total": 3, "pages": 2}
    assert len(first["items"]) == 2 and len(second["items"]) == 1
    assert ids(first) | ids(second) == {c["id"] for c in w["contracts"]}
    one = w["gms"][1]["id"]
    assert [c["manager_id"] for c in awaiting(api, chair, f"&manager_id={one}")["items"]] == \
        [one]
    assert awaiting(api, chair, "&state=active")["items"] == []


def test_an_unknown_awaiting_value_is_a_422_problem_naming_the_field(pg_api: Client) -> None:
    w = batch_world(pg_api, contracts=1)
    chair = pg_api.as_(as_manager(pg_api, w["chair"]).headers)
    for value in ("my_signature", ""):
        resp = chair.get(f"/api/v1/contracts?awaiting={value}", expect=422)
        assert resp.mimetype == "application/problem+json"
        assert [p["name"] for p in resp.get_json()["invalid_params"]] == ["awaiting"]
    # A countersigner sees no org units: a unit filter is a 404, as for every manager.
    chair.get(f"/api/v1/contracts?awaiting=my_countersignature&org_unit_id={w['g']['sub_a']['id']}",
              expect=404)


def test_the_awaiting_list_pages_by_number_and_refuses_a_cursor(pg_api: Client) -> None:
    w = batch_world(pg_api, contracts=1)
    chair = pg_api.as_(as_manager(pg_api, w["chair"]).headers)
    resp = chair.get("/api/v1/contracts?awaiting=my_countersignature&after=abc", expect=422)
    assert resp.mimetype == "application/problem+json"
    assert [p["name"] for p in resp.get_json()["invalid_params"]] == ["after"]


def test_the_contracts_awaiting_a_countersignature_are_one_statement(
        api: Client, app: Any) -> None:
    w = batch_world(api)
    chair = as_manager(api, w["chair"])
    with statements(app) as sent:
        page = chair.get(AWAITING).get_json()
    assert len(page["items"]) == 3 and len(sent) == 1


def test_an_amendment_the_manager_signed_awaits_the_countersignature_of_an_active_contract(
        pg_api: Client) -> None:
    api = pg_api
    w = batch_world(api, contracts=1)
    c, gm, chair = w["contracts"][0], w["gms"][0], as_manager(api, w["chair"])
    chair.post(f"/api/v1/contracts/{c['id']}/sign", {}, expect=200)
    assert awaiting(api, chair.headers)["items"] == []  # active, nothing awaits
    changed = [dict(x) for x in STANDARD_TARGETS]
    changed[0]["target"] = "1100"
    etag = api.get(f"/api/v1/contracts/{c['id']}").headers["ETag"]
    api.post(f"/api/v1/contracts/{c['id']}/amendments", {
        "reason": "New strategy", "approved_by": "Board 2026-9",
        "annual_targets": [{"year": 2026, "indicators": changed}]},
        headers={"If-Match": etag}, expect=200)
    assert awaiting(api, chair.headers)["items"] == []  # the manager signs it first
    as_manager(api, gm).post(f"/api/v1/contracts/{c['id']}/sign", {}, expect=200)
    [listed] = awaiting(api, chair.headers)["items"]
    assert listed["id"] == c["id"] and listed["state"] == "active"
    assert [(doc["kind"], doc["year"], doc["amendment_version"], doc["amendment_state"])
            for doc in listed["documents"]] == [
        ("annual_performance_contract", 2026, 2, "awaiting_employer")]
