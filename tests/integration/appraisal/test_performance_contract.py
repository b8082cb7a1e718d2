"""One performance contract across both services: what the contracts API accepts, the
appraisal API scores (docs/performance-contract.md).

The contracts service runs in-process on its own database; its outbox (what its relay
publishes) is applied to the appraisal read model as the consumer applies it; both services
are driven through their HTTP APIs only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from services.contracts import create_app as create_contracts_app
from services.contracts.models import outbox
from shared.events.envelope import decode_envelope
from shared.events.schemas import validate_event
from tests.conftest import service_settings
from tests.support import contracts_world as world
from tests.support.contracts_world import Client, unit

from .conftest import feed, post_actuals, run_cohort

# The README walkthrough's template, as written there: no line says its part.
README_TARGETS = [
    {"indicator_code": "PROFIT", "weight": "70", "base": "800", "target": "1000",
     "challenge": "1200", "main": True},
    {"indicator_code": "COST", "weight": "30", "base": "70", "target": "65",
     "challenge": "60"},
]
TENURE_TARGETS = [{"indicator_code": "PROFIT", "weight": "100", "base": "2400",
                   "target": "3000", "challenge": "3600"}]


class Contracts:
    """The contracts service in-process, and what it has published so far."""

    def __init__(self, database_url: str) -> None:
        self.app = create_contracts_app(service_settings("contracts", database_url))
        self.api = Client(self.app.test_client())
        self.seen = 0

    def new_events(self) -> list[dict[str, Any]]:
        with self.app.extensions["tenure_db"].engine.connect() as conn:
            rows = conn.execute(select(outbox.c.payload).order_by(outbox.c.id)).all()
        fresh = [decode_envelope(payload) for (payload,) in rows[self.seen:]]
        self.seen = len(rows)
        for envelope in fresh:
            validate_event(envelope)
        return fresh


@pytest.fixture
def contracts(sqlite_databases: Any) -> Iterator[Contracts]:
    service = Contracts(sqlite_databases.fresh("contracts"))
    yield service
    service.app.extensions["tenure_db"].dispose()


def readme_group(api: Client) -> dict[str, str]:
    """The README walkthrough's steps 1-3: HQ, a second-level enterprise, its GM and deputy."""
    hq = unit(api, "HQ", "group", has_board=True)["id"]
    sub = unit(api, "SUB-1", "enterprise", hq, has_board=True)["id"]
    people = {}
    for no, position in (("E0001", "general_manager"), ("E0002", "deputy_general_manager")):
        people[position] = api.post("/api/v1/managers", {
            "employee_no": no, "name": f"Manager {no}", "email": f"{no.lower()}@example.com",
            "org_unit_id": sub, "position": position}, expect=201).get_json()["id"]
    api.post("/api/v1/indicators", {"code": "PROFIT", "name": "Total profit",
                                    "unit": "CNY 10k", "kind": "quantitative"}, expect=201)
    api.post("/api/v1/indicators", {"code": "COST", "name": "Cost ratio", "unit": "%",
                                    "kind": "quantitative", "direction": "lower_is_better"},
             expect=201)
    return {"hq": hq, "sub": sub, **people}


def readme_template(api: Client, **extra: Any) -> dict[str, Any]:
    return api.post("/api/v1/templates", {
        "name": "GM, second level, commercial", "layer": 2,
        "category": "commercial_competitive", "position": "general_manager",
        "term_years": 3, "targets": README_TARGETS, **extra}, expect=201).get_json()


def bulk_issue(api: Client, template_id: str, **criteria: Any) -> dict[str, Any]:
    job = api.post("/api/v1/bulk-issues", {
        "template_id": template_id, "start_date": "2026-01-01",
        "filter": criteria or {"layer": 2, "position": "general_manager"}},
        expect=202).get_json()
    deadline = time.monotonic() + 30
    while job["status"] not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.05)
        job = api.get(f"/api/v1/bulk-issues/{job['id']}").get_json()
    assert job["status"] == "done", job
    return job


def sign_as_manager(api: Client, manager_id: str) -> dict[str, Any]:
    """The manager signs, then the employer's signatory countersigns: the contract is active."""
    contract = api.get(f"/api/v1/contracts?manager_id={manager_id}").get_json()["items"][0]
    return world.sign_both_sides(api, contract)


# --- the README's template, end to end --------------------------------------------------------

