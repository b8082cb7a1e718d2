"""Crafted input gets a 4xx problem+json naming what is wrong, never a 500: every case, in
every service it applies to, on SQLite and on the real PostgreSQL server (docs/input-limits.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask

from services.appraisal import create_app as create_appraisal
from services.contracts import create_app as create_contracts
from services.notifications import create_app as create_notifications
from shared.inputs import MAX_HEADER_BYTES
from tests.conftest import auth, service_settings

FACTORIES: dict[str, Callable[..., Flask]] = {
    "contracts": create_contracts, "appraisal": create_appraisal,
    "notifications": create_notifications,
}
HR = auth("hr_admin")
DEEP = "[" * 100_000 + "]" * 100_000  # the JSON parser's own recursion gives up on this
JUST_TOO_DEEP = json.dumps({"name": json.loads("[" * 40 + "]" * 40)})
LONE_SURROGATE = '{"name": "\\ud800", "code": "X1", "kind": "group", "category": "public_welfare"}'
NUL_NAME = '{"name": "a\\u0000b", "code": "X1", "kind": "group", "category": "public_welfare"}'
HUGE_ETAG = '"v' + "9" * 5000 + '"'
# A well-formed but unsigned token of 7.5 KB: refused as a token (401), not as a header.
BIG_TOKEN = "Bearer " + "eyJhbGciOiJIUzI1NiJ9." + "a" * 7_500 + ".sig"


@dataclass(frozen=True)
class Crafted:
    """One crafted request, the status it must get and the field its answer must name."""

    name: str
    service: str
    method: str
    path: str
    status: int
    field: str
    body: Any = None  # a str is sent as it is (raw JSON), anything else JSON-encoded
    headers: dict[str, str] = field(default_factory=dict)

    def send(self, app: Flask) -> Any:
        kwargs: dict[str, Any] = {"headers": {**HR, **self.headers}}
        if isinstance(self.body, str):
            kwargs.update(data=self.body.encode("utf-8", "surrogatepass"),
                          content_type="application/json")
        elif self.body is not None:
            kwargs["json"] = self.body
        return app.test_client().open(self.path, method=self.method, **kwargs)


def _everywhere(name: str, method: str, paths: dict[str, str], status: int, field: str,
                **kw: Any) -> list[Crafted]:
    return [Crafted(f"{name}-{service}", service, method, path, status, field, **kw)
            for service, path in paths.items()]


LISTS = {"contracts": "/api/v1/managers", "appraisal": "/api/v1/managers",
         "notifications": "/api/v1/recipients"}
ONES = {"contracts": "/api/v1/contracts/a%00b", "appraisal": "/api/v1/managers/a%00b",
        "notifications": "/api/v1/notices/a%00b"}
WRITES = {"contracts": "/api/v1/org-units", "appraisal": "/api/v1/schemes",
          "notifications": "/api/v1/recipients"}

CASES: list[Crafted] = [
    *_everywhere("deep-json", "POST", WRITES, 400, "body", body=DEEP),
    *_everywhere("json-past-depth-limit", "POST", WRITES, 400, "body", body=JUST_TOO_DEEP),
    *_everywhere("lone-surrogate", "POST", WRITES, 422, "name", body=LONE_SURROGATE),
    *_everywhere("nul-in-body", "POST", WRITES, 422, "name", body=NUL_NAME),
    *_everywhere("nul-in-path", "GET", ONES, 400,
                 "", ),  # field filled in below: each route names its own parameter
    *_everywhere("nul-in-query", "GET", {k: v + "?org_unit_id=a%00b" for k, v in LISTS.items()
                                         if k != "notifications"}, 422, "org_unit_id"),
    Crafted("nul-in-query-notifications", "notifications", "GET",
            "/api/v1/recipients?q=a%00b", 422, "q"),
    *_everywhere("unknown-query-parameter", "GET", {k: v + "?ends_before=2030-01-01"
                                                    for k, v in LISTS.items()},
                 422, "ends_before"),
    *_everywhere("header-over-limit", "GET", LISTS, 431, "X-Note",
                 headers={"X-Note": "x" * (MAX_HEADER_BYTES + 1)}),
    *_everywhere("token-over-7kb", "GET", LISTS, 401, "", headers={"Authorization": BIG_TOKEN}),
    *_everywhere("token-over-header-limit", "GET", LISTS, 431, "Authorization",
                 headers={"Authorization": "Bearer " + "a" * MAX_HEADER_BYTES}),
    *_everywhere("control-character-in-header", "GET", LISTS, 400, "Idempotency-Key",
                 headers={"Idempotency-Key": "a\x00b"}),
    *_everywhere("non-ascii-page-number", "GET", {k: v + "?page=%D9%A1"
                                                  for k, v in LISTS.items()}, 422, "page"),
    # contracts
    Crafted("if-match-5000-digits", "contracts", "PATCH", "/api/v1/org-units/u1", 400,
            "If-Match", body={"name": "New"}, headers={"If-Match": HUGE_ETAG}),
    Crafted("start-date-year-1", "contracts", "POST", "/api/v1/contracts", 422, "start_date",
            body={"manager_id": "m1", "start_date": "0001-01-01"}),
    Crafted("start-date-9999", "contracts", "POST", "/api/v1/contracts", 422, "start_date",
            body={"manager_id": "m1", "start_date": "9999-06-01"}),
    Crafted("contract-starting-1900", "contracts", "POST", "/api/v1/contracts", 422,
            "start_date", body={"manager_id": "m1", "start_date": "1900-01-01"}),
    Crafted("start-date-arabic-digits", "contracts", "POST", "/api/v1/contracts", 422,
            "start_date", body={"manager_id": "m1",
                                "start_date": "\u0662\u0660\u0662\u0666-01-01"}),
    Crafted("expiry-as-of-9999", "contracts", "POST", "/api/v1/maintenance/expiry", 422,
            "as_of", body={"as_of": "9999-12-31"}),
    Crafted("coverage-as-of-9999", "contracts", "GET",
            "/api/v1/reports/coverage?as_of=9999-12-31", 422, "as_of"),
    Crafted("has-board-yes", "contracts", "POST", "/api/v1/org-units", 422, "has_board",
            body={"code": "G", "name": "Group", "kind": "group", "category": "public_welfare",
                  "has_board": "yes"}),
    Crafted("template-without-targets", "contracts", "POST", "/api/v1/templates", 422,
            "targets", body={"name": "Empty"}),
    Crafted("template-with-empty-targets", "contracts", "POST", "/api/v1/templates", 422,
            "targets", body={"name": "Empty", "targets": []}),
    Crafted("weight-in-arabic-digits", "contracts", "POST", "/api/v1/templates", 422,
            "targets.0.weight", body={"name": "T", "targets": [
                {"indicator_code": "PROFIT", "weight": "\u0661\u0660\u0660"}]}),
    Crafted("bulk-issue-dated-9999", "contracts", "POST", "/api/v1/bulk-issues", 422,
            "start_date", body={"template_id": "t1", "start_date": "9999-01-01"}),
    Crafted("year-past-64-bits-in-query", "contracts", "GET",
            "/api/v1/contracts?year=" + "9" * 30, 422, "year"),
    # appraisal
    Crafted("integer-path-past-64-bits", "appraisal", "PUT",
            "/api/v1/difficulty/u1/" + "9" * 25, 422, "year", body={"coefficient": "1.00"}),
    Crafted("integer-path-of-5000-digits", "appraisal", "PUT",
            "/api/v1/difficulty/u1/" + "9" * 5000, 422, "year", body={"coefficient": "1.00"}),
    Crafted("difficulty-year-out-of-range", "appraisal", "PUT",
            "/api/v1/difficulty/u1/99999", 422, "year", body={"coefficient": "1.00"}),
    Crafted("difficulty-coefficient-5", "appraisal", "PUT", "/api/v1/difficulty/u1/2026",
            422, "coefficient", body={"coefficient": "5"}),
    Crafted("reminders-as-of-9999", "appraisal", "POST",
            "/api/v1/maintenance/actuals-reminders", 422, "as_of",
            body={"as_of": "9999-12-31"}),
    Crafted("integer-of-5000-digits-in-body", "appraisal", "POST", "/api/v1/what-if", 400,
            "body", body='{"manager_id": "m1", "year": ' + "9" * 5000 + "}"),
    Crafted("year-past-32-bits-in-body", "appraisal", "POST", "/api/v1/schemes", 422,
            "version", body={"code": "big_one", "version": 2**40}),
    Crafted("scheme-version-past-the-bound", "appraisal", "POST", "/api/v1/schemes", 422,
            "version", body={"code": "big_one", "version": 2**31 - 1}),
    Crafted("nan-in-body", "appraisal", "POST", "/api/v1/what-if", 400, "body",
            body='{"manager_id": "m1", "year": NaN}'),
    Crafted("float-overflow-in-body", "appraisal", "POST", "/api/v1/what-if", 400, "body",
            body='{"manager_id": "m1", "year": 1e999}'),
    Crafted("veto-hit-yes", "appraisal", "POST", "/api/v1/what-if", 422,
            "actuals.0.veto_hit", body={"manager_id": "m1", "year": 2026, "actuals": [
                {"indicator_code": "SAFETY", "veto_hit": "yes"}]}),
    # notifications
    Crafted("active-yes", "notifications", "POST", "/api/v1/recipients", 422, "active",
            body={"id": "p1", "role": "hr_admin", "name": "Chen", "active": "yes"}),
    Crafted("unread-yes-in-query", "notifications", "GET", "/api/v1/inbox?unread=yes", 422,
            "unread"),
]
PATH_PARAMS = {"contracts": "contract_id", "appraisal": "manager_id",
               "notifications": "notice_id"}
CASES = [Crafted(c.name, c.service, c.method, c.path, c.status, PATH_PARAMS[c.service])
         if c.name.startswith("nul-in-path") else c for c in CASES]

_apps: dict[tuple[int, str], Flask] = {}


@pytest.fixture(scope="module", autouse=True)
def _dispose_apps() -> Iterator[None]:
    """The shared apps' pools and read-cache listeners end with the module, not with the
    test session's database server."""
    yield
    for app in _apps.values():
        app.extensions["tenure_db"].dispose()
    _apps.clear()


