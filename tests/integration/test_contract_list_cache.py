"""Cached `GET /contracts` pages on the real PostgreSQL server: never stale after a change.

A page is cached per query for group-wide staff, and served to staff scoped to a subtree for
a unit inside their scope, never outside it; a change made by another connection (as
another process would) reaches the cache through the NOTIFY triggers of migrations 0002 and
0008. Nothing here asserts on time: a change must show within a generous deadline.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import auth
from tests.integration.test_contract_read_cache import elsewhere, eventually
from tests.support.contracts_world import Client, manager, small_group, template

pytestmark = pytest.mark.postgres

LIST = "/api/v1/contracts?page_size=50&state=draft"


def cached_list(api: Client, app: Any) -> tuple[dict[str, Any], Any]:
    g = small_group(api)
    t = template(api)
    for n in range(3):
        m = manager(api, f"L{n}", g["sub_a"]["id"])
        api.post("/api/v1/contracts", {"manager_id": m["id"], "start_date": "2026-01-01",
                                       "template_id": t["id"]}, expect=201)
    cache = app.extensions["tenure_db"].read_cache
    eventually(lambda: (api.get(LIST), cache.live)[1], bool)
    first = api.get(LIST).get_json()
    hits = cache.hits
    assert api.get(LIST).get_json() == first
    assert cache.hits == hits + 1, "the second read of the page is served from the cache"
    return first, g


def test_a_contract_changed_or_added_elsewhere_shows_in_the_cached_list(
        pg_api: Client, pg_app: Any) -> None:
    first, _ = cached_list(pg_api, pg_app)
    assert first["page"]["total"] == 3
    gone = first["items"][0]["id"]
    elsewhere(pg_app, "UPDATE tenure_contracts SET state = 'terminated' WHERE id = %s", gone)
    seen = eventually(lambda: pg_api.get(LIST).get_json(),
                      lambda body: body["page"]["total"] == 2)
    assert gone not in {c["id"] for c in seen["items"]}
    elsewhere(pg_app, "UPDATE tenure_contracts SET state = 'draft' WHERE id = %s", gone)
    seen = eventually(lambda: pg_api.get(LIST).get_json(),
                      lambda body: body["page"]["total"] == 3)
    assert gone in {c["id"] for c in seen["items"]}


def test_a_renamed_manager_shows_in_the_cached_list(pg_api: Client, pg_app: Any) -> None:
    first, _ = cached_list(pg_api, pg_app)
    contract = first["items"][0]
    elsewhere(pg_app, "UPDATE managers SET name = 'Renamed' WHERE id = %s",
              contract["manager_id"])
    seen = eventually(lambda: pg_api.get(LIST).get_json(),
                      lambda body: body["items"][0]["manager_name"] == "Renamed")
    assert seen["items"][0]["manager_name"] == "Renamed"


def test_a_scoped_admin_and_a_manager_never_get_the_group_wide_page(
        pg_api: Client, pg_app: Any) -> None:
    first, g = cached_list(pg_api, pg_app)
    assert first["page"]["total"] == 3
    scoped = pg_api.as_(auth("hr_admin", org_scope=g["sub_b"]["id"]))
    assert scoped.get(LIST).get_json()["page"]["total"] == 0
    someone = pg_api.as_(auth("manager", manager_id=first["items"][0]["manager_id"]))
    assert someone.get(LIST).get_json()["page"]["total"] == 1


def test_a_scoped_officer_reads_the_cached_page_of_a_unit_inside_their_scope(
        pg_api: Client, pg_app: Any) -> None:
    """The page is the one group-wide staff see for that unit, served from the cache from
    the second read on; their list without a unit is their scope unit's page."""
    first, g = cached_list(pg_api, pg_app)
    cache = pg_app.extensions["tenure_db"].read_cache
    officer = pg_api.as_(auth("hr_admin", subject="hr-a", org_scope=g["sub_a"]["id"]))
    of_unit = f"{LIST}&org_unit_id={g['sub_a']['id']}"
    for path in (of_unit, LIST):
        page = officer.get(path).get_json()
        assert page == pg_api.get(of_unit).get_json() and page["page"]["total"] == 3
        hits, misses = cache.hits, cache.misses
        assert officer.get(path).get_json() == page
        assert (cache.hits > hits, cache.misses) == (True, misses), \
            "the second read is served from the cache"
    assert {c["id"] for c in page["items"]} == {c["id"] for c in first["items"]}


def test_a_scoped_officer_never_gets_a_cached_page_of_a_unit_outside_their_scope(
        pg_api: Client, pg_app: Any) -> None:
    """Even once the cache knows both units' places and holds the page: SUB-A's officer
    and SUB-B's have each read their own list (and SUB-A's page is cached) before SUB-B's
    asks for SUB-A's."""
    _, g = cached_list(pg_api, pg_app)
    of_sub_a = f"{LIST}&org_unit_id={g['sub_a']['id']}"
    insider = pg_api.as_(auth("hr_admin", subject="hr-a", org_scope=g["sub_a"]["id"]))
    outsider = pg_api.as_(auth("hr_admin", subject="hr-b", org_scope=g["sub_b"]["id"]))
    for _ in range(2):
        assert insider.get(of_sub_a).get_json()["page"]["total"] == 3
        assert outsider.get(LIST).get_json()["page"]["total"] == 0
    assert pg_api.get(of_sub_a).get_json()["page"]["total"] == 3
    outsider.get(of_sub_a, expect=404)
    outsider.get(f"{LIST}&org_unit_id=no-such-unit", expect=404)
    unknown_scope = pg_api.as_(auth("hr_admin", subject="hr-x", org_scope="no-such-unit"))
    assert unknown_scope.get(LIST).get_json()["page"]["total"] == 0


def test_a_unit_moved_out_of_an_officers_scope_leaves_their_cached_pages(
        pg_api: Client, pg_app: Any) -> None:
    """SUB-A-1 moves from SUB-A to SUB-B elsewhere: SUB-A's officer, who read its page from
    the cache, is answered 404 for it, and SUB-B's officer now reads it."""
    g = small_group(pg_api)
    t = template(pg_api)
    m = manager(pg_api, "T1", g["third"]["id"])
    pg_api.post("/api/v1/contracts", {"manager_id": m["id"], "start_date": "2026-01-01",
                                      "template_id": t["id"]}, expect=201)
    cache = pg_app.extensions["tenure_db"].read_cache
    eventually(lambda: (pg_api.get(LIST), cache.live)[1], bool)
    of_third = f"{LIST}&org_unit_id={g['third']['id']}"
    officer_a = pg_api.as_(auth("hr_admin", subject="hr-a", org_scope=g["sub_a"]["id"]))
    officer_b = pg_api.as_(auth("hr_admin", subject="hr-b", org_scope=g["sub_b"]["id"]))
    for _ in range(2):
        assert officer_a.get(of_third).get_json()["page"]["total"] == 1
    officer_b.get(of_third, expect=404)
    elsewhere(pg_app, "UPDATE org_units SET parent_id = %s, path = (SELECT path FROM "
              "org_units WHERE id = %s) || id || '/' WHERE id = %s",
              g["sub_b"]["id"], g["sub_b"]["id"], g["third"]["id"])
    eventually(lambda: officer_a.get(of_third, expect=None).status_code, lambda s: s == 404)
    # The page cached again by group-wide staff and SUB-B's officer is still not SUB-A's.
    for _ in range(2):
        assert pg_api.get(of_third).get_json()["page"]["total"] == 1
        assert officer_b.get(of_third).get_json()["page"]["total"] == 1
    officer_a.get(of_third, expect=404)
