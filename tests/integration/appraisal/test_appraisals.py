"""Appraisal runs, the trace, the state machine, publishing events, appeals, what-if, tenure
appraisal and reports, through the API over real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import auth
from tests.support.contracts_world import Client

from .conftest import outbox_events, post_actuals, run_cohort, standard_actuals
from .world import YEAR, World

#: (profit, roe) per general manager of E1..E8, and the total each earns (GM: 100/0).
RESULTS = [("1200", "10", "120.00"), ("1100", "9", "110.00"), ("1000", "8", "100.00"),
           ("950", "7.5", "90.00"), ("900", "7", "80.00"), ("850", "6.5", "70.00"),
           ("800", "6", "60.00"), ("500", "4", "38.57")]


def cohort_actuals(api: Client, world: World) -> None:
    rows: list[dict[str, Any]] = []
    for gm, (profit, roe, _) in zip(world.gms, RESULTS, strict=True):
        rows += standard_actuals(gm, profit, roe)
    rows += standard_actuals(world.deputy, "1000", "8")
    post_actuals(api, rows)


def by_manager(api: Client, **query: Any) -> dict[str, dict[str, Any]]:
    qs = "&".join(f"{k}={v}" for k, v in {"year": YEAR, "page_size": 100, **query}.items())
    return {a["manager_id"]: a for a in api.get(f"/api/v1/appraisals?{qs}").get_json()["items"]}


@pytest.fixture
def scored(api: Client, world: World) -> dict[str, Any]:
    cohort_actuals(api, world)
    return run_cohort(api, layer=2, category="commercial_competitive")


def test_run_scores_the_cohort_with_forced_distribution_and_skips_the_departed(
        api: Client, world: World, scored: dict[str, Any]) -> None:
    assert (scored["status"], scored["progress"], scored["scored"]) == ("done", "100.00", 9)
    assert {s["manager_id"]: s["reason"] for s in scored["skips"]} == \
        {world.retiree: "departed (retirement)"}
    cohort = scored["summary"]["cohorts"][0]
    assert (cohort["size"], cohort["excellent_quota"], cohort["moved_down"]) == (9, 2, 3)
    got = by_manager(api)
    assert [got[gm]["score"] for gm in world.gms] == [r[2] for r in RESULTS]
    assert [got[gm]["grade"] for gm in world.gms] == [
        "excellent", "excellent", "good", "good", "good", "competent",
        "basically_competent", "not_competent"]
    # Ranked 3rd and 5th among the excellent, outside the quota of 2: moved down a grade.
    assert got[world.gms[2]]["grade_before_distribution"] == "excellent"
    assert got[world.deputy]["grade"] == "good"
    assert [got[gm]["outcome"] for gm in world.gms[6:]] == ["incompetence_exit"] * 2
    assert got[world.gms[7]]["exit_rule"] == "grade_not_competent"
    assert got[world.gms[6]]["exit_rule"] == "score_below_exit_line"
    assert {a["scheme_code"] for a in got.values()} == {"group_default"}
    assert {a["scheme_version"] for a in got.values()} == {1}


def test_appraisal_returns_the_full_trace_per_indicator(
        api: Client, world: World, scored: dict[str, Any]) -> None:
    summary = by_manager(api)[world.gms[4]]
    resp = api.get(f"/api/v1/appraisals/{summary['id']}")
    assert resp.headers["ETag"] == f'"v{summary["row_version"]}"'
    result = resp.get_json()["result"]
    profit = next(i for i in result["indicators"] if i["code"] == "PROFIT")
    assert {k: profit[k] for k in ("actual", "base", "target", "challenge", "rule", "share",
                                   "points", "weight", "completion")} == {
        "actual": "900", "base": "800", "target": "1000", "challenge": "1200",
        "rule": "between_base_and_target", "share": "0.8000", "points": "32.00",
        "weight": "40", "completion": "0.9000"}
    assert result["organisational"]["score"] == "80.00"
    assert result["composition"]["proportion"] == {"organisational": "1.00",
                                                   "individual": "0.00"}
    assert result["totals"]["total"] == "80.00"
    assert result["grade"] == "good" and result["complete"] is True


def test_rerunning_is_idempotent_and_leaves_reviewed_appraisals_alone(
        api: Client, world: World, scored: dict[str, Any]) -> None:
    first = by_manager(api)
    reviewed = first[world.gms[0]]["id"]
    api.post(f"/api/v1/appraisals/{reviewed}/review", {"note": "checked"}, expect=200)
    again = run_cohort(api, layer=2, category="commercial_competitive")
    assert again["scored"] == 8
    assert {s["manager_id"]: s["reason"] for s in again["skips"]}[world.gms[0]] == \
        "appraisal is reviewed"
    second = by_manager(api)
    assert {m: (a["id"], a["score"], a["grade"]) for m, a in second.items()} == \
        {m: (a["id"], a["score"], a["grade"]) for m, a in first.items()}
    assert second[world.gms[0]]["state"] == "reviewed"
    assert second[world.gms[1]]["row_version"] == first[world.gms[1]]["row_version"] + 1


def test_a_whole_run_is_acted_on_a_chunk_at_a_time_in_one_transaction(
        app: Any, api: Client, world: World, scored: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks bound the memory of a large run's action; every appraisal is still acted on
    once, and the events are those of the whole run."""
    from services.appraisal.service import runs
    monkeypatch.setattr(runs, "ACTION_CHUNK", 2)
    before = by_manager(api)
    for action in ("review", "approve", "publish"):
        out = api.post(f"/api/v1/appraisal-runs/{scored['id']}/{action}", {},
                       expect=200).get_json()
        assert (out["done"], out["refused"]) == (9, [])
    after = by_manager(api)
    assert {a["state"] for a in after.values()} == {"published"}
    assert {m: a["row_version"] for m, a in after.items()} == \
        {m: a["row_version"] + 3 for m, a in before.items()}
    published = [e for e in outbox_events(app) if e["type"] == "appraisal.published"]
    assert sorted(e["data"]["manager_id"] for e in published) == sorted(after)
    # Each event names the manager's unit, read once for the chunk.
    with app.extensions["tenure_db"].engine.connect() as conn:
        names = dict(conn.execute(text("SELECT id, name FROM org_units")).all())
    assert all(e["data"]["org_unit_name"] == names[e["data"]["org_unit_id"]]
               and e["data"]["org_unit_name"] for e in published)


