"""Under gunicorn, as deployed: oversized headers and tokens get the app's problem+json, and
only what is past gunicorn's own (documented) limits gets gunicorn's plain answer."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from shared.inputs import MAX_HEADER_BYTES
from tests.conftest import SECRET, auth
from tests.support.databases import SqliteDatabases
from tests.support.processes import service_api


@pytest.fixture(scope="module")
def contracts_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root: Path = tmp_path_factory.mktemp("gunicorn-limits")
    url = SqliteDatabases(root).fresh("contracts")
    env = {"CONTRACTS_DATABASE_URL": url, "JWT_SECRET": SECRET, "TENURE_VAR_DIR": str(root),
           "LOG_JSON": "false", "READ_CACHE": "off"}
    with service_api("contracts", env, root, workers=1) as base:
        yield base


def _get(base: str, path: str, headers: dict[str, str]) -> tuple[int, str, bytes]:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


def test_a_7kb_token_is_refused_as_a_token_with_problem_json(contracts_url: str) -> None:
    status, ctype, _ = _get(contracts_url, "/api/v1/managers",
                            {"Authorization": "Bearer " + "a" * 7_500})
    assert (status, ctype) == (401, "application/problem+json")


def test_a_header_over_the_app_limit_gets_a_problem_json_431(contracts_url: str) -> None:
    status, ctype, body = _get(contracts_url, "/api/v1/managers",
                               {**auth("hr_admin"), "X-Note": "x" * (MAX_HEADER_BYTES + 10)})
    assert (status, ctype) == (431, "application/problem+json"), body[:300]
    assert b"X-Note" in body


def test_a_long_url_within_the_request_line_limit_reaches_the_app(contracts_url: str) -> None:
    status, ctype, _ = _get(contracts_url, "/api/v1/contracts/" + "c" * 6000,
                            auth("hr_admin"))
    assert (status, ctype) == (404, "application/problem+json")


def test_past_gunicorn_own_limit_gunicorn_answers_431_itself(contracts_url: str) -> None:
    """Documented in docs/input-limits.md: a header line over 64 KiB never reaches the app."""
    status, _, _ = _get(contracts_url, "/api/v1/managers", {"X-Note": "x" * 70_000})
    assert status == 431
