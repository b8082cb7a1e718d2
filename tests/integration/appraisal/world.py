"""A group built through the real contracts API, and the events it emitted.

The contracts service runs in-process on SQLite; its outbox (exactly what its relay would
publish) is the event stream the appraisal read model is fed in these tests, so the
envelopes have the contracts service's real shape rather than a hand-written copy.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from services.contracts import create_app as create_contracts_app
from services.contracts.models import outbox
from shared.events.envelope import decode_envelope, make_event
from shared.events.schemas import validate_event
from tests.conftest import service_settings
from tests.support.contracts_world import (
    Client,
    indicators,
    manager,
    sign_both_sides,
    template,
    unit,
)

START = "2026-01-01"
YEAR = 2026
TENURE_TARGETS = [{"indicator_code": "PROFIT", "weight": "100", "base": "2400",
                   "target": "3000", "challenge": "3600", "part": "organisational"}]


@dataclass
class World:
    """Ids of what was built, and the contracts service's events in outbox order."""

    hq: str = ""
    enterprises: list[str] = field(default_factory=list)  # E1..E8: layer 2, commercial
    welfare: str = ""  # P1: layer 2, public welfare
    third: str = ""  # T1 under E1: layer 3
    gms: list[str] = field(default_factory=list)  # general managers of E1..E8
    deputy: str = ""  # deputy GM of E1 (50/50 composition)
    welfare_gm: str = ""
    third_gm: str = ""
    retiree: str = ""  # GM of E8's sister unit R1, departed (retirement)
    short_term: str = ""  # a one-year term (2026) with tenure targets: the tenure appraisal
    contracts: dict[str, str] = field(default_factory=dict)  # manager id -> contract id
    employee_nos: dict[str, str] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)


def sign(api: Client, manager_id: str, template_id: str, **extra: Any) -> dict[str, Any]:
    body = {"manager_id": manager_id, "start_date": START, "template_id": template_id, **extra}
    c = api.post("/api/v1/contracts", body, expect=201).get_json()
    api.post(f"/api/v1/contracts/{c['id']}/issue", expect=200)
    return sign_both_sides(api, c)


def build_world(database_url: str) -> World:
    app = create_contracts_app(service_settings("contracts", database_url))
    api = Client(app.test_client())
    w = World()
    w.hq = unit(api, "HQ", "group", has_board=True)["id"]
    w.enterprises = [unit(api, f"E{i}", "enterprise", w.hq)["id"] for i in range(1, 9)]
    w.welfare = unit(api, "P1", "enterprise", w.hq, category="public_welfare")["id"]
    w.third = unit(api, "T1", "enterprise", w.enterprises[0])["id"]
    retiring_unit = unit(api, "R1", "enterprise", w.hq)["id"]
    short_unit = unit(api, "S1", "enterprise", w.hq, category="commercial_special_function")
    indicators(api)
    t = template(api)["id"]

    def person(no: str, unit_id: str, position: str = "general_manager") -> str:
        m = manager(api, no, unit_id, position=position, language="en" if no.endswith("1")
                    else "zh")
        w.employee_nos[m["id"]] = no
        return str(m["id"])

    for i, enterprise in enumerate(w.enterprises, start=1):
        gm = person(f"G{i:02d}", enterprise)
        w.gms.append(gm)
        w.contracts[gm] = sign(api, gm, t)["id"]
    w.deputy = person("D01", w.enterprises[0], "deputy_general_manager")
    w.contracts[w.deputy] = sign(api, w.deputy, t)["id"]
    w.welfare_gm = person("P01", w.welfare)
    w.contracts[w.welfare_gm] = sign(api, w.welfare_gm, t)["id"]
    w.third_gm = person("T01", w.third)
    w.contracts[w.third_gm] = sign(api, w.third_gm, t)["id"]
    w.retiree = person("R01", retiring_unit)
    w.contracts[w.retiree] = sign(api, w.retiree, t)["id"]
    resp = api.get(f"/api/v1/managers/{w.retiree}")
    api.patch(f"/api/v1/managers/{w.retiree}",
              {"employment_status": "departed", "departure_reason": "retirement"},
              headers={"If-Match": resp.headers["ETag"]}, expect=200)

    w.short_term = person("S01", short_unit["id"])
    c = api.post("/api/v1/contracts", {"manager_id": w.short_term, "start_date": START,
                                       "template_id": t, "term_years": 1},
                 expect=201).get_json()
    tenure_doc = next(doc for doc in c["documents"]
                      if doc["kind"] == "tenure_performance_contract")
    api.put(f"/api/v1/contracts/{c['id']}/documents/{tenure_doc['id']}/targets",
            {"indicators": TENURE_TARGETS}, headers={"If-Match": f'"v{tenure_doc["row_version"]}"'},
            expect=200)
    api.post(f"/api/v1/contracts/{c['id']}/issue", expect=200)
    sign_both_sides(api, c)
    w.contracts[w.short_term] = c["id"]

    with app.extensions["tenure_db"].engine.connect() as conn:
        for (payload,) in conn.execute(select(outbox.c.payload).order_by(outbox.c.id)):
            envelope = decode_envelope(payload)
            validate_event(envelope)
            w.events.append(envelope)
    app.extensions["tenure_db"].dispose()
    return w


def contract_event(world: World, event_type: str, manager_id: str, **changes: Any
                   ) -> dict[str, Any]:
    """A contract event for a manager of the world: their signed contract's facts (without
    its documents) with `changes`, as the contracts service would emit it."""
    signed = next(e for e in world.events if e["type"] == "contract.signed"
                  and e["data"]["manager_id"] == manager_id)
    data = copy.deepcopy(signed["data"])
    data.pop("documents", None)
    data.update(changes)
    return make_event(event_type, "/tenure/contracts", manager_id, data)