def test_publishing_a_run_emits_results_and_exit_triggers_with_what_notices_need(
        app: Any, api: Client, world: World, scored: dict[str, Any]) -> None:
    api.as_(auth("appraiser")).post(f"/api/v1/appraisal-runs/{scored['id']}/approve", {},
                                    expect=403)
    for action in ("review", "approve", "publish"):
        out = api.post(f"/api/v1/appraisal-runs/{scored['id']}/{action}", {},
                       expect=200).get_json()
        assert (out["done"], out["refused"]) == (9, [])
    assert out["events"] == {"appraisal.published": 9, "exit.triggered": 2}
    events = outbox_events(app)
    exits = {e["data"]["manager_id"]: e for e in events if e["type"] == "exit.triggered"}
    assert set(exits) == {world.gms[6], world.gms[7]}
    worst = exits[world.gms[7]]
    data = worst["data"]
    assert worst["subject"] == world.gms[7]
    assert (data["contract_id"], data["year"], data["trigger"], data["rule"]) == \
        (world.contracts[world.gms[7]], YEAR, "grade_not_competent", "grade_not_competent")
    assert {t["rule"] for t in data["triggers"]} == {
        "grade_not_competent", "score_below_exit_line", "main_indicator_below_completion"}
    main = next(t for t in data["triggers"] if t["rule"] == "main_indicator_below_completion")
    assert main["description"] and main["evidence"]
    assert (data["grade"], data["score"], data["manager_name"], data["manager_email"],
            data["org_unit_id"]) == ("not_competent", "38.57", "Manager G08",
                                     "g08@example.com", world.enterprises[7])
    published = [e for e in events if e["type"] == "appraisal.published"]
    first = next(e for e in published if e["data"]["manager_id"] == world.gms[0])["data"]
    assert (first["grade"], first["score"], first["manager_language"]) == \
        ("excellent", "120.00", "en")


