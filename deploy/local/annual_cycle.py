"""`make cycle`: two annual cycles and the end of a tenure, through the three services' APIs.

One HR department's term, as HR, the managers and the employer's signatories live it:

1. the group (HQ, 3 second-level and 6 third-level enterprises, a department under HQ) and
   200 managers; an indicator library, one template per layer and the README's
   general-manager template (targets without `part`);
2. bulk issue per layer: each manager issued, skipped or failed with the reason; the
   department's general manager (no signatory rule) drafted one by one with an override;
3. both sides sign: the manager with their own token, then the employer's signatory;
4. year one: appraisals opened with a self-report deadline, self-reports (one disputing a
   line), actuals in bulk, a run, review, approve and publish; two exits: one appealed in
   time and upheld (no termination), one whose appeal window elapses (termination);
5. year two: the next year's annual contracts signed by both sides, actuals, a run, publish;
6. the tenure appraisal of one enterprise at the end of the term: one manager renewed,
   one exited.

Every refusal met on the way is checked: problem+json that says what to do next.

To let an appeal window elapse without waiting 15 days, it runs the daily close of appeal
windows (`POST /api/v1/maintenance/exit-windows`) as of the moment the window closes: that
confirms every exit of the deployment whose window closes by then, not only its own. Run it
against a development system: `make run` (the defaults), or a deployment of your own:

    python deploy/local/annual_cycle.py [--contracts URL --appraisal URL --notifications URL]
"""

from __future__ import annotations

import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import demo  # noqa: E402
from demo import (  # noqa: E402
    Api,
    DemoError,
    countersigner_token,
    layer_targets,
    manager_token,
    wait_for,
)

Log = Callable[[str], None]
PROBLEM = "application/problem+json"
# People per enterprise: a board's enterprise has a chair; a department has middle managers.
BOARD_STAFF = ["chair", "general_manager", "chief_financial_officer"] + \
    ["deputy_general_manager"] * 17
PLAIN_STAFF = ["general_manager", "chief_financial_officer", "chief_engineer"] + \
    ["deputy_general_manager"] * 16
DEPARTMENT_STAFF = ["general_manager"] + ["middle_manager"] * 5
SURNAMES = ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu"]
GIVEN = ["Wei", "Fang", "Jing", "Min", "Qiang", "Lei", "Jun", "Yan", "Hui", "Tao", "Ping"]


class Client(Api):
    """demo's Api, one connection per request: a kept-alive connection that the server
    closes as its keep-alive ends would otherwise lose a request now and then."""

    def __init__(self, base: str, token: str) -> None:
        super().__init__(base, token)
        self.session.headers["Connection"] = "close"

    def as_(self, token: str) -> Client:
        return Client(self.base, token)


def refusal(resp: requests.Response, status: int, *hints: str) -> dict[str, Any]:
    """A refused step: problem+json with the status, and a detail that says what to do."""
    body = resp.json() if resp.headers.get("Content-Type", "").startswith(PROBLEM) else None
    if resp.status_code != status or body is None:
        raise DemoError(f"{resp.request.method} {resp.request.path_url}: expected a {status} "
                        f"problem+json, got {resp.status_code} "
                        f"{resp.headers.get('Content-Type')}: {resp.text[:300]}")
    text = f"{body.get('detail', '')} {body.get('errors', '')}"
    missing = [h for h in hints if h not in text]
    if missing:
        raise DemoError(f"{resp.request.method} {resp.request.path_url} refused without "
                        f"saying {missing}: {text[:500]}")
    return body


def in_parallel(work: Callable[[Any], Any], items: Iterable[Any], pool: int) -> list[Any]:
    with ThreadPoolExecutor(max_workers=pool) as executor:
        return list(executor.map(work, items))


# --- 1. the group, its library and its people --------------------------------------------------

def build_group(hr: Api, tag: str, log: Log) -> dict[str, Any]:
    """The demo's ten enterprises in three layers, and a department under HQ."""
    group = demo.build_group(hr, tag, log)
    # Public welfare, so the README's template (commercial) does not select its GM.
    department = hr.post("/api/v1/org-units", {
        "code": f"DEPT-{tag}", "name": "Strategy Department", "kind": "department",
        "parent_id": group["hq"]["id"], "category": "public_welfare", "has_board": False},
        expect=(201,))
    return {"hq": group["hq"], "enterprises": group["units"], "department": department}


