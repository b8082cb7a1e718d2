"""The manager's annual self-report through the API over real databases (SQLite and
PostgreSQL): own token, revisions, one disputed line, paper receipt, the deadline at review,
and the reminders before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import auth
from tests.support.contracts_world import Client

from .conftest import outbox_events, post_actuals, run_cohort, standard_actuals
from .world import YEAR, World

TODAY = datetime.now(UTC).date()
DUE = TODAY + timedelta(days=10)
REPORT = {"text": "In 2026 we grew profit and finished the plant upgrade.",
          "attachments": [{"name": "Audited accounts", "reference": "DOC-2026-0117"},
                          {"name": "Board minutes", "reference": "https://dms.example/42"}],
          "actuals": "confirmed"}


def manager_api(api: Client, manager_id: str) -> Client:
    return api.as_(auth("manager", subject=f"mgr-{manager_id[:8]}", manager_id=manager_id))


def appraisal_of(api: Client, manager_id: str) -> dict[str, Any]:
    items = api.get(f"/api/v1/appraisals?year={YEAR}&manager_id={manager_id}").get_json()
    return items["items"][0]


@pytest.fixture
def opened(api: Client, world: World) -> dict[str, str]:
    """E1's appraisals opened with a self-report deadline ten days ahead; the general
    manager's actuals recorded and scored. Returns manager id -> appraisal id."""
    api.post("/api/v1/appraisals/open", {"year": YEAR, "org_unit_id": world.enterprises[0],
                                         "self_report_due": DUE.isoformat()}, expect=200)
    post_actuals(api, standard_actuals(world.gms[0], "1000", "8"))
    ids = {m: appraisal_of(api, m)["id"] for m in (world.gms[0], world.deputy, world.third_gm)}
    api.post(f"/api/v1/appraisals/{ids[world.gms[0]]}/score", expect=200)
    return ids


def test_the_manager_submits_with_their_own_token_and_hr_sees_it_beside_the_score(
        app: Any, api: Client, world: World, opened: dict[str, str]) -> None:
    gm, appraisal_id = world.gms[0], opened[world.gms[0]]
    resp = manager_api(api, gm).put(f"/api/v1/appraisals/{appraisal_id}/self-report",
                                    REPORT, expect=200)
    assert resp.headers["ETag"] == '"v1"'
    body = resp.get_json()
    assert (body["status"], body["revision"], body["due"]) == ("submitted", 1, DUE.isoformat())
    assert body["current"]["channel"] == "manager"
    assert body["current"]["submitted_by"] == f"mgr-{gm[:8]}"
    seen = api.get(f"/api/v1/appraisals/{appraisal_id}").get_json()
    assert seen["score"] == "100.00" and seen["self_report"] == "submitted"
    detail = seen["self_report_detail"]
    assert detail["current"]["text"] == REPORT["text"]
    assert detail["current"]["attachments"] == REPORT["attachments"]
    assert detail["current"]["actuals"] == "confirmed"
    submitted = [e for e in outbox_events(app) if e["type"] == "self_report.submitted"]
    assert [(e["data"]["appraisal_id"], e["data"]["revision"], e["data"]["actuals"],
             e["data"]["channel"]) for e in submitted] == \
        [(appraisal_id, 1, "confirmed", "manager")]


def test_hr_cannot_submit_for_the_manager_and_nothing_is_stored(
        api: Client, world: World, opened: dict[str, str]) -> None:
    appraisal_id = opened[world.gms[0]]
    resp = api.put(f"/api/v1/appraisals/{appraisal_id}/self-report", REPORT, expect=403)
    assert resp.content_type == "application/problem+json"
    assert "manager must submit their own self-report" in resp.get_json()["detail"]
    assert "/self-report/paper" in resp.get_json()["detail"]
    # Another manager's token does not even find it.
    manager_api(api, world.gms[1]).put(f"/api/v1/appraisals/{appraisal_id}/self-report",
                                       REPORT, expect=404)
    view = api.get(f"/api/v1/appraisals/{appraisal_id}/self-report").get_json()
    assert (view["status"], view["revision"], view["revisions"]) == ("pending", 0, [])