def test_a_whole_runs_actions_read_the_trace_only_of_the_appraisals_whose_events_quote_it(
        app: Any, api: Client, world: World, scored: dict[str, Any]) -> None:
    """The trace is each appraisal's largest column. Review and approval of a complete run
    never read it; publication reads it only for the two exits, whose exit.triggered
    events quote each trigger's description and evidence from it."""
    from tests.support.statements import sent_statements

    engine = app.extensions["tenure_db"].engine
    with_trace: dict[str, list[str]] = {}
    for action in ("review", "approve", "publish"):
        with sent_statements(engine) as sent:
            out = api.post(f"/api/v1/appraisal-runs/{scored['id']}/{action}", {},
                           expect=200).get_json()
        assert (out["done"], out["refused"]) == (9, [])
        with_trace[action] = [sql for sql in sent if "appraisals.result" in sql]
    assert with_trace["review"] == [] and with_trace["approve"] == []
    assert len(with_trace["publish"]) == 1  # one query for the chunk's exits
    exits = [e["data"] for e in outbox_events(app) if e["type"] == "exit.triggered"]
    assert sorted(e["manager_id"] for e in exits) == sorted([world.gms[6], world.gms[7]])
    assert all(t["description"] and t["evidence"] for e in exits for t in e["triggers"])


def test_published_results_change_only_by_a_recorded_appeal_decision(
        app: Any, api: Client, world: World, scored: dict[str, Any]) -> None:
    for action in ("review", "approve", "publish"):
        api.post(f"/api/v1/appraisal-runs/{scored['id']}/{action}", {}, expect=200)
    low = by_manager(api)[world.gms[6]]
    path = f"/api/v1/appraisals/{low['id']}"
    api.post(f"{path}/score", expect=409)
    api.post(f"{path}/publish", {}, expect=409)
    mine = api.as_(auth("manager", manager_id=world.gms[6]))
    appeal = mine.post(f"{path}/appeal", {"reason": "Profit was restated by the auditor"},
                       expect=201).get_json()
    assert appeal["status"] == "open" and appeal["result_before"]["grade"] == \
        "basically_competent"
    assert api.get(path).get_json()["state"] == "open"
    post_actuals(api, [{"manager_id": world.gms[6], "year": YEAR, "indicator_code": "PROFIT",
                        "value": "900", "source": "audit"},
                       {"manager_id": world.gms[6], "year": YEAR, "indicator_code": "ROE",
                        "value": "7", "source": "audit"}])
    api.post(f"{path}/score", expect=200)
    api.post(f"{path}/review", {}, expect=200)
    api.post(f"{path}/approve", {}, expect=200)
    api.post(f"{path}/publish", {}, expect=409)  # only the appeal's decision publishes
    decided = api.post(f"{path}/appeal/decision", {"decision": "upheld",
                                                   "note": "restated profit accepted"},
                       expect=200).get_json()
    assert (decided["decision"], decided["result_after"]["grade"]) == ("upheld", "good")
    after = api.get(path).get_json()
    assert (after["state"], after["score"], after["outcome"]) == ("published", "80.00",
                                                                  "retain")
    history = api.get(f"{path}/history").get_json()
    assert [x["action"] for x in history["log"]][-6:] == [
        "appeal", "submit", "score", "review", "approve", "publish"]

    worst = by_manager(api)[world.gms[7]]
    wpath = f"/api/v1/appraisals/{worst['id']}"
    api.post(f"{wpath}/appeal", {"reason": "disagree"}, expect=201)
    api.post(f"{wpath}/appeal/decision", {"decision": "rejected", "note": "figures stand"},
             expect=200)
    restored = api.get(wpath).get_json()
    assert (restored["state"], restored["grade"], restored["score"]) == (
        "published", "not_competent", "38.57")
    types = [e["type"] for e in outbox_events(app)]
    assert types.count("appraisal.appealed") == 2
    assert types.count("appraisal.published") == 10


def test_review_is_refused_while_a_line_lacks_its_actual(api: Client, world: World) -> None:
    post_actuals(api, [row for row in standard_actuals(world.third_gm, "1000", "8")
                       if row["indicator_code"] != "SAFETY"])
    run = run_cohort(api, layer=3)
    appraisal = by_manager(api, run_id=run["id"])[world.third_gm]
    full = api.get(f"/api/v1/appraisals/{appraisal['id']}").get_json()
    safety = next(i for i in full["result"]["indicators"] if i["code"] == "SAFETY")
    assert safety["flags"] == ["missing_actual"] and full["result"]["complete"] is False
    problem = api.post(f"/api/v1/appraisals/{appraisal['id']}/review", {},
                       expect=409).get_json()
    assert problem["errors"]["actuals"] == ["SAFETY"]


