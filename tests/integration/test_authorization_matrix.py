"""The authorization matrix: every operation of the three OpenAPI documents, against every
actor (group HR, HR scoped to subsidiary S1, manager M1, an appraiser of S1, a group-wide
service), aimed at subsidiary S2's objects. It holds that:

- no answer to an actor of S1 carries S2's data (S2's names all contain "Zulu", and S2's ids
  the request did not itself name must not appear);
- nothing of S2 or of the group changes through an actor of S1 (each service's database is
  compared before and after every call: a changed row must belong to S1);
- every refusal is application/problem+json, and nothing answers 5xx.

The operations come from the specs, so an operation added later is exercised automatically;
one whose path parameter or body the matrix cannot fill fails the test with a message saying
how to teach the matrix (PATH_VALUES, BODIES below).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import MetaData, select

from services.appraisal import create_app as appraisal_app
from services.appraisal.events import handle_contract_event
from services.contracts import create_app as contracts_app
from services.contracts.models import outbox as contracts_outbox
from services.notifications import create_app as notifications_app
from services.notifications.config import NotificationConfig
from services.notifications.events import apply_event
from shared.events.envelope import decode_envelope
from tests.conftest import auth, service_settings
from tests.support.contracts_world import (
    STANDARD_TARGETS,
    Client,
    indicators,
    sign_both_sides,
    unit,
)

MARK = "Zulu"  # in every name of S2's: its appearance in an S1 actor's answer is a leak
# Tables whose rows are the record of a call, not the state a scope owns.
NOT_STATE = frozenset({"audit_log", "idempotency_keys"})
SERVICES = ("contracts", "appraisal", "notifications")
TIME_BUDGET_S = 240


@dataclass
class World:
    apps: dict[str, Any]
    s1: dict[str, str] = field(default_factory=dict)  # ids of S1's objects
    s2: dict[str, str] = field(default_factory=dict)  # ids of S2's objects
    actors: dict[str, dict[str, str]] = field(default_factory=dict)

    def client(self, service: str, headers: dict[str, str]) -> Client:
        return Client(self.apps[service].test_client(), headers)


# --- teaching the matrix ------------------------------------------------------------------------
# A path parameter's value, by name: S2's object where there is one. Add a line for a new one.
def _pending_exit(w: Any, manager_id: str, contract_id: str, unit_id: str) -> str:
    """An exit decision of S2's manager waiting out its appeal window, as publishing makes."""
    from datetime import UTC, date, datetime, timedelta

    from services.appraisal.models import ExitDecision

    now = datetime.now(UTC)
    decision = ExitDecision(
        id="e0000000-0000-4000-8000-0000000000e2", appraisal_id=w.s2["appraisal"],
        manager_id=manager_id, contract_id=contract_id, org_unit_id=unit_id, year=2026,
        kind="annual", state="pending", rule="grade_not_competent", triggers=[],
        published_at=now, window_days=15, window_zone="Asia/Shanghai",
        last_day=date.today() + timedelta(days=15), closes_at=now + timedelta(days=16),
        events=[], row_version=1, created_at=now, updated_at=now)
    with w.apps["appraisal"].extensions["tenure_db"].unit_of_work() as s:
        s.add(decision)
    return decision.id


PATH_VALUES: dict[str, Any] = {
    "unit_id": lambda w: w.s2["unit"],
    "org_unit_id": lambda w: w.s2["unit"],
    "manager_id": lambda w: w.s2["manager"],
    "person_id": lambda w: w.s2["manager"],
    "template_id": lambda w: w.s2["template"],
    "contract_id": lambda w: w.s2["contract"],
    "document_id": lambda w: w.s2["document"],
    "job_id": lambda w: w.s2["job"],
    "appraisal_id": lambda w: w.s2["appraisal"],
    "decision_id": lambda w: w.s2["exit_decision"],
    "run_id": lambda w: w.s2["run"],
    "action": lambda w: "publish",
    "code": lambda w: "default",
    "year": lambda w: "2026",
    "item_id": lambda w: w.s2["inbox_item"],
    "notice_id": lambda w: w.s2["notice"],
    "delivery_id": lambda w: w.s2["delivery"],
    "webhook_id": lambda w: w.s2["webhook"],
    "kind": lambda w: "contract_to_sign",
    "language": lambda w: "en",
}

