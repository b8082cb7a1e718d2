"""Fixtures of the notifications integration tests: the app on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from services.notifications import create_app
from services.notifications.config import NotificationConfig
from shared.db import Database
from tests.conftest import auth, service_settings
from tests.support.contracts_world import Client

from . import world

LOCAL_RECEIVERS = frozenset({"127.0.0.1"})


@pytest.fixture
def app(database_url_factory: Any) -> Iterator[Any]:
    application = create_app(service_settings("notifications",
                                              database_url_factory("notifications")))
    # The test receivers listen on 127.0.0.1: an explicit allowlist, as an operator's would be.
    application.extensions["notifications_config"] = dataclasses.replace(
        application.extensions["notifications_config"], webhook_allowed_hosts=LOCAL_RECEIVERS)
    yield application
    application.extensions["tenure_db"].dispose()


@pytest.fixture
def db(app: Any) -> Database:
    return app.extensions["tenure_db"]


@pytest.fixture
def config() -> NotificationConfig:
    return NotificationConfig(webhook_allowed_hosts=LOCAL_RECEIVERS)


@pytest.fixture
def hr(app: Any) -> Client:
    """A group-wide HR admin."""
    return Client(app.test_client(), auth("hr_admin", subject="hr-group"))


@pytest.fixture
def group(db: Database, hr: Client) -> Client:
    """The org tree, two managers, and HR admins at the group, in the east and in the west."""
    for envelope in world.the_group():
        world.apply(db, envelope)
    for person_id, name, scope, language in (
            ("hr-group", "Chen Jie", None, "en"), ("hr-east", "王芳", world.EAST, "zh"),
            ("hr-west", "赵敏", world.WEST, "zh")):
        hr.post("/api/v1/recipients", {
            "id": person_id, "role": "hr_admin", "name": name, "language": language,
            "email": f"{person_id}@example.com", "org_scope": scope}, expect=201)
    return hr