def test_a_whole_runs_review_refuses_the_appraisal_lacking_an_actual_and_names_the_line(
        api: Client, world: World) -> None:
    """The whole-run review reads each appraisal without its trace; the one it refuses
    still names the line whose actual is missing, and the others are reviewed."""
    lacking = world.gms[4]
    rows: list[dict[str, Any]] = []
    for gm, (profit, roe, _) in zip(world.gms, RESULTS, strict=True):
        rows += [row for row in standard_actuals(gm, profit, roe)
                 if gm != lacking or row["indicator_code"] != "SAFETY"]
    post_actuals(api, rows + standard_actuals(world.deputy, "1000", "8"))
    run = run_cohort(api, layer=2, category="commercial_competitive")
    out = api.post(f"/api/v1/appraisal-runs/{run['id']}/review", {},
                   expect=200).get_json()
    assert [(r["manager_id"], r["reason"]) for r in out["refused"]] == [
        (lacking, "Actuals are missing for SAFETY: record them and score again "
                  "before the review")]
    assert out["done"] == len(world.gms)  # the deputy reviewed; the one lacking an actual not
    states = {m: a["state"] for m, a in by_manager(api, run_id=run["id"]).items()}
    assert states.pop(lacking) == "scored"
    assert set(states.values()) == {"reviewed"}


def test_what_if_scores_hypothetical_actuals_and_saves_nothing(
        app: Any, api: Client, world: World, scored: dict[str, Any]) -> None:
    before = by_manager(api)[world.gms[4]]
    outbox_before = len(outbox_events(app))
    out = api.post("/api/v1/what-if", {"manager_id": world.gms[4], "year": YEAR, "actuals": [
        {"indicator_code": "PROFIT", "value": "1200"},
        {"indicator_code": "SAFETY", "veto_hit": True}]}, expect=200).get_json()
    # PROFIT 1200 -> 48, ROE 7 (recorded) -> 24: 102.86; the veto forces the lowest grade.
    assert (out["score"], out["grade"], out["saved"]) == ("102.86", "not_competent", False)
    assert by_manager(api)[world.gms[4]]["score"] == before["score"]
    assert len(outbox_events(app)) == outbox_before
    mine = api.as_(auth("manager", manager_id=world.gms[4]))
    assert mine.post("/api/v1/what-if", {"manager_id": world.gms[4], "year": YEAR},
                     expect=200).get_json()["score"] == "80.00"
    mine.post("/api/v1/what-if", {"manager_id": world.gms[3], "year": YEAR}, expect=404)


def test_tenure_appraisal_concludes_the_term_and_publishes_its_outcome(
        app: Any, api: Client, world: World) -> None:
    m = world.short_term
    post_actuals(api, standard_actuals(m, "900", "7"))
    annual = run_cohort(api, category="commercial_special_function")
    for action in ("review", "approve", "publish"):
        api.post(f"/api/v1/appraisal-runs/{annual['id']}/{action}", {}, expect=200)
    # A cohort of one: the excellent quota is floor(0.3 x 1) = 0; 80.00 is good anyway.
    assert by_manager(api, kind="annual")[m]["grade"] == "good"
    post_actuals(api, [{"manager_id": m, "year": YEAR, "kind": "tenure",
                        "indicator_code": "PROFIT", "value": "2400", "source": "audit"}])
    tenure = run_cohort(api, kind="tenure", category="commercial_special_function")
    got = by_manager(api, kind="tenure")[m]
    # 0.6 x 80.00 (annual) + 0.4 x 60.00 (tenure targets at base) = 72.00
    assert (got["score"], got["tenure_outcome"]) == ("72.00", "renew_with_conditions")
    path = f"/api/v1/appraisals/{got['id']}"
    api.post(f"{path}/review", {}, expect=200)
    api.post(f"{path}/approve", {"conditions": "Raise profit to target within a year"},
             expect=200)
    api.post(f"{path}/publish", {}, expect=200)
    concluded = [e for e in outbox_events(app) if e["type"] == "tenure.concluded"]
    assert len(concluded) == 1 and tenure["scored"] == 1
    data = concluded[0]["data"]
    assert (data["manager_id"], data["contract_id"], data["outcome"], data["conditions"]) == \
        (m, world.contracts[m], "renew_with_conditions", "Raise profit to target within a year")


