"""`make demo`: a year of tenure management driven through the three services' public APIs.

A group HQ with two subsidiary layers (HQ -> 3 second-level enterprises -> 2 third-level
each), 50 managers, indicators and templates per layer, bulk issue, every manager signing
with their own token, actuals, an appraisal run with one rigid exit, and what came of it:
the coverage report, the grade distribution and exits, the exited manager's inbox.

Run it against `make run` (the defaults) or any deployment:

    python deploy/local/demo.py [--contracts URL --appraisal URL --notifications URL]
                                [--token HR_TOKEN] [--year YEAR]

Manager tokens are minted with JWT_SECRET (the dev secret by default), as an identity
provider would. Every code carries a fresh tag, so the demo runs again on a used system.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from shared.auth import issue_token  # noqa: E402
from shared.config import DEFAULT_PORTS, DEV_JWT_SECRET  # noqa: E402

DEPUTIES_PER_ENTERPRISE = 3
# (layer, category of the second-level enterprises); third-level ones are commercial.
SECOND_LEVEL = [("Energy", "commercial_competitive"),
                ("Port Logistics", "commercial_special_function"),
                ("City Water", "public_welfare")]
SURNAMES = ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu",
            "Xu", "Sun", "Hu", "Zhu", "Gao", "Lin", "He", "Guo", "Ma", "Luo"]
GIVEN = ["Wei", "Fang", "Jing", "Min", "Qiang", "Lei", "Jun", "Yan", "Hui", "Tao", "Ping",
         "Gang", "Hong", "Xia", "Bin", "Dan", "Kai", "Ning", "Rui", "Yun"]
# Profit targets scale with the layer: the HQ answers for the group's consolidated profit.
PROFIT_SCALE = {1: Decimal(10), 2: Decimal(3), 3: Decimal(1)}
Log = Callable[[str], None]


class DemoError(RuntimeError):
    """The system did not do what the scenario expects; the message says what and where."""


class Api:
    """One service over HTTP with a bearer token; every call checks its status."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def as_(self, token: str) -> Api:
        return Api(self.base, token)

    def call(self, method: str, path: str, expect: tuple[int, ...] = (200,),
             **kw: Any) -> requests.Response:
        resp = self.session.request(method, self.base + path, timeout=60, **kw)
        if resp.status_code not in expect:
            raise DemoError(f"{method} {path} -> {resp.status_code}: {resp.text[:500]}")
        return resp

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params or None).json()

    def post(self, path: str, body: Any = None, expect: tuple[int, ...] = (200, 201)) -> Any:
        return self.call("POST", path, expect, json=body if body is not None else {}).json()


