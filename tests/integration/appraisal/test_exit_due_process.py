"""Exit with due process, through the APIs over real databases (SQLite and PostgreSQL).

A published exit waits out its appeal window; only its confirmation terminates the contract.
The contracts service runs in-process beside the appraisal service, each on its own database,
and the events of each outbox are applied by the other's real handlers, in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from services.appraisal.models import Appraisal, ExitDecision
from services.appraisal.service import close_elapsed_windows
from services.contracts import create_app as create_contracts_app
from services.contracts.events import handle_appraisal_outcome
from services.contracts.models import ExitTermination
from services.contracts.models import outbox as contracts_outbox
from shared.events.envelope import decode_envelope
from tests.conftest import auth, service_settings
from tests.support.contracts_world import Client

from .conftest import feed, outbox_events, post_actuals, run_cohort
from .test_appraisals import cohort_actuals
from .world import YEAR, World, build_world

HR_PATH = "/api/v1/appraisals"


@pytest.fixture
def linked(app: Any, database_url_factory: Any) -> Iterator[tuple[Any, World]]:
    """A contracts service of its own (same kind of database as the appraisal one), whose
    world the appraisal read model is fed."""
    url = database_url_factory("contracts")
    world = build_world(url)
    contracts = create_contracts_app(service_settings("contracts", url))
    feed(app, world.events, together=True)
    yield contracts, world
    contracts.extensions["tenure_db"].dispose()


class Wire:
    """Carries each service's new outbox events to the other, as the relays and consumers do."""

    def __init__(self, appraisal: Any, contracts: Any) -> None:
        self.appraisal, self.contracts = appraisal, contracts
        self.sent_a = len(outbox_events(appraisal))
        self.sent_c = len(self._contract_events())

    def _contract_events(self) -> list[dict[str, Any]]:
        with self.contracts.extensions["tenure_db"].engine.connect() as conn:
            return [decode_envelope(p) for (p,) in conn.execute(
                select(contracts_outbox.c.payload).order_by(contracts_outbox.c.id))]

    def pump(self) -> None:
        events = outbox_events(self.appraisal)[self.sent_a:]
        self.sent_a += len(events)
        for envelope in events:
            with self.contracts.extensions["tenure_db"].unit_of_work() as s:
                handle_appraisal_outcome(s, envelope)
        back = self._contract_events()[self.sent_c:]
        self.sent_c += len(back)
        feed(self.appraisal, back)

    def contract(self, contract_id: str) -> dict[str, Any]:
        return Client(self.contracts.test_client()).get(
            f"/api/v1/contracts/{contract_id}").get_json()

    def person(self, manager_id: str) -> dict[str, Any]:
        return Client(self.contracts.test_client()).get(
            f"/api/v1/managers/{manager_id}").get_json()


def publish_cohort(api: Client, world: World) -> dict[str, dict[str, Any]]:
    cohort_actuals(api, world)
    run = run_cohort(api, layer=2, category="commercial_competitive")
    for action in ("review", "approve", "publish"):
        api.post(f"/api/v1/appraisal-runs/{run['id']}/{action}", {}, expect=200)
    items = api.get(f"{HR_PATH}?year={YEAR}&page_size=100").get_json()["items"]
    return {a["manager_id"]: a for a in items}


def start(app: Any, api: Client, linked: tuple[Any, World]
          ) -> tuple[Wire, World, dict[str, dict[str, Any]]]:
    """Both services wired together, and the cohort's results published."""
    contracts, world = linked
    wire = Wire(app, contracts)
    return wire, world, publish_cohort(api, world)


def types(app: Any) -> list[str]:
    return [e["type"] for e in outbox_events(app)]


def decision_of(api: Client, manager_id: str) -> dict[str, Any]:
    items = api.get(f"/api/v1/exit-decisions?manager_id={manager_id}").get_json()["items"]
    assert len(items) == 1, items
    return items[0]


