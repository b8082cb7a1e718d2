"""Appraisal outcomes applied by the contracts service: exit terminates, a pass renews."""

from __future__ import annotations

from typing import Any

from services.contracts.events import handle_appraisal_outcome
from shared.events.envelope import make_event
from tests.integration.test_contracts_api import draft, outbox_types
from tests.support.contracts_world import (
    Client,
    manager,
    sign_both_sides,
    small_group,
    template,
)


def active_contract(api: Client, **template_overrides: Any) -> tuple[dict, dict]:
    g = small_group(api)
    t = template(api, **template_overrides)
    m = manager(api, "A001", g["sub_a"]["id"])
    c = draft(api, m["id"], t["id"]).get_json()
    api.post(f"/api/v1/contracts/{c['id']}/issue", expect=200)
    sign_both_sides(api, c)
    return m, c


def apply(app: Any, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    envelope = make_event(event_type, "/tenure/appraisal", data["manager_id"], data)
    with app.extensions["tenure_db"].unit_of_work() as session:
        handle_appraisal_outcome(session, envelope)
    return envelope


def test_exit_trigger_terminates_the_active_contract_once(app: Any) -> None:
    api = Client(app.test_client())
    m, c = active_contract(api)
    data = {"manager_id": m["id"], "contract_id": c["id"], "year": 2026,
            "triggers": [{"rule": "annual_score_below", "evidence": {"score": "65.00"}}]}
    apply(app, "exit.triggered", data)
    apply(app, "exit.triggered", data)  # a second delivery changes nothing
    after = api.get(f"/api/v1/contracts/{c['id']}").get_json()
    assert after["state"] == "terminated"
    assert "annual_score_below" in after["end_reason"]
    assert outbox_types(app).count("contract.terminated") == 1
    person = api.get(f"/api/v1/managers/{m['id']}").get_json()
    assert (person["employment_status"], person["departure_reason"]) == \
        ("departed", "appraisal_exit")


def test_tenure_pass_renews_and_tenure_exit_terminates(app: Any) -> None:
    api = Client(app.test_client())
    m, c = active_contract(api)
    apply(app, "tenure.concluded", {"manager_id": m["id"], "contract_id": c["id"],
                                    "outcome": "renew_with_conditions",
                                    "conditions": "Improve cost control"})
    assert api.get(f"/api/v1/contracts/{c['id']}").get_json()["state"] == "renewed"
    contracts = api.get(f"/api/v1/contracts?manager_id={m['id']}").get_json()["items"]
    successor = next(x for x in contracts if x["id"] != c["id"])
    assert successor["term_number"] == 2 and successor["start_date"] == "2029-01-01"


def test_outcome_for_unknown_manager_is_ignored(app: Any) -> None:
    apply(app, "exit.triggered", {"manager_id": "nobody", "triggers": []})
    assert "contract.terminated" not in outbox_types(app)
