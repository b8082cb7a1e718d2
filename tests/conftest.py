"""Fixtures shared by every test layer: real PostgreSQL and Kafka, started once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.auth import issue_token
from shared.config import DEV_JWT_SECRET, Settings
from tests.support.databases import PostgresDatabases, SqliteDatabases

SECRET = DEV_JWT_SECRET
# A test session is development: services it starts take the dev secret. Tests of the
# refusal to start outside development set TENURE_ENV for their own process.
os.environ.setdefault("TENURE_ENV", "development")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    import local_postgres

    with local_postgres.LocalPostgres() as server:
        yield server


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[Any]:
    import local_kafka

    with local_kafka.LocalKafka() as broker:
        yield broker


@pytest.fixture(scope="session")
def keycloak() -> Iterator[Any]:
    """A real Keycloak with the Tenure realm (deploy/keycloak/tenure-realm.json), started the
    first time a test asks for it."""
    import local_keycloak

    with local_keycloak.LocalKeycloak() as server:
        yield server


@pytest.fixture(scope="session")
def sqlite_databases(tmp_path_factory: pytest.TempPathFactory) -> SqliteDatabases:
    return SqliteDatabases(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(scope="session")
def postgres_databases(postgres_server: Any) -> PostgresDatabases:
    return PostgresDatabases(postgres_server)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url_factory(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Run the test once on SQLite and once on the real PostgreSQL server."""
    if request.param == "postgres":
        dbs = request.getfixturevalue("postgres_databases")
    else:
        dbs = request.getfixturevalue("sqlite_databases")
    return dbs.fresh


def token(*roles: str, subject: str = "hr-1", org_scope: str | None = None,
          manager_id: str | None = None) -> str:
    return issue_token(SECRET, subject, roles or ("hr_admin",), org_scope=org_scope,
                       manager_id=manager_id)


def auth(*roles: str, **kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(*roles, **kwargs)}"}


def service_settings(service: str, database_url: str, **extra: Any) -> Settings:
    return Settings.from_env(service, database_url=database_url, testing=True,
                             jwt_secret=SECRET, log_json=False, kafka_bootstrap=None, **extra)


@pytest.fixture(autouse=True, scope="session")
def _isolated_var_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ.setdefault("TENURE_VAR_DIR", str(Path(tmp_path_factory.mktemp("var"))))
