"""The read cache of GET one contract on the real PostgreSQL server (shared/read_cache.py).

Changes made elsewhere (another process, a bare SQL statement, a bulk COPY) reach the cache
through the schema's NOTIFY triggers; these tests make such changes with their own
connection, as another gunicorn worker or the consumer would, and require the API to show
them. Nothing here asserts on time: a change must show within a generous deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from services.contracts import create_app
from services.contracts.events import handle_appraisal_outcome
from shared.events.envelope import make_event
from shared.read_cache import EVERYTHING
from tests.conftest import auth, service_settings
from tests.support.contracts_world import (
    Client,
    countersign,
    manager,
    sign_as_manager,
    sign_both_sides,
    small_group,
    template,
)

pytestmark = pytest.mark.postgres


def elsewhere(app: Any, sql: str, *params: object) -> None:
    """A change committed by another connection, as another process would make it."""
    kwargs = app.extensions["tenure_db"].driver_connect_kwargs()
    with psycopg.connect(autocommit=True, **kwargs) as conn:
        conn.execute(sql.encode(), params)


def eventually(read: Callable[[], Any], wanted: Callable[[Any], bool],
               deadline_s: float = 20.0) -> Any:
    """Read until `wanted(value)`; the value itself on timeout, for the assertion message."""
    stop = time.monotonic() + deadline_s
    value = read()
    while not wanted(value) and time.monotonic() < stop:
        time.sleep(0.01)
        value = read()
    return value


def heard(app: Any) -> None:
    """Every change committed so far has reached the cache's listener: a notice of the
    test's own, sent after them, has been heard (a channel's notifications arrive in commit
    order). Counting hits and misses right after a write would otherwise depend on whether
    that write's notification had arrived yet. The notice is told by its own key, not by a
    cached entry's absence: an earlier "*" drops every entry before the notice arrives."""
    cache = app.extensions["tenure_db"].read_cache
    key = f"heard:{time.monotonic_ns()}"
    keys: list[str] = []
    invalidate = cache.invalidate

    def noting(k: str = EVERYTHING) -> None:
        keys.append(k)
        invalidate(k)

    assert eventually(lambda: cache.live, bool), "the listener is connected"
    cache.invalidate = noting  # the listener calls it for each notice
    try:
        elsewhere(app, "SELECT pg_notify(%s, %s)", cache.channel, key)
        assert eventually(lambda: key in keys, bool), "the test's own notice is heard"
    finally:
        del cache.invalidate


def cached_contract(api: Client, app: Any) -> dict[str, Any]:
    g = small_group(api)
    m = manager(api, "A1", g["sub_a"]["id"])
    t = template(api)
    c = api.post("/api/v1/contracts", {"manager_id": m["id"], "start_date": "2026-01-01",
                                       "template_id": t["id"]}, expect=201).get_json()
    cache = app.extensions["tenure_db"].read_cache
    eventually(lambda: (api.get(f"/api/v1/contracts/{c['id']}"), cache.live)[1], bool)
    api.get(f"/api/v1/contracts/{c['id']}")
    hits = cache.hits
    assert api.get(f"/api/v1/contracts/{c['id']}").get_json() == c | {"documents":
                                                                       c["documents"]}
    assert cache.hits == hits + 1, "the second read is served from the cache"
    return c


def test_a_contract_changed_by_another_process_is_never_served_stale(
        pg_api: Client, pg_app: Any) -> None:
    c = cached_contract(pg_api, pg_app)
    elsewhere(pg_app, "UPDATE tenure_contracts SET state = 'terminated', "
              "end_reason = 'appraisal exit', row_version = row_version + 1 WHERE id = %s",
              c["id"])
    seen = eventually(lambda: pg_api.get(f"/api/v1/contracts/{c['id']}"),
                      lambda r: r.get_json()["state"] == "terminated")
    assert seen.get_json()["end_reason"] == "appraisal exit"
    assert seen.headers["ETag"] == f'"v{c["row_version"] + 1}"'


def test_targets_a_manager_name_and_a_unit_category_changed_elsewhere_show(
        pg_api: Client, pg_app: Any) -> None:
    c = cached_contract(pg_api, pg_app)
    doc = next(d for d in c["documents"] if d["year"] == 2027)
    elsewhere(pg_app, "UPDATE contract_documents SET targets = '[]', row_version = 9 "
              "WHERE id = %s", doc["id"])
    path = f"/api/v1/contracts/{c['id']}"
    seen = eventually(lambda: pg_api.get(path).get_json(),
                      lambda b: any(d["row_version"] == 9 for d in b["documents"]))
    assert next(d for d in seen["documents"] if d["id"] == doc["id"])["targets"] == []
    elsewhere(pg_app, "UPDATE managers SET name = '王芳' WHERE id = %s", c["manager_id"])
    assert eventually(lambda: pg_api.get(path).get_json()["manager_name"],
                      lambda name: name == "王芳") == "王芳"
    elsewhere(pg_app, "UPDATE org_units SET category = 'public_welfare' WHERE id = %s",
              c["org_unit_id"])
    assert eventually(lambda: pg_api.get(path).get_json()["category"],
                      lambda cat: cat == "public_welfare") == "public_welfare"


