"""`GET /contracts` is one SQL statement, whoever asks and whatever the filters.

The page, the total and the paths of the caller's scope unit and of the filter unit come
back together (services/contracts/reads.py `contracts_list`); the visibility rules are then
checked on that one row. These tests count the statements and hold those rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from tests.conftest import auth
from tests.support.contracts_world import Client, manager, small_group


@contextmanager
def statements(app: Any) -> Iterator[list[str]]:
    """Every statement sent, on the SQLAlchemy path and on the driver path (fetch_rows)."""
    db = app.extensions["tenure_db"]
    sent: list[str] = []

    def heard(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement != "BEGIN":  # SQLite's own, in process (shared.db's begin hook)
            sent.append(statement)

    fetch_rows = db.fetch_rows

    def counted(stmt: Any, params: Any) -> Any:
        if db.is_postgres:  # SQLite's rows come through SQLAlchemy: heard above
            sent.append(str(stmt))
        return fetch_rows(stmt, params)

    event.listen(db.engine, "before_cursor_execute", heard)
    db.fetch_rows = counted
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", heard)
        del db.fetch_rows


def contracts_of_two_subtrees(api: Client) -> dict[str, Any]:
    g = small_group(api)
    people = [manager(api, "A1", g["sub_a"]["id"]), manager(api, "A2", g["third"]["id"]),
              manager(api, "B1", g["sub_b"]["id"])]
    made = [api.post("/api/v1/contracts", {"manager_id": m["id"], "start_date": "2026-01-01"},
                     expect=201).get_json() for m in people]
    api.post(f"/api/v1/contracts/{made[1]['id']}/issue", expect=200)
    return {"group": g, "managers": people, "contracts": made}


def test_a_contract_list_is_one_statement_for_every_caller_and_filter(api: Client,
                                                                      app: Any) -> None:
    world = contracts_of_two_subtrees(api)
    g, people = world["group"], world["managers"]
    callers = {
        "group-wide HR": api,
        "HR scoped to SUB-A": api.as_(auth("hr_admin", subject="hr-a",
                                           org_scope=g["sub_a"]["id"])),
        "manager A1": api.as_(auth("manager", subject="a1", manager_id=people[0]["id"])),
    }
    queries = ["", "?state=draft", f"?org_unit_id={g['sub_a']['id']}&state=pending_signature",
               "?layer=3&year=2027&position=general_manager", "?page=9&page_size=1",
               f"?manager_id={people[0]['id']}&ends_before=2030-01-01"]
    for who, caller in callers.items():
        for query in queries:
            if who.startswith("manager") and "org_unit_id" in query:
                continue
            cache = app.extensions["tenure_db"].read_cache
            if cache is not None:  # the page as the database gives it, not a cached one
                cache.invalidate()
            with statements(app) as sent:
                caller.get(f"/api/v1/contracts{query}")
            assert len(sent) == 1, (who, query, sent)


def test_the_list_reads_each_subtree_and_total_as_before(api: Client) -> None:
    world = contracts_of_two_subtrees(api)
    g, made = world["group"], world["contracts"]
    sub_a = api.get(f"/api/v1/contracts?org_unit_id={g['sub_a']['id']}").get_json()
    assert [c["id"] for c in sub_a["items"]] == [made[0]["id"], made[1]["id"]]
    assert sub_a["page"] == {"page": 1, "page_size": 50, "total": 2, "pages": 1}
    pending = api.get(f"/api/v1/contracts?org_unit_id={g['sub_a']['id']}"
                      "&state=pending_signature").get_json()
    assert [c["id"] for c in pending["items"]] == [made[1]["id"]]
    past = api.get(f"/api/v1/contracts?org_unit_id={g['sub_a']['id']}&page=3&page_size=1"
                   ).get_json()
    assert past["items"] == [] and past["page"]["total"] == 2
    scoped = api.as_(auth("hr_admin", subject="hr-a", org_scope=g["sub_a"]["id"]))
    assert scoped.get("/api/v1/contracts").get_json()["page"]["total"] == 2
    third = scoped.get(f"/api/v1/contracts?org_unit_id={g['third']['id']}").get_json()
    assert [c["id"] for c in third["items"]] == [made[1]["id"]]


def test_a_filter_unit_unknown_or_outside_the_scope_is_not_found(api: Client) -> None:
    world = contracts_of_two_subtrees(api)
    g, people = world["group"], world["managers"]
    scoped = api.as_(auth("hr_admin", subject="hr-a", org_scope=g["sub_a"]["id"]))
    outside = scoped.get(f"/api/v1/contracts?org_unit_id={g['sub_b']['id']}", expect=404)
    assert outside.mimetype == "application/problem+json"
    assert g["sub_b"]["id"] in outside.get_json()["detail"]
    api.get("/api/v1/contracts?org_unit_id=no-such-unit", expect=404)
    nowhere = api.as_(auth("hr_admin", subject="hr-x", org_scope="no-such-unit"))
    nowhere.get(f"/api/v1/contracts?org_unit_id={g['sub_a']['id']}", expect=404)
    assert nowhere.get("/api/v1/contracts").get_json()["page"]["total"] == 0
    own = api.as_(auth("manager", subject="a1", manager_id=people[0]["id"]))
    own.get(f"/api/v1/contracts?org_unit_id={g['sub_a']['id']}", expect=404)
    assert own.get(f"/api/v1/contracts?manager_id={people[2]['id']}").get_json() == {
        "items": [], "page": {"page": 1, "page_size": 50, "total": 0, "pages": 0}}
    assert [c["manager_id"] for c in own.get("/api/v1/contracts").get_json()["items"]] == [
        people[0]["id"]]