def test_the_readme_template_bulk_issued_and_signed_is_scored_by_the_appraisal_what_if(
        contracts: Contracts, app: Any, api: Client) -> None:
    g = readme_group(contracts.api)
    template = readme_template(contracts.api)
    # The general manager is scored 100 % on the organisation: lines default there.
    assert [line["part"] for line in template["targets"]] == ["organisational"] * 2
    job = bulk_issue(contracts.api, template["id"])
    assert (job["issued"], job["skipped"]) == (1, 0)
    signed = sign_as_manager(contracts.api, g["general_manager"])
    assert signed["state"] == "active"
    assert signed["appraisable"] == {"annual": True, "tenure": False, "reasons": [
        {"document": "tenure", "year": None,
         "reason": "no scored tenure targets, which the tenure appraisal weighs at 0.40"}]}
    feed(app, contracts.new_events())

    out = api.post("/api/v1/what-if", {
        "manager_id": g["general_manager"], "year": 2026, "actuals": [
            {"indicator_code": "PROFIT", "value": "1000"},
            {"indicator_code": "COST", "value": "65"}]}, expect=200).get_json()
    # Both lines at target: 70 + 30 = 100.00, all of it from the organisation's score.
    assert (out["score"], out["result"]["composition"]["organisational"]) == \
        ("100.00", "100.00")
    view = api.get(f"/api/v1/managers/{g['general_manager']}").get_json()
    assert view["contracts"][0]["appraisable"]["annual"] is True


def test_a_run_of_readme_general_managers_scores_them_all(
        contracts: Contracts, app: Any, api: Client) -> None:
    g = readme_group(contracts.api)
    bulk_issue(contracts.api, readme_template(contracts.api)["id"])
    sign_as_manager(contracts.api, g["general_manager"])
    feed(app, contracts.new_events())
    post_actuals(api, [{"manager_id": g["general_manager"], "year": 2026,
                        "indicator_code": code, "value": value, "source": "erp"}
                       for code, value in (("PROFIT", "1100"), ("COST", "65"))])
    run = run_cohort(api, layer=2)
    assert (run["scored"], run["skips"]) == (1, [])


# --- refused at once, the field named -----------------------------------------------------------

def test_a_deputy_template_without_parts_is_refused_naming_each_line(
        contracts: Contracts) -> None:
    readme_group(contracts.api)
    problem = contracts.api.post("/api/v1/templates", {
        "name": "Deputies", "position": "deputy_general_manager",
        "targets": README_TARGETS}, expect=422).get_json()
    assert set(problem["errors"]) == {"targets[0].part", "targets[1].part"}
    assert "0.50" in problem["errors"]["targets[0].part"][0]


def test_a_template_for_any_position_must_say_the_part_of_scored_lines(
        contracts: Contracts) -> None:
    readme_group(contracts.api)
    problem = contracts.api.post("/api/v1/templates", {
        "name": "Everyone", "targets": README_TARGETS}, expect=422).get_json()
    assert set(problem["errors"]) == {"targets[0].part", "targets[1].part"}


def test_a_general_manager_template_of_individual_lines_is_refused(
        contracts: Contracts) -> None:
    readme_group(contracts.api)
    individual = [{**line, "part": "individual"} for line in README_TARGETS]
    problem = contracts.api.post("/api/v1/templates", {
        "name": "GM", "position": "general_manager", "targets": individual},
        expect=422).get_json()
    assert problem["errors"] == {"targets": [
        "position general_manager takes 1.00 from the organisation's score, but no scored "
        "line is organisational"]}


def test_bulk_issue_skips_the_position_a_template_for_any_position_cannot_appraise(
        contracts: Contracts) -> None:
    g = readme_group(contracts.api)
    organisational = [{**line, "part": "organisational"} for line in README_TARGETS]
    t = contracts.api.post("/api/v1/templates", {"name": "Everyone",
                                                 "targets": organisational},
                           expect=201).get_json()
    job = bulk_issue(contracts.api, t["id"], layer=2)
    reasons = {x["manager_id"]: x["reason"] for x in job["decisions"]}
    assert reasons == {g["general_manager"]: None,
                       g["deputy_general_manager"]: "targets_not_appraisable"}
    # Drafting one by one from the same template says why, under template_id.
    problem = contracts.api.post("/api/v1/contracts", {
        "manager_id": g["deputy_general_manager"], "start_date": "2026-01-01",
        "template_id": t["id"]}, expect=422).get_json()
    assert "individual" in problem["errors"]["template_id"][0]


# --- tenure targets for the whole term --------------------------------------------------------

