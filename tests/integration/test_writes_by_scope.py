"""Who writes what the group shares: templates, the indicator library, schemes, notice
templates. A scoped HR admin owns their subtree's templates, never the group's."""

from __future__ import annotations

from typing import Any

import pytest

from services.appraisal import create_app as appraisal_app
from services.notifications import create_app as notifications_app
from tests.conftest import auth, service_settings
from tests.support.contracts_world import STANDARD_TARGETS, Client, small_group, template

#: Every template carries targets (an empty one is refused before anything else).
T = {"targets": STANDARD_TARGETS}


@pytest.fixture
def world(api: Client) -> dict[str, Any]:
    return small_group(api)


def scoped(api: Client, unit_id: str, role: str = "hr_admin") -> Client:
    return api.as_(auth(role, subject=f"{role}-{unit_id[:4]}", org_scope=unit_id))


def assert_forbidden_naming_who_may(resp: Any) -> None:
    assert resp.status_code == 403, resp.get_data(as_text=True)
    assert resp.content_type == "application/problem+json"
    assert "group-wide HR administrator" in resp.get_json()["detail"]


def test_a_scoped_hr_admin_cannot_replace_the_groups_template(
        api: Client, world: dict[str, Any]) -> None:
    group_template = template(api)
    s1 = scoped(api, world["sub_a"]["id"])
    resp = s1.put(f"/api/v1/templates/{group_template['id']}",
                  {**T, "name": "replaced"}, headers={"If-Match": '"v1"'})
    assert_forbidden_naming_who_may(resp)
    after = api.get(f"/api/v1/templates/{group_template['id']}").get_json()
    assert after["name"] == group_template["name"] and after["targets"]


def test_a_scoped_hr_admin_cannot_add_to_the_indicator_library(
        api: Client, world: dict[str, Any]) -> None:
    before = api.get("/api/v1/indicators").get_json()
    resp = scoped(api, world["sub_a"]["id"]).post("/api/v1/indicators", {
        "code": "S1ONLY", "name": "S1's own", "kind": "quantitative",
        "direction": "higher_is_better"})
    assert_forbidden_naming_who_may(resp)
    assert api.get("/api/v1/indicators").get_json() == before


def test_a_scoped_hr_admin_owns_templates_of_their_subtree_and_only_they_and_hq_see_them(
        api: Client, world: dict[str, Any]) -> None:
    s1 = scoped(api, world["sub_a"]["id"])
    own = s1.post("/api/v1/templates", {**T, "name": "S1 plant managers",
                                        "org_unit_id": world["third"]["id"]},
                  expect=201).get_json()
    assert own["org_unit_id"] == world["third"]["id"]
    s1.put(f"/api/v1/templates/{own['id']}", {**T, "name": "S1 plant managers v2",
                                              "org_unit_id": world["sub_a"]["id"]},
           headers={"If-Match": '"v1"'}, expect=200)
    s2 = scoped(api, world["sub_b"]["id"])
    assert own["id"] not in {t["id"] for t in s2.get("/api/v1/templates").get_json()}
    s2.get(f"/api/v1/templates/{own['id']}", expect=404)
    s2.put(f"/api/v1/templates/{own['id']}", {**T, "name": "taken"},
           headers={"If-Match": '"v2"'}, expect=404)
    assert own["id"] in {t["id"] for t in api.get("/api/v1/templates").get_json()}


def test_a_scoped_hr_admin_cannot_write_a_group_template_or_one_for_another_subtree(
        api: Client, world: dict[str, Any]) -> None:
    s1 = scoped(api, world["sub_a"]["id"])
    assert_forbidden_naming_who_may(s1.post("/api/v1/templates", {**T, "name": "group-wide"}))
    s1.post("/api/v1/templates", {**T, "name": "S2's", "org_unit_id": world["sub_b"]["id"]},
            expect=404)
    own = s1.post("/api/v1/templates", {**T, "name": "mine", "org_unit_id": world["sub_a"]["id"]},
                  expect=201).get_json()
    # Handing one's template to the group is a group-wide write too.
    assert_forbidden_naming_who_may(s1.put(
        f"/api/v1/templates/{own['id']}", {**T, "name": "mine", "org_unit_id": None},
        headers={"If-Match": '"v1"'}))
    assert [t["name"] for t in api.get("/api/v1/templates").get_json()] == ["mine"]


