"""Outside development, no process starts with a guessable secret or none at all.

The API under gunicorn on PostgreSQL, as it runs in production, and the workers (flask
commands): each refuses to start, with a message naming what to set, unless it has a secret
of at least 32 bytes that is no published placeholder, or an OIDC issuer and audience.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from shared.auth import issue_token
from shared.config import DEV_JWT_SECRET
from tests.support.oidc_issuer import local_issuer
from tests.support.processes import REPO, free_port, service_api

STRONG_SECRET = "3f9c0b7e5a1d4c8e9b2f6a0d7c4e1b8a5f2c9d6e3b0a7f4c1e8d5b2a9f6c3e0d"
COMPOSE_PLACEHOLDER = "CHANGE-ME-local-compose-jwt-secret"


def production_env(database_url: str, **extra: str) -> dict[str, str]:
    """What a production process sees: no TENURE_ENV, and only the variables given here."""
    return {"TENURE_ENV": "", "JWT_SECRET": "", "OIDC_ISSUER": "", "OIDC_AUDIENCE": "",
            "CONTRACTS_DATABASE_URL": database_url, "KAFKA_BOOTSTRAP_SERVERS": "",
            "LOG_JSON": "false", **extra}


def run_gunicorn(env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    port = free_port()
    args = [sys.executable, "-m", "gunicorn", "-c", str(REPO / "deploy" / "gunicorn.conf.py"),
            "services.contracts.wsgi:app"]
    full = {**os.environ, **env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "1"}
    return subprocess.run(args, cwd=REPO, env=full, capture_output=True, text=True,
                          timeout=timeout, check=False, stdin=subprocess.DEVNULL)


@pytest.fixture
def contracts_db(postgres_databases: Any) -> str:
    return postgres_databases.fresh("contracts")


@pytest.mark.postgres
def test_api_without_jwt_secret_refuses_to_start_and_says_what_to_set(contracts_db: str
                                                                      ) -> None:
    result = run_gunicorn(production_env(contracts_db))
    assert result.returncode != 0
    assert "refuses to start" in result.stderr
    assert "JWT_SECRET" in result.stderr and "OIDC_ISSUER" in result.stderr


@pytest.mark.postgres
@pytest.mark.parametrize("secret", [DEV_JWT_SECRET, COMPOSE_PLACEHOLDER,
                                    "CHANGE-ME-at-least-32-random-bytes"])
def test_api_with_a_published_placeholder_secret_refuses_to_start(contracts_db: str,
                                                                  secret: str) -> None:
    result = run_gunicorn(production_env(contracts_db, JWT_SECRET=secret))
    assert result.returncode != 0
    assert "placeholder" in result.stderr


@pytest.mark.postgres
def test_api_with_a_secret_under_32_bytes_refuses_to_start(contracts_db: str) -> None:
    result = run_gunicorn(production_env(contracts_db, JWT_SECRET="x7Gq2" * 6 + "a"))  # 31
    assert result.returncode != 0
    assert "31 bytes" in result.stderr


@pytest.mark.postgres
def test_api_with_oidc_issuer_but_no_audience_refuses_to_start(contracts_db: str) -> None:
    env = production_env(contracts_db, OIDC_ISSUER="https://login.example/realms/hr")
    result = run_gunicorn(env)
    assert result.returncode != 0
    assert "OIDC_AUDIENCE" in result.stderr


def _post_root_unit(base: str, token: str) -> int:
    body = json.dumps({"code": "ROOT", "name": "Root", "kind": "group", "parent_id": None,
                       "category": "commercial_competitive", "has_board": False}).encode()
    request = urllib.request.Request(f"{base}/api/v1/org-units", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.postgres
def test_api_with_a_strong_secret_starts_and_refuses_tokens_of_the_dev_secret(
        contracts_db: str, tmp_path: Path) -> None:
    env = production_env(contracts_db, JWT_SECRET=STRONG_SECRET)
    with service_api("contracts", env, tmp_path, workers=1) as base:
        assert _post_root_unit(base, issue_token(DEV_JWT_SECRET, "x", ["hr_admin"])) == 401
        assert _post_root_unit(base, issue_token(STRONG_SECRET, "hr", ["hr_admin"])) == 201


@pytest.mark.postgres
def test_api_with_only_an_oidc_issuer_starts_and_takes_only_its_tokens(
        contracts_db: str, tmp_path: Path) -> None:
    with local_issuer("ES256") as issuer:
        env = production_env(contracts_db, OIDC_ISSUER=issuer.url, OIDC_AUDIENCE="tenure-api")
        with service_api("contracts", env, tmp_path, workers=1) as base:
            assert _post_root_unit(base, issue_token(DEV_JWT_SECRET, "x", ["hr_admin"])) == 401
            token = issuer.sign({"sub": "hr", "roles": ["hr_admin"]})
            assert _post_root_unit(base, token) == 201


@pytest.mark.parametrize(("service", "command"), [
    ("contracts", "relay"), ("appraisal", "consume"), ("notifications", "deliver"),
    ("contracts", "migrate"),
])
def test_workers_without_a_secret_refuse_to_start(tmp_path: Path, service: str, command: str
                                                  ) -> None:
    env = {**os.environ, "TENURE_ENV": "", "JWT_SECRET": DEV_JWT_SECRET, "OIDC_ISSUER": "",
           "TENURE_VAR_DIR": str(tmp_path), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", f"services.{service}:create_app", command],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
        stdin=subprocess.DEVNULL)
    assert result.returncode != 0
    assert "refuses to start" in result.stderr and "placeholder" in result.stderr