def test_every_revision_is_kept_and_a_stale_if_match_is_refused(
        api: Client, world: World, opened: dict[str, str]) -> None:
    gm, appraisal_id = world.gms[0], opened[world.gms[0]]
    me = manager_api(api, gm)
    url = f"/api/v1/appraisals/{appraisal_id}/self-report"
    me.put(url, REPORT, expect=200)
    me.put(url, {**REPORT, "text": "Second draft."}, headers={"If-Match": '"v1"'}, expect=200)
    stale = me.put(url, {**REPORT, "text": "Lost update."}, headers={"If-Match": '"v1"'},
                   expect=412)
    assert stale.headers["ETag"] == '"v2"'
    view = me.get(url).get_json()  # the manager reads their own before it is published
    assert [r["text"] for r in view["revisions"]] == [REPORT["text"], "Second draft."]
    assert view["current"]["revision"] == 2


def test_a_dispute_must_name_one_line_of_the_managers_own_targets_with_a_reason(
        api: Client, world: World, opened: dict[str, str]) -> None:
    me = manager_api(api, world.gms[0])
    url = f"/api/v1/appraisals/{opened[world.gms[0]]}/self-report"
    unknown = me.put(url, {**REPORT, "actuals": "disputed", "dispute": {
        "indicator_code": "NOPE", "reason": "wrong"}}, expect=422).get_json()
    assert "dispute.indicator_code" in unknown["errors"]
    missing = me.put(url, {**REPORT, "actuals": "disputed"}, expect=422).get_json()
    assert "dispute" in missing["errors"]
    both = me.put(url, {**REPORT, "dispute": {"indicator_code": "PROFIT", "reason": "x"}},
                  expect=422).get_json()
    assert "dispute" in both["errors"]
    no_reason = me.put(url, {**REPORT, "actuals": "disputed", "dispute": {
        "indicator_code": "PROFIT"}}, expect=422).get_json()
    assert "dispute.reason" in no_reason["errors"]
    assert api.get(url).get_json()["revision"] == 0  # nothing stored by a refusal


def test_an_overruled_dispute_lets_the_review_go_ahead_with_the_recorded_actual(
        app: Any, api: Client, world: World, opened: dict[str, str]) -> None:
    appraisal_id = opened[world.gms[0]]
    url = f"/api/v1/appraisals/{appraisal_id}/self-report"
    manager_api(api, world.gms[0]).put(url, {**REPORT, "actuals": "disputed", "dispute": {
        "indicator_code": "PROFIT", "claimed_value": "1100",
        "reason": "The audited profit is 1,100"}}, expect=200)
    event = [e for e in outbox_events(app) if e["type"] == "self_report.submitted"][-1]
    assert (event["data"]["actuals"], event["data"]["disputed_indicator"]) == \
        ("disputed", "PROFIT")
    refused = api.post(f"/api/v1/appraisals/{appraisal_id}/review", {}, expect=409).get_json()
    assert "disputes the actual of PROFIT" in refused["detail"]
    assert "self-report/dispute" in refused["detail"]
    out = api.post(f"{url}/dispute", {"decision": "overruled",
                                      "note": "The ERP figure is the audited one"},
                   expect=200).get_json()
    assert (out["dispute"], out["current"]["resolution"]) == ("overruled", "overruled")
    reviewed = api.post(f"/api/v1/appraisals/{appraisal_id}/review", {}, expect=200).get_json()
    assert (reviewed["self_report"], reviewed["self_report_dispute"], reviewed["score"]) == \
        ("submitted", "overruled", "100.00")


