"""The read model built from the contracts service's own events (no call into its database)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from services.appraisal.models import Contract, Departure, Manager, OrgUnit, TargetSet
from shared.events.envelope import make_event
from tests.conftest import auth
from tests.support.contracts_world import Client

from .conftest import feed
from .world import YEAR, World, contract_event


def count(app: Any, model: type) -> int:
    with app.extensions["tenure_db"].read() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_contract_events_build_units_managers_contracts_and_locked_targets(
        app: Any, api: Client, contract_world: World) -> None:
    world = contract_world
    feed(app, world.events)  # one unit of work per event, as the consumer applies them
    with app.extensions["tenure_db"].read() as s:
        third = s.get(OrgUnit, world.third)
        assert third.path == f"/{world.hq}/{world.enterprises[0]}/{world.third}/"
        assert third.layer == 3
        gm = s.get(Manager, world.gms[0])
        assert (gm.layer, gm.category, gm.position) == (2, "commercial_competitive",
                                                        "general_manager")
        assert gm.enterprise_id == world.enterprises[0]
        contract = s.get(Contract, world.contracts[world.gms[0]])
        assert contract.state == "active" and contract.end_date.isoformat() == "2028-12-31"
        sets = {(t.kind, t.year): t.locked for t in s.scalars(
            select(TargetSet).where(TargetSet.contract_id == contract.id))}
    # Signing locks the first year's annual targets only; later years lock when signed. A
    # tenure performance contract without targets stays open until they are set and signed.
    assert sets == {("annual", 2026): True, ("annual", 2027): False,
                    ("annual", 2028): False, ("tenure", 0): False}
    view = api.get(f"/api/v1/managers/{world.gms[0]}").get_json()
    annual = next(t for t in view["contracts"][0]["target_sets"] if t["year"] == YEAR)
    assert [line["indicator_code"] for line in annual["targets"]] == \
        ["PROFIT", "ROE", "COST", "PARTY", "SAFETY"]


def test_replaying_every_event_again_changes_nothing(app: Any, world: World) -> None:
    before = [count(app, m) for m in (OrgUnit, Manager, Contract, TargetSet, Departure)]
    feed(app, world.events)
    assert [count(app, m) for m in (OrgUnit, Manager, Contract, TargetSet, Departure)] == before


def test_an_event_that_repeats_what_the_read_model_holds_writes_nothing(
        app: Any, world: World) -> None:
    """A signed contract's event sent again (a new id, so the inbox does not catch it)
    leaves its manager, contract and target sets as they were: no UPDATE, no `updated_at`
    moved, no audit record. A manager.updated that changes a name moves only that row."""
    from sqlalchemy import text

    from tests.support.statements import sent_statements

    gm = world.gms[1]
    signed = next(e for e in world.events if e["type"] == "contract.signed"
                  and e["data"]["manager_id"] == gm)

    def stamps() -> dict[str, Any]:
        with app.extensions["tenure_db"].read() as s:
            sets = s.scalars(select(TargetSet).where(TargetSet.manager_id == gm))
            return {"manager": s.get(Manager, gm).updated_at,
                    "contract": s.get(Contract, world.contracts[gm]).updated_at,
                    **{t.id: t.updated_at for t in sets}}

    def audit_records() -> int:
        with app.extensions["tenure_db"].engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM audit_log")).scalar() or 0)

    before, records = stamps(), audit_records()
    again = make_event("contract.signed", "/tenure/contracts", gm, signed["data"])
    with sent_statements(app.extensions["tenure_db"].engine) as sent:
        feed(app, [again])
    assert [sql for sql in sent if sql.lstrip().upper().startswith(("UPDATE", "INSERT"))] == []
    assert stamps() == before
    assert audit_records() == records

    renamed = make_event("manager.updated", "/tenure/contracts", gm,
                         {"manager_id": gm, "name": "Renamed Manager"})
    feed(app, [renamed])
    after = stamps()
    assert after["manager"] > before["manager"]
    assert {k: v for k, v in after.items() if k != "manager"} == \
        {k: v for k, v in before.items() if k != "manager"}
    assert audit_records() == records + 1


def test_departure_for_retirement_is_recorded_and_never_an_exit(app: Any, world: World
                                                               ) -> None:
    with app.extensions["tenure_db"].read() as s:
        rows = list(s.scalars(select(Departure)))
        m = s.get(Manager, world.retiree)
    assert [(r.manager_id, r.reason, r.year) for r in rows] == [(world.retiree, "retirement",
                                                                 rows[0].on.year)]
    assert (m.employment_status, m.departure_reason) == ("departed", "retirement")


def test_exit_termination_is_marked_and_a_stale_event_never_reopens_it(
        app: Any, world: World) -> None:
    gm = world.gms[2]
    feed(app, [contract_event(world, "contract.terminated", gm, state="terminated",
                               reason="Incompetence exit (rigid exit) by appraisal", exit=True),
               contract_event(world, "contract.amended", gm, state="active",
                               reason="late amendment", approved_by="board")])
    with app.extensions["tenure_db"].read() as s:
        c = s.get(Contract, world.contracts[gm])
        assert (c.state, c.ended_by_exit) == ("terminated", True)
        assert s.scalar(select(func.count()).select_from(Departure).where(
            Departure.manager_id == gm)) == 0


def test_locked_targets_never_change_but_unlocked_ones_follow_targets_set(
        app: Any, world: World) -> None:
    gm = world.gms[1]
    signed = next(e for e in world.events if e["type"] == "contract.signed"
                  and e["data"]["manager_id"] == gm)
    docs = {(d["kind"], d["year"]): d for d in signed["data"]["documents"]}
    later, first = docs[("annual_performance_contract", 2027)], \
        docs[("annual_performance_contract", 2026)]
    new_lines = [{"indicator_code": "PROFIT", "kind": "quantitative", "role": "scored",
                  "weight": "100", "base": "1", "target": "2", "challenge": "3"}]
    events = []
    for doc, locked in ((later, False), (first, False)):
        data = {k: v for k, v in signed["data"].items() if k != "documents"}
        data.update(document_id=doc["document_id"], kind=doc["kind"], year=doc["year"],
                    signed=False, targets=new_lines, locked=locked)
        events.append(make_event("targets.set", "/tenure/contracts", gm, data))
    feed(app, events)
    with app.extensions["tenure_db"].read() as s:
        assert s.get(TargetSet, later["document_id"]).targets == new_lines
        assert len(s.get(TargetSet, first["document_id"]).targets) == 5


def test_unit_seen_before_its_parent_gets_the_full_path_once_the_parent_arrives(
        app: Any, api: Client) -> None:
    root, child, grandchild = ("00000000-0000-4000-8000-00000000000" + str(i)
                               for i in range(3))

    def unit_event(unit_id: str, parent: str | None, layer: int) -> dict[str, Any]:
        return make_event("org_unit.created", "/tenure/contracts", unit_id, {
            "org_unit_id": unit_id, "parent_id": parent, "code": unit_id[-4:],
            "name": "u", "kind": "enterprise" if parent else "group",
            "category": "commercial_competitive", "has_board": False, "layer": layer})

    feed(app, [unit_event(grandchild, child, 3), unit_event(child, root, 2),
               unit_event(root, None, 1)])
    with app.extensions["tenure_db"].read() as s:
        assert s.get(OrgUnit, grandchild).path == f"/{root}/{child}/{grandchild}/"
    scoped = Client(app.test_client(), auth("hr_admin", org_scope=child))
    assert scoped.get("/api/v1/managers").get_json()["page"]["total"] == 0


def test_a_moved_unit_takes_its_subtree_along_with_paths_and_layers(
        app: Any, api: Client, world: World) -> None:
    created = next(e for e in world.events if e["type"] == "org_unit.created"
                   and e["data"]["org_unit_id"] == world.third)
    child = "00000000-0000-4000-8000-0000000000aa"
    below = make_event("org_unit.created", "/tenure/contracts", child, {
        **created["data"], "org_unit_id": child, "parent_id": world.third, "code": "T1-D",
        "kind": "department", "layer": 4})
    moved = make_event("org_unit.moved", "/tenure/contracts", world.third, {
        **created["data"], "parent_id": world.hq, "layer": 2,
        "previous_parent_id": world.enterprises[0], "layer_delta": -1})
    feed(app, [below, moved])
    with app.extensions["tenure_db"].read() as s:
        assert s.get(OrgUnit, world.third).path == f"/{world.hq}/{world.third}/"
        assert (s.get(OrgUnit, child).path, s.get(OrgUnit, child).layer) == (
            f"/{world.hq}/{world.third}/{child}/", 3)
    scoped = Client(app.test_client(), auth("hr_admin", org_scope=world.enterprises[0]))
    ids = {m["id"] for m in scoped.get("/api/v1/managers?page_size=100").get_json()["items"]}
    assert ids == {world.gms[0], world.deputy}  # T01 left E1's subtree with its unit


def test_an_amendment_signed_by_both_sides_replaces_locked_targets(
        app: Any, api: Client, world: World) -> None:
    gm = world.gms[1]
    signed = next(e for e in world.events if e["type"] == "contract.signed"
                  and e["data"]["manager_id"] == gm)
    first = next(d for d in signed["data"]["documents"]
                 if (d["kind"], d["year"]) == ("annual_performance_contract", 2026))
    amended = [{"indicator_code": "PROFIT", "kind": "quantitative", "role": "scored",
                "weight": "100", "base": "1", "target": "2", "challenge": "3"}]
    data = {k: v for k, v in signed["data"].items() if k != "documents"}
    data.update(document_id=first["document_id"], kind=first["kind"], year=first["year"],
                signed=True, targets=amended, locked=True, amendment_version=2)
    feed(app, [make_event("targets.set", "/tenure/contracts", gm, data)])
    with app.extensions["tenure_db"].read() as s:
        held = s.get(TargetSet, first["document_id"])
        assert held.locked and held.targets == amended
    # The batch reads no lines of the sets it loads; the ones replaced are read before they
    # are, so the trail holds both versions.
    trail = api.get("/api/v1/audit?page_size=200&object_type=target_sets").get_json()["items"]
    update = next(r for r in trail if r["object_id"] == first["document_id"]
                  and r["action"] == "updated")
    assert len(update["before"]["targets"]) == 5 and update["after"]["targets"] == amended
    assert update["before"]["digest"] != update["after"]["digest"]