def wait_for(check: Callable[[], Any], what: str, timeout: float) -> Any:
    """Poll until `check` returns something truthy: the services talk through Kafka."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


def indicator_codes(tag: str) -> dict[str, str]:
    return {k: f"{k}-{tag}" for k in ("PROFIT", "ROE", "COST", "PARTY", "SAFETY")}


def layer_targets(codes: dict[str, str], layer: int) -> list[dict[str, Any]]:
    """The standard annual targets: profit (main) and ROE for the enterprise, cost and party
    building for the person, a safety red line; profit scaled to the layer."""
    s = PROFIT_SCALE[layer]
    return [
        {"indicator_code": codes["PROFIT"], "weight": "40", "base": str(800 * s),
         "target": str(1000 * s), "challenge": str(1200 * s), "main": True,
         "part": "organisational"},
        {"indicator_code": codes["ROE"], "weight": "30", "base": "6", "target": "8",
         "challenge": "10", "part": "organisational"},
        {"indicator_code": codes["COST"], "weight": "20", "base": "70", "target": "65",
         "challenge": "60", "part": "individual"},
        {"indicator_code": codes["PARTY"], "weight": "10", "part": "individual"},
        {"indicator_code": codes["SAFETY"], "role": "veto"},
    ]


def build_group(hr: Api, tag: str, log: Log) -> dict[str, Any]:
    """HQ -> 3 second-level enterprises -> 2 third-level each: ten enterprises."""

    def unit(code: str, name: str, kind: str, parent: str | None, category: str,
             board: bool) -> dict[str, Any]:
        return hr.post("/api/v1/org-units", {
            "code": f"{code}-{tag}", "name": name, "kind": kind, "parent_id": parent,
            "category": category, "has_board": board}, expect=(201,))

    hq = unit("HQ", "State Industrial Holdings Group", "group", None,
              "commercial_competitive", True)
    units = [hq]
    for i, (name, category) in enumerate(SECOND_LEVEL, start=1):
        second = unit(f"L2-{i}", f"{name} Co.", "enterprise", hq["id"], category, True)
        units.append(second)
        for j in (1, 2):
            units.append(unit(f"L3-{i}{j}", f"{name} Subsidiary {j}", "enterprise",
                              second["id"], "commercial_competitive", False))
    log(f"  org tree: {len(units)} enterprises in 3 layers under {hq['code']}")
    return {"hq": hq, "units": units}


def add_indicators(hr: Api, codes: dict[str, str],
                   more: tuple[tuple[str, str, str, str, str], ...] = ()) -> int:
    """The group's indicator library: the five of the standard targets, and `more`
    (code, name, unit, kind, direction)."""
    library = [
        (codes["PROFIT"], "Total profit", "CNY 10k", "quantitative", "higher_is_better"),
        (codes["ROE"], "Return on equity", "%", "quantitative", "higher_is_better"),
        (codes["COST"], "Cost-to-income ratio", "%", "quantitative", "lower_is_better"),
        (codes["PARTY"], "Party building and integrity", "", "qualitative",
         "higher_is_better"),
        (codes["SAFETY"], "Major safety or environmental incident", "", "qualitative",
         "higher_is_better"),
        *more,
    ]
    for code, name, unit_name, kind, direction in library:
        hr.post("/api/v1/indicators", {"code": code, "name": name, "unit": unit_name,
                                       "kind": kind, "direction": direction}, expect=(201,))
    return len(library)


def build_library(hr: Api, tag: str, log: Log) -> dict[int, dict[str, Any]]:
    """Indicators, then one template per layer (every position, every category)."""
    codes = indicator_codes(tag)
    count = add_indicators(hr, codes)
    templates = {}
    for layer in (1, 2, 3):
        templates[layer] = hr.post("/api/v1/templates", {
            "name": f"Layer {layer} leadership tenure contract ({tag})", "layer": layer,
            "term_years": 3, "max_consecutive_terms": 2, "signing_deadline_days": 30,
            "targets": layer_targets(codes, layer)}, expect=(201,))
    log(f"  library: {count} indicators, templates for layers 1, 2 and 3")
    return templates


def hire_managers(hr: Api, units: list[dict[str, Any]], tag: str, log: Log
                  ) -> list[dict[str, Any]]:
    """Per enterprise a general manager, three deputies and a CFO: fifty people."""
    positions = (["general_manager"] + ["deputy_general_manager"] * DEPUTIES_PER_ENTERPRISE
                 + ["chief_financial_officer"])
    managers = []
    n = 0
    for unit in units:
        for position in positions:
            n += 1
            name = f"{SURNAMES[n % len(SURNAMES)]} {GIVEN[(n * 7) % len(GIVEN)]}"
            no = f"E{n:03d}-{tag}"
            managers.append(hr.post("/api/v1/managers", {
                "employee_no": no, "name": name,
                "email": f"{name.lower().replace(' ', '.')}.{n}.{tag.lower()}@example.com",
                "language": "en" if n % 2 else "zh", "org_unit_id": unit["id"],
                "position": position}, expect=(201,)))
    log(f"  managers: {len(managers)} (GM, {DEPUTIES_PER_ENTERPRISE} deputies and a CFO per "
        "enterprise)")
    return managers


def bulk_issue(hr: Api, hq_id: str, templates: dict[int, dict[str, Any]], start: str,
               log: Log) -> int:
    issued = 0
    for layer, template in templates.items():
        job = hr.post("/api/v1/bulk-issues", {
            "template_id": template["id"], "start_date": start,
            "filter": {"org_unit_id": hq_id, "layer": layer}}, expect=(202,))
        done = wait_for(lambda job=job: (j := hr.get(f"/api/v1/bulk-issues/{job['id']}"))
                        ["status"] in ("done", "partial", "failed") and j,
                        f"bulk issue, layer {layer}", 60)
        if done["status"] != "done":
            raise DemoError(f"bulk issue for layer {layer} failed: {done.get('error')}")
        log(f"  bulk issue layer {layer}: {done['issued']} issued, {done['skipped']} skipped")
        issued += done["issued"]
    return issued


def contracts_of(hr: Api, hq_id: str, state: str | None = None) -> dict[str, dict[str, Any]]:
    params: dict[str, Any] = {"org_unit_id": hq_id, "page_size": 500}
    if state:
        params["state"] = state
    return {c["manager_id"]: c for c in hr.get("/api/v1/contracts", **params)["items"]}


def manager_token(secret: str, manager: dict[str, Any]) -> str:
    return issue_token(secret, f"sso-{manager['employee_no']}", ["manager"],
                       manager_id=manager["id"], ttl_seconds=3600)


def countersigner_token(contracts: Api, contract_id: str, secret: str) -> str | None:
    """The token of whoever countersigns for the employer; None when the post is vacant."""
    employer = contracts.get(f"/api/v1/contracts/{contract_id}/signers")["employer"]
    if employer["role"] == "employer_signatory":
        return issue_token(secret, "sasac-signatory", ["employer_signatory"], ttl_seconds=3600)
    if employer["manager_ids"]:
        return issue_token(secret, f"sso-countersigner-{employer['manager_ids'][0][:8]}",
                           ["manager"], manager_id=employer["manager_ids"][0],
                           ttl_seconds=3600)
    return None


def sign_all(contracts: Api, managers: list[dict[str, Any]],
             issued: dict[str, dict[str, Any]], secret: str, log: Log
             ) -> dict[str, dict[str, Any]]:
    """Each manager signs their own contract with their own token; then the employer's
    signatory countersigns with theirs, or, where the post is vacant (no chair registered),
    HR records the employer's signature made on paper."""
    signed = {}
    on_paper = 0
    for m in managers:
        c = issued[m["id"]]
        path = f"/api/v1/contracts/{c['id']}/sign"
        contracts.as_(manager_token(secret, m)).post(path, {}, expect=(200,))
        counter = countersigner_token(contracts, c["id"], secret)
        if counter is None:
            on_paper += 1
            out = contracts.post(path, {
                "method": "paper", "party": "employer", "signed_on": date.today().isoformat(),
                "paper_reference": f"DEMO-{m['employee_no']}"}, expect=(200,))
        else:
            out = contracts.as_(counter).post(path, {}, expect=(200,))
        if out["state"] != "active":
            raise DemoError(f"contract of {m['employee_no']} is {out['state']} after signing")
        signed[m["id"]] = out
    log(f"  signed: {len(signed)} contracts, each by its manager and countersigned "
        f"({on_paper} employer signatures recorded from paper)")
    return signed