def build_library(hr: Api, tag: str) -> dict[str, Any]:
    """Indicators; a template per layer for every position; the README's GM template."""
    codes = {k: f"{k}-{tag}" for k in ("PROFIT", "ROE", "COST", "PARTY", "SAFETY", "ASSETS")}
    demo.add_indicators(hr, codes, ((codes["ASSETS"], "State-owned assets preserved and "
                                     "increased", "%", "quantitative", "higher_is_better"),))
    extra = {"tenure_targets": tenure_targets(codes)}
    templates = {}
    for layer in (1, 2, 3):
        templates[layer] = hr.post("/api/v1/templates", {
            "name": f"Layer {layer} tenure contract ({tag})", "layer": layer, "term_years": 2,
            "max_consecutive_terms": 2, "signing_deadline_days": 30,
            "targets": layer_targets(codes, layer), **extra}, expect=(201,))
    readme = hr.post("/api/v1/templates", {
        "name": f"GM, second level, commercial ({tag})", "layer": 2,
        "category": "commercial_competitive", "position": "general_manager", "term_years": 2,
        "targets": [
            {"indicator_code": codes["PROFIT"], "weight": "70", "base": "800",
             "target": "1000", "challenge": "1200", "main": True},
            {"indicator_code": codes["COST"], "weight": "30", "base": "70", "target": "65",
             "challenge": "60"}], **extra}, expect=(201,))
    return {"codes": codes, "templates": templates, "readme": readme}


def tenure_targets(codes: dict[str, str], assets_target: str = "106"
                   ) -> list[dict[str, Any]]:
    """The tenure performance contract: the whole term's targets (README, "Tenure
    appraisal"): state assets preserved and increased, party building, and no major
    safety incident in the whole term (a veto: one means exit, whatever the score)."""
    return [{"indicator_code": codes["ASSETS"], "weight": "60", "base": "100",
             "target": assets_target, "challenge": "110", "part": "organisational"},
            {"indicator_code": codes["PARTY"], "weight": "40", "part": "individual"},
            {"indicator_code": codes["SAFETY"], "role": "veto"}]


def hire_managers(hr: Api, group: dict[str, Any], tag: str, pool: int
                  ) -> list[dict[str, Any]]:
    plan = []
    for unit in [*group["enterprises"], group["department"]]:
        staff = (DEPARTMENT_STAFF if unit["kind"] == "department"
                 else BOARD_STAFF if unit["has_board"] else PLAIN_STAFF)
        plan += [(unit, position) for position in staff]

    def hire(n_plan: tuple[int, tuple[dict[str, Any], str]]) -> dict[str, Any]:
        n, (unit, position) = n_plan
        name = f"{SURNAMES[n % len(SURNAMES)]} {GIVEN[(n * 7) % len(GIVEN)]}"
        return hr.post("/api/v1/managers", {
            "employee_no": f"C{n:03d}-{tag}", "name": name,
            "email": f"c{n:03d}.{tag.lower()}@example.com",
            "language": "en" if n % 2 else "zh", "org_unit_id": unit["id"],
            "position": position}, expect=(201,))

    return in_parallel(hire, enumerate(plan, start=1), pool)


# --- 2. bulk issue ----------------------------------------------------------------------------