def test_an_upheld_dispute_needs_the_corrected_actual_and_a_new_score_first(
        api: Client, world: World, opened: dict[str, str]) -> None:
    gm, appraisal_id = world.gms[0], opened[world.gms[0]]
    url = f"/api/v1/appraisals/{appraisal_id}/self-report"
    manager_api(api, gm).put(url, {**REPORT, "actuals": "disputed", "dispute": {
        "indicator_code": "PROFIT", "claimed_value": "1200", "reason": "audited 1,200"}},
        expect=200)
    early = api.post(f"{url}/dispute", {"decision": "upheld", "note": "right"},
                     expect=409).get_json()
    assert "Record the corrected actual of PROFIT" in early["detail"]
    api.post("/api/v1/actuals", {"manager_id": gm, "year": YEAR, "indicator_code": "PROFIT",
                                 "value": "1200", "source": "audit"}, expect=201)
    stale = api.post(f"{url}/dispute", {"decision": "upheld", "note": "right"},
                     expect=409).get_json()
    assert "score the appraisal again" in stale["detail"]
    api.post(f"/api/v1/appraisals/{appraisal_id}/score", expect=200)
    api.post(f"{url}/dispute", {"decision": "upheld", "note": "audit confirms"}, expect=200)
    reviewed = api.post(f"/api/v1/appraisals/{appraisal_id}/review", {}, expect=200).get_json()
    assert reviewed["self_report_dispute"] == "upheld"
    assert reviewed["score"] != "100.00"  # scored with the corrected profit


def test_review_before_the_deadline_without_a_report_is_refused_saying_what_to_do(
        api: Client, world: World, opened: dict[str, str]) -> None:
    appraisal_id = opened[world.gms[0]]
    resp = api.post(f"/api/v1/appraisals/{appraisal_id}/review", {}, expect=409)
    problem = resp.get_json()
    assert resp.content_type == "application/problem+json"
    assert f"due on {DUE}" in problem["detail"]
    assert f"review from {DUE + timedelta(days=1)} without it" in problem["detail"]
    assert problem["errors"] == {"self_report": ["pending"]}
    assert appraisal_of(api, world.gms[0])["state"] == "scored"  # nothing changed


def test_after_the_deadline_review_goes_ahead_and_records_no_report(
        api: Client, world: World, opened: dict[str, str]) -> None:
    gm, appraisal_id = world.gms[0], opened[world.gms[0]]
    yesterday = TODAY - timedelta(days=1)
    moved = api.post("/api/v1/appraisals/self-report-deadline", {
        "year": YEAR, "org_unit_id": world.enterprises[0],
        "self_report_due": yesterday.isoformat()}, expect=200).get_json()
    assert moved["appraisals"] == 3
    late = manager_api(api, gm).put(f"/api/v1/appraisals/{appraisal_id}/self-report", REPORT,
                                    expect=409).get_json()
    assert f"due on {yesterday}" in late["detail"]
    assert api.get(f"/api/v1/appraisals/{appraisal_id}/self-report").get_json()["status"] \
        == "none"
    reviewed = api.post(f"/api/v1/appraisals/{appraisal_id}/review", {}, expect=200).get_json()
    assert (reviewed["state"], reviewed["self_report"]) == ("reviewed", "none")


def test_a_runs_review_waits_for_the_report_until_the_deadline_then_goes_ahead_without(
        api: Client, world: World, opened: dict[str, str]) -> None:
    run = run_cohort(api, org_unit_id=world.enterprises[0])
    waiting = api.post(f"/api/v1/appraisal-runs/{run['id']}/review", {},
                       expect=200).get_json()
    refused = {r["manager_id"]: r["reason"] for r in waiting["refused"]}
    assert waiting["done"] == 0
    assert f"self-report is due on {DUE}" in refused[world.gms[0]]
    api.post("/api/v1/appraisals/self-report-deadline", {
        "year": YEAR, "org_unit_id": world.enterprises[0],
        "self_report_due": (TODAY - timedelta(days=1)).isoformat()}, expect=200)
    after = api.post(f"/api/v1/appraisal-runs/{run['id']}/review", {}, expect=200).get_json()
    assert after["done"] == 1  # G01; the others still lack actuals
    assert appraisal_of(api, world.gms[0])["self_report"] == "none"


