"""Fixtures of the appraisal service tests: a contracts world built once per session, and a
fresh appraisal database per test (SQLite and PostgreSQL) with that world's events applied."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from services.appraisal import create_app
from services.appraisal.events import handle_contract_event
from services.appraisal.models import outbox
from shared.events.envelope import decode_envelope
from shared.events.schemas import validate_event
from tests.conftest import auth, service_settings
from tests.support.contracts_world import Client

from .world import YEAR, World, build_world


@pytest.fixture(scope="session")
def contract_world(sqlite_databases: Any) -> World:
    return build_world(sqlite_databases.fresh("contracts"))


@pytest.fixture
def app(database_url_factory: Any) -> Iterator[Any]:
    application = create_app(service_settings("appraisal", database_url_factory("appraisal")))
    yield application
    application.extensions["tenure_db"].dispose()


@pytest.fixture
def api(app: Any) -> Client:
    return Client(app.test_client())


def feed(app: Any, envelopes: list[dict[str, Any]], *, together: bool = False) -> None:
    """Apply events as the consumer does, one unit of work each (or all in one, quicker,
    for tests that only need the resulting read model)."""
    database = app.extensions["tenure_db"]
    if together:
        with database.unit_of_work() as session:
            for envelope in envelopes:
                handle_contract_event(session, envelope)
        return
    for envelope in envelopes:
        with database.unit_of_work() as session:
            handle_contract_event(session, envelope)


@pytest.fixture
def world(app: Any, contract_world: World) -> World:
    feed(app, contract_world.events, together=True)
    return contract_world


def outbox_events(app: Any) -> list[dict[str, Any]]:
    """The appraisal service's own events, checked against the catalogue's schemas."""
    with app.extensions["tenure_db"].engine.connect() as conn:
        out = []
        for (payload,) in conn.execute(select(outbox.c.payload).order_by(outbox.c.id)):
            envelope = decode_envelope(payload)
            validate_event(envelope)
            out.append(envelope)
        return out


def wait_run(api: Client, location: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = api.get(location).get_json()
        if run["status"] in ("done", "failed") or time.monotonic() > deadline:
            assert run["status"] == "done", run
            return run
        time.sleep(0.05)


def run_cohort(api: Client, **body: Any) -> dict[str, Any]:
    resp = api.post("/api/v1/appraisal-runs", {"year": YEAR, **body}, expect=202)
    return wait_run(api, resp.headers["Location"])


def standard_actuals(manager_id: str, profit: str, roe: str, *, cost: str = "65",
                     rating: str = "B", veto: bool = False, source: str = "finance-erp"
                     ) -> list[dict[str, Any]]:
    base = {"manager_id": manager_id, "year": YEAR, "source": source}
    return [{**base, "indicator_code": "PROFIT", "value": profit},
            {**base, "indicator_code": "ROE", "value": roe},
            {**base, "indicator_code": "COST", "value": cost},
            {**base, "indicator_code": "PARTY", "rating": rating},
            {**base, "indicator_code": "SAFETY", "veto_hit": veto}]


def post_actuals(api: Client, rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = api.post("/api/v1/actuals/bulk", {"items": rows}, expect=200).get_json()
    assert out["rejected"] == 0, out
    return out


HR = auth("hr_admin")