def bulk_issue(hr: Api, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    job = hr.post("/api/v1/bulk-issues", body, expect=(202,))
    return wait_for(lambda: (j := hr.get(f"/api/v1/bulk-issues/{job['id']}"))["status"]
                    in ("done", "partial", "failed") and j, "a bulk issue job", timeout)


def decision_of(d: dict[str, Any]) -> str:
    """A manager's decision; a deployment without `decision` says only issued or not."""
    return d.get("decision") or ("issued" if d["issued"] else "skipped")


def issue_everyone(hr: Api, group: dict[str, Any], library: dict[str, Any],
                   managers: list[dict[str, Any]], start: str, timeout: float, log: Log
                   ) -> dict[str, Any]:
    hq, dept = group["hq"], group["department"]
    jobs: dict[str, dict[str, Any]] = {}
    jobs["readme"] = bulk_issue(hr, {
        "template_id": library["readme"]["id"], "start_date": start,
        "filter": {"layer": 2, "position": "general_manager", "org_unit_id": hq["id"]}},
        timeout)
    for layer in (1, 2, 3):
        jobs[f"layer{layer}"] = bulk_issue(hr, {
            "template_id": library["templates"][layer]["id"], "start_date": start,
            "filter": {"org_unit_id": hq["id"], "layer": layer}}, timeout)
    for name, job in jobs.items():
        counts = Counter(decision_of(d) for d in job["decisions"])
        log(f"  bulk issue {name}: {job['status']}, {dict(counts)}")
    dept_gm = next(m for m in managers if m["org_unit_id"] == dept["id"]
                   and m["position"] == "general_manager")
    # The department's general manager: no rule names their employer's signatory. HR drafts
    # their contract one by one, naming the signatory by hand, as the refusal says.
    draft = hr.call("POST", "/api/v1/contracts", (201,), json={
        "manager_id": dept_gm["id"], "template_id": library["templates"][2]["id"],
        "start_date": start, "signatory_override": {
            "kind": "supervisor", "reason": "appointed by the group's party committee"}})
    issued = hr.post(f"/api/v1/contracts/{draft.json()['id']}/issue", expect=(200,))
    log(f"  department GM drafted with a signatory override: {issued['state']}")
    return {"jobs": jobs, "dept_gm": dept_gm, "dept_gm_contract": issued}


# --- 3. both sides sign -----------------------------------------------------------------------

def sign_both_sides(contracts: Api, path: str, manager: dict[str, Any], contract_id: str,
                    secret: str, reference: str) -> dict[str, Any]:
    """The manager signs `path` with their own token; the employer countersigns (on paper,
    recorded by HR, where the post is vacant)."""
    contracts.as_(manager_token(secret, manager)).post(path, {}, expect=(200,))
    counter = countersigner_token(contracts, contract_id, secret)
    if counter is None:
        return contracts.post(path, {"method": "paper", "party": "employer",
                                     "signed_on": date.today().isoformat(),
                                     "paper_reference": reference}, expect=(200,))
    return contracts.as_(counter).post(path, {}, expect=(200,))


def sign_refusals(contracts: Api, contract: dict[str, Any], secret: str) -> dict[str, Any]:
    """Before anyone signs: HR cannot sign for the manager, the employer cannot sign first."""
    path = f"/api/v1/contracts/{contract['id']}/sign"
    hr_signs = refusal(contracts.call("POST", path, (403,), json={}), 403, "own token",
                       "paper")
    counter = countersigner_token(contracts, contract["id"], secret)
    assert counter is not None
    first = refusal(contracts.as_(counter).call("POST", path, (409,), json={}), 409,
                    "manager signs first")
    return {"hr_signs": hr_signs["detail"], "employer_first": first["detail"]}


def locked_targets_refusal(contracts: Api, contract_id: str, codes: dict[str, str]
                           ) -> dict[str, Any]:
    """Once both sides signed, the tenure targets change only by an amendment: the 409 names
    the tenure document and the amendment that can change them."""
    doc = next(d for d in contracts.get(f"/api/v1/contracts/{contract_id}")["documents"]
               if d["kind"] == "tenure_performance_contract")
    resp = contracts.call(
        "PUT", f"/api/v1/contracts/{contract_id}/documents/{doc['id']}/targets", (409,),
        json={"indicators": tenure_targets(codes)},
        headers={"If-Match": f'"v{doc["row_version"]}"'})
    return refusal(resp, 409, "tenure performance contract",
                   f"/api/v1/contracts/{contract_id}/amendments", "tenure_targets")


def expiry_checks(contracts: Api, hq_id: str, ends_before: str, as_of: str
                  ) -> dict[str, Any]:
    """HR lists the contracts about to end and previews the sweep of a later day; nothing
    is sent. A sweep for a later day that would send, or a misspelt filter, is refused."""
    ending = contracts.get("/api/v1/contracts", org_unit_id=hq_id, state="active",
                           ends_before=ends_before, page_size=500)["items"]
    resp = contracts.call("GET", "/api/v1/contracts", (200, 400, 422), params={
        "state": "active", "ends_befor": ends_before})
    misspelt = (refusal(resp, resp.status_code, "ends_befor") if resp.status_code != 200
                else {"status": 200, "detail": "the unknown parameter was ignored"})
    real = refusal(contracts.call("POST", "/api/v1/maintenance/expiry", (422,),
                                  json={"as_of": as_of}), 422, "as_of", "dry_run")
    preview = contracts.post("/api/v1/maintenance/expiry", {"dry_run": True, "as_of": as_of},
                             expect=(200,))
    return {"ending": len(ending), "misspelt": misspelt, "real_sweep": real,
            "preview": preview}


def sign_everything(contracts: Api, managers: list[dict[str, Any]],
                    issued: dict[str, dict[str, Any]], secret: str, pool: int
                    ) -> dict[str, dict[str, Any]]:
    def sign(m: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        c = issued[m["id"]]
        return m["id"], sign_both_sides(contracts, f"/api/v1/contracts/{c['id']}/sign", m,
                                        c["id"], secret, f"PAPER-{m['employee_no']}")

    return dict(in_parallel(sign, managers, pool))


def sign_next_year(contracts: Api, managers: list[dict[str, Any]],
                   contract_ids: dict[str, str], year: int, secret: str, pool: int
                   ) -> dict[str, str]:
    """The year's annual performance contract, signed under each active contract."""
    def sign(m: dict[str, Any]) -> tuple[str, str]:
        cid = contract_ids[m["id"]]
        c = contracts.get(f"/api/v1/contracts/{cid}")
        doc = next(d for d in c["documents"]
                   if d["kind"] == "annual_performance_contract" and d["year"] == year)
        sign_both_sides(contracts, f"/api/v1/contracts/{cid}/documents/{doc['id']}/sign", m,
                        cid, secret, f"PAPER-{year}-{m['employee_no']}")
        after = contracts.get(f"/api/v1/contracts/{cid}")
        mine = next(d for d in after["documents"] if d["id"] == doc["id"])
        return m["id"], mine.get("signing_state") or ("in_force" if mine.get("signed_at")
                                                      else "unsigned")

    return dict(in_parallel(sign, managers, pool))


# --- 4. appraisals ----------------------------------------------------------------------------

def wait_for_tenure_targets(appraisal: Api, managers: list[dict[str, Any]], code: str,
                            target: str, pool: int, timeout: float) -> None:
    """The amended tenure targets reach the appraisal service as an event (targets.set),
    once both sides signed: wait until its line `code` has the new `target`."""
    def ready(m: dict[str, Any]) -> bool:
        person = appraisal.get(f"/api/v1/managers/{m['id']}")
        return any(t["kind"] == "tenure" and t["locked"] and any(
            line.get("indicator_code") == code and line.get("target") is not None
            and Decimal(str(line["target"])) == Decimal(target) for line in t["targets"])
            for c in person["contracts"] for t in c["target_sets"])

    wait_for(lambda: all(in_parallel(ready, managers, pool)),
             "the appraisal service to hold the tenure targets", timeout)


def actual_rows(managers: list[dict[str, Any]], codes: dict[str, str], year: int,
                layer_of: dict[str, int], readme_gm: str, poor: set[str], kind: str = "annual"
                ) -> list[dict[str, Any]]:
    """Everyone near or above target (a fixed spread by employee number); the `poor` far
    below base on every line. The README-template GM has only profit and cost."""
    rows = []
    for i, m in enumerate(managers):
        scale = {1: Decimal(10), 2: Decimal(3), 3: Decimal(1)}[layer_of[m["id"]]]
        base = {"employee_no": m["employee_no"], "year": year, "source": "finance-erp",
                "kind": kind}
        bad = m["id"] in poor
        if kind == "tenure":  # the poor one had a major safety incident in the term
            rows += [{**base, "indicator_code": codes["ASSETS"],
                      "value": "95" if bad else str(104 + i % 5)},
                     {**base, "indicator_code": codes["PARTY"], "rating": "E" if bad else "A"},
                     {**base, "indicator_code": codes["SAFETY"], "veto_hit": bad}]
            continue
        profit = 450 * scale if bad else (960 + (i * 37) % 220) * scale
        cost = Decimal("78") if bad else Decimal(610 + (i * 13) % 50) / 10
        rows += [{**base, "indicator_code": codes["PROFIT"], "value": str(profit)},
                 {**base, "indicator_code": codes["COST"], "value": str(cost)}]
        if m["id"] == readme_gm:
            continue
        roe = Decimal("3.5") if bad else Decimal(76 + (i * 7) % 23) / 10
        rows += [{**base, "indicator_code": codes["ROE"], "value": str(roe)},
                 {**base, "indicator_code": codes["PARTY"],
                  "rating": "C" if bad else "AAB"[i % 3]},
                 {**base, "indicator_code": codes["SAFETY"], "veto_hit": False}]
    return rows


def import_actuals(appraisal: Api, rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = appraisal.post("/api/v1/actuals/bulk", {"items": rows}, expect=(200,))
    if out["rejected"]:
        raise DemoError(f"actuals rejected: {out['errors'][:5]}")
    return out


def run_cohort(appraisal: Api, body: dict[str, Any], timeout: float) -> dict[str, Any]:
    started = appraisal.call("POST", "/api/v1/appraisal-runs", (202,), json=body)
    run = wait_for(lambda: (r := appraisal.get(started.headers["Location"]))["status"]
                   in ("done", "failed") and r, "an appraisal run", timeout)
    if run["status"] != "done":
        raise DemoError(f"appraisal run failed: {run.get('error')}")
    return run


def act_on_run(appraisal: Api, run_id: str, actions: Iterable[str]) -> dict[str, Any]:
    return {a: appraisal.post(f"/api/v1/appraisal-runs/{run_id}/{a}", {"note": "cycle"},
                              expect=(200,)) for a in actions}


def results_of(appraisal: Api, year: int, run_id: str, kind: str = "annual"
               ) -> dict[str, dict[str, Any]]:
    return {a["manager_id"]: a for a in appraisal.get(
        "/api/v1/appraisals", year=year, run_id=run_id, kind=kind, page_size=500)["items"]}


def self_reports(appraisal: Api, opened: dict[str, str], writers: list[dict[str, Any]],
                 codes: dict[str, str], secret: str) -> dict[str, Any]:
    """Three managers report on their year; the third disputes profit, and HR overrules."""
    first = writers[0]
    path = f"/api/v1/appraisals/{opened[first['id']]}/self-report"
    by_hr = refusal(appraisal.call("PUT", path, (403,), json={
        "text": "written by HR", "actuals": "confirmed"}), 403, "own token", "paper")
    for n, m in enumerate(writers):
        body: dict[str, Any] = {
            "text": f"{m['name']}: the year's plan met; the plant upgrade finished.",
            "attachments": [{"name": "Audited accounts", "reference": f"DOC-{n}"}],
            "actuals": "confirmed"}
        if n == len(writers) - 1:
            body = {**body, "actuals": "disputed", "dispute": {
                "indicator_code": codes["PROFIT"], "claimed_value": "1300",
                "reason": "the audited profit is higher than the unaudited figure"}}
        appraisal.as_(manager_token(secret, m)).call(
            "PUT", f"/api/v1/appraisals/{opened[m['id']]}/self-report", (200, 201), json=body)
    disputed = opened[writers[-1]["id"]]
    overruled = appraisal.post(f"/api/v1/appraisals/{disputed}/self-report/dispute", {
        "decision": "overruled", "note": "the audited accounts confirm the recorded figure"},
        expect=(200,))
    return {"hr_refused": by_hr["detail"], "overruled": overruled}


def amend_tenure_targets(contracts: Api, team: list[dict[str, Any]],
                         contract_ids: dict[str, str], codes: dict[str, str], secret: str,
                         pool: int) -> dict[str, str]:
    """The board revises the term's asset target mid-term: HR amends each contract, and both
    sides sign the amendment (docs/signing.md, "Amendments"); until then the signed targets
    stay in force."""
    def amend(m: dict[str, Any]) -> tuple[str, str]:
        cid = contract_ids[m["id"]]
        etag = contracts.call("GET", f"/api/v1/contracts/{cid}").headers["ETag"]
        contracts.call("POST", f"/api/v1/contracts/{cid}/amendments", (200,), json={
            "reason": "tenure targets of the term, agreed with the board",
            "approved_by": "board resolution 2026-07",
            "tenure_targets": tenure_targets(codes, assets_target="105")},
            headers={"If-Match": etag})
        sign_both_sides(contracts, f"/api/v1/contracts/{cid}/sign", m, cid, secret,
                        f"AMEND-{m['employee_no']}")
        doc = next(d for d in contracts.get(f"/api/v1/contracts/{cid}")["documents"]
                   if d["kind"] == "tenure_performance_contract")
        return m["id"], doc.get("amendment_state") or doc["signing_state"]

    return dict(in_parallel(amend, team, pool))


def exit_decision(appraisal: Api, manager_id: str) -> dict[str, Any]:
    found = appraisal.get("/api/v1/exit-decisions", manager_id=manager_id,
                          page_size=100)["items"]
    if not found:
        raise DemoError(f"no exit decision for {manager_id}")
    return found[-1]


def appeal_and_uphold(appraisal: Api, result: dict[str, Any], manager: dict[str, Any],
                      codes: dict[str, str], year: int, layer: int, secret: str
                      ) -> dict[str, Any]:
    """In time, with the manager's own token; HR re-scores with restated figures, then
    upholds. Upholding before the re-score is refused with the next step."""
    path = f"/api/v1/appraisals/{result['id']}"
    appraisal.as_(manager_token(secret, manager)).post(
        f"{path}/appeal", {"reason": "profit restated by the auditor"}, expect=(201,))
    early = refusal(appraisal.call("POST", f"{path}/appeal/decision", (409,), json={
        "decision": "upheld", "note": "restated"}), 409, f"POST {path}/score")
    scale = {1: 10, 2: 3, 3: 1}[layer]
    base = {"employee_no": manager["employee_no"], "year": year, "source": "audit"}
    import_actuals(appraisal, [
        {**base, "indicator_code": codes["PROFIT"], "value": str(1100 * scale)},
        {**base, "indicator_code": codes["ROE"], "value": "8.5"},
        {**base, "indicator_code": codes["COST"], "value": "64"},
        {**base, "indicator_code": codes["PARTY"], "rating": "A"}])
    for step in ("score", "review", "approve"):
        appraisal.post(f"{path}/{step}", expect=(200,))
    decided = appraisal.post(f"{path}/appeal/decision", {"decision": "upheld",
                                                         "note": "restated"}, expect=(200,))
    return {"refused_early": early["detail"], "decided": decided,
            "result": appraisal.get(path)}


# --- the scenario -----------------------------------------------------------------------------

def run_cycle(contracts_url: str, appraisal_url: str, notifications_url: str, token: str,
              secret: str, year: int = 2026, tag: str | None = None, log: Log = print,
              timeout: float = 180, pool: int = 8) -> dict[str, Any]:
    """The whole scenario; returns what happened, for a test (or a reader) to check."""
    tag = tag or uuid.uuid4().hex[:6].upper()
    contracts, appraisal = Client(contracts_url, token), Client(appraisal_url, token)
    notifications = Client(notifications_url, token)
    s: dict[str, Any] = {"tag": tag, "year": year}
    log(f"Tenure annual cycle, tag {tag}, years {year} and {year + 1}")

    log("\n1. The group, its library and 200 managers")
    group = build_group(contracts, tag, log)
    hq = group["hq"]
    library = build_library(contracts, tag)
    codes = library["codes"]
    managers = hire_managers(contracts, group, tag, pool)
    units = {u["id"]: u for u in [*group["enterprises"], group["department"]]}
    layer_of = {m["id"]: units[m["org_unit_id"]]["layer"] for m in managers}
    s["managers"] = len(managers)
    s["by_layer"] = dict(sorted(Counter(layer_of.values()).items()))
    log(f"  {len(group['enterprises'])} enterprises and a department; {len(managers)} "
        f"managers by layer {s['by_layer']}")

    log("\n2. Bulk issue")
    issue = issue_everyone(contracts, group, library, managers, f"{year}-01-01", timeout,
                           log)
    s["jobs"] = {name: {"status": j["status"], "issued": j["issued"],
                        "skipped": j["skipped"], "failed": j.get("failed"),
                        "error": j.get("error"),
                        "decisions": Counter(decision_of(d) for d in j["decisions"]),
                        "reasons": Counter(d.get("reason") for d in j["decisions"]
                                           if decision_of(d) != "issued"),
                        "failures": [d for d in j["decisions"] if decision_of(d) == "failed"]}
                 for name, j in issue["jobs"].items()}
    pending = {c["manager_id"]: c for c in contracts.get(
        "/api/v1/contracts", org_unit_id=hq["id"], state="pending_signature",
        page_size=500)["items"]}
    s["pending_signature"] = len(pending)
    readme_gm = next(m for m in managers if m["position"] == "general_manager"
                     and units[m["org_unit_id"]]["layer"] == 2
                     and units[m["org_unit_id"]]["category"] == "commercial_competitive"
                     and units[m["org_unit_id"]]["kind"] == "enterprise")
    s["readme_gm_template"] = pending[readme_gm["id"]]["template_id"] == library["readme"]["id"]
    log(f"  {len(pending)} contracts await signature")

    log("\n3. Both sides sign")
    s["sign_refusals"] = sign_refusals(contracts, pending[readme_gm["id"]], secret)
    log("  refused: HR signing for the manager (403); the employer signing first (409)")
    signed = sign_everything(contracts, managers, pending, secret, pool)
    s["signed_states"] = Counter(c["state"] for c in signed.values())
    s["signature_kinds"] = Counter((sig["party"], sig["method"]) for c in signed.values()
                                   for sig in c.get("signatures", []))
    contract_of = {mid: c["id"] for mid, c in signed.items()}
    s["locked_tenure_targets"] = locked_targets_refusal(
        contracts, contract_of[readme_gm["id"]], codes)["detail"]
    log(f"  contracts: {dict(s['signed_states'])}; signatures {dict(s['signature_kinds'])}")

    log(f"\n4. Year {year}: self-reports, actuals, run, review, approve, publish")
    demo.wait_for_read_model(appraisal, managers, year, timeout, pool)
    today = date.today()
    opened = appraisal.post("/api/v1/appraisals/open", {
        "year": year, "org_unit_id": hq["id"], "self_report_due": today.isoformat()},
        expect=(200, 201))
    s["opened"] = {"opened": opened["opened"], "skipped": len(opened["skipped"])}
    open_ids = {a["manager_id"]: a["id"] for a in appraisal.get(
        "/api/v1/appraisals", year=year, kind="annual", page_size=500)["items"]
        if a["manager_id"] in layer_of}
    l3 = [u for u in group["enterprises"] if u["layer"] == 3]
    gm_of = {u["id"]: next(m for m in managers if m["org_unit_id"] == u["id"]
                           and m["position"] == "general_manager") for u in l3}
    poor, appellant = gm_of[l3[0]["id"]], gm_of[l3[1]["id"]]
    writers = [m for m in managers if m["org_unit_id"] == l3[2]["id"]][:3]
    s["self_reports"] = self_reports(appraisal, open_ids, writers, codes, secret)
    imported = import_actuals(appraisal, actual_rows(
        managers, codes, year, layer_of, readme_gm["id"], {poor["id"], appellant["id"]}))
    s["actuals"] = imported["accepted"]
    run = run_cohort(appraisal, {"year": year, "org_unit_id": hq["id"]}, timeout)
    s["run1"] = {k: run[k] for k in ("status", "scored", "skipped")}
    s["run1_skips"] = run["skips"]
    log(f"  {len(open_ids)} opened, {imported['accepted']} actuals; run: {run['scored']} "
        f"scored, {run['skipped']} skipped")
    early = act_on_run(appraisal, run["id"], ["review"])["review"]
    s["review_before_deadline"] = {"done": early["done"],
                                   "refused": Counter(r.get("reason", "")
                                                      for r in early["refused"])}
    moved = appraisal.post("/api/v1/appraisals/self-report-deadline", {
        "year": year, "org_unit_id": hq["id"],
        "self_report_due": (today - timedelta(days=1)).isoformat()}, expect=(200,))
    s["deadline_moved"] = moved["appraisals"]
    log(f"  review before the deadline: {early['done']} reviewed (reports in), "
        f"{len(early['refused'])} wait; deadline moved to yesterday for {moved['appraisals']}")
    acts = act_on_run(appraisal, run["id"], ["review", "approve", "publish"])
    s["run1_actions"] = {a: {"done": o["done"], "refused": len(o["refused"]),
                             "events": o["events"]} for a, o in acts.items()}
    results = results_of(appraisal, year, run["id"])
    s["results1"] = {mid: (a["grade"], a["outcome"]) for mid, a in results.items()}
    s["self_report_states"] = Counter(a.get("self_report") for a in results.values())
    s["poor"], s["appellant"] = poor, appellant
    log(f"  published {acts['publish']['done']}: events {acts['publish']['events']}")

    log("\n5. Exits: one appealed and upheld, one whose window elapses")
    s["exits_pending"] = {m["id"]: exit_decision(appraisal, m["id"])
                          for m in (poor, appellant)}
    s["contracts_while_pending"] = {m["id"]: contracts.get(
        f"/api/v1/contracts/{contract_of[m['id']]}")["state"] for m in (poor, appellant)}
    s["appeal"] = appeal_and_uphold(appraisal, results[appellant["id"]], appellant,
                                    codes, year, layer_of[appellant["id"]], secret)
    s["exit_appellant"] = wait_for(
        lambda: (d := exit_decision(appraisal, appellant["id"]))["state"] == "cancelled"
        and d, "the appellant's exit to be cancelled", timeout)
    closes = s["exits_pending"][poor["id"]]["appeal_closes_at"]
    s["windows_closed"] = appraisal.post("/api/v1/maintenance/exit-windows",
                                         {"as_of": closes}, expect=(200,))
    s["exit_poor"] = exit_decision(appraisal, poor["id"])
    log(f"  appellant: exit {s['exit_appellant']['state']}; poor: window closed, exit "
        f"{s['exit_poor']['state']}")
    s["contract_poor"] = wait_for(
        lambda: (c := contracts.get(f"/api/v1/contracts/{contract_of[poor['id']]}"))["state"]
        == "terminated" and c, "the poor manager's contract to end", timeout)
    s["contract_appellant"] = contracts.get(f"/api/v1/contracts/{contract_of[appellant['id']]}")
    s["person_poor"] = contracts.get(f"/api/v1/managers/{poor['id']}")
    s["person_appellant"] = contracts.get(f"/api/v1/managers/{appellant['id']}")
    log(f"  contracts: poor {s['contract_poor']['state']}, appellant "
        f"{s['contract_appellant']['state']}")
    wanted = {"appraisal_result", "exit_notice", "exit_confirmed"}
    poor_inbox = notifications.as_(manager_token(secret, poor))
    s["inbox_poor"] = wait_for(
        lambda: (items := poor_inbox.get("/api/v1/inbox", page_size=100)["items"])
        and wanted <= {i["kind"] for i in items} and items, f"{sorted(wanted)} in the inbox",
        timeout)
    mine = notifications.as_(manager_token(secret, appellant))
    s["inbox_appellant"] = wait_for(
        lambda: (items := mine.get("/api/v1/inbox", page_size=100)["items"])
        and "exit_cancelled" in {i["kind"] for i in items} and items,
        "the appellant's exit_cancelled notice", timeout)

    year2 = year + 1
    log(f"\n6. Year {year2}: the next annual contracts, actuals, run, publish")
    stayed = [m for m in managers if m["id"] != poor["id"]]
    s["year2_signed"] = Counter(sign_next_year(contracts, stayed, contract_of, year2, secret,
                                               pool).values())
    demo.wait_for_read_model(appraisal, stayed, year2, timeout, pool)
    imported2 = import_actuals(appraisal, actual_rows(stayed, codes, year2, layer_of,
                                                      readme_gm["id"], set()))
    run2 = run_cohort(appraisal, {"year": year2, "org_unit_id": hq["id"]}, timeout)
    acts2 = act_on_run(appraisal, run2["id"], ["review", "approve", "publish"])
    s["year2"] = {"managers": len(stayed), "actuals": imported2["accepted"],
                  "run": {k: run2[k] for k in ("status", "scored", "skipped")},
                  "actions": {a: {"done": o["done"], "events": o["events"]}
                              for a, o in acts2.items()}}
    log(f"  {len(stayed)} managers; year {year2} contracts {dict(s['year2_signed'])}; run "
        f"{run2['scored']} scored; published {acts2['publish']['done']}")

    s["expiry"] = expiry_checks(contracts, hq["id"], f"{year2 + 1}-01-01", f"{year2}-12-01")
    log(f"  {s['expiry']['ending']} contracts end before {year2 + 1}; a sweep on "
        f"{year2}-12-01 would send {s['expiry']['preview']['expiring']} reminders")

    log("\n7. The end of the term: the tenure appraisal of one enterprise")
    team = [m for m in stayed if m["org_unit_id"] == l3[3]["id"]]
    renewing, leaving = team[0], team[1]
    s["tenure_team"] = len(team)
    s["tenure_amended"] = Counter(amend_tenure_targets(
        contracts, team, contract_of, codes, secret, pool).values())
    log(f"  the board revised the enterprise's tenure targets: amendments signed by both "
        f"sides {dict(s['tenure_amended'])}")
    wait_for_tenure_targets(appraisal, team, codes["ASSETS"], "105", pool, timeout)
    import_actuals(appraisal, actual_rows(team, codes, year2, layer_of, "", {leaving["id"]},
                                          kind="tenure"))
    tenure = run_cohort(appraisal, {"year": year2, "kind": "tenure",
                                    "org_unit_id": l3[3]["id"]}, timeout)
    tacts = act_on_run(appraisal, tenure["id"], ["review", "approve", "publish"])
    tres = results_of(appraisal, year2, tenure["id"], kind="tenure")
    log(f"  tenure run: {tenure['scored']} scored; outcomes "
        f"{dict(Counter(a['tenure_outcome'] for a in tres.values()))}")
    t: dict[str, Any] = {
        "run": {k: tenure[k] for k in ("status", "scored", "skipped")},
        "published": tacts["publish"]["done"], "events": tacts["publish"]["events"],
        "outcomes": {mid: a["tenure_outcome"] for mid, a in tres.items()},
        "renewing": renewing["id"], "leaving": leaving["id"]}
    # The contracts service renews on tenure.concluded: the old term ends `renewed` and a
    # draft of the next term follows.
    t["renewed"] = wait_for(
        lambda: (c := contracts.get(f"/api/v1/contracts/{contract_of[renewing['id']]}"))
        ["state"] == "renewed" and c, "the renewed manager's contract to be renewed", timeout)
    t["successor"] = next(c for c in contracts.get(
        "/api/v1/contracts", manager_id=renewing["id"], page_size=10)["items"]
        if c["id"] != contract_of[renewing["id"]])
    # The tenure exit waits out its window like any exit; nobody appeals.
    t["exit_decision"] = exit_decision(appraisal, leaving["id"])
    appraisal.post("/api/v1/maintenance/exit-windows",
                   {"as_of": t["exit_decision"]["appeal_closes_at"]}, expect=(200,))
    t["leaving_contract"] = wait_for(
        lambda: (c := contracts.get(f"/api/v1/contracts/{contract_of[leaving['id']]}"))
        ["state"] == "terminated" and c, "the exited manager's contract to end", timeout)
    s["tenure"] = t
    log(f"  {renewing['employee_no']} renewed (next term {t['successor']['state']}), "
        f"{leaving['employee_no']} exited ({t['leaving_contract']['state']})")
    s["coverage"] = contracts.get("/api/v1/reports/coverage", org_unit_id=hq["id"])["totals"]
    log(f"\nCoverage now: {s['coverage']}")
    return s


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = demo.scenario_arguments(__doc__.splitlines()[0], 180).parse_args(argv)
    token, secret = demo.hr_token(args, "cycle-hr")
    return run_cycle(args.contracts, args.appraisal, args.notifications, token, secret,
                     year=args.year or date.today().year, tag=args.tag, timeout=args.timeout)


if __name__ == "__main__":
    demo.run_as_script(main, "cycle")