def test_a_document_added_by_a_bulk_statement_shows(pg_api: Client, pg_app: Any) -> None:
    c = cached_contract(pg_api, pg_app)
    elsewhere(pg_app, "INSERT INTO contract_documents (id, contract_id, kind, year, targets, "
              "row_version) VALUES ('extra-doc', %s, 'annual_performance_contract', 2029, "
              "'[]', 1)", c["id"])
    path = f"/api/v1/contracts/{c['id']}"
    years = eventually(lambda: [d["year"] for d in pg_api.get(path).get_json()["documents"]],
                       lambda ys: 2029 in ys)
    assert 2029 in years


def test_the_writing_process_reads_its_own_write_at_once(pg_api: Client, pg_app: Any) -> None:
    c = cached_contract(pg_api, pg_app)
    pg_api.post(f"/api/v1/contracts/{c['id']}/issue", expect=200)
    # No waiting: the commit in this process dropped its cache before the response.
    assert pg_api.get(f"/api/v1/contracts/{c['id']}").get_json()["state"] == \
        "pending_signature"


def test_with_its_listener_cut_off_the_cache_serves_nothing_stale(
        pg_api: Client, pg_app: Any) -> None:
    c = cached_contract(pg_api, pg_app)
    cache = pg_app.extensions["tenure_db"].read_cache
    # Cut every other session: the listener's connection with them. A change made while it
    # reconnects sends a notice nobody hears; the cache must not answer from before it.
    elsewhere(pg_app, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
              "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    elsewhere(pg_app, "UPDATE tenure_contracts SET signed_by = 'while deaf' WHERE id = %s",
              c["id"])
    path = f"/api/v1/contracts/{c['id']}"
    assert eventually(lambda: pg_api.get(path).get_json()["signed_by"],
                      lambda who: who == "while deaf") == "while deaf"
    assert eventually(lambda: cache.live, bool), "the listener reconnects"
    assert pg_api.get(path).get_json()["signed_by"] == "while deaf"


def test_cached_reads_keep_the_scope_rules(pg_api: Client, pg_app: Any) -> None:
    c = cached_contract(pg_api, pg_app)
    other = pg_api.as_(auth("manager", subject="b", manager_id="someone-else"))
    other.get(f"/api/v1/contracts/{c['id']}", expect=404)
    own = pg_api.as_(auth("manager", subject="a", manager_id=c["manager_id"]))
    assert own.get(f"/api/v1/contracts/{c['id']}").get_json()["id"] == c["id"]
    g_other = pg_api.get("/api/v1/org-units?page_size=100").get_json()["items"]
    sub_b = next(u for u in g_other if u["code"] == "SUB-B")
    scoped = pg_api.as_(auth("hr_admin", subject="hr-b", org_scope=sub_b["id"]))
    scoped.get(f"/api/v1/contracts/{c['id']}", expect=404)


def test_sqlite_runs_without_a_read_cache(sqlite_databases: Any) -> None:
    app = create_app(service_settings("contracts", sqlite_databases.fresh("contracts")))
    try:
        assert app.extensions["tenure_db"].read_cache is None
    finally:
        app.extensions["tenure_db"].dispose()


def test_a_signature_made_through_another_worker_shows_in_this_ones_cache(
        pg_api: Client, pg_app: Any) -> None:
    c = cached_contract(pg_api, pg_app)
    pg_api.post(f"/api/v1/contracts/{c['id']}/issue", expect=200)
    cached_body = pg_api.get(f"/api/v1/contracts/{c['id']}").get_json()
    assert cached_body["signatures"] == []
    other = create_app(service_settings(
        "contracts", pg_app.config["TENURE_SETTINGS"].database_url))
    try:
        other_api = Client(other.test_client())
        sign_as_manager(other_api, c)
        countersign(other_api, c)  # no chair registered: HR records the paper signature
    finally:
        other.extensions["tenure_db"].dispose()
    seen = eventually(lambda: pg_api.get(f"/api/v1/contracts/{c['id']}").get_json(),
                      lambda body: body["state"] == "active")
    assert [(s["party"], s["method"]) for s in seen["signatures"]] == \
        [("manager", "electronic")] * 2 + [("employer", "paper")] * 2


def test_a_signature_row_written_elsewhere_drops_the_cached_contract(
        pg_api: Client, pg_app: Any) -> None:
    c = cached_contract(pg_api, pg_app)
    cache = pg_app.extensions["tenure_db"].read_cache
    assert len(cache) == 1
    elsewhere(pg_app, "INSERT INTO contract_signatures (contract_id, document_id, "
              "amendment_version, party, method, on_behalf_of, signed_at) VALUES "
              "(%s, %s, 0, 'manager', 'paper', 'restored from the archive', now())",
              c["id"], c["documents"][0]["id"])
    assert eventually(lambda: len(cache), lambda n: n == 0) == 0