def wait_for_read_model(appraisal: Api, managers: list[dict[str, Any]], year: int,
                        timeout: float, pool: int = 1) -> None:
    """The appraisal service learns of contracts from events; wait until it knows them all
    (asking about `pool` managers at a time)."""
    pending = {m["id"] for m in managers}

    def ready(manager_id: str) -> bool:
        resp = appraisal.call("GET", f"/api/v1/managers/{manager_id}", expect=(200, 404))
        if resp.status_code != 200:
            return False
        return any(c["state"] == "active" and any(
            t["year"] == year and t["locked"] for t in c["target_sets"])
            for c in resp.json()["contracts"])

    def all_ready() -> bool:
        asked = sorted(pending)
        with ThreadPoolExecutor(max_workers=pool) as executor:
            answers = list(executor.map(ready, asked))
        pending.difference_update(mid for mid, ok in zip(asked, answers, strict=True) if ok)
        return not pending

    wait_for(all_ready, "the appraisal read model to hold every signed contract", timeout)


def actuals_for(managers: list[dict[str, Any]], units: dict[str, dict[str, Any]],
                codes: dict[str, str], year: int, poor_id: str, seed: str
                ) -> list[dict[str, Any]]:
    """Every manager near or above target; one far below base on every line."""
    rng = random.Random(seed)
    rows = []
    for m in managers:
        s = PROFIT_SCALE[units[m["org_unit_id"]]["layer"]]
        if m["id"] == poor_id:
            profit, roe, cost, party = 450 * s, Decimal("3.5"), Decimal("78"), "C"
        else:
            profit = Decimal(rng.randint(960, 1180)) * s
            roe = Decimal(rng.randint(76, 98)) / 10
            cost = Decimal(rng.randint(610, 660)) / 10
            party = rng.choice(["A", "A", "B"])
        base = {"employee_no": m["employee_no"], "year": year, "source": "demo"}
        rows += [{**base, "indicator_code": codes["PROFIT"], "value": str(profit)},
                 {**base, "indicator_code": codes["ROE"], "value": str(roe)},
                 {**base, "indicator_code": codes["COST"], "value": str(cost)},
                 {**base, "indicator_code": codes["PARTY"], "rating": party},
                 {**base, "indicator_code": codes["SAFETY"], "veto_hit": False}]
    return rows


