"""A bulk issue's decisions read a page at a time (GET /bulk-issues/{id}/decisions): the
pages together are exactly the job's decisions, in order, each with its place; one outcome
can be kept; while the job runs, the pages hold the chunks it has committed; a bad query and
a job outside the caller's scope are refused with a problem that names what is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from services.contracts.schemas import BulkDecisionOut
from services.contracts.service import bulk
from tests.conftest import auth
from tests.integration.test_bulk_issue_chunks import EXPECTED, _issue, _world
from tests.support.contracts_world import Client


def _pages(api: Client, job_id: str, query: str = "") -> list[dict[str, Any]]:
    """Every page, following each answer's Link to the next, as a client would."""
    pages, path = [], f"/api/v1/bulk-issues/{job_id}/decisions?{query}"
    while path:
        resp = api.get(path)
        body = resp.get_json()
        link = resp.headers.get("Link")
        assert (link is None) is (body["page"]["next"] is None), (link, body["page"])
        pages.append(body)
        path = link.split(";")[0].strip("<>") if link else ""
    return pages


def test_the_pages_of_a_finished_job_are_its_decisions_in_order_each_with_its_place(
        api: Client) -> None:
    job = _issue(api, _world(api))
    pages = _pages(api, job["id"], "page_size=3")
    assert [len(p["items"]) for p in pages] == [3, 3, 1]
    assert [p["page"]["next"] for p in pages] == [3, 6, None]
    assert all(p["page"]["total"] == 7 and p["page"]["page_size"] == 3 for p in pages)
    assert all((p["job_id"], p["status"]) == (job["id"], "partial") for p in pages)
    items = [x for p in pages for x in p["items"]]
    assert [x["index"] for x in items] == list(range(1, 8))
    # Each item is the job's own decision, whole, with its place in front.
    assert [{k: v for k, v in x.items() if k != "index"} for x in items] == job["decisions"]
    assert all(list(x) == ["index", *BulkDecisionOut().fields] for x in items)


@pytest.mark.parametrize(("decision", "expected"), [
    ("failed", [(7, "D001", "signatory_required")]),
    ("skipped", [(2, "A002", "template_does_not_match")]),
    ("issued", [(k + 1, n, None) for k, (n, d, _) in enumerate(EXPECTED) if d == "issued"]),
])
def test_one_outcome_is_kept_with_the_places_the_decisions_have_in_the_whole_list(
        api: Client, decision: str, expected: list[tuple[int, str, str | None]]) -> None:
    job = _issue(api, _world(api))
    pages = _pages(api, job["id"], f"decision={decision}&page_size=2")
    items = [x for p in pages for x in p["items"]]
    assert [(x["index"], x["employee_no"], x["reason"]) for x in items] == expected
    assert {x["decision"] for x in items} == {decision}
    assert {p["page"]["total"] for p in pages} == {len(expected)}


def test_a_page_after_the_last_decision_is_empty_and_links_nowhere(api: Client) -> None:
    job = _issue(api, _world(api))
    resp = api.get(f"/api/v1/bulk-issues/{job['id']}/decisions?after=7")
    assert resp.get_json()["items"] == [] and resp.get_json()["page"]["next"] is None
    assert "Link" not in resp.headers


def test_while_the_job_runs_its_pages_hold_the_chunks_it_has_committed(
        api: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of two: as the third chunk starts, the pages hold the first four decisions,
    with the job's counts so far; the finished job's pages hold all seven, the same four
    first."""
    monkeypatch.setattr(bulk, "BULK_CHUNK", 2)
    seen: list[dict[str, Any]] = []
    chunk_of = bulk._chunk_of

    def reading_between_chunks(s: Any, plan: Any, after: str | None) -> Any:
        if plan.decided == 4 and not seen:  # two chunks committed, the third not begun
            seen.append(api.get(f"/api/v1/bulk-issues/{plan.job_id}/decisions").get_json())
        return chunk_of(s, plan, after)

    monkeypatch.setattr(bulk, "_chunk_of", reading_between_chunks)
    job = _issue(api, _world(api))
    [running] = seen
    assert (running["status"], running["page"]["total"], running["page"]["next"]) == (
        "running", 4, None)
    assert [(x["index"], x["employee_no"]) for x in running["items"]] == [
        (k + 1, n) for k, (n, *_r) in enumerate(EXPECTED[:4])]
    finished = [x for p in _pages(api, job["id"]) for x in p["items"]]
    assert finished[:4] == running["items"] and len(finished) == 7


@pytest.mark.parametrize(("query", "field"), [
    ("decision=pending", "decision"),
    ("page_size=0", "page_size"),
    ("page_size=501", "page_size"),
    ("after=-1", "after"),
    ("after=x", "after"),
    ("page=2", "page"),
])
def test_a_bad_query_is_a_422_naming_the_field(api: Client, query: str, field: str) -> None:
    job = _issue(api, _world(api))
    problem = api.get(f"/api/v1/bulk-issues/{job['id']}/decisions?{query}", expect=422)
    assert problem.content_type == "application/problem+json"
    assert field in problem.get_json()["errors"], problem.get_json()


def test_only_hr_who_may_see_the_job_reads_its_decisions(api: Client) -> None:
    w = _world(api)
    job = _issue(api, w)
    path = f"/api/v1/bulk-issues/{job['id']}/decisions"
    api.get("/api/v1/bulk-issues/no-such-job/decisions", expect=404)
    # HR of another subsidiary: the job was started group-wide, it is not theirs to see.
    other = api.as_(auth("hr_admin", subject="hr-b", org_scope=w["group"]["sub_b"]["id"]))
    other.get(path, expect=404)
    api.as_(auth("appraiser", subject="ap-1")).get(path, expect=403)
    assert api.get(path).get_json()["page"]["total"] == 7
