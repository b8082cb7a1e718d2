"""How fast the appraisal service's consumer turns a backlog of contract events into its read
model, on PostgreSQL and the real local broker: one handler call per event vs the batch handler.

Run: .venv/bin/python bench/bench_appraisal_consumer.py [--managers 6667] [--rounds 3]
                                                       [--modes event,batch] [--signing]

The backlog is what a group's year starts with: every manager registered, then every contract
issued, then every contract signed (3 events a manager, 20,001 for 6,667 managers), keyed by
manager as the contracts relay keys them. The envelopes are copies of the ones the real
contracts service emits for one manager (built in-process on SQLite first), each copy with its
own manager, contract, document and event ids, spread over 50 enterprises. `--signing` adds
what the consumer reads during signing and does not apply: each contract's six
contract.signature_recorded and its contract.countersignature_requested (10 events a manager).

Each round gives each mode a fresh appraisal database (copied from a migrated template) and a
fresh consumer group on the same topic, and runs the consumer the `consume` command builds
(`services.appraisal.events.consumer_options`) in this process until every record is
finished. `event` is the handler called once per event in the poll's shared transaction (the
runtime's path without a batch handler); `batch` is the batch handler with the command's
consumer settings. Printed: events/s over the whole backlog (group join included) and over
the steady part (after the first poll), the consumer's own CPU time per event (less
sensitive to a shared machine's load than the rates), the median of the rounds, and a check
of the read model (every manager, contract and target set present, every contract active).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from support import REPO  # also puts the repo and deploy/local on sys.path

from services.appraisal.events import CONSUMER_GROUP, consumer_options
from services.appraisal.models import Contract, Manager, TargetSet, inbox
from shared.consumer import EventConsumer
from shared.db import Database
from shared.events.envelope import encode_envelope
from shared.kafka_clients import ensure_topics, make_producer
from shared.migrations import upgrade
from shared.relay import event_headers

TOPIC = "hr.contracts"
ENTERPRISES = 50
MIGRATIONS = REPO / "services" / "appraisal" / "migrations"


# -- the backlog --------------------------------------------------------------------------------


def template_events(workdir: Path) -> dict[str, dict[str, Any]]:
    """The contracts service's own events for a group, one enterprise, one manager whose
    contract is issued and signed by both sides (in-process, SQLite)."""
    from services.contracts import create_app
    from services.contracts.models import outbox
    from shared.events.envelope import decode_envelope
    from tests.conftest import service_settings
    from tests.support import contracts_world as cw

    url = f"sqlite:///{workdir / 'contracts.db'}"
    upgrade(REPO / "services" / "contracts" / "migrations", url)
    app = create_app(service_settings("contracts", url))
    api = cw.Client(app.test_client())
    hq = cw.unit(api, "HQ", "group", has_board=True)["id"]
    enterprise = cw.unit(api, "E1", "enterprise", hq)["id"]
    cw.indicators(api)
    t = cw.template(api)["id"]
    m = cw.manager(api, "G01", enterprise)["id"]
    c = api.post("/api/v1/contracts", {"manager_id": m, "start_date": "2026-01-01",
                                       "template_id": t}, expect=201).get_json()
    api.post(f"/api/v1/contracts/{c['id']}/issue", expect=200)
    cw.sign_both_sides(api, c)
    found: dict[str, dict[str, Any]] = {}
    with app.extensions["tenure_db"].engine.connect() as conn:
        for (payload,) in conn.execute(select(outbox.c.payload).order_by(outbox.c.id)):
            envelope = decode_envelope(payload)
            kind = envelope["type"]
            if kind == "org_unit.created":
                kind = "group" if envelope["data"]["kind"] == "group" else "enterprise"
            found.setdefault(kind, envelope)
    app.extensions["tenure_db"].dispose()
    return found


def _copy(envelope: dict[str, Any], ids: dict[str, str]) -> tuple[bytes, bytes]:
    text = json.dumps(envelope)
    for old, new in ids.items():
        text = text.replace(old, new)
    copy = json.loads(text)
    copy["id"] = str(uuid.uuid4())
    return copy["subject"].encode(), encode_envelope(copy)


#: What signing sends between a contract's issue and its contract.signed (the manager signs
#: three documents and the employer is asked; the employer signs the three): events the
#: appraisal consumer reads and does not apply, most of what it reads in bench_cycle's stage 3.
SIGNING = (*["contract.signature_recorded"] * 3, "contract.countersignature_requested",
           *["contract.signature_recorded"] * 3)


def backlog(templates: dict[str, dict[str, Any]], managers: int, signing: bool = False
            ) -> list[tuple[bytes, bytes]]:
    """(key, value) of every message: the org tree, then registrations, issues, signatures
    (with `signing`, each contract's signing events before its contract.signed)."""
    group, enterprise = templates["group"], templates["enterprise"]
    group_id, enterprise_id = group["data"]["org_unit_id"], enterprise["data"]["org_unit_id"]
    issued = templates["contract.issued"]["data"]
    manager_id, contract_id = issued["manager_id"], issued["contract_id"]
    documents = [d["document_id"] for d in issued["documents"]]
    messages = [_copy(group, {})]
    units = []
    for i in range(ENTERPRISES):
        unit = str(uuid.uuid4())
        units.append(unit)
        messages.append(_copy(enterprise, {enterprise_id: unit, '"E1"': f'"E{i + 1}"'}))
    people = []
    for i in range(managers):
        ids = {manager_id: str(uuid.uuid4()), contract_id: str(uuid.uuid4()),
               enterprise_id: units[i % ENTERPRISES], group_id: group_id}
        ids.update({d: str(uuid.uuid4()) for d in documents})
        people.append(ids)
    for kind in ("manager.registered", "contract.issued"):
        messages.extend(_copy(templates[kind], ids) for ids in people)
    for ids in people if signing else []:
        messages.extend(_copy(templates[kind], ids) for kind in SIGNING)
    messages.extend(_copy(templates["contract.signed"], ids) for ids in people)
    return messages


def produce(bootstrap: str, messages: list[tuple[bytes, bytes]]) -> None:
    ensure_topics(bootstrap, [TOPIC], partitions=3)
    producer = make_producer(bootstrap, client_id="bench-appraisal-consumer")
    try:
        for key, value in messages:
            # The headers the relay sends, which a consumer may read instead of the value.
            envelope = json.loads(value)
            producer.send(TOPIC, key=key, value=value, headers=event_headers(
                envelope["id"], envelope["type"], envelope["source"]))
        producer.flush(timeout=120)
    finally:
        producer.close()


# -- one round ----------------------------------------------------------------------------------


def consume(mode: str, url: str, bootstrap: str, total: int, timeout: float = 600
            ) -> dict[str, float]:
    options = consumer_options()
    if mode == "event":
        options["batch_handler"] = None
    db = Database(url)
    group = f"{CONSUMER_GROUP}-{mode}-{uuid.uuid4().hex[:6]}"
    consumer = EventConsumer(db, inbox, bootstrap, group, [TOPIC], service="appraisal",
                             **options)
    started, cpu = time.perf_counter(), time.process_time()
    first_at = None
    done = first = 0
    deadline = started + timeout
    try:
        while done < total and time.perf_counter() < deadline:
            finished = consumer.run_once(timeout=1.0)
            done += finished
            if finished and first_at is None:
                first_at, first = time.perf_counter(), finished
        ended, cpu = time.perf_counter(), time.process_time() - cpu
    finally:
        consumer.close()
    with db.read() as s:
        counts = {"managers": s.scalar(select(func.count()).select_from(Manager)),
                  "contracts": s.scalar(select(func.count()).where(Contract.state == "active")),
                  "target_sets": s.scalar(select(func.count()).select_from(TargetSet))}
    db.dispose()
    steady = (done - first) / (ended - first_at) if first_at and ended > first_at else 0.0
    return {"finished": done, "seconds": ended - started, "rate": done / (ended - started),
            "steady": steady, "cpu_ms": 1000 * cpu / max(done, 1), **counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--managers", type=int, default=6667)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", default="event,batch")
    parser.add_argument("--signing", action="store_true",
                        help="add each contract's signing events, which the consumer reads "
                             "and ignores (seven a contract), before the contracts signed")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    modes = args.modes.split(",")

    import local_kafka
    import local_postgres

    with tempfile.TemporaryDirectory() as tmp, local_postgres.LocalPostgres() as server, \
            local_kafka.LocalKafka() as broker:
        templates = template_events(Path(tmp))
        messages = backlog(templates, args.managers, args.signing)
        produce(broker.bootstrap_servers, messages)
        upgrade(MIGRATIONS, server.create_database("appraisal_template"))
        per = 3 + (len(SIGNING) if args.signing else 0)
        print(f"backlog: {len(messages)} events ({args.managers} managers x {per} + "
              f"{ENTERPRISES + 1} org units) on {TOPIC}, 3 partitions")
        results: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
        for round_no in range(1, args.rounds + 1):
            for mode in modes:
                url = server.create_database(f"appraisal_{mode}_{round_no}", "appraisal_template")
                r = consume(mode, url, broker.bootstrap_servers, len(messages))
                results[mode].append(r)
                print(f"round {round_no} {mode:5}: {r['finished']:.0f} events in "
                      f"{r['seconds']:.1f} s = {r['rate']:.0f}/s (steady {r['steady']:.0f}/s, "
                      f"consumer CPU {r['cpu_ms']:.2f} ms/event); "
                      f"managers {r['managers']:.0f}, active contracts {r['contracts']:.0f}, "
                      f"target sets {r['target_sets']:.0f}", flush=True)
        for mode in modes:
            rates = [r["rate"] for r in results[mode]]
            steady = [r["steady"] for r in results[mode]]
            print(f"{mode:5}: median {statistics.median(rates):.0f} events/s "
                  f"(rounds {', '.join(f'{x:.0f}' for x in rates)}); steady median "
                  f"{statistics.median(steady):.0f}/s")


if __name__ == "__main__":
    sys.exit(main())
