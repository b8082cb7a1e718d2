"""Actuals in by REST (single, JSON bulk, CSV) and schemes with versions, over real databases."""

from __future__ import annotations

from typing import Any

from tests.conftest import auth
from tests.support.contracts_world import Client
from tests.support.statements import sent_statements

from .conftest import post_actuals, run_cohort, standard_actuals
from .world import YEAR, World


def test_group_default_scheme_exists_without_any_setup(api: Client) -> None:
    schemes = api.get("/api/v1/schemes").get_json()
    assert [(s["code"], s["version"], s["builtin"]) for s in schemes] == \
        [("group_default", 1, True)]
    assert schemes[0]["grades"]["competent"] == "70.00"
    assert schemes[0]["scoring"]["base_share"] == "0.60"


def test_override_states_only_what_differs_and_versions_are_never_rewritten(
        api: Client) -> None:
    body = {"code": "welfare", "category": "public_welfare",
            "grades": {"excellent": "92.00"}}
    first = api.post("/api/v1/schemes", body, expect=201).get_json()
    assert (first["version"], first["grades"]["excellent"], first["grades"]["good"]) == \
        (1, "92.00", "80.00")
    second = api.post("/api/v1/schemes", {"code": "welfare",
                                          "exits": {"exit_line": "65.00"}},
                      expect=201).get_json()
    # A new version inherits the previous version's rules and its layer/category key.
    assert (second["version"], second["category"], second["grades"]["excellent"],
            second["exits"]["exit_line"]) == (2, "public_welfare", "92.00", "65.00")
    dup = api.post("/api/v1/schemes", {"code": "welfare", "version": 1}, expect=409)
    assert dup.get_json()["errors"]["version"]
    resolved = api.get("/api/v1/schemes/resolve?category=public_welfare&layer=2").get_json()
    assert (resolved["code"], resolved["version"]) == ("welfare", 2)
    v1 = api.get("/api/v1/schemes/welfare?version=1").get_json()
    assert v1["exits"]["exit_line"] == "70.00"


def test_scheme_faults_are_named_by_field_path(api: Client) -> None:
    resp = api.post("/api/v1/schemes", {"code": "bad", "layer": 3,
                                        "scoring": {"base_share": "1.50", "nonsense": 1}},
                    expect=422)
    problem = resp.get_json()
    assert resp.mimetype == "application/problem+json"
    assert "scoring.nonsense" in problem["errors"]


def test_scoped_or_non_hr_callers_cannot_change_schemes(api: Client, world: World) -> None:
    scoped = api.as_(auth("hr_admin", org_scope=world.enterprises[0]))
    scoped.post("/api/v1/schemes", {"code": "mine", "layer": 2}, expect=403)
    api.as_(auth("appraiser")).post("/api/v1/schemes", {"code": "mine", "layer": 2},
                                    expect=403)


def test_bulk_actuals_keep_good_rows_and_report_bad_ones_by_row_and_field(
        api: Client, world: World) -> None:
    gm = world.gms[0]
    rows: list[dict[str, Any]] = [
        {"manager_id": gm, "year": YEAR, "indicator_code": "PROFIT", "value": "1000",
         "source": "finance-erp"},
        {"manager_id": gm, "year": YEAR, "indicator_code": "PARTY", "rating": "Z",
         "source": "hr-system"},
        {"manager_id": gm, "year": YEAR, "indicator_code": "ROE", "value": 8.5,
         "source": "finance-erp"},
        {"manager_id": "nobody", "year": YEAR, "indicator_code": "ROE", "value": "8",
         "source": "finance-erp"},
        {"manager_id": gm, "year": 2027, "indicator_code": "ROE", "value": "8",
         "source": "finance-erp"},
        {"manager_id": gm, "year": YEAR, "indicator_code": "COST", "rating": "A",
         "source": "finance-erp"},
        {"manager_id": gm, "year": YEAR, "indicator_code": "SAFETY", "veto_hit": False},
        {"employee_no": "G01", "year": YEAR, "indicator_code": "ROE", "value": "8.25",
         "source": "finance-erp"},
    ]
    out = api.post("/api/v1/actuals/bulk", {"items": rows}, expect=200).get_json()
    assert (out["accepted"], out["rejected"]) == (2, 6)
    faults = {(e["row"], e["field"]) for e in out["errors"]}
    assert faults == {(2, "rating"), (3, "value"), (4, "manager_id"), (5, "year"),
                      (6, "rating"), (7, "source")}
    kept = api.get(f"/api/v1/actuals?manager_id={gm}&year={YEAR}").get_json()["items"]
    assert {(a["indicator_code"], a["value"], a["source"]) for a in kept} == \
        {("PROFIT", "1000", "finance-erp"), ("ROE", "8.25", "finance-erp")}


def test_csv_upload_reports_bad_lines_by_line_number(api: Client, world: World) -> None:
    gm = world.gms[1]
    text = ("employee_no,year,indicator_code,value,rating,veto_hit,source\n"
            f"G02,{YEAR},PROFIT,1100,,,finance-erp\n"
            f"G02,{YEAR},ROE,abc,,,finance-erp\n"
            f"G02,{YEAR},PARTY,,A,,hr-system\n"
            f"G02,{YEAR},SAFETY,,,false,hse-system\n"
            f"G02,{YEAR},UNKNOWN,1,,,finance-erp\n")
    resp = api.call("POST", "/api/v1/actuals/csv", 200, data=text.encode(),
                    headers={"Content-Type": "text/csv"})
    out = resp.get_json()
    assert (out["accepted"], out["rejected"]) == (3, 2)
    assert [(e["row"], e["field"]) for e in out["errors"]] == [(3, "value"),
                                                               (6, "indicator_code")]
    kept = api.get(f"/api/v1/actuals?manager_id={gm}").get_json()
    assert kept["page"]["total"] == 3


