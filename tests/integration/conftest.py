"""The contracts service app on each database, for the contracts test modules here."""

from __future__ import annotations

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
