"""Schemathesis set-ups shared by the fuzz tests: negative data and stateful walks."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import negative_data_rejection

from tests.conftest import auth


def negative_data_test(app: Any, *, max_examples: int = 20) -> Any:
    """A test over every operation of the app's OpenAPI document with data it forbids (wrong
    types, out of bounds, unknown fields and query parameters, malformed strings): each must
    be refused with a 4xx, never a 5xx. The token is ours, never mutated."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    schema.config.generation.update(modes=[GenerationMode.NEGATIVE],
                                    with_security_parameters=False)

    @schema.parametrize()
    @settings(max_examples=max_examples, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def refuses_invalid_input(case: Any) -> None:
        case.call_and_validate(headers=auth("hr_admin"),
                               checks=[not_a_server_error, negative_data_rejection])

    return pytest.mark.fuzz(refuses_invalid_input)


def sqlite_snapshot(app: Any) -> Callable[[], None]:
    """Keep the app's SQLite database as it is now; the function returned puts it back."""
    database = app.extensions["tenure_db"]
    path = Path(database.engine.url.database)
    saved = path.with_suffix(".snapshot")
    database.engine.dispose()
    shutil.copyfile(path, saved)

    def restore() -> None:
        database.engine.dispose()
        shutil.copyfile(saved, path)

    return restore


def stateful_test_case(app: Any, *, max_examples: int = 15, steps: int = 8) -> Any:
    """A state machine over the app's operations, linked by schemathesis's own inference
    (ids one operation returns, another takes; flask-smorest declares no links), valid and
    invalid data mixed. The one check: no server error. Every walk starts from the data the
    app has now (its SQLite database is put back), so a walk replays the same way."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    schema.config.generation.update(with_security_parameters=False)
    restore = sqlite_snapshot(app)

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            restore()

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": auth("hr_admin")}

        def validate_response(self, response: Any, case: Any,
                              additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=[not_a_server_error])

    test_case = Workflow.TestCase
    test_case.settings = settings(max_examples=max_examples, stateful_step_count=steps,
                                  deadline=None, derandomize=True, database=None,
                                  suppress_health_check=list(HealthCheck))
    return test_case
