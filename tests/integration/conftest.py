"""The contracts service app on each database, for the contracts test modules here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from services.contracts import create_app
from tests.conftest import service_settings
from tests.support.contracts_world import Client


@pytest.fixture
def app(database_url_factory):  # type: ignore[no-untyped-def]
    application = create_app(service_settings("contracts", database_url_factory("contracts")))
    yield application
    application.extensions["tenure_db"].dispose()


@pytest.fixture
def api(app) -> Client:  # type: ignore[no-untyped-def]
    return Client(app.test_client())


@pytest.fixture
def pg_app(postgres_databases: Any) -> Iterator[Any]:
    """The contracts service app on PostgreSQL only (what SQLite cannot show)."""
    application = create_app(service_settings("contracts",
                                              postgres_databases.fresh("contracts")))
    yield application
    application.extensions["tenure_db"].dispose()


@pytest.fixture
def pg_api(pg_app: Any) -> Client:
    return Client(pg_app.test_client())