def test_actuals_only_for_locked_targets_and_never_for_a_published_appraisal(
        api: Client, world: World) -> None:
    gm = world.gms[3]
    single = {"manager_id": gm, "year": 2027, "indicator_code": "PROFIT", "value": "1",
              "source": "finance-erp"}
    problem = api.post("/api/v1/actuals", single, expect=422).get_json()
    assert "no locked annual targets" in problem["detail"]
    post_actuals(api, standard_actuals(gm, "1000", "8"))
    run = run_cohort(api, org_unit_id=world.enterprises[3])
    assert run["scored"] == 1
    appraisal = api.get(f"/api/v1/appraisals?manager_id={gm}").get_json()["items"][0]
    for action in ("review", "approve", "publish"):
        api.post(f"/api/v1/appraisals/{appraisal['id']}/{action}", {}, expect=200)
    late = {**single, "year": YEAR, "value": "5000"}
    problem = api.post("/api/v1/actuals", late, expect=422).get_json()
    assert "published" in problem["detail"]


def test_enterprise_actual_serves_the_whole_team_for_organisational_lines(
        api: Client, world: World) -> None:
    e1 = world.enterprises[0]
    shared = [{"enterprise_id": e1, "year": YEAR, "indicator_code": code, "value": value,
               "source": "finance-erp"} for code, value in (("PROFIT", "1000"), ("ROE", "8"))]
    post_actuals(api, shared)
    bad = api.post("/api/v1/actuals/bulk", {"items": [
        {"enterprise_id": e1, "year": YEAR, "indicator_code": "COST", "value": "60",
         "source": "finance-erp"}]}, expect=200).get_json()
    assert bad["errors"][0]["field"] == "indicator_code"  # COST is an individual line
    for m in (world.gms[0], world.deputy):
        post_actuals(api, [row for row in standard_actuals(m, "0", "0")
                           if row["indicator_code"] not in ("PROFIT", "ROE")])
    run_cohort(api, org_unit_id=e1, position="deputy_general_manager")
    deputy = api.get(f"/api/v1/appraisals?manager_id={world.deputy}").get_json()["items"][0]
    full = api.get(f"/api/v1/appraisals/{deputy['id']}").get_json()
    lines = {i["code"]: i for i in full["result"]["indicators"]}
    assert (lines["PROFIT"]["actual"], lines["PROFIT"]["points"]) == ("1000", "40.00")
    # 50/50 deputy: organisational 100.00, individual (COST 65 -> 20, PARTY B -> 10) 100.00
    assert full["score"] == "100.00"


def _statements_of(app: Any, api: Client, rows: list[dict[str, Any]]
                   ) -> tuple[int, dict[str, Any]]:
    """The SQL statements one bulk upload sends, and its outcome."""
    with sent_statements(app.extensions["tenure_db"].engine) as sent:
        out = post_actuals(api, rows)
    return len(sent), out


def test_an_upload_sends_as_many_statements_for_eight_managers_as_for_one(
        app: Any, api: Client, world: World) -> None:
    """Each batch is read in set-based queries and written in bulk, so the statements an
    upload sends do not grow with its rows (nor with the managers or appraisals in it)."""
    api.post("/api/v1/appraisals/open", {"year": YEAR}, expect=200)
    one = standard_actuals(world.gms[0], "3000", "9")
    eight = [row for gm in world.gms for row in standard_actuals(gm, "3000", "9")]
    by_number = [{**{k: v for k, v in row.items() if k != "manager_id"},
                  "employee_no": world.employee_nos[row["manager_id"]]} for row in eight]
    first, out = _statements_of(app, api, one)
    assert (out["created"], out["updated"]) == (len(one), 0)
    many, out = _statements_of(app, api, eight[len(one):])
    assert (out["created"], out["updated"]) == (len(eight) - len(one), 0)
    assert many == first
    replaced_one, out = _statements_of(app, api, one)
    assert (out["created"], out["updated"]) == (0, len(one))
    replaced_all, out = _statements_of(app, api, by_number)
    assert (out["created"], out["updated"]) == (0, len(eight))
    assert replaced_all == replaced_one
    submitted = api.get(f"/api/v1/appraisals?year={YEAR}&state=actuals_submitted"
                        ).get_json()["items"]
    assert {a["manager_id"] for a in submitted} == set(world.gms)
    kept = api.get(f"/api/v1/actuals?year={YEAR}&page_size=500").get_json()["items"]
    versions = {(a["manager_id"], a["indicator_code"]): a["row_version"] for a in kept}
    # Each replacement raises the row's version: the first manager's rows were sent three
    # times, the others' twice.
    assert {gm: {versions[(gm, row["indicator_code"])] for row in one}
            for gm in world.gms} == {gm: {3 if gm == world.gms[0] else 2}
                                     for gm in world.gms}
