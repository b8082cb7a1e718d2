"""Expiry without surprises: HR lists contracts about to end and previews a sweep, and
nothing is sent until the real sweep runs, for today."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from services.contracts.models import TenureContract, outbox
from tests.conftest import auth
from tests.support.contracts_world import Client, manager, sign_both_sides, small_group, template


def outbox_types(app: Any) -> list[str]:
    with app.extensions["tenure_db"].engine.connect() as conn:
        return [r.event_type for r in conn.execute(select(outbox).order_by(outbox.c.id))]


def reminders_sent(app: Any, contract_id: str) -> list[int]:
    with app.extensions["tenure_db"].engine.connect() as conn:
        return conn.execute(select(TenureContract.__table__.c.reminders_sent).where(
            TenureContract.__table__.c.id == contract_id)).scalar_one()


def signed_contract(api: Client, manager_id: str, template_id: str, start: date
                    ) -> dict[str, Any]:
    c = api.post("/api/v1/contracts", {"manager_id": manager_id, "template_id": template_id,
                                       "start_date": start.isoformat()}, expect=201).get_json()
    c = api.post(f"/api/v1/contracts/{c['id']}/issue", expect=200).get_json()
    return sign_both_sides(api, c)


def two_contracts(api: Client) -> dict[str, dict[str, Any]]:
    """One-year contracts: one ends in 20 days, the other in about two years."""
    g = small_group(api)
    one_year = template(api, term_years=1, layer=None, category=None)
    today = date.today()
    soon = signed_contract(api, manager(api, "A001", g["sub_a"]["id"])["id"], one_year["id"],
                           today - timedelta(days=365 - 20))
    later = signed_contract(api, manager(api, "C001", g["third"]["id"])["id"], one_year["id"],
                            today + timedelta(days=365))
    return {"soon": soon, "later": later}


def test_hr_lists_active_contracts_ending_before_a_day_and_nothing_is_sent(
        api: Client, app: Any) -> None:
    c = two_contracts(api)
    before = outbox_types(app)
    in_a_year = (date.today() + timedelta(days=365)).isoformat()
    page = api.get(f"/api/v1/contracts?state=active&ends_before={in_a_year}").get_json()
    assert [x["id"] for x in page["items"]] == [c["soon"]["id"]]
    assert page["page"]["total"] == 1
    far = (date.today() + timedelta(days=3 * 365)).isoformat()
    page = api.get(f"/api/v1/contracts?state=active&ends_before={far}").get_json()
    assert {x["id"] for x in page["items"]} == {c["soon"]["id"], c["later"]["id"]}
    # The end date itself is not before the end date.
    end = c["soon"]["end_date"]
    assert api.get(f"/api/v1/contracts?ends_before={end}").get_json()["items"] == []
    assert outbox_types(app) == before


def test_ends_before_that_is_not_a_date_is_422_naming_it(api: Client) -> None:
    body = api.get("/api/v1/contracts?ends_before=soon", expect=422).get_json()
    assert "ends_before" in body["errors"]


def test_a_sweep_for_another_day_is_refused_naming_as_of_and_changes_nothing(
        api: Client, app: Any) -> None:
    c = two_contracts(api)
    before = outbox_types(app)
    future = (date.today() + timedelta(days=2 * 365)).isoformat()
    resp = api.post("/api/v1/maintenance/expiry", {"as_of": future}, expect=422)
    assert resp.mimetype == "application/problem+json"
    assert "dry_run" in resp.get_json()["errors"]["as_of"][0]
    api.post("/api/v1/maintenance/expiry", {"as_of": future, "dry_run": False}, expect=422)
    assert outbox_types(app) == before
    assert api.get(f"/api/v1/contracts/{c['later']['id']}").get_json()["state"] == "active"


def test_a_dry_run_for_a_later_day_says_what_would_be_sent_and_sends_nothing(
        api: Client, app: Any) -> None:
    c = two_contracts(api)
    before = outbox_types(app)
    later_end = date.fromisoformat(c["later"]["end_date"])
    as_of = (later_end - timedelta(days=30)).isoformat()
    preview = api.post("/api/v1/maintenance/expiry", {"as_of": as_of, "dry_run": True},
                       expect=200).get_json()
    assert (preview["dry_run"], preview["as_of"]) == (True, as_of)
    assert (preview["expired"], preview["expiring"]) == (1, 1)
    by_contract = {x["contract_id"]: x for x in preview["would_send"]}
    assert by_contract[c["soon"]["id"]]["event_type"] == "contract.expired"
    reminder = by_contract[c["later"]["id"]]
    assert (reminder["event_type"], reminder["reminder_days"],
            reminder["days_remaining"]) == ("contract.expiring", 30, 30)
    assert reminder["manager"]["employee_no"] == "C001"
    assert reminder["manager"]["email"] == "c001@example.com"
    assert reminder["hr_admins_of"]["org_unit_id"] == c["later"]["org_unit_id"]
    assert outbox_types(app) == before
    assert reminders_sent(app, c["later"]["id"]) == []
    for contract in c.values():
        assert api.get(f"/api/v1/contracts/{contract['id']}").get_json()["state"] == "active"


def test_the_sweep_runs_for_today_and_sends_only_what_is_due_today(
        api: Client, app: Any) -> None:
    c = two_contracts(api)
    preview = api.post("/api/v1/maintenance/expiry", {"dry_run": True},
                       expect=200).get_json()
    assert [(x["contract_id"], x["reminder_days"]) for x in preview["would_send"]] == [
        (c["soon"]["id"], 30)]
    assert api.post("/api/v1/maintenance/expiry", {}, expect=200).get_json() == {
        "expired": 0, "expiring": 1}
    assert outbox_types(app).count("contract.expiring") == 1
    assert reminders_sent(app, c["soon"]["id"]) == [30, 90]
    assert reminders_sent(app, c["later"]["id"]) == []


def test_a_scoped_hr_admin_may_not_sweep(api: Client) -> None:
    g = small_group(api)
    scoped = api.as_(auth("hr_admin", org_scope=g["sub_a"]["id"]))
    scoped.post("/api/v1/maintenance/expiry", {"dry_run": True}, expect=403)


def test_the_cli_sweeps_another_day_only_as_a_dry_run(api: Client, app: Any) -> None:
    import json

    c = two_contracts(api)
    before = outbox_types(app)
    runner = app.test_cli_runner()
    future = (date.today() + timedelta(days=2 * 365)).isoformat()
    refused = runner.invoke(args=["expire", "--as-of", future])
    assert refused.exit_code != 0 and "--as-of" in refused.output
    preview = runner.invoke(args=["expire", "--as-of", future, "--dry-run"])
    assert preview.exit_code == 0, preview.output
    assert {x["contract_id"] for x in json.loads(preview.output)["would_send"]} == {
        c["soon"]["id"], c["later"]["id"]}
    assert outbox_types(app) == before
    today = runner.invoke(args=["expire"])
    assert today.output.strip() == "expired 0, reminders 1"
