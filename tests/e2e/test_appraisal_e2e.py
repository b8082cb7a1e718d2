"""End to end over the real broker and PostgreSQL: contracts signed in the contracts service
reach the appraisal read model; actuals in; run; publish. Two exits are published, pending
through their appeal window: nothing is terminated. One is appealed in time, upheld and its
re-score passes: exit.cancelled, and its contract is never terminated. The other's window
elapses: exit.confirmed, and the contracts service terminates that contract.

Six processes: each service's API under gunicorn, its outbox relay and its consumer.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from kafka import KafkaConsumer, TopicPartition

from shared.events.catalogue import APPRAISALS_TOPIC, TOPICS
from shared.events.envelope import decode_envelope
from shared.kafka_clients import ensure_topics
from tests.conftest import auth
from tests.support.contracts_world import STANDARD_INDICATORS, STANDARD_TARGETS
from tests.support.processes import running, service_api

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]
YEAR = 2026


class Api:
    """requests against one service, with a bearer token and status checks."""

    def __init__(self, base: str, headers: dict[str, str] | None = None) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers.update(headers or auth("hr_admin"))

    def call(self, method: str, path: str, expect: int | None = None, **kw: Any) -> Any:
        resp = self.session.request(method, self.base + path, timeout=30, **kw)
        if expect is not None:
            assert resp.status_code == expect, (method, path, resp.status_code, resp.text)
        return resp

    def get(self, path: str, expect: int | None = 200) -> Any:
        return self.call("GET", path, expect).json()

    def post(self, path: str, body: Any = None, expect: int | None = None) -> Any:
        return self.call("POST", path, expect, json=body if body is not None else {})


WORKERS: list[Any] = []


def eventually(check: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        dead = [p.args[-1] for p in WORKERS if p.poll() is not None]
        assert not dead, f"worker processes exited: {dead} (see their logs)"
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


@pytest.fixture
def system(postgres_server: Any, kafka_broker: Any, tmp_path: Path
           ) -> Iterator[tuple[Api, Api]]:
    """Both services on their own PostgreSQL databases, with relays and consumers."""
    suffix = uuid.uuid4().hex[:8]
    ensure_topics(kafka_broker.bootstrap_servers, TOPICS)
    common = {"KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers, "LOG_JSON": "false",
              "TENURE_VAR_DIR": str(tmp_path), "LOG_LEVEL": "WARNING"}
    envs = {
        service: {**common, f"{service.upper()}_DATABASE_URL":
                  postgres_server.create_database(f"e2e_{service}_{suffix}")}
        for service in ("contracts", "appraisal")
    }

    def worker(service: str, command: str) -> Any:
        args = [sys.executable, "-m", "flask", "--app", f"services.{service}:create_app",
                command]
        return running(args, envs[service], tmp_path / f"{service}-{command}.log")

    with service_api("contracts", envs["contracts"], tmp_path, workers=1) as contracts_url, \
            service_api("appraisal", envs["appraisal"], tmp_path, workers=1) as appraisal_url, \
            worker("contracts", "relay") as p1, worker("contracts", "consume") as p2, \
            worker("appraisal", "relay") as p3, worker("appraisal", "consume") as p4:
        WORKERS[:] = [p1, p2, p3, p4]
        yield Api(contracts_url), Api(appraisal_url)
        WORKERS.clear()


def appraisal_events(bootstrap: str, event_type: str, manager_id: str,
                     timeout: float = 60) -> list[dict[str, Any]]:
    """The events of a type about one manager on hr.appraisals, read from the broker."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        partitions = consumer.partitions_for_topic(APPRAISALS_TOPIC) or set()
        consumer.assign([TopicPartition(APPRAISALS_TOPIC, p) for p in sorted(partitions)])
        consumer.seek_to_beginning()
        deadline = time.monotonic() + timeout
        found: list[dict[str, Any]] = []
        while not found and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    envelope = decode_envelope(record.value)
                    if envelope["type"] == event_type and \
                            envelope["data"].get("manager_id") == manager_id:
                        found.append(envelope)
        assert found, f"no {event_type} for {manager_id} on {APPRAISALS_TOPIC}"
        return found
    finally:
        consumer.close()


