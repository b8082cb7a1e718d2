"""Fixtures of the backbone tests: per-test topics on the session broker, service databases."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.db import Database
from shared.kafka_clients import ensure_topics

from .world import Topics, create_service_db


@pytest.fixture
def topics(kafka_broker: Any) -> Topics:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    found = Topics(kafka_broker.bootstrap_servers, prefix)
    ensure_topics(found.bootstrap, [found.contracts, found.dead_letters], partitions=3)
    return found


@pytest.fixture
def service_db(tmp_path: Path, request: pytest.FixtureRequest
               ) -> Iterator[Callable[[str], Database]]:
    """Factory of fresh service databases on the test's backend (`backend` param or sqlite)."""
    backend = getattr(request, "param", "sqlite")
    made: list[Database] = []

    def make(name: str) -> Database:
        if backend == "postgres":
            server = request.getfixturevalue("postgres_server")
            url = server.create_database(f"bb_{name}_{uuid.uuid4().hex[:10]}")
        else:
            url = f"sqlite:///{tmp_path / f'{name}.db'}"
        db = create_service_db(url)
        made.append(db)
        return db

    yield make
    for db in made:
        db.dispose()