def test_the_deadline_day_itself_still_counts_for_the_manager(
        api: Client, world: World, opened: dict[str, str]) -> None:
    api.post("/api/v1/appraisals/self-report-deadline", {
        "year": YEAR, "manager_ids": [world.gms[0]], "self_report_due": TODAY.isoformat()},
        expect=200)
    manager_api(api, world.gms[0]).put(
        f"/api/v1/appraisals/{opened[world.gms[0]]}/self-report", REPORT, expect=200)


def test_once_reviewed_the_report_can_no_longer_change(
        api: Client, world: World, opened: dict[str, str]) -> None:
    appraisal_id = opened[world.gms[0]]
    url = f"/api/v1/appraisals/{appraisal_id}/self-report"
    me = manager_api(api, world.gms[0])
    me.put(url, REPORT, expect=200)
    api.post(f"/api/v1/appraisals/{appraisal_id}/review", {}, expect=200)
    closed = me.put(url, {**REPORT, "text": "after review"}, expect=409).get_json()
    assert "is reviewed" in closed["detail"] and "appeal" in closed["detail"]


def test_hr_records_a_paper_report_marked_as_such_never_over_the_managers_own(
        api: Client, world: World, opened: dict[str, str]) -> None:
    paper = {**REPORT, "received_on": TODAY.isoformat(), "document_no": "HR-IN-2026-311"}
    deputy_url = f"/api/v1/appraisals/{opened[world.deputy]}/self-report"
    out = api.post(f"{deputy_url}/paper", paper, expect=201).get_json()
    assert (out["status"], out["current"]["channel"], out["current"]["document_no"]) == \
        ("on_paper", "paper", "HR-IN-2026-311")
    assert out["current"]["submitted_by"] == "hr-1"
    gm_url = f"/api/v1/appraisals/{opened[world.gms[0]]}/self-report"
    manager_api(api, world.gms[0]).put(gm_url, REPORT, expect=200)
    over = api.post(f"{gm_url}/paper", paper, expect=409).get_json()
    assert "submitted their own self-report" in over["detail"]
    late = {**paper, "received_on": (DUE + timedelta(days=1)).isoformat()}
    api.post(f"/api/v1/appraisals/{opened[world.third_gm]}/self-report/paper", late,
             expect=422)  # in the future


def test_a_reminder_goes_to_each_manager_without_a_report_7_and_1_days_before(
        app: Any, api: Client, world: World, opened: dict[str, str]) -> None:
    manager_api(api, world.gms[0]).put(
        f"/api/v1/appraisals/{opened[world.gms[0]]}/self-report", REPORT, expect=200)

    def remind(day: Any) -> int:
        return int(api.post("/api/v1/maintenance/self-report-reminders",
                            {"as_of": day.isoformat()}, expect=200).get_json()["reminded"])

    assert remind(DUE - timedelta(days=8)) == 0  # too early
    assert remind(DUE - timedelta(days=7)) == 2  # the deputy and T01; G01 reported
    assert remind(DUE - timedelta(days=5)) == 0  # the 7-day reminder went already
    assert remind(DUE - timedelta(days=1)) == 2
    assert remind(DUE) == 0
    assert remind(DUE + timedelta(days=1)) == 0  # after the deadline, nothing
    due = [e for e in outbox_events(app) if e["type"] == "self_report.due"]
    assert sorted((e["data"]["manager_id"], e["data"]["days_left"]) for e in due) == sorted(
        [(world.deputy, 7), (world.third_gm, 7), (world.deputy, 1), (world.third_gm, 1)])
    assert {e["data"]["due_date"] for e in due} == {DUE.isoformat()}
