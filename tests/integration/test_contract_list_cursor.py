"""`GET /contracts?after=<cursor>`: keyset pages that walk a list once, in order, whatever is
added meanwhile, under the same filters and scope as any page; `page` paging is unchanged
and links to the next page by cursor."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from services.contracts import reads
from tests.conftest import auth
from tests.integration.test_contract_list_one_statement import statements
from tests.support.contracts_world import Client, manager, small_group


def draft(api: Client, employee_no: str, unit_id: str) -> dict[str, Any]:
    m = manager(api, employee_no, unit_id)
    return api.post("/api/v1/contracts", {"manager_id": m["id"], "start_date": "2026-01-01"},
                    expect=201).get_json()


def next_after(resp: Any) -> str | None:
    """The cursor the Link header's rel="next" carries, or None."""
    link = resp.headers.get("Link")
    if link is None:
        return None
    url, rel = link.split(";")
    assert rel.strip() == 'rel="next"'
    query = parse_qs(urlsplit(url.strip().strip("<>")).query)
    assert "page" not in query
    return query["after"][0]


def walk(caller: Client, query: str, between: Any = None) -> list[str]:
    """Every id the list shows, page by page by cursor; `between` runs after each page."""
    resp = caller.get(f"/api/v1/contracts?page_size=2&{query}")
    seen = [c["id"] for c in resp.get_json()["items"]]
    cursor = next_after(resp)
    while cursor is not None:
        if between is not None:
            between()
        resp = caller.get(f"/api/v1/contracts?page_size=2&{query}&after={cursor}")
        page = resp.get_json()["page"]
        assert set(page) == {"page_size", "next"} and page["page_size"] == 2
        assert page["next"] == next_after(resp)
        seen += [c["id"] for c in resp.get_json()["items"]]
        cursor = page["next"]
    return seen


def group_with_drafts(api: Client) -> dict[str, Any]:
    g = small_group(api)
    units = [g["sub_a"]["id"], g["third"]["id"], g["sub_b"]["id"]]
    made = [draft(api, f"E{n}", units[n % 3]) for n in range(7)]
    return {"group": g, "units": units, "contracts": made}


def test_a_cursor_walk_shows_every_contract_once_in_order_while_contracts_are_added(
        api: Client) -> None:
    world = group_with_drafts(api)
    g, units = world["group"], world["units"]
    added: list[str] = []

    def add_one() -> None:
        added.append(draft(api, f"N{len(added)}", units[len(added) % 3])["id"])

    scoped = api.as_(auth("hr_admin", subject="hr-a", org_scope=g["sub_a"]["id"]))
    for caller, query in ((api, ""), (api, "state=draft"),
                          (api, f"org_unit_id={g['sub_a']['id']}&state=draft"),
                          (scoped, "state=draft"), (scoped, "")):
        walked = walk(caller, query, add_one)
        listed = [c["id"] for c in caller.get(
            f"/api/v1/contracts?page_size=500&{query}").get_json()["items"]]
        assert walked == listed, (query, walked, listed)  # once each, in the list's order
        assert len(set(walked)) == len(walked)
        assert set(added) & set(walked)  # contracts added mid-walk came at its end


def test_a_bad_cursor_is_a_400_naming_after_and_page_with_after_a_422(api: Client) -> None:
    group_with_drafts(api)
    for bad in ("x", "bm90LWEtY3Vyc29y", "MTIzLg", "a" * 300, "", "!!"):
        resp = api.get(f"/api/v1/contracts?after={bad}", expect=400)
        assert resp.mimetype == "application/problem+json"
        assert list(resp.get_json()["errors"]) == ["after"], bad
    good = next_after(api.get("/api/v1/contracts?page_size=2"))
    both = api.get(f"/api/v1/contracts?page=2&after={good}", expect=422)
    assert "page" in both.get_json()["errors"]


def test_a_cursor_keeps_the_filters_of_the_query(api: Client) -> None:
    world = group_with_drafts(api)
    g, made = world["group"], world["contracts"]
    api.post(f"/api/v1/contracts/{made[0]['id']}/issue", expect=200)
    api.post(f"/api/v1/contracts/{made[1]['id']}/issue", expect=200)
    query = f"org_unit_id={g['sub_a']['id']}&state=draft"
    walked = walk(api, query)
    in_sub_a = {c["id"] for c in made if c["org_unit_id"] in (g["sub_a"]["id"],
                                                               g["third"]["id"])}
    assert set(walked) == in_sub_a - {made[0]["id"], made[1]["id"]}
    total = api.get(f"/api/v1/contracts?{query}").get_json()["page"]["total"]
    assert len(walked) == total


