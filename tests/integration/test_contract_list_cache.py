"""Cached `GET /contracts` pages on the real PostgreSQL server: never stale after a change.

A page is cached per query for group-wide staff; a change made by another connection (as
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