def run_demo(contracts_url: str, appraisal_url: str, notifications_url: str, token: str,
             secret: str, year: int | None = None, tag: str | None = None,
             log: Log = print, timeout: float = 120) -> dict[str, Any]:
    """The whole scenario; returns what happened, for a test (or a reader) to check."""
    year = year or date.today().year
    tag = tag or uuid.uuid4().hex[:6].upper()
    start = f"{year}-01-01"
    contracts = Api(contracts_url, token)
    appraisal = Api(appraisal_url, token)
    notifications = Api(notifications_url, token)
    log(f"Tenure demo, tag {tag}, year {year}")

    log("\n1. The group, its people and its contract library (contracts service)")
    group = build_group(contracts, tag, log)
    hq_id = group["hq"]["id"]
    units = {u["id"]: u for u in group["units"]}
    templates = build_library(contracts, tag, log)
    managers = hire_managers(contracts, group["units"], tag, log)

    log("\n2. Bulk issue and signing")
    issued_count = bulk_issue(contracts, hq_id, templates, start, log)
    issued = contracts_of(contracts, hq_id, "pending_signature")
    missing = [m["employee_no"] for m in managers if m["id"] not in issued]
    if missing:
        raise DemoError(f"no issued contract for {missing}")
    signed = sign_all(contracts, managers, issued, secret, log)
    coverage_before = contracts.get("/api/v1/reports/coverage", org_unit_id=hq_id)
    log(f"  coverage: {coverage_before['totals']['active']} of "
        f"{coverage_before['totals']['managers']} managers under an active contract, "
        f"signing rate {coverage_before['totals']['signing_rate']} %")

    log("\n3. Actuals and the appraisal run (appraisal service)")
    wait_for_read_model(appraisal, managers, year, timeout)
    log(f"  read model: all {len(managers)} signed contracts and {year} targets arrived")
    # The exit: the general manager of the first third-level enterprise had a bad year.
    third_level = [u for u in group["units"] if u["layer"] == 3]
    poor = next(m for m in managers if m["org_unit_id"] == third_level[0]["id"]
                and m["position"] == "general_manager")
    rows = actuals_for(managers, units, indicator_codes(tag), year, poor["id"], seed=tag)
    imported = appraisal.post("/api/v1/actuals/bulk", {"items": rows}, expect=(200,))
    if imported["rejected"]:
        raise DemoError(f"actuals rejected: {imported['errors'][:5]}")
    log(f"  actuals: {imported['accepted']} accepted ({poor['name']}, {poor['employee_no']}, "
        "far below base)")
    started = appraisal.call("POST", "/api/v1/appraisal-runs", (202,),
                             json={"year": year, "org_unit_id": hq_id})
    run = wait_for(lambda: (r := appraisal.get(started.headers["Location"]))["status"]
                   in ("done", "failed") and r, "the appraisal run", timeout)
    if run["status"] != "done":
        raise DemoError(f"appraisal run failed: {run.get('error')}")
    log(f"  run: {run['scored']} scored, {run['skipped']} skipped")
    actions = {}
    for action in ("review", "approve", "publish"):
        actions[action] = appraisal.post(f"/api/v1/appraisal-runs/{run['id']}/{action}",
                                         {"note": "demo"}, expect=(200,))
        log(f"  {action}: {actions[action]['done']} appraisals")
    published = actions["publish"]
    results = {a["manager_id"]: a for a in appraisal.get(
        "/api/v1/appraisals", year=year, run_id=run["id"], page_size=500)["items"]}

    log("\n4. The rigid exit waits out its appeal window, then reaches the contracts service")
    poor_contract = signed[poor["id"]]["id"]
    decision = wait_for(lambda: appraisal.get("/api/v1/exit-decisions",
                                              manager_id=poor["id"])["items"],
                        "the exit decision", timeout)[0]
    still = contracts.get(f"/api/v1/contracts/{poor_contract}")["state"]
    log(f"  exit of {poor['employee_no']}: {decision['state']}, appeal deadline "
        f"{decision['appeal_deadline']} ({decision['appeal_window_zone']}); contract {still}")
    # No appeal: the daily job closes the window once it has elapsed (here: told the date).
    closed = appraisal.post("/api/v1/maintenance/exit-windows",
                            {"as_of": decision["appeal_closes_at"]}, expect=(200,))
    log(f"  appeal window closed without an appeal: {closed['confirmed']} exit confirmed")
    ended = wait_for(lambda: (c := contracts.get(f"/api/v1/contracts/{poor_contract}"))
                     ["state"] == "terminated" and c, "the exited manager's contract to end",
                     timeout)
    log(f"  contract of {poor['employee_no']}: {ended['state']} ({ended['end_reason']})")
    coverage_after = contracts.get("/api/v1/reports/coverage", org_unit_id=hq_id)
    report = appraisal.get("/api/v1/reports/appraisals", year=year, org_unit_id=hq_id)

    log("\n5. The exited manager's inbox (notifications service, their own token)")
    poor_inbox = notifications.as_(manager_token(secret, poor))
    wanted = {"appraisal_result", "exit_notice", "exit_confirmed"}
    inbox = wait_for(lambda: (items := poor_inbox.get("/api/v1/inbox", page_size=100)["items"])
                     and wanted <= {i["kind"] for i in items} and items,
                     "the appraisal result, the exit notice and its confirmation in the inbox",
                     timeout)

    summary = {
        "tag": tag, "year": year, "hq_id": hq_id, "enterprises": len(group["units"]),
        "managers": len(managers), "issued": issued_count, "signed": len(signed),
        "signatures": sorted({(sig["party"], sig["method"]) for c in signed.values()
                              for sig in c["signatures"]}),
        "coverage_before": coverage_before["totals"], "coverage_after": coverage_after["totals"],
        "run": {k: run[k] for k in ("id", "status", "scored", "skipped")},
        "published": published, "grades": report["totals"]["grades"],
        "report": report,
        "results": {m_id: {"grade": a["grade"], "outcome": a["outcome"]}
                    for m_id, a in results.items()},
        "exited": {"manager_id": poor["id"], "employee_no": poor["employee_no"],
                   "name": poor["name"], "email": poor["email"],
                   "contract_id": poor_contract, "contract_state": ended["state"],
                   "state_while_pending": still, "exit_decision": decision["id"],
                   "end_reason": ended["end_reason"]},
        "inbox": [{k: i[k] for k in ("kind", "event_type", "subject", "created_at")}
                  for i in inbox],
    }
    print_summary(summary, log)
    return summary