# Request bodies where the generic one (required fields, ids pointing at S2) would not reach
# the scope check. Keyed by "METHOD /path".
BODIES: dict[str, Any] = {
    "PUT /api/v1/templates/{template_id}": lambda w: {"name": f"{MARK} hijacked",
                                                      "targets": []},
    "POST /api/v1/templates": lambda w: {"name": "group-wide?"},
    "POST /api/v1/indicators": lambda w: {"code": "HIJACK", "name": "hijack",
                                          "kind": "quantitative",
                                          "direction": "higher_is_better"},
    "POST /api/v1/schemes": lambda w: {"code": "hijack", "name": "hijack"},
    "PUT /api/v1/difficulty/{org_unit_id}/{year}": lambda w: {"coefficient": "1.10"},
    "POST /api/v1/webhooks": lambda w: {"org_unit_id": w.s2["unit"],
                                        "url": "https://hooks.example.com/hijack"},
    "POST /api/v1/recipients": lambda w: {"id": "hijacker", "role": "hr_admin",
                                          "name": "hijacker", "org_scope": w.s2["unit"]},
    "PUT /api/v1/templates/{kind}/{language}": lambda w: {"subject": "s", "body": "b"},
    "POST /api/v1/actuals/csv": lambda w: "manager_id,indicator_code,value\n",
}

# Generic bodies: a field with one of these names points at S2's object.
ID_FIELDS = {"org_unit_id": "unit", "parent_id": "unit", "new_parent_id": "unit",
             "org_scope": "unit", "manager_id": "manager", "recipient_id": "manager",
             "subject_id": "manager", "template_id": "template", "contract_id": "contract"}


def generic_value(spec: dict[str, Any], schema: dict[str, Any], name: str, w: World,
                  depth: int = 0) -> Any:
    schema = resolve(spec, schema)
    if name in ID_FIELDS:
        return w.s2[ID_FIELDS[name]]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return generic_object(spec, schema, w, depth + 1)
    if kind == "array":
        return [] if depth > 2 else [generic_value(spec, schema.get("items", {}), "", w,
                                                   depth + 1)]
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1)
    if kind == "number":
        return 1
    if kind == "boolean":
        return False
    if schema.get("format") == "date":
        return "2026-06-01"
    if schema.get("format") == "date-time":
        return "2026-06-01T00:00:00Z"
    return f"{MARK}-{name or 'x'}"[: max(int(schema.get("maxLength", 64)), 1)]


def generic_object(spec: dict[str, Any], schema: dict[str, Any], w: World,
                   depth: int = 0) -> dict[str, Any]:
    schema = resolve(spec, schema)
    props = schema.get("properties", {})
    wanted = set(schema.get("required", [])) | (set(props) & set(ID_FIELDS))
    return {n: generic_value(spec, props[n], n, w, depth) for n in sorted(wanted)
            if n in props}


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    if "allOf" in schema:
        merged: dict[str, Any] = {"properties": {}, "required": []}
        for sub in schema["allOf"]:
            sub = resolve(spec, sub)
            merged["properties"].update(sub.get("properties", {}))
            merged["required"] += sub.get("required", [])
        return merged
    return schema


@dataclass(frozen=True)
class Operation:
    service: str
    method: str
    template: str
    path: str
    body: Any
    content_type: str | None