def test_a_scoped_bulk_issue_cannot_use_another_subtrees_template(
        api: Client, world: dict[str, Any]) -> None:
    s2_template = scoped(api, world["sub_b"]["id"]).post(
        "/api/v1/templates", {**T, "name": "S2's", "org_unit_id": world["sub_b"]["id"]},
        expect=201).get_json()
    resp = scoped(api, world["sub_a"]["id"]).post("/api/v1/bulk-issues", {
        "template_id": s2_template["id"], "start_date": "2026-01-01"}, expect=422)
    assert "template_id" in resp.get_json()["errors"]


def test_a_group_wide_service_writes_the_group_template_and_library(
        api: Client, world: dict[str, Any]) -> None:
    service = api.as_(auth("service", subject="hr-system"))
    service.post("/api/v1/indicators", {"code": "SVC", "name": "From the HR system",
                                        "kind": "quantitative",
                                        "direction": "higher_is_better"}, expect=201)
    service.post("/api/v1/templates", {**T, "name": "from the HR system"}, expect=201)


# --- an empty org_scope is the same everywhere: a scope naming no unit ------------------------


def test_an_empty_scope_sees_nothing_and_writes_nothing_in_contracts(
        api: Client, world: dict[str, Any]) -> None:
    """Like a scope naming a unit that does not exist: what the group shares (its templates)
    is readable, nothing of any subtree is."""
    template(api)
    api.post("/api/v1/templates", {**T, "name": "S1's", "org_unit_id": world["sub_a"]["id"]},
             expect=201)
    for role in ("service", "hr_admin"):
        empty = api.as_({"Authorization": _bearer_with_empty_scope(role)})
        assert empty.get("/api/v1/org-units").get_json()["items"] == []
        assert [t["org_unit_id"] for t in empty.get("/api/v1/templates").get_json()] == [None]
        assert_forbidden_naming_who_may(empty.post("/api/v1/templates", {**T, "name": "x"}))


def _bearer_with_empty_scope(role: str) -> str:
    """issue_token drops a falsy org_scope, so sign the claim set by hand."""
    import time

    import jwt

    from tests.conftest import SECRET

    now = int(time.time())
    claims = {"sub": f"{role}-empty", "roles": [role], "org_scope": "", "iat": now,
              "nbf": now, "exp": now + 600, "iss": "tenure", "aud": "tenure"}
    return f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"


def test_an_empty_scope_sees_nothing_in_notifications_either(
        database_url_factory: Any) -> None:
    app = notifications_app(service_settings("notifications",
                                             database_url_factory("notifications")))
    try:
        hq = Client(app.test_client(), auth("hr_admin", subject="hr-group"))
        hq.post("/api/v1/recipients", {"id": "hr-x", "role": "hr_admin", "name": "X",
                                       "org_scope": None}, expect=201)
        hq.post("/api/v1/webhooks", {"recipient_id": "hr-x",
                                     "url": "https://hooks.example.com/x"}, expect=201)
        empty = Client(app.test_client(), {"Authorization": _bearer_with_empty_scope(
            "service")})
        assert empty.get("/api/v1/recipients").get_json()["items"] == []
        assert empty.get("/api/v1/webhooks").get_json() == []
        empty.get("/api/v1/recipients/hr-x", expect=404)
        resp = empty.put("/api/v1/templates/contract_to_sign/en",
                         {"subject": "s", "body": "b"}, headers={"If-Match": '"v0"'})
        assert_forbidden_naming_who_may(resp)
    finally:
        app.extensions["tenure_db"].dispose()


def test_an_empty_scope_sees_nothing_in_appraisal_and_cannot_write_schemes(
        database_url_factory: Any) -> None:
    app = appraisal_app(service_settings("appraisal", database_url_factory("appraisal")))
    try:
        empty = Client(app.test_client(), {"Authorization": _bearer_with_empty_scope(
            "hr_admin")})
        assert empty.get("/api/v1/managers").get_json()["items"] == []
        resp = empty.post("/api/v1/schemes", {"code": "s1_own", "name": "mine"})
        assert_forbidden_naming_who_may(resp)
    finally:
        app.extensions["tenure_db"].dispose()
