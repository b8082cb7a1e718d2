"""Schemathesis against the contracts service's own OpenAPI document: no 5xx, no response
that breaks its declared schema, whatever the input."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from services.contracts import create_app
from tests.conftest import auth, service_settings
from tests.support.contracts_world import (
    Client,
    manager,
    sign_both_sides,
    small_group,
    template,
)
from tests.support.fuzz import negative_data_test, stateful_test_case

_state: dict[str, object] = {}


def _app():  # type: ignore[no-untyped-def]
    if "app" not in _state:
        import tempfile
        from pathlib import Path

        from tests.support.databases import SqliteDatabases

        dbs = SqliteDatabases(Path(tempfile.mkdtemp(prefix="fuzz-")))
        app = create_app(service_settings("contracts", dbs.fresh("contracts")))
        api = Client(app.test_client())
        group = small_group(api)
        t = template(api)
        m = manager(api, "FZ001", group["sub_a"]["id"])
        # A signed contract, so signed_at / versions are in what the fuzzer reads back.
        contract = api.post("/api/v1/contracts", {"manager_id": m["id"], "template_id": t["id"],
                                                  "start_date": "2026-01-01"}, expect=201)
        cid = contract.get_json()["id"]
        api.post(f"/api/v1/contracts/{cid}/issue", expect=200)
        sign_both_sides(api, contract.get_json())
        _state["app"] = app
    return _state["app"]


schema = schemathesis.openapi.from_wsgi("/openapi.json", _app())


@pytest.mark.fuzz
@schema.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_contracts_api_never_fails_on_any_input(case) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate(headers=auth("hr_admin"),
                           checks=[not_a_server_error, response_schema_conformance])


# Negative data: every value the document forbids is refused with a 4xx.
test_contracts_api_refuses_invalid_input_without_a_server_error = negative_data_test(
    _app(), max_examples=30)


# Stateful: sequences of calls linked by the ids one returns and another takes.
TestContractsWorkflow = pytest.mark.fuzz(stateful_test_case(_app()))