def after_window(decision: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(decision["appeal_closes_at"].replace("Z", "+00:00"))


def rescore_passing(api: Client, world: World, manager_id: str, path: str) -> None:
    post_actuals(api, [{"manager_id": manager_id, "year": YEAR, "indicator_code": "PROFIT",
                        "value": "900", "source": "audit"},
                       {"manager_id": manager_id, "year": YEAR, "indicator_code": "ROE",
                        "value": "7", "source": "audit"}])
    for step in ("score", "review", "approve"):
        api.post(f"{path}/{step}", {} if step != "score" else None, expect=200)


def age_publication(app: Any, appraisal_id: str, days: int) -> None:
    """Time passes: the publication and its exit window move `days` into the past."""
    shift = timedelta(days=days)
    with app.extensions["tenure_db"].unit_of_work() as s:
        a = s.get(Appraisal, appraisal_id)
        assert a is not None and a.published_at is not None
        a.published_at = a.published_at - shift
        for decision in s.scalars(select(ExitDecision).where(
                ExitDecision.appraisal_id == appraisal_id)):
            decision.published_at -= shift
            decision.closes_at -= shift
            decision.last_day -= shift


# --- the window ----------------------------------------------------------------------------------


def test_a_published_exit_is_pending_until_its_window_closes_then_confirmed_once(
        app: Any, api: Client, linked: tuple[Any, World]) -> None:
    wire, world, published = start(app, api, linked)
    low = world.gms[6]
    wire.pump()
    assert wire.contract(world.contracts[low])["state"] == "active"
    triggered = next(e for e in outbox_events(app) if e["type"] == "exit.triggered"
                     and e["data"]["manager_id"] == low)["data"]
    decision = decision_of(api, low)
    assert (triggered["exit_state"], triggered["exit_decision_id"]) == ("pending",
                                                                        decision["id"])
    assert triggered["appeal_deadline"] == decision["appeal_deadline"]
    assert (decision["state"], decision["appeal_window_days"], decision["appraisal_id"]) == (
        "pending", 15, published[low]["id"])

    # The window closes as the day after the deadline starts in the window's zone, on both
    # databases (SQLite once kept that instant's wall time without its offset: 8 hours late).
    closes = after_window(decision)
    assert closes == datetime.combine(
        date.fromisoformat(decision["appeal_deadline"]) + timedelta(days=1), time(0),
        tzinfo=ZoneInfo(triggered["appeal_window_zone"]))
    # The daily job before the deadline confirms nothing.
    assert close_elapsed_windows(app.extensions["tenure_db"])["confirmed"] == 0
    assert close_elapsed_windows(app.extensions["tenure_db"],
                                 closes - timedelta(seconds=1))["confirmed"] == 0
    # At the instant the window closes, it confirms both exits; a second run confirms none.
    done = close_elapsed_windows(app.extensions["tenure_db"], closes)
    assert done["confirmed"] == 2 and decision["id"] in done["exit_decision_ids"]
    assert close_elapsed_windows(app.extensions["tenure_db"], closes)["confirmed"] == 0
    confirmed = [e for e in outbox_events(app) if e["type"] == "exit.confirmed"]
    assert sorted(e["data"]["manager_id"] for e in confirmed) == sorted(world.gms[6:8])
    assert {e["data"]["because"] for e in confirmed} == {"window_closed"}
    wire.pump()
    assert wire.contract(world.contracts[low])["state"] == "terminated"
    assert wire.person(low)["departure_reason"] == "appraisal_exit"
    after = decision_of(api, low)
    assert (after["state"], after["confirmed_by"]) == ("confirmed", "appeal-window")
    assert [e["type"] for e in after["events"]] == ["exit.triggered", "exit.confirmed"]


def test_the_ops_endpoint_closes_the_windows_for_the_whole_group_only(
        app: Any, api: Client, world: World) -> None:
    publish_cohort(api, world)
    scoped = api.as_(auth("hr_admin", org_scope=world.enterprises[0]))
    scoped.post("/api/v1/maintenance/exit-windows", {}, expect=403)
    api.post("/api/v1/maintenance/exit-windows", {"when": "now"}, expect=422)
    out = api.post("/api/v1/maintenance/exit-windows",
                   {"as_of": (datetime.now(UTC) + timedelta(days=40)).isoformat()},
                   expect=200).get_json()
    assert out["confirmed"] == 2
    assert api.get("/api/v1/exit-decisions?state=confirmed").get_json()["page"]["total"] == 2


# --- appeals in time -----------------------------------------------------------------------------


def test_an_appeal_in_time_holds_the_exit_and_a_rejection_confirms_it(
        app: Any, api: Client, linked: tuple[Any, World]) -> None:
    wire, world, published = start(app, api, linked)
    worst = world.gms[7]
    path = f"{HR_PATH}/{published[worst]['id']}"
    mine = api.as_(auth("manager", manager_id=worst))
    appeal = mine.post(f"{path}/appeal", {"reason": "the audit is not final"},
                       expect=201).get_json()
    assert (appeal["late"], appeal["exit_decision_id"]) == (False,
                                                            decision_of(api, worst)["id"])
    held = decision_of(api, worst)
    assert (held["state"], held["appeal_id"]) == ("held", appeal["id"])
    # The window closes while the appeal is open: the job leaves the held exit alone.
    close_elapsed_windows(app.extensions["tenure_db"], after_window(held) + timedelta(days=1))
    assert decision_of(api, worst)["state"] == "held"
    wire.pump()
    assert wire.contract(world.contracts[worst])["state"] == "active"
    # HR's queue shows the open appeal; the manager sees only their own.
    queue = api.get("/api/v1/appeals?status=open").get_json()
    assert [a["id"] for a in queue["items"]] == [appeal["id"]]
    other = api.as_(auth("manager", manager_id=world.gms[6]))
    assert other.get("/api/v1/appeals").get_json()["items"] == []
    assert mine.get("/api/v1/appeals").get_json()["items"][0]["manager_id"] == worst
    api.get("/api/v1/appeals?state=open", expect=422)

    api.post(f"{path}/appeal/decision", {"decision": "rejected", "note": "figures stand"},
             expect=200)
    confirmed = [e for e in outbox_events(app) if e["type"] == "exit.confirmed"
                 and e["data"]["manager_id"] == worst]
    assert [e["data"]["because"] for e in confirmed] == ["appeal_rejected"]
    wire.pump()
    assert wire.contract(world.contracts[worst])["state"] == "terminated"
    assert decision_of(api, worst)["state"] == "confirmed"


def test_an_upheld_appeal_whose_rescore_passes_cancels_the_exit_and_nothing_is_terminated(
        app: Any, api: Client, linked: tuple[Any, World]) -> None:
    wire, world, published = start(app, api, linked)
    low = world.gms[6]
    path = f"{HR_PATH}/{published[low]['id']}"
    # HR files on the manager's behalf.
    api.post(f"{path}/appeal", {"reason": "profit restated by the auditor"}, expect=201)
    refused = api.post(f"{path}/appeal/decision", {"decision": "upheld", "note": "ok"},
                       expect=409).get_json()
    assert f"POST {path}/score, then POST {path}/review, then POST {path}/approve" in \
        refused["detail"] and "decide the appeal again" in refused["detail"]
    rescore_passing(api, world, low, path)
    publish = api.post(f"{path}/publish", {}, expect=409).get_json()
    assert f"POST {path}/appeal/decision" in publish["detail"]
    api.post(f"{path}/appeal/decision", {"decision": "upheld", "note": "restated"},
             expect=200)
    close_elapsed_windows(app.extensions["tenure_db"],
                          datetime.now(UTC) + timedelta(days=40))
    wire.pump()
    assert wire.contract(world.contracts[low])["state"] == "active"
    assert wire.person(low)["employment_status"] == "active"
    events = outbox_events(app)
    cancelled = [e["data"] for e in events if e["type"] == "exit.cancelled"]
    assert [(c["manager_id"], c["contract_terminated"], c["outcome"]) for c in cancelled] == [
        (low, False, "retain")]
    assert low not in [e["data"]["manager_id"] for e in events if e["type"] == "exit.confirmed"]
    assert decision_of(api, low)["state"] == "cancelled"


def test_an_upheld_appeal_whose_rescore_still_exits_is_confirmed_at_its_publication(
        app: Any, api: Client, world: World) -> None:
    published = publish_cohort(api, world)
    worst = world.gms[7]
    path = f"{HR_PATH}/{published[worst]['id']}"
    api.post(f"{path}/appeal", {"reason": "recount"}, expect=201)
    for step in ("score", "review", "approve"):
        api.post(f"{path}/{step}", {} if step != "score" else None, expect=200)
    api.post(f"{path}/appeal/decision", {"decision": "upheld", "note": "heard"}, expect=200)
    mine = [e for e in outbox_events(app) if e["data"].get("manager_id") == worst]
    assert [e["type"] for e in mine if e["type"].startswith("exit.")] == [
        "exit.triggered", "exit.confirmed"]
    assert mine[-1]["data"]["because"] == "appeal_upheld_still_exits"
    assert decision_of(api, worst)["state"] == "confirmed"


# --- late appeals ---------------------------------------------------------------------------------


def test_a_late_appeal_needs_hr_and_a_reason_and_if_upheld_and_passing_reinstates(
        app: Any, api: Client, linked: tuple[Any, World]) -> None:
    wire, world, published = start(app, api, linked)
    low = world.gms[6]
    path = f"{HR_PATH}/{published[low]['id']}"
    age_publication(app, published[low]["id"], 16)
    close_elapsed_windows(app.extensions["tenure_db"])
    wire.pump()
    assert wire.contract(world.contracts[low])["state"] == "terminated"

    mine = api.as_(auth("manager", manager_id=low))
    late = mine.post(f"{path}/appeal", {"reason": "I was in hospital"}, expect=409).get_json()
    assert "ask HR" in late["detail"] and "late_reason" in late["detail"]
    mine.post(f"{path}/appeal", {"reason": "x", "late_reason": "hospital"}, expect=409)
    no_reason = api.post(f"{path}/appeal", {"reason": "in hospital"}, expect=409).get_json()
    assert "late_reason" in no_reason["errors"]
    appeal = api.post(f"{path}/appeal", {"reason": "in hospital",
                                         "late_reason": "medical certificate seen"},
                      expect=201).get_json()
    assert (appeal["late"], appeal["late_reason"]) == (True, "medical certificate seen")
    assert decision_of(api, low)["state"] == "reopened"
    assert api.get("/api/v1/appeals?late=true").get_json()["page"]["total"] == 1

    rescore_passing(api, world, low, path)
    api.post(f"{path}/appeal/decision", {"decision": "upheld", "note": "restated"},
             expect=200)
    cancelled = next(e for e in outbox_events(app) if e["type"] == "exit.cancelled")["data"]
    assert cancelled["contract_terminated"] is True and cancelled["confirmed_event_id"]
    wire.pump()
    contract = wire.contract(world.contracts[low])
    assert (contract["state"], contract["end_reason"]) == ("active", None)
    person = wire.person(low)
    assert (person["employment_status"], person["departure_reason"]) == ("active", None)
    with wire.contracts.extensions["tenure_db"].engine.connect() as conn:
        record = conn.execute(select(ExitTermination).where(
            ExitTermination.contract_id == world.contracts[low])).one()
    assert record.cancelled_event_id and record.reinstated_event_id and record.reinstated_at
    assert record.exit_decision_id == decision_of(api, low)["id"]
    # The appraisal read model has the contract back in force.
    mgr = api.get(f"/api/v1/managers/{low}").get_json()
    assert mgr["employment_status"] == "active"
    assert "contract.reinstated" in [e["type"] for e in wire._contract_events()]


def test_a_late_appeal_rejected_leaves_the_exit_confirmed_and_sends_nothing_more(
        app: Any, api: Client, world: World) -> None:
    published = publish_cohort(api, world)
    worst = world.gms[7]
    path = f"{HR_PATH}/{published[worst]['id']}"
    age_publication(app, published[worst]["id"], 20)
    close_elapsed_windows(app.extensions["tenure_db"])
    api.post(f"{path}/appeal", {"reason": "r", "late_reason": "board asked"}, expect=201)
    api.post(f"{path}/appeal/decision", {"decision": "rejected", "note": "stands"}, expect=200)
    confirmed = [e["data"] for e in outbox_events(app) if e["type"] == "exit.confirmed"]
    assert [(c["manager_id"], c["because"]) for c in confirmed] == [(worst, "window_closed")]
    assert decision_of(api, worst)["state"] == "confirmed"


# --- the queues -----------------------------------------------------------------------------------


def test_hr_lists_pending_exits_by_deadline_and_a_manager_sees_only_their_own(
        app: Any, api: Client, world: World) -> None:
    publish_cohort(api, world)
    pending = api.get("/api/v1/exit-decisions?state=pending").get_json()
    assert {d["manager_id"] for d in pending["items"]} == set(world.gms[6:8])
    deadline = pending["items"][0]["appeal_deadline"]
    assert api.get(f"/api/v1/exit-decisions?deadline_before={deadline}").get_json()[
        "items"] == []
    mine = api.as_(auth("manager", manager_id=world.gms[7]))
    own = mine.get("/api/v1/exit-decisions").get_json()["items"]
    assert [d["manager_id"] for d in own] == [world.gms[7]]
    mine.get(f"/api/v1/exit-decisions/{pending['items'][0]['id']}" if
             pending["items"][0]["manager_id"] != world.gms[7] else
             f"/api/v1/exit-decisions/{pending['items'][1]['id']}", expect=404)
    api.get("/api/v1/exit-decisions?status=pending", expect=422)
    one = api.get(f"/api/v1/exit-decisions/{own[0]['id']}", expect=200)
    assert one.headers["ETag"] == f'"v{own[0]["row_version"]}"'


def test_every_refusal_on_the_appeal_path_says_what_to_do_next(
        app: Any, api: Client, world: World) -> None:
    published = publish_cohort(api, world)
    path = f"{HR_PATH}/{published[world.gms[0]]['id']}"
    score = api.post(f"{path}/score", expect=409).get_json()
    assert f"POST {path}/appeal" in score["detail"]
    none_open = api.post(f"{path}/appeal/decision", {"decision": "rejected", "note": "n"},
                         expect=409).get_json()
    assert f"POST {path}/appeal" in none_open["detail"]
    api.post(f"{path}/appeal", {"reason": "r"}, expect=201)
    twice = api.post(f"{path}/appeal", {"reason": "again"}, expect=409).get_json()
    assert f"POST {path}/appeal/decision" in twice["detail"]
    api.post(f"{path}/score", expect=200)
    early = api.post(f"{path}/approve", {}, expect=409).get_json()
    assert f"first POST {path}/review" in early["detail"]
    upheld = api.post(f"{path}/appeal/decision", {"decision": "upheld", "note": "n"},
                      expect=409).get_json()
    assert f"POST {path}/review, then POST {path}/approve, then decide" in upheld["detail"]


def test_a_scheme_with_a_longer_window_gives_a_later_deadline(
        app: Any, api: Client, world: World) -> None:
    api.post("/api/v1/schemes", {"code": "slow_appeals", "version": 1, "layer": 2,
                                 "category": "commercial_competitive",
                                 "exits": {"appeal_window_days": 30}}, expect=201)
    publish_cohort(api, world)
    decision = decision_of(api, world.gms[7])
    assert decision["appeal_window_days"] == 30
    published = datetime.fromisoformat(decision["published_at"].replace("Z", "+00:00"))
    local_day = published.astimezone(ZoneInfo("Asia/Shanghai")).date()
    assert decision["appeal_deadline"] == (local_day + timedelta(days=30)).isoformat()


def test_concurrent_runs_of_the_daily_job_confirm_each_exit_exactly_once(
        app: Any, api: Client, world: World) -> None:
    publish_cohort(api, world)
    later = datetime.now(UTC) + timedelta(days=40)
    database = app.extensions["tenure_db"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: close_elapsed_windows(database, later), range(4)))
    assert sum(r["confirmed"] for r in results) == 2
    confirmed = [e["data"]["exit_decision_id"] for e in outbox_events(app)
                 if e["type"] == "exit.confirmed"]
    assert len(confirmed) == len(set(confirmed)) == 2