def test_report_gives_grades_adjustments_and_exits_by_reason_with_departures_apart(
        api: Client, world: World, scored: dict[str, Any]) -> None:
    for action in ("review", "approve", "publish"):
        api.post(f"/api/v1/appraisal-runs/{scored['id']}/{action}", {}, expect=200)
    report = api.get(f"/api/v1/reports/appraisals?year={YEAR}").get_json()
    group = next(g for g in report["groups"]
                 if (g["layer"], g["category"]) == (2, "commercial_competitive"))
    assert group["appraised"] == 9
    assert group["grades"] == {"excellent": 2, "good": 4, "competent": 1,
                               "basically_competent": 1, "not_competent": 1}
    assert group["grade_percent"]["good"] == "44.44"
    assert (group["appraisal_exits"], group["bottom_grade_adjustments"]) == (2, 0)
    assert group["exits_by_reason"]["grade_not_competent"] == 1
    assert group["exits_by_reason"]["score_below_exit_line"] == 1
    assert group["triggers_fired"]["score_below_exit_line"] == 2
    assert group["departures"] == 1 and group["departures_by_reason"]["retirement"] == 1
    assert report["totals"]["appraisal_exits"] == 2
    resp = api.get(f"/api/v1/reports/appraisals?year={YEAR}&format=csv")
    assert resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    line = next(r for r in rows if r["category"] == "commercial_competitive")
    assert (line["appraised"], line["not_competent"], line["appraisal_exits"],
            line["exits_grade_not_competent"], line["departures_retirement"]) == \
        ("9", "1", "2", "1", "1")
    assert rows[-1]["layer"] == "total"


def test_scopes_hr_sees_its_subtree_and_a_manager_only_their_published_result(
        api: Client, world: World, scored: dict[str, Any]) -> None:
    scoped = api.as_(auth("hr_admin", org_scope=world.enterprises[0]))
    assert set(by_manager(scoped)) == {world.gms[0], world.deputy}
    other = by_manager(api)[world.gms[3]]["id"]
    scoped.get(f"/api/v1/appraisals/{other}", expect=404)
    mine = api.as_(auth("manager", manager_id=world.gms[0]))
    own = by_manager(api)[world.gms[0]]["id"]
    mine.get(f"/api/v1/appraisals/{own}", expect=404)  # not yet published
    for action in ("review", "approve", "publish"):
        api.post(f"/api/v1/appraisal-runs/{scored['id']}/{action}", {}, expect=200)
    assert mine.get(f"/api/v1/appraisals/{own}").get_json()["grade"] == "excellent"
    assert set(by_manager(mine)) == {world.gms[0]}
    mine.get(f"/api/v1/appraisals/{other}", expect=404)
    mine.get(f"/api/v1/reports/appraisals?year={YEAR}", expect=403)


def test_opening_announces_each_appraisal_with_its_deadlines(
        app: Any, api: Client, world: World) -> None:
    out = api.post("/api/v1/appraisals/open", {
        "year": YEAR, "org_unit_id": world.enterprises[0], "actuals_due": "2027-01-31",
        "review_due": "2027-02-28", "appraiser_ids": ["appraiser-1"]}, expect=200).get_json()
    assert (out["opened"], out["already_open"]) == (3, 0)  # G01, the deputy, T01 below
    again = api.post("/api/v1/appraisals/open", {"year": YEAR,
                                                 "org_unit_id": world.enterprises[0]},
                     expect=200).get_json()
    assert (again["opened"], again["already_open"]) == (0, 3)
    opened = [e for e in outbox_events(app) if e["type"] == "appraisal.opened"]
    assert len(opened) == 3
    assert (opened[0]["data"]["actuals_due"], opened[0]["data"]["appraiser_ids"]) == \
        ("2027-01-31", ["appraiser-1"])
    post_actuals(api, standard_actuals(world.gms[0], "1000", "8"))
    assert by_manager(api)[world.gms[0]]["state"] == "actuals_submitted"
    reminded = api.post("/api/v1/maintenance/actuals-reminders",
                        {"as_of": "2027-01-25", "days": 14}, expect=200).get_json()
    assert reminded == {"reminded": 2}  # G01 submitted its actuals already
    due = [e for e in outbox_events(app) if e["type"] == "actuals.due"]
    assert {e["data"]["days_left"] for e in due} == {6}