def operations(w: World) -> Iterator[Operation]:
    untaught = []
    for service in SERVICES:
        spec = w.apps[service].test_client().get("/openapi.json").get_json()
        for template, ops in spec["paths"].items():
            for method, op in ops.items():
                if method not in ("get", "post", "put", "patch", "delete"):
                    continue
                key = f"{method.upper()} {template}"
                path = template
                for param in [p for p in op.get("parameters", []) + ops.get("parameters", [])
                              if p.get("in") == "path"]:
                    if param["name"] not in PATH_VALUES:
                        untaught.append(f"{service}: {key}: path parameter {param['name']}")
                        continue
                    path = path.replace("{" + param["name"] + "}",
                                        str(PATH_VALUES[param["name"]](w)))
                body, content_type = None, None
                if "requestBody" in op:
                    content = op["requestBody"]["content"]
                    if key in BODIES:
                        body = BODIES[key](w)
                        content_type = ("application/json" if not isinstance(body, str)
                                        else next(c for c in content if "json" not in c))
                    elif "application/json" in content:
                        body = generic_object(spec, content["application/json"]["schema"], w)
                        content_type = "application/json"
                    else:
                        untaught.append(f"{service}: {key}: a {sorted(content)} body")
                        continue
                yield Operation(service, method.upper(), template, path, body, content_type)
    assert not untaught, (
        "The authorization matrix cannot exercise these operations; teach it (PATH_VALUES or "
        "BODIES in tests/integration/test_authorization_matrix.py):\n" + "\n".join(untaught))


# --- the world: a group with two subsidiaries, seeded through the APIs and the events --------

def feed_events(w: World, after_id: int) -> int:
    """Apply the contracts service's new events in the other two services, as their
    consumers would (the same handlers, minus Kafka)."""
    engine = w.apps["contracts"].extensions["tenure_db"].engine
    with engine.connect() as conn:
        rows = list(conn.execute(select(contracts_outbox).where(contracts_outbox.c.id > after_id)
                                 .order_by(contracts_outbox.c.id)))
    config = NotificationConfig()
    for row in rows:
        envelope = decode_envelope(row.payload)
        with w.apps["appraisal"].extensions["tenure_db"].unit_of_work() as s:
            handle_contract_event(s, envelope)
        with w.apps["notifications"].extensions["tenure_db"].unit_of_work() as s:
            apply_event(s, envelope, config)
    return rows[-1].id if rows else after_id


