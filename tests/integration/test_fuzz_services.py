"""Schemathesis against the appraisal and notifications services' own OpenAPI documents: no
5xx, no response that breaks its declared schema, whatever the input."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from services.appraisal import create_app as create_appraisal_app
from services.appraisal.events import handle_contract_event
from services.notifications import create_app as create_notifications_app
from tests.conftest import auth, service_settings
from tests.integration.appraisal.world import YEAR, build_world
from tests.integration.notifications import world as notices_world
from tests.support.contracts_world import Client
from tests.support.databases import SqliteDatabases
from tests.support.fuzz import negative_data_test, stateful_test_case

pytestmark = pytest.mark.fuzz

_dbs: dict[str, SqliteDatabases] = {}


def _databases() -> SqliteDatabases:
    if "sqlite" not in _dbs:
        _dbs["sqlite"] = SqliteDatabases(Path(tempfile.mkdtemp(prefix="fuzz-")))
    return _dbs["sqlite"]


def _appraisal_app() -> Any:
    """The appraisal service with a read model, actuals and one scored run to read."""
    dbs = _databases()
    world = build_world(dbs.fresh("contracts"))
    app = create_appraisal_app(service_settings("appraisal", dbs.fresh("appraisal")))
    with app.extensions["tenure_db"].unit_of_work() as session:
        for envelope in world.events:
            handle_contract_event(session, envelope)
    api = Client(app.test_client())
    rows = []
    for manager_id in world.gms[:3]:
        no = world.employee_nos[manager_id]
        base = {"employee_no": no, "year": YEAR, "source": "fuzz-seed"}
        rows += [{**base, "indicator_code": "PROFIT", "value": "1000"},
                 {**base, "indicator_code": "ROE", "value": "8"},
                 {**base, "indicator_code": "COST", "value": "65"},
                 {**base, "indicator_code": "PARTY", "rating": "B"},
                 {**base, "indicator_code": "SAFETY", "veto_hit": False}]
    api.post("/api/v1/actuals/bulk", {"items": rows}, expect=200)
    api.post("/api/v1/appraisal-runs", {"year": YEAR, "org_unit_id": world.enterprises[0]},
             expect=202)
    return app


def _notifications_app() -> Any:
    """The notifications service with an org tree, managers, HR recipients and notices."""
    app = create_notifications_app(service_settings("notifications",
                                                    _databases().fresh("notifications")))
    db = app.extensions["tenure_db"]
    for envelope in notices_world.the_group():
        notices_world.apply(db, envelope)
    notices_world.apply(db, notices_world.appraisal_published(notices_world.ZHANG))
    Client(app.test_client()).post("/api/v1/recipients", {
        "id": "hr-fuzz", "role": "hr_admin", "name": "Chen Jie", "language": "en",
        "email": "hr-fuzz@example.com"}, expect=201)
    return app


appraisal_schema = schemathesis.openapi.from_wsgi("/openapi.json", _appraisal_app())
notifications_schema = schemathesis.openapi.from_wsgi("/openapi.json", _notifications_app())
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.mark.fuzz
@appraisal_schema.parametrize()
@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_appraisal_api_never_fails_on_any_input(case) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate(headers=auth("hr_admin"), checks=CHECKS)


@pytest.mark.fuzz
@notifications_schema.parametrize()
@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_notifications_api_never_fails_on_any_input(case) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate(headers=auth("hr_admin"), checks=CHECKS)


# Negative data: every value the documents forbid is refused with a 4xx.
test_appraisal_api_refuses_invalid_input_without_a_server_error = negative_data_test(
    _appraisal_app())
test_notifications_api_refuses_invalid_input_without_a_server_error = negative_data_test(
    _notifications_app())


# Stateful: sequences of calls linked by the ids one returns and another takes.
TestAppraisalWorkflow = pytest.mark.fuzz(stateful_test_case(_appraisal_app()))
TestNotificationsWorkflow = pytest.mark.fuzz(stateful_test_case(_notifications_app()))