def test_a_run_split_over_worker_processes_scores_exactly_as_one_process(
        app: Any, api: Client, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    database = app.extensions["tenure_db"]
    if not database.is_postgres:
        pytest.skip("worker processes score large runs on PostgreSQL only")
    from services.appraisal.service import runs
    from shared.auth import Principal

    cohort_actuals(api, world)
    hr = Principal(subject="hr-1", roles=frozenset({"hr_admin"}))
    one = runs.start_run(database, hr, {"year": YEAR, "layer": 2,
                                        "category": "commercial_competitive"})
    runs.execute_run(database, one.id, workers=1)
    single = {m: (a["id"], a["score"], a["grade"], a["outcome"])
              for m, a in by_manager(api).items()}
    monkeypatch.setattr(runs, "BATCH", 2)  # nine managers: five batches over two workers
    two = runs.start_run(database, hr, {"year": YEAR, "layer": 2,
                                        "category": "commercial_competitive"})
    runs.execute_run(database, two.id, workers=2)
    done = api.get(f"/api/v1/appraisal-runs/{two.id}").get_json()
    assert (done["status"], done["scored"], done["summary"]["timings"]["workers"]) == \
        ("done", 9, 2)
    assert {m: (a["id"], a["score"], a["grade"], a["outcome"])
            for m, a in by_manager(api).items()} == single
    assert done["summary"]["cohorts"][0]["moved_down"] == 3


def test_difficulty_pay_base_and_a_category_scheme_shape_the_recorded_result(
        api: Client, world: World) -> None:
    gm, welfare = world.gms[4], world.welfare_gm
    api.put(f"/api/v1/difficulty/{world.enterprises[4]}/{YEAR}", {"coefficient": "1.1"},
            expect=200)
    out = api.post("/api/v1/pay-bases", {"items": [
        {"manager_id": gm, "year": YEAR, "amount": "300000.00", "source": "payroll"},
        {"manager_id": "nobody", "year": YEAR, "amount": "1.00", "source": "payroll"}]},
        expect=200).get_json()
    assert (out["accepted"], [e["row"] for e in out["errors"]]) == (1, [2])
    api.post("/api/v1/schemes", {"code": "welfare", "category": "public_welfare",
                                 "grades": {"excellent": "115.00"}}, expect=201)
    post_actuals(api, standard_actuals(gm, "900", "7") + standard_actuals(welfare, "1100", "9"))
    run_cohort(api, org_unit_id=world.enterprises[4])
    run_cohort(api, category="public_welfare")
    got = by_manager(api)
    full = api.get(f"/api/v1/appraisals/{got[gm]['id']}").get_json()
    composition, pay = full["result"]["composition"], full["result"]["pay"]
    # 80.00 organisational x 1.1 difficulty = 88.00: good, pay coefficient 1.00.
    assert (composition["difficulty"], composition["organisational_adjusted"],
            full["score"], full["grade"]) == ("1.1", "88.00", "88.00", "good")
    assert (pay["amount"], pay["deferred"], pay["paid_now"]) == ("300000.00", "150000.00",
                                                                "150000.00")
    assert (got[welfare]["scheme_code"], got[welfare]["scheme_version"],
            got[welfare]["score"], got[welfare]["grade"]) == ("welfare", 1, "110.00", "good")


def test_a_cohort_runs_once_at_a_time_unless_the_running_one_was_abandoned(
        app: Any, api: Client, world: World) -> None:
    from datetime import UTC, datetime, timedelta

    from services.appraisal.models import AppraisalRun

    def running_since(minutes: int) -> str:
        run_id = f"00000000-0000-4000-8000-{minutes:012d}"
        with app.extensions["tenure_db"].unit_of_work() as s:
            s.add(AppraisalRun(id=run_id, year=YEAR, kind="annual", criteria={"layer": 3},
                               status="running", requested_by="hr-1", org_scope=None,
                               created_at=datetime.now(UTC) - timedelta(minutes=minutes),
                               started_at=datetime.now(UTC) - timedelta(minutes=minutes)))
        return run_id

    busy = running_since(1)
    problem = api.post("/api/v1/appraisal-runs", {"year": YEAR, "layer": 3},
                       expect=409).get_json()
    assert problem["errors"]["run"] == [busy]
    assert run_cohort(api, layer=2)["status"] == "done"  # another cohort is not blocked
    with app.extensions["tenure_db"].unit_of_work() as s:
        s.get(AppraisalRun, busy).status = "failed"
    stale = running_since(45)
    run_cohort(api, layer=3)
    old = api.get(f"/api/v1/appraisal-runs/{stale}").get_json()
    assert (old["status"], old["error"]) == ("failed", "abandoned: no result after 30 minutes")