@pytest.fixture
def service_app(database_url_factory: Callable[[str], str]) -> Callable[[str], Flask]:
    """One app per service and database backend, shared by the cases (none changes data)."""

    def get(service: str) -> Flask:
        key = (id(database_url_factory.__self__), service)  # type: ignore[attr-defined]
        if key not in _apps:
            _apps[key] = FACTORIES[service](
                service_settings(service, database_url_factory(service)))
        return _apps[key]

    return get


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_crafted_input_gets_a_problem_naming_the_field_never_a_500(
        service_app: Callable[[str], Flask], case: Crafted) -> None:
    resp = case.send(service_app(case.service))
    body = resp.get_data(as_text=True)
    assert resp.status_code == case.status, body[:500]
    assert resp.mimetype == "application/problem+json", body[:500]
    problem = resp.get_json()
    assert problem["status"] == case.status
    if case.field:
        named = {p["name"] for p in problem.get("invalid_params", [])}
        assert case.field in named, problem


def test_a_large_but_valid_json_body_within_the_depth_limit_is_parsed(
        service_app: Callable[[str], Flask]) -> None:
    """The guard refuses depth, not size: 20,000 rows of actuals reach the view."""
    app = service_app("appraisal")
    rows = [{"employee_no": f"E{n}", "year": 2026, "indicator_code": "PROFIT", "value": "1",
             "source": "test"} for n in range(20_000)]
    resp = app.test_client().post("/api/v1/actuals/bulk", json={"items": rows}, headers=HR)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert resp.get_json()["rejected"] == 20_000  # unknown managers, reported by row


def test_a_nul_in_a_csv_line_is_reported_by_line_and_column_never_stored(
        service_app: Callable[[str], Flask]) -> None:
    text = ("employee_no,year,indicator_code,value,source\n"
            "E1,2026,PROFIT,1,finance\x00erp\n")
    resp = service_app("appraisal").test_client().post(
        "/api/v1/actuals/csv", data=text.encode(), headers={**HR, "Content-Type": "text/csv"})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    out = resp.get_json()
    assert out["rejected"] == 1
    assert [(e["row"], e["field"]) for e in out["errors"]] == [(2, "source")]