def print_summary(s: dict[str, Any], log: Log) -> None:
    log("\n=== Coverage (contracts service) ===")
    for label, cov in (("before the exit", s["coverage_before"]),
                       ("after the exit", s["coverage_after"])):
        log(f"  {label:<16} managers {cov['managers']:>3}  active {cov['active']:>3}  "
            f"signing rate {cov['signing_rate']} %  enterprises in force "
            f"{cov['enterprises_in_force']}/{cov['enterprises']}")
    log(f"\n=== Appraisals {s['year']} (appraisal service) ===")
    totals = s["report"]["totals"]
    log(f"  appraised {totals['appraised']}")
    for grade, count in totals["grades"].items():
        log(f"  {grade:<20} {count:>3}  ({totals['grade_percent'][grade]} %)")
    log(f"  appraisal exits {totals['appraisal_exits']} ({totals['exit_rate_percent']} %), "
        f"bottom-grade adjustments {totals['bottom_grade_adjustments']}")
    for reason, count in totals["exits_by_reason"].items():
        if count:
            log(f"    exit by {reason}: {count}")
    for g in s["report"]["groups"]:
        keys = ", ".join(f"{k} {g[k]}" for k in s["report"]["group_by"])
        log(f"  [{keys}] appraised {g['appraised']}, exits {g['appraisal_exits']}, "
            f"grades {', '.join(f'{k}={v}' for k, v in g['grades'].items() if v)}")
    e = s["exited"]
    log(f"\n=== Exit: {e['name']} ({e['employee_no']}) ===")
    log(f"  contract {e['contract_id']}: {e['contract_state']} - {e['end_reason']}")
    log("  inbox:")
    for item in s["inbox"]:
        log(f"    [{item['kind']}] {item['subject']}")


