"""Every service: security headers on every answer, no unknown query parameter ignored, and
one access-log line per request that never carries a token."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from services.appraisal import create_app as create_appraisal
from services.contracts import create_app as create_contracts
from services.notifications import create_app as create_notifications
from shared.logs import JsonFormatter
from tests.conftest import auth, service_settings, token
from tests.support.databases import SqliteDatabases

FACTORIES = {"contracts": create_contracts, "appraisal": create_appraisal,
             "notifications": create_notifications}
HR = auth("hr_admin")
_PATH_PARAM = re.compile(r"\{([^}]+)\}")


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Flask]:
    dbs = SqliteDatabases(tmp_path_factory.mktemp("hardening"))
    return {name: make(service_settings(name, dbs.fresh(name)))
            for name, make in FACTORIES.items()}


def _get_operations(app: Flask) -> Iterator[str]:
    """Every GET of the service's OpenAPI document, path parameters filled in."""
    spec = app.test_client().get("/openapi.json").get_json()
    for path, operations in spec["paths"].items():
        if "get" in operations:
            yield _PATH_PARAM.sub(lambda m: "2026" if m.group(1) == "year" else "x1", path)


def _every_get() -> list[tuple[str, str]]:
    import tempfile
    from pathlib import Path

    dbs = SqliteDatabases(Path(tempfile.mkdtemp(prefix="openapi-")))
    return [(name, path) for name, make in FACTORIES.items()
            for path in _get_operations(make(service_settings(name, dbs.fresh(name))))]


EVERY_GET = _every_get()


@pytest.mark.parametrize(("service", "path"), EVERY_GET,
                         ids=[f"{s}:{p}" for s, p in EVERY_GET])
def test_an_unknown_query_parameter_is_refused_by_name_on_every_get(
        apps: dict[str, Flask], service: str, path: str) -> None:
    resp = apps[service].test_client().get(path + "?bogus=1", headers=HR)
    assert resp.status_code in (400, 422), resp.get_data(as_text=True)[:300]
    assert resp.mimetype == "application/problem+json"
    assert "bogus" in {p["name"] for p in resp.get_json()["invalid_params"]}


def test_a_documented_query_parameter_is_still_taken(apps: dict[str, Flask]) -> None:
    resp = apps["contracts"].test_client().get("/api/v1/managers?page_size=5", headers=HR)
    assert resp.status_code == 200
    assert resp.get_json()["page"]["page_size"] == 5


@pytest.mark.parametrize("service", list(FACTORIES))
@pytest.mark.parametrize("path", ["/healthz", "/api/v1/managers", "/api/v1/nowhere",
                                  "/openapi.json"])
def test_every_answer_carries_the_security_headers(
        apps: dict[str, Flask], service: str, path: str) -> None:
    resp = apps[service].test_client().get(path, headers=HR)
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in resp.headers  # plain HTTP: no HSTS


def test_hsts_only_over_tls(apps: dict[str, Flask]) -> None:
    client = apps["contracts"].test_client()
    assert "Strict-Transport-Security" in client.get(
        "/healthz", base_url="https://tenure.example").headers
    # A forged X-Forwarded-Proto from a client we do not trust changes nothing.
    assert "Strict-Transport-Security" not in client.get(
        "/healthz", headers={"X-Forwarded-Proto": "https"}).headers


def test_hsts_behind_a_trusted_proxy(tmp_path_factory: pytest.TempPathFactory) -> None:
    dbs = SqliteDatabases(tmp_path_factory.mktemp("proxy"))
    app = create_contracts(service_settings("contracts", dbs.fresh("contracts"),
                                            trusted_proxies=1))
    resp = app.test_client().get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in app.test_client().get("/healthz").headers


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter("test"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def access_lines() -> Iterator[list[str]]:
    handler = _Lines()
    logger = logging.getLogger("tenure.access")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def test_one_access_line_per_request_with_the_route_and_never_the_token(
        apps: dict[str, Flask], access_lines: list[str]) -> None:
    secret_token = token("hr_admin", subject="hr-chen")
    client = apps["contracts"].test_client()
    client.get("/api/v1/contracts/c-123", headers={
        "Authorization": f"Bearer {secret_token}", "X-Request-ID": "req-42",
        "Cookie": "session=cookie-secret"})
    client.get("/api/v1/managers", headers={"Authorization": "Bearer not-a-token"})
    assert len(access_lines) == 2
    first: dict[str, Any] = json.loads(access_lines[0])
    assert first["request_id"] == "req-42"
    assert first["subject"] == "hr-chen"
    assert first["method"] == "GET"
    assert first["path"] == "/api/v1/contracts/<contract_id>"  # the rule, not the raw path
    assert first["status"] == 404
    assert isinstance(first["duration_ms"], float)
    second = json.loads(access_lines[1])
    assert (second["subject"], second["status"]) == (None, 401)
    everything = "\n".join(access_lines)
    for secret in (secret_token, secret_token.split(".")[1], "not-a-token", "cookie-secret",
                   "c-123", "Authorization"):
        assert secret not in everything


def test_a_request_refused_by_the_input_guard_is_logged_too(
        apps: dict[str, Flask], access_lines: list[str]) -> None:
    apps["appraisal"].test_client().get("/api/v1/managers?bogus=1", headers=HR)
    line = json.loads(access_lines[-1])
    assert (line["path"], line["status"]) == ("/api/v1/managers", 422)


def test_a_value_the_database_refuses_is_a_422_not_a_500() -> None:
    """The safety net behind the field bounds: a DataError is the client's input."""
    from sqlalchemy.exc import DataError

    from shared.errors import register_error_handlers

    app = Flask("net")
    register_error_handlers(app)

    @app.get("/too-long")
    def too_long() -> str:
        raise DataError("INSERT ...", {}, Exception("value too long for type varchar(36)"))

    resp = app.test_client().get("/too-long")
    assert (resp.status_code, resp.mimetype) == (422, "application/problem+json")
    assert "value too long" in resp.get_json()["detail"]