def test_the_tenure_appraisal_scores_a_bulk_issued_signed_contract(
        contracts: Contracts, app: Any, api: Client) -> None:
    g = readme_group(contracts.api)
    template = readme_template(contracts.api, term_years=1, tenure_targets=TENURE_TARGETS)
    assert template["tenure_targets"][0]["part"] == "organisational"
    bulk_issue(contracts.api, template["id"])
    signed = sign_as_manager(contracts.api, g["general_manager"])
    assert signed["appraisable"] == {"annual": True, "tenure": True, "reasons": []}
    tenure_doc = next(doc for doc in signed["documents"]
                      if doc["kind"] == "tenure_performance_contract")
    assert tenure_doc["signed_at"] is not None
    assert [line["indicator_code"] for line in tenure_doc["targets"]] == ["PROFIT"]
    feed(app, contracts.new_events())

    m = g["general_manager"]
    post_actuals(api, [{"manager_id": m, "year": 2026, "indicator_code": code,
                        "value": value, "source": "erp"}
                       for code, value in (("PROFIT", "1000"), ("COST", "65"))])
    annual = run_cohort(api, layer=2)
    for action in ("review", "approve", "publish"):
        api.post(f"/api/v1/appraisal-runs/{annual['id']}/{action}", {}, expect=200)
    post_actuals(api, [{"manager_id": m, "year": 2026, "kind": "tenure",
                        "indicator_code": "PROFIT", "value": "2400", "source": "audit"}])
    tenure = run_cohort(api, kind="tenure", layer=2)
    assert (tenure["scored"], tenure["skips"]) == (1, [])
    got = api.get("/api/v1/appraisals?year=2026&kind=tenure").get_json()["items"][0]
    # 0.6 x 100.00 (the year) + 0.4 x 60.00 (tenure targets at base) = 84.00
    assert (got["score"], got["tenure_outcome"]) == ("84.00", "renew")


def test_tenure_targets_set_after_signing_are_signed_on_their_own_then_locked(
        contracts: Contracts, app: Any, api: Client) -> None:
    g = readme_group(contracts.api)
    bulk_issue(contracts.api, readme_template(contracts.api)["id"])
    signed = sign_as_manager(contracts.api, g["general_manager"])
    doc = next(d for d in signed["documents"] if d["kind"] == "tenure_performance_contract")
    # Signed without tenure targets: the tenure performance contract stays open.
    assert doc["signed_at"] is None
    path = f"/api/v1/contracts/{signed['id']}/documents/{doc['id']}"
    contracts.api.put(f"{path}/targets", {"indicators": TENURE_TARGETS}, expect=200,
                      headers={"If-Match": f'"v{doc["row_version"]}"'})
    assert contracts.api.get(f"/api/v1/contracts/{signed['id']}").get_json()[
        "appraisable"]["tenure"] is True
    world.sign_as_manager(contracts.api, signed, path=f"documents/{doc['id']}/sign")
    world.countersign(contracts.api, signed, path=f"documents/{doc['id']}/sign")
    feed(app, contracts.new_events())
    sets = api.get(f"/api/v1/managers/{g['general_manager']}").get_json()[
        "contracts"][0]["target_sets"]
    tenure = next(t for t in sets if t["kind"] == "tenure")
    assert tenure["locked"] is True and tenure["targets"][0]["indicator_code"] == "PROFIT"

    now = next(d for d in contracts.api.get(f"/api/v1/contracts/{signed['id']}").get_json()[
        "documents"] if d["id"] == doc["id"])
    problem = contracts.api.put(f"{path}/targets", {"indicators": TENURE_TARGETS}, expect=409,
                                headers={"If-Match": f'"v{now["row_version"]}"'}).get_json()
    assert problem["detail"].startswith("The tenure performance contract is signed")
    assert f"POST /api/v1/contracts/{signed['id']}/amendments with tenure_targets" \
        in problem["detail"]


def test_a_signed_annual_document_points_to_an_amendment_of_annual_targets(
        contracts: Contracts) -> None:
    g = readme_group(contracts.api)
    bulk_issue(contracts.api, readme_template(contracts.api)["id"])
    signed = sign_as_manager(contracts.api, g["general_manager"])
    doc = next(d for d in signed["documents"] if d["year"] == 2026)
    problem = contracts.api.put(
        f"/api/v1/contracts/{signed['id']}/documents/{doc['id']}/targets",
        {"indicators": README_TARGETS}, expect=409,
        headers={"If-Match": f'"v{doc["row_version"]}"'}).get_json()
    assert problem["detail"].startswith("The 2026 annual performance contract is signed")
    assert "amendments with annual_targets" in problem["detail"]


# --- the scheme that applies ------------------------------------------------------------------

def test_the_appraisal_read_model_says_when_a_scheme_override_cannot_score_a_contract(
        contracts: Contracts, app: Any, api: Client) -> None:
    g = readme_group(contracts.api)
    bulk_issue(contracts.api, readme_template(contracts.api)["id"])
    sign_as_manager(contracts.api, g["general_manager"])
    feed(app, contracts.new_events())
    api.post("/api/v1/schemes", {"code": "gm_split", "position": "general_manager",
                                 "composition": {"positions": {"general_manager": {
                                     "organisational": "0.50", "individual": "0.50"}}}},
             expect=201)
    verdict = api.get(f"/api/v1/managers/{g['general_manager']}").get_json()[
        "contracts"][0]["appraisable"]
    assert verdict["annual"] is False
    assert verdict["reasons"][0] == {
        "document": "annual", "year": 2026,
        "reason": "position general_manager takes 0.50 from the manager's own score, but no "
                  "scored line is individual (scheme gm_split v1)"}