def seed(w: World) -> None:
    hq_client = w.client("contracts", auth("hr_admin", subject="hr-group"))
    hq = unit(hq_client, "HQ", "group", has_board=True)
    s1 = unit(hq_client, "S1", "enterprise", hq["id"])
    s2 = hq_client.post("/api/v1/org-units", {
        "code": "S2", "name": f"{MARK} Enterprise", "kind": "enterprise",
        "parent_id": hq["id"], "category": "commercial_competitive"}, expect=201).get_json()
    indicators(hq_client)
    group_template = hq_client.post("/api/v1/templates", {
        "name": "Group GM template", "targets": STANDARD_TARGETS}, expect=201).get_json()
    s2_template = hq_client.post("/api/v1/templates", {
        "name": f"{MARK} template", "org_unit_id": s2["id"], "targets": STANDARD_TARGETS},
        expect=201).get_json()
    people = {}
    for key, name, unit_id in (("m1", "Alpha Manager", s1["id"]),
                               ("m2", f"{MARK} Manager", s2["id"])):
        people[key] = hq_client.post("/api/v1/managers", {
            "employee_no": key.upper(), "name": name, "email": f"{key}@example.com",
            "org_unit_id": unit_id, "position": "general_manager", "language": "en"},
            expect=201).get_json()
    contracts = {}
    for key in ("m1", "m2"):
        c = hq_client.post("/api/v1/contracts", {
            "manager_id": people[key]["id"], "template_id": group_template["id"],
            "start_date": "2026-01-01"}, expect=201).get_json()
        hq_client.post(f"/api/v1/contracts/{c['id']}/issue", expect=200)
        if key == "m2":  # signed by both sides, so its targets lock and it is appraised
            sign_both_sides(hq_client, hq_client.get(f"/api/v1/contracts/{c['id']}").get_json())
        contracts[key] = hq_client.get(f"/api/v1/contracts/{c['id']}").get_json()
    s2_hr = w.client("contracts", auth("hr_admin", subject="hr-s2", org_scope=s2["id"]))
    job = s2_hr.post("/api/v1/bulk-issues", {"template_id": s2_template["id"],
                                             "start_date": "2029-01-01"},
                     expect=202).get_json()
    for _ in range(200):
        if s2_hr.get(f"/api/v1/bulk-issues/{job['id']}").get_json()["status"] in (
                "done", "failed"):
            break
        time.sleep(0.05)
    feed_events(w, 0)
    notifications = w.client("notifications", auth("hr_admin", subject="hr-group"))
    webhook = notifications.post("/api/v1/webhooks", {
        "org_unit_id": s2["id"], "url": f"https://hooks.example.com/{MARK}"},
        expect=201).get_json()
    ndb = w.apps["notifications"].extensions["tenure_db"]
    from services.notifications.models import Delivery, InboxItem, NoticeRow

    with ndb.read() as s:
        notice = s.scalar(select(NoticeRow).where(NoticeRow.recipient_id == people["m2"]["id"]))
        item = s.scalar(select(InboxItem).where(InboxItem.recipient_id == people["m2"]["id"]))
        delivery = s.scalar(select(Delivery).where(Delivery.notice_id == notice.id))
    appraisal = w.client("appraisal", auth("hr_admin", subject="hr-group"))
    opened = appraisal.post("/api/v1/appraisals/open", {
        "year": 2026, "org_unit_id": s2["id"]}, expect=200).get_json()
    w.s1.update(unit=s1["id"], manager=people["m1"]["id"], contract=contracts["m1"]["id"])
    w.s2.update(unit=s2["id"], manager=people["m2"]["id"], template=s2_template["id"],
                contract=contracts["m2"]["id"],
                document=contracts["m2"]["documents"][0]["id"], job=job["id"],
                webhook=webhook["id"], notice=notice.id, inbox_item=item.id,
                delivery=delivery.id)
    w.s2["appraisal"] = opened["appraisal_ids"][0]
    s2_appraisal = w.client("appraisal", auth("hr_admin", subject="hr-s2", org_scope=s2["id"]))
    run = s2_appraisal.post("/api/v1/appraisal-runs", {"year": 2026}, expect=202).get_json()
    for _ in range(200):
        if s2_appraisal.get(f"/api/v1/appraisal-runs/{run['id']}").get_json()["status"] in (
                "done", "failed"):
            break
        time.sleep(0.05)
    w.s2["run"] = run["id"]
    w.s2["exit_decision"] = _pending_exit(w, people["m2"]["id"], contracts["m2"]["id"], s2["id"])
    w.actors = {
        "hr-s1": auth("hr_admin", subject="hr-s1", org_scope=s1["id"]),
        "manager-m1": auth("manager", subject="m1", manager_id=people["m1"]["id"]),
        "appraiser-s1": auth("appraiser", subject="appraiser-s1", org_scope=s1["id"]),
        "hr-group": auth("hr_admin", subject="hr-group"),
        "service": auth("service", subject="hr-system"),
    }


# --- looking at the databases -------------------------------------------------------------------

def snapshot(app: Any) -> dict[tuple[str, str], str]:
    """Every row of the service's state, by table and primary key, as text."""
    engine = app.extensions["tenure_db"].engine
    meta = app.extensions.get("matrix_tables")
    if meta is None:
        meta = app.extensions["matrix_tables"] = MetaData()
        meta.reflect(engine)
    rows: dict[tuple[str, str], str] = {}
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            if table.name in NOT_STATE or table.name.startswith("alembic"):
                continue
            keys = [c.name for c in table.primary_key.columns] or [c.name for c in table.c]
            for row in conn.execute(select(table)).mappings():
                pk = "|".join(str(row[k]) for k in keys)
                rows[(table.name, pk)] = json.dumps(dict(row), default=str, sort_keys=True)
    return rows


