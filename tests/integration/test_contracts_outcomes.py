"""Appraisal outcomes applied by the contracts service: a confirmed exit terminates, a
cancelled one reinstates what it terminated, a pass renews."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from services.contracts.events import handle_appraisal_outcome
from services.contracts.models import ExitTermination
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


def exit_data(m: dict, c: dict, decision: str = "d0000000-0000-4000-8000-000000000001",
              **extra: Any) -> dict[str, Any]:
    return {"manager_id": m["id"], "contract_id": c["id"], "year": 2026,
            "exit_decision_id": decision, "appraisal_id": "a0000000-0000-4000-8000-000000000001",
            "triggers": [{"rule": "annual_score_below", "evidence": {"score": "65.00"}}],
            **extra}


def test_a_pending_exit_changes_nothing_and_a_confirmed_one_terminates_once(app: Any) -> None:
    api = Client(app.test_client())
    m, c = active_contract(api)
    apply(app, "exit.triggered", exit_data(m, c, exit_state="pending"))
    assert api.get(f"/api/v1/contracts/{c['id']}").get_json()["state"] == "active"
    apply(app, "exit.confirmed", exit_data(m, c, because="window_closed"))
    apply(app, "exit.confirmed", exit_data(m, c, because="window_closed"))  # redelivered
    after = api.get(f"/api/v1/contracts/{c['id']}").get_json()
    assert after["state"] == "terminated"
    assert "annual_score_below" in after["end_reason"]
    assert outbox_types(app).count("contract.terminated") == 1
    person = api.get(f"/api/v1/managers/{m['id']}").get_json()
    assert (person["employment_status"], person["departure_reason"]) == \
        ("departed", "appraisal_exit")


def test_a_cancelled_exit_reinstates_the_contract_it_terminated_once(app: Any) -> None:
    api = Client(app.test_client())
    m, c = active_contract(api)
    apply(app, "exit.confirmed", exit_data(m, c, because="window_closed"))
    cancelled = exit_data(m, c, because="appeal_upheld_passes", contract_terminated=True,
                          grade="good", cancelled_by="hr-1")
    envelope = apply(app, "exit.cancelled", cancelled)
    with app.extensions["tenure_db"].unit_of_work() as session:  # redelivered
        handle_appraisal_outcome(session, envelope)
    after = api.get(f"/api/v1/contracts/{c['id']}").get_json()
    assert (after["state"], after["ended_at"], after["end_reason"]) == ("active", None, None)
    person = api.get(f"/api/v1/managers/{m['id']}").get_json()
    assert (person["employment_status"], person["departure_reason"]) == ("active", None)
    assert outbox_types(app).count("contract.reinstated") == 1
    with app.extensions["tenure_db"].engine.connect() as conn:
        row = conn.execute(select(ExitTermination)).one()
    assert (row.reinstated_by, row.cancelled_event_id) == ("hr-1", envelope["id"])
    assert row.reinstated_at is not None and row.reinstated_event_id
    assert "upheld appeal" in row.reinstate_reason


def test_a_cancelled_exit_that_never_terminated_changes_nothing(app: Any) -> None:
    api = Client(app.test_client())
    m, c = active_contract(api)
    apply(app, "exit.cancelled", exit_data(m, c, because="appeal_upheld_passes",
                                           contract_terminated=False))
    assert api.get(f"/api/v1/contracts/{c['id']}").get_json()["state"] == "active"
    assert "contract.reinstated" not in outbox_types(app)


def test_a_cancelled_exit_does_not_reinstate_a_contract_another_exit_ended(app: Any) -> None:
    api = Client(app.test_client())
    m, c = active_contract(api)
    apply(app, "exit.confirmed", exit_data(m, c, because="window_closed"))
    apply(app, "exit.cancelled", exit_data(m, c, "d0000000-0000-4000-8000-000000000099",
                                           because="appeal_upheld_passes",
                                           contract_terminated=True))
    assert api.get(f"/api/v1/contracts/{c['id']}").get_json()["state"] == "terminated"


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


def test_a_tenure_exit_waits_for_its_confirmation(app: Any) -> None:
    api = Client(app.test_client())
    m, c = active_contract(api)
    apply(app, "tenure.concluded", {"manager_id": m["id"], "contract_id": c["id"],
                                    "outcome": "exit"})
    assert api.get(f"/api/v1/contracts/{c['id']}").get_json()["state"] == "active"
    apply(app, "exit.confirmed", exit_data(m, c, kind="tenure", because="window_closed"))
    after = api.get(f"/api/v1/contracts/{c['id']}").get_json()
    assert after["state"] == "terminated" and after["end_reason"].startswith("Tenure")


def test_outcome_for_unknown_manager_is_ignored(app: Any) -> None:
    apply(app, "exit.confirmed", {"manager_id": "nobody", "triggers": []})
    assert "contract.terminated" not in outbox_types(app)
