"""Builders for a small group through the contracts API, shared by contracts tests."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from tests.conftest import auth


class Client:
    """A Flask test client that sends a bearer token and checks statuses."""

    def __init__(self, flask_client: Any, headers: dict[str, str] | None = None) -> None:
        self.c = flask_client
        self.headers = headers if headers is not None else auth("hr_admin")

    def as_(self, headers: dict[str, str]) -> Client:
        return Client(self.c, headers)

    def call(self, method: str, path: str, expect: int | None = None,
             headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        resp = self.c.open(path, method=method, headers={**self.headers, **(headers or {})},
                           **kwargs)
        if expect is not None:
            assert resp.status_code == expect, (resp.status_code, resp.get_data(as_text=True))
        return resp

    def get(self, path: str, expect: int | None = 200, **kw: Any) -> Any:
        return self.call("GET", path, expect, **kw)

    def post(self, path: str, json: Any = None, expect: int | None = None, **kw: Any) -> Any:
        return self.call("POST", path, expect, json=json, **kw)

    def put(self, path: str, json: Any = None, expect: int | None = None, **kw: Any) -> Any:
        return self.call("PUT", path, expect, json=json, **kw)

    def patch(self, path: str, json: Any = None, expect: int | None = None, **kw: Any) -> Any:
        return self.call("PATCH", path, expect, json=json, **kw)


def unit(api: Client, code: str, kind: str, parent: str | None = None,
         category: str = "commercial_competitive", has_board: bool = False) -> dict[str, Any]:
    return api.post("/api/v1/org-units", {
        "code": code, "name": f"Unit {code}", "kind": kind, "parent_id": parent,
        "category": category, "has_board": has_board}, expect=201).get_json()


def manager(api: Client, employee_no: str, unit_id: str, position: str = "general_manager",
            language: str = "zh") -> dict[str, Any]:
    return api.post("/api/v1/managers", {
        "employee_no": employee_no, "name": f"Manager {employee_no}",
        "email": f"{employee_no.lower()}@example.com", "org_unit_id": unit_id,
        "position": position, "language": language}, expect=201).get_json()


STANDARD_INDICATORS = [
    {"code": "PROFIT", "name": "Total profit", "unit": "CNY 10k", "kind": "quantitative",
     "direction": "higher_is_better"},
    {"code": "ROE", "name": "Return on equity", "unit": "%", "kind": "quantitative",
     "direction": "higher_is_better"},
    {"code": "COST", "name": "Cost ratio", "unit": "%", "kind": "quantitative",
     "direction": "lower_is_better"},
    {"code": "PARTY", "name": "Party building", "unit": "", "kind": "qualitative",
     "direction": "higher_is_better"},
    {"code": "SAFETY", "name": "Major safety incident", "unit": "", "kind": "qualitative",
     "direction": "higher_is_better"},
]

STANDARD_TARGETS = [
    {"indicator_code": "PROFIT", "weight": "40", "base": "800", "target": "1000",
     "challenge": "1200", "main": True, "part": "organisational"},
    {"indicator_code": "ROE", "weight": "30", "base": "6", "target": "8", "challenge": "10",
     "part": "organisational"},
    {"indicator_code": "COST", "weight": "20", "base": "70", "target": "65",
     "challenge": "60", "part": "individual"},
    {"indicator_code": "PARTY", "weight": "10", "part": "individual"},
    {"indicator_code": "SAFETY", "role": "veto"},
]


def indicators(api: Client) -> None:
    for ind in STANDARD_INDICATORS:
        api.post("/api/v1/indicators", ind, expect=201)


def template(api: Client, **overrides: Any) -> dict[str, Any]:
    body = {"name": "GM of second-level commercial", "layer": 2,
            "category": "commercial_competitive", "position": "general_manager",
            "term_years": 3, "targets": STANDARD_TARGETS, **overrides}
    return api.post("/api/v1/templates", body, expect=201).get_json()


def small_group(api: Client) -> dict[str, Any]:
    """Group HQ (board) -> two subsidiaries (one with a board) -> a third-level enterprise."""
    hq = unit(api, "HQ", "group", has_board=True)
    sub_a = unit(api, "SUB-A", "enterprise", hq["id"], has_board=True)
    sub_b = unit(api, "SUB-B", "enterprise", hq["id"], category="public_welfare")
    third = unit(api, "SUB-A-1", "enterprise", sub_a["id"])
    indicators(api)
    return {"hq": hq, "sub_a": sub_a, "sub_b": sub_b, "third": third}


def sign_as_manager(api: Client, contract: dict[str, Any], expect: int = 200,
                    path: str = "sign") -> Any:
    """The manager signs their side with their own token (role manager, their manager_id)."""
    own = api.as_(auth("manager", subject=f"m-{contract['manager_id'][:8]}",
                       manager_id=contract["manager_id"]))
    return own.post(f"/api/v1/contracts/{contract['id']}/{path}", {}, expect=expect)


def employer_headers(api: Client, contract_id: str) -> dict[str, str] | None:
    """A token of whoever countersigns for the employer, or None when the post is vacant."""
    employer = api.get(f"/api/v1/contracts/{contract_id}/signers").get_json()["employer"]
    if employer["role"] == "employer_signatory":
        return auth("employer_signatory", subject="supervisor-signatory")
    if employer["manager_ids"]:
        return auth("manager", subject="countersigner", manager_id=employer["manager_ids"][0])
    return None


def countersign(api: Client, contract: dict[str, Any], expect: int = 200,
                path: str = "sign") -> Any:
    """The employer's signatory countersigns; where nobody holds the post, HR records the
    employer's paper signature (dated today, with a reference)."""
    headers = employer_headers(api, contract["id"])
    url = f"/api/v1/contracts/{contract['id']}/{path}"
    if headers is None:
        return api.post(url, {"method": "paper", "party": "employer",
                              "signed_on": date.today().isoformat(),
                              "paper_reference": f"HR-PAPER-{contract['id'][:8]}"},
                        expect=expect)
    return api.as_(headers).post(url, {}, expect=expect)


def sign_both_sides(api: Client, contract: dict[str, Any]) -> dict[str, Any]:
    """Both sides sign the contract's first documents: it is active; the contract as read."""
    sign_as_manager(api, contract)
    countersign(api, contract)
    return api.get(f"/api/v1/contracts/{contract['id']}").get_json()


def wait_for_job(api: Client, job_id: str) -> dict[str, Any]:
    """The bulk issue job once it has ended (done, partial or failed)."""
    for _ in range(600):
        job = api.get(f"/api/v1/bulk-issues/{job_id}").get_json()
        if job["status"] in ("done", "partial", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError("bulk issue did not finish")