def test_a_cursor_shows_a_scoped_caller_nothing_outside_their_scope(api: Client) -> None:
    world = group_with_drafts(api)
    g, made, units = world["group"], world["contracts"], world["units"]
    outside = {c["id"] for c in made if c["org_unit_id"] == g["sub_b"]["id"]}
    inside = {c["id"] for c in made} - outside
    scoped = api.as_(auth("hr_admin", subject="hr-a", org_scope=g["sub_a"]["id"]))
    # A cursor from group-wide HR's list, one at its very start, and one made up.
    first = api.get("/api/v1/contracts?page_size=1").get_json()["items"][0]
    start = next_after(api.get("/api/v1/contracts?page_size=1"))
    made_up = reads.encode_cursor(datetime(1970, 1, 2), "0")
    for cursor in (start, made_up):
        for query in ("", "state=draft", f"org_unit_id={g['third']['id']}&state=draft"):
            shown = scoped.get(f"/api/v1/contracts?page_size=500&{query}&after={cursor}"
                               ).get_json()["items"]
            assert {c["id"] for c in shown} <= inside - {first["id"]} | (
                inside if cursor == made_up else set())
            assert not {c["id"] for c in shown} & outside
        scoped.get(f"/api/v1/contracts?org_unit_id={units[2]}&after={cursor}", expect=404)
    own = api.as_(auth("manager", subject="e2", manager_id=made[2]["manager_id"]))
    assert [c["id"] for c in own.get(f"/api/v1/contracts?after={made_up}").get_json()[
        "items"]] == [made[2]["id"]]
    assert own.get(f"/api/v1/contracts?after={made_up}&manager_id={made[0]['manager_id']}"
                   ).get_json() == {"items": [], "page": {"page_size": 50, "next": None}}


def test_page_numbers_keep_their_body_and_link_to_the_next_page(api: Client) -> None:
    world = group_with_drafts(api)
    made = world["contracts"]
    first = api.get("/api/v1/contracts?page_size=3")
    assert first.get_json()["page"] == {"page": 1, "page_size": 3, "total": 7, "pages": 3}
    after = next_after(first)
    assert after == reads.encode_cursor(*reads.decode_cursor(after))  # type: ignore[misc]
    second = api.get(f"/api/v1/contracts?page_size=3&after={after}").get_json()
    assert second["items"] == api.get("/api/v1/contracts?page_size=3&page=2").get_json()[
        "items"]
    assert next_after(api.get("/api/v1/contracts?page_size=3&page=3")) is None
    assert next_after(api.get("/api/v1/contracts?page_size=7")) is None
    last = api.get(f"/api/v1/contracts?page_size=7&after={after}")
    assert last.get_json()["page"] == {"page_size": 7, "next": None}
    assert next_after(last) is None
    assert [c["id"] for c in last.get_json()["items"]] == [c["id"] for c in made[3:]]


def test_a_page_after_a_cursor_is_one_statement_for_every_caller(api: Client,
                                                                 app: Any) -> None:
    world = group_with_drafts(api)
    g, made = world["group"], world["contracts"]
    after = next_after(api.get("/api/v1/contracts?page_size=1"))
    callers = {
        "group-wide HR": api,
        "HR scoped to SUB-A": api.as_(auth("hr_admin", subject="hr-a",
                                           org_scope=g["sub_a"]["id"])),
        "manager E0": api.as_(auth("manager", subject="e0", manager_id=made[0]["manager_id"])),
    }
    for who, caller in callers.items():
        for query in ("", "&state=draft", f"&org_unit_id={g['sub_a']['id']}&state=draft",
                      "&layer=2&year=2027&position=general_manager"):
            if who.startswith("manager") and "org_unit_id" in query:
                continue
            cache = app.extensions["tenure_db"].read_cache
            if cache is not None:  # the page as the database gives it, not a cached one
                cache.invalidate()
            with statements(app) as sent:
                caller.get(f"/api/v1/contracts?after={after}{query}")
            assert len(sent) == 1, (who, query, sent)