def test_an_exit_waits_for_its_window_and_an_upheld_appeal_cancels_it_over_the_broker(
        system: tuple[Api, Api], kafka_broker: Any) -> None:
    contracts, appraisal = system
    tag = uuid.uuid4().hex[:6].upper()
    hq = contracts.post("/api/v1/org-units", {
        "code": f"HQ{tag}", "name": "Group", "kind": "group",
        "category": "commercial_competitive", "has_board": True}, expect=201).json()
    units = [contracts.post("/api/v1/org-units", {
        "code": f"E{i}{tag}", "name": f"Enterprise {i}", "kind": "enterprise",
        "category": "commercial_competitive", "parent_id": hq["id"]}, expect=201).json()
             for i in (1, 2, 3)]
    for indicator in STANDARD_INDICATORS:
        contracts.post("/api/v1/indicators", {**indicator, "code": indicator["code"] + tag},
                       expect=201)
    targets = [{**t, "indicator_code": t["indicator_code"] + tag} for t in STANDARD_TARGETS]
    template = contracts.post("/api/v1/templates", {
        "name": "GM", "layer": 2, "category": "commercial_competitive",
        "position": "general_manager", "term_years": 3, "targets": targets},
        expect=201).json()
    # The group's general manager countersigns for the parent enterprise (docs/signing.md).
    group_gm = contracts.post("/api/v1/managers", {
        "employee_no": f"HQGM{tag}", "name": "Group GM", "email": f"hqgm{tag.lower()}@example.com",
        "org_unit_id": hq["id"], "position": "general_manager"}, expect=201).json()
    countersigner = Api(contracts.base, auth("manager", subject="hq-gm",
                                             manager_id=group_gm["id"]))
    managers, signed = [], []
    for i, unit in enumerate(units, start=1):
        m = contracts.post("/api/v1/managers", {
            "employee_no": f"M{i}{tag}", "name": f"Manager {i}",
            "email": f"m{i}{tag.lower()}@example.com", "org_unit_id": unit["id"],
            "position": "general_manager"}, expect=201).json()
        c = contracts.post("/api/v1/contracts", {"manager_id": m["id"], "start_date":
                                                 f"{YEAR}-01-01",
                                                 "template_id": template["id"]},
                           expect=201).json()
        contracts.post(f"/api/v1/contracts/{c['id']}/issue", expect=200)
        own = Api(contracts.base, auth("manager", subject=f"m{i}", manager_id=m["id"]))
        own.post(f"/api/v1/contracts/{c['id']}/sign", {}, expect=200)
        signed.append(countersigner.post(f"/api/v1/contracts/{c['id']}/sign", {},
                                         expect=200).json())
        managers.append(m)
    good, poor, appellant = managers

    def read_model_has(m: dict[str, Any]) -> bool:
        resp = appraisal.call("GET", f"/api/v1/managers/{m['id']}")
        if resp.status_code != 200:
            return False
        held = resp.json()["contracts"]
        return bool(held) and held[0]["state"] == "active" and any(
            t["year"] == YEAR and t["locked"] for t in held[0]["target_sets"])

    for m in managers:
        eventually(lambda m=m: read_model_has(m), f"manager {m['employee_no']} in the "
                   "appraisal read model")

    csv_lines = ["employee_no,year,indicator_code,value,rating,veto_hit,source"]
    for m, (profit, roe) in ((good, ("1000", "8")), (poor, ("500", "4")),
                             (appellant, ("800", "6"))):
        no = m["employee_no"]
        csv_lines += [f"{no},{YEAR},PROFIT{tag},{profit},,,finance-erp",
                      f"{no},{YEAR},ROE{tag},{roe},,,finance-erp",
                      f"{no},{YEAR},COST{tag},65,,,finance-erp",
                      f"{no},{YEAR},PARTY{tag},,B,,hr-system",
                      f"{no},{YEAR},SAFETY{tag},,,false,hse-system"]
    imported = appraisal.call("POST", "/api/v1/actuals/csv", 200,
                              data="\n".join(csv_lines).encode(),
                              headers={"Content-Type": "text/csv"}).json()
    assert (imported["accepted"], imported["rejected"]) == (15, 0)

    started = appraisal.call("POST", "/api/v1/appraisal-runs", 202,
                             json={"year": YEAR, "org_unit_id": hq["id"]})
    run = eventually(lambda: (r := appraisal.get(started.headers["Location"]))["status"]
                     in ("done", "failed") and r, "the appraisal run")
    assert (run["status"], run["scored"]) == ("done", 3), run
    for action in ("review", "approve", "publish"):
        out = appraisal.post(f"/api/v1/appraisal-runs/{run['id']}/{action}", expect=200).json()
        assert out["done"] == 3, out
    assert out["events"] == {"appraisal.published": 3, "exit.triggered": 2}
    results = {a["manager_id"]: a for a in appraisal.get(
        f"/api/v1/appraisals?year={YEAR}&run_id={run['id']}")["items"]}
    assert (results[poor["id"]]["grade"], results[poor["id"]]["outcome"]) == \
        ("not_competent", "incompetence_exit")
    assert results[appellant["id"]]["outcome"] == "incompetence_exit"
    assert results[good["id"]]["outcome"] == "retain"
    bootstrap = kafka_broker.bootstrap_servers

    # Both exits reach the broker as pending, with their appeal deadline; nothing ends.
    for m in (poor, appellant):
        triggered = appraisal_events(bootstrap, "exit.triggered", m["id"])[0]["data"]
        assert triggered["exit_state"] == "pending" and triggered["appeal_deadline"]
    pending = appraisal.get("/api/v1/exit-decisions?state=pending")["items"]
    assert {d["manager_id"] for d in pending} == {poor["id"], appellant["id"]}
    time.sleep(3)  # the contracts consumer has had time to act on exit.triggered, if it did
    contract_of = {m["id"]: c["id"] for m, c in zip(managers, signed, strict=True)}
    for m in managers:
        assert contracts.get(f"/api/v1/contracts/{contract_of[m['id']]}")["state"] == "active"

    # The appellant appeals in time with their own token; HR re-scores with restated figures.
    path = f"/api/v1/appraisals/{results[appellant['id']]['id']}"
    mine = Api(appraisal.base, auth("manager", manager_id=appellant["id"]))
    mine.post(f"{path}/appeal", {"reason": "profit restated by the auditor"}, expect=201)
    refused = appraisal.post(f"{path}/appeal/decision", {"decision": "upheld", "note": "ok"},
                             expect=409).json()
    assert f"POST {path}/score" in refused["detail"], refused
    no = appellant["employee_no"]
    restated = [f"{no},{YEAR},PROFIT{tag},900,,,audit", f"{no},{YEAR},ROE{tag},7,,,audit"]
    appraisal.call("POST", "/api/v1/actuals/csv", 200, data="\n".join(
        [csv_lines[0], *restated]).encode(), headers={"Content-Type": "text/csv"})
    for step in ("score", "review", "approve"):
        appraisal.post(f"{path}/{step}", expect=200)
    appraisal.post(f"{path}/appeal/decision", {"decision": "upheld", "note": "restated"},
                   expect=200)
    cancelled = appraisal_events(bootstrap, "exit.cancelled", appellant["id"])[0]["data"]
    assert (cancelled["contract_terminated"], cancelled["outcome"]) == (False, "retain")

    # The poor manager's window elapses without an appeal: the daily job confirms the exit.
    closes = next(d for d in pending if d["manager_id"] == poor["id"])["appeal_closes_at"]
    closed = appraisal.post("/api/v1/maintenance/exit-windows", {"as_of": closes},
                            expect=200).json()
    assert closed["confirmed"] == 1
    confirmed = appraisal_events(bootstrap, "exit.confirmed", poor["id"])[0]["data"]
    assert confirmed["because"] == "window_closed"

    poor_contract = contract_of[poor["id"]]
    ended = eventually(
        lambda: (c := contracts.get(f"/api/v1/contracts/{poor_contract}"))["state"]
        == "terminated" and c, "the contracts service to terminate the contract")
    assert "grade_not_competent" in ended["end_reason"]
    for m in (good, appellant):
        assert contracts.get(f"/api/v1/contracts/{contract_of[m['id']]}")["state"] == "active"
    assert contracts.get(f"/api/v1/managers/{appellant['id']}")["employment_status"] == \
        "active"
    person = contracts.get(f"/api/v1/managers/{poor['id']}")
    assert (person["employment_status"], person["departure_reason"]) == \
        ("departed", "appraisal_exit")
    # The termination comes back as a contract event: the read model marks it an exit.
    eventually(lambda: appraisal.get(f"/api/v1/managers/{poor['id']}")["contracts"][0]
               ["ended_by_exit"], "the termination in the appraisal read model")