def changes_outside(before: dict[tuple[str, str], str], after: dict[tuple[str, str], str],
                    w: World) -> list[str]:
    """Changed rows that do not belong to S1: a write across the scope."""
    changed = {k: after.get(k, before.get(k, "")) for k in set(before) | set(after)
               if before.get(k) != after.get(k)}
    own = set(w.s1.values())
    theirs = set(w.s2.values())
    grew = True
    while grew:  # a new row hanging from one of S1's new rows is S1's too
        grew = False
        for (_table, pk), text in changed.items():
            if pk not in own and any(i in text for i in own) and not any(
                    i in text for i in theirs):
                own.add(pk)
                grew = True
    return [f"{table} {pk}: {text[:300]}" for (table, pk), text in sorted(changed.items())
            if not any(i in text for i in own) or any(i in text for i in theirs)]


def leaks(body: str, request_text: str, w: World) -> list[str]:
    return [token for token in (MARK, *w.s2.values())
            if token in body and token not in request_text]


@pytest.fixture(scope="module")
def world(sqlite_databases: Any) -> Iterator[World]:
    apps = {name: factory(service_settings(name, sqlite_databases.fresh(name)))
            for name, factory in (("contracts", contracts_app), ("appraisal", appraisal_app),
                                  ("notifications", notifications_app))}
    w = World(apps)
    seed(w)
    yield w
    for app in apps.values():
        app.extensions["tenure_db"].dispose()


def test_every_operation_against_every_actor_keeps_each_scope_to_itself(world: World) -> None:
    started = time.monotonic()
    ops = list(operations(world))
    assert len(ops) > 80  # the three specs, whole
    problems: list[str] = []
    # The scoped actors first: the group-wide ones may change what they reach.
    for actor in ("hr-s1", "manager-m1", "appraiser-s1", "hr-group", "service"):
        scoped = actor in ("hr-s1", "manager-m1", "appraiser-s1")
        for op in ops:
            app = world.apps[op.service]
            before = snapshot(app) if scoped else {}
            headers = {**world.actors[actor], "If-Match": '"v1"'}
            kwargs: dict[str, Any] = {}
            if isinstance(op.body, str):
                kwargs = {"data": op.body, "content_type": op.content_type}
            elif op.body is not None:
                kwargs = {"json": op.body}
            resp = app.test_client().open(op.path, method=op.method, headers=headers,
                                          **kwargs)
            where = f"{actor}: {op.method} {op.path} -> {resp.status_code}"
            # A printed document is binary: compressed text shows no names, so a scoped
            # caller reaching it at all (a 200) is what gives a leak away there.
            text = resp.get_data().decode("utf-8", errors="replace")
            if scoped and resp.status_code == 200 and resp.mimetype == "application/pdf":
                problems.append(f"{where}: another scope's document printed")
            if resp.status_code >= 500:
                problems.append(f"{where}: server error {text[:200]}")
            if resp.status_code >= 400 and resp.content_type != "application/problem+json":
                problems.append(f"{where}: a refusal as {resp.content_type}")
            if scoped:
                request_text = op.path + json.dumps(op.body, default=str)
                leaked = leaks(text, request_text, world)
                if leaked:
                    problems.append(f"{where}: carries S2's {leaked}: {text[:300]}")
                for change in changes_outside(before, snapshot(app), world):
                    problems.append(f"{where}: changed across the scope: {change}")
        assert time.monotonic() - started < TIME_BUDGET_S, "the matrix ran out of time"
    assert not problems, "\n".join(problems)