def scenario_arguments(description: str, timeout: float) -> argparse.ArgumentParser:
    """The options every scenario driver takes: where the services are, HR's token, the
    year, the tag of the codes and how long to wait for a step that crosses services."""
    parser = argparse.ArgumentParser(description=description)
    for service, port in DEFAULT_PORTS.items():
        # The same port variables as `make run` (CONTRACTS_PORT, ...), so both agree.
        port = int(os.environ.get(f"{service.upper()}_PORT", port))
        parser.add_argument(f"--{service}", default=f"http://127.0.0.1:{port}",
                            help=f"base URL of the {service} service")
    parser.add_argument("--token", help="an hr_admin bearer token (default: minted with "
                                        "JWT_SECRET)")
    parser.add_argument("--year", type=int, help="the appraisal year (default: this year)")
    parser.add_argument("--tag", help="suffix of every code (default: random)")
    parser.add_argument("--timeout", type=float, default=timeout,
                        help="seconds to wait for each step that crosses services")
    return parser


def hr_token(args: argparse.Namespace, subject: str) -> tuple[str, str]:
    """(HR's token, the secret managers' tokens are minted with)."""
    secret = os.environ.get("JWT_SECRET", DEV_JWT_SECRET)
    return args.token or issue_token(secret, subject, ["hr_admin"], ttl_seconds=7200), secret


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = scenario_arguments(__doc__.splitlines()[0], 120).parse_args(argv)
    token, secret = hr_token(args, "demo-hr")
    return run_demo(args.contracts, args.appraisal, args.notifications, token, secret,
                    year=args.year, tag=args.tag, timeout=args.timeout)


def run_as_script(main: Callable[[], Any], what: str) -> None:
    """Run a scenario from the command line: a failure is one line and exit status 1."""
    try:
        main()
    except (DemoError, requests.RequestException) as exc:
        print(f"\n{what} failed: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc


if __name__ == "__main__":
    run_as_script(main, "demo")