def test_a_signature_written_elsewhere_leaves_the_other_contracts_reads_cached(
        pg_api: Client, pg_app: Any) -> None:
    """A new signature names its contract, and nothing else: it once also sent a notice
    without a payload (read as "*"), and every signature dropped every process's reads."""
    c = cached_contract(pg_api, pg_app)
    cache = pg_app.extensions["tenure_db"].read_cache
    other = pg_api.post("/api/v1/contracts", {
        "manager_id": manager(pg_api, "A2", c["org_unit_id"])["id"],
        "start_date": "2026-01-01", "template_id": c["template_id"]}, expect=201).get_json()
    heard(pg_app)  # the creation's notices are in: none can refuse the next read's entry
    pg_api.get(f"/api/v1/contracts/{c['id']}")  # cached again after this process's write
    assert c["id"] in cache._entries
    elsewhere(pg_app, "INSERT INTO contract_signatures (contract_id, document_id, "
              "amendment_version, party, method, on_behalf_of, signed_at) VALUES "
              "(%s, %s, 0, 'manager', 'paper', 'restored from the archive', now())",
              other["id"], other["documents"][0]["id"])
    heard(pg_app)
    hits = cache.hits
    pg_api.get(f"/api/v1/contracts/{c['id']}")
    assert cache.hits == hits + 1, "the other contract's read is still served from memory"


def test_a_contract_terminated_by_an_exit_and_reinstated_is_read_fresh_each_time(
        pg_api: Client, pg_app: Any) -> None:
    c = cached_contract(pg_api, pg_app)
    c = pg_api.post(f"/api/v1/contracts/{c['id']}/issue", expect=200).get_json()
    sign_both_sides(pg_api, c)
    eventually(lambda: pg_api.get(f"/api/v1/contracts/{c['id']}"),
               lambda r: r.get_json()["state"] == "active")
    data = {"manager_id": c["manager_id"], "contract_id": c["id"], "trigger": "veto",
            "exit_decision_id": "d0000000-0000-4000-8000-00000000000e",
            "appraisal_id": "a0000000-0000-4000-8000-00000000000e",
            "triggers": [{"rule": "veto"}]}
    for event_type, extra, state in (
            ("exit.confirmed", {"because": "window_closed"}, "terminated"),
            ("exit.cancelled", {"because": "appeal_upheld_passes",
                                "contract_terminated": True}, "active")):
        envelope = make_event(event_type, "/tenure/appraisal", c["manager_id"],
                              {**data, **extra})
        with pg_app.extensions["tenure_db"].unit_of_work() as session:
            handle_appraisal_outcome(session, envelope)
        seen = eventually(lambda: pg_api.get(f"/api/v1/contracts/{c['id']}"),
                          lambda r, state=state: r.get_json()["state"] == state)
        assert seen.get_json()["state"] == state
    assert seen.get_json()["end_reason"] is None


def test_scoped_hr_read_a_cached_contract_inside_their_scope_and_never_one_outside(
        pg_api: Client, pg_app: Any) -> None:
    """A contract of SUB-A-1: SUB-A's officer is served it from the cache once the cache
    knows their scope's place; SUB-B's officer, whose place the cache knows too, is answered
    404; and once SUB-A-1 moves under SUB-B elsewhere, the two answers swap."""
    cached_contract(pg_api, pg_app)
    cache = pg_app.extensions["tenure_db"].read_cache
    units = {u["code"]: u for u in pg_api.get("/api/v1/org-units?page_size=100").get_json()[
        "items"]}
    m = manager(pg_api, "T1", units["SUB-A-1"]["id"])
    c = pg_api.post("/api/v1/contracts", {"manager_id": m["id"], "start_date": "2026-01-01"},
                    expect=201).get_json()
    heard(pg_app)  # the contract's creation cannot evict what is cached below
    path = f"/api/v1/contracts/{c['id']}"
    inside = pg_api.as_(auth("hr_admin", subject="hr-a", org_scope=units["SUB-A"]["id"]))
    outside = pg_api.as_(auth("hr_admin", subject="hr-b", org_scope=units["SUB-B"]["id"]))
    body = inside.get(path).get_json()
    assert body == pg_api.get(path).get_json()
    outside.get(path, expect=404)
    hits, misses = cache.hits, cache.misses
    assert inside.get(path).get_json() == body
    outside.get(path, expect=404)
    assert (cache.hits - hits, cache.misses) == (4, misses), "both answered from the cache"
    elsewhere(pg_app, "UPDATE org_units SET parent_id = %s, path = (SELECT path FROM "
              "org_units WHERE id = %s) || id || '/' WHERE id = %s",
              units["SUB-B"]["id"], units["SUB-B"]["id"], units["SUB-A-1"]["id"])
    eventually(lambda: inside.get(path, expect=None).status_code, lambda s: s == 404)
    for _ in range(2):  # the second time from the cache
        assert outside.get(path).get_json()["id"] == c["id"]
        inside.get(path, expect=404)
