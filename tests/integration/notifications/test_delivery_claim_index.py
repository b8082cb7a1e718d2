"""The worker's claim reads the rows it takes, not the whole backlog: the partial index of
pending deliveries serves it in order on SQLite and PostgreSQL (also as the generic plan of
a prepared statement, which is what a pooled connection runs after a few claims), and the
migration that adds the index to an existing table builds it and takes it away."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from typing import Any

from alembic import command
from sqlalchemy import create_engine, insert, inspect, select, text
from sqlalchemy.dialects import postgresql

from services.notifications import worker
from services.notifications.config import NotificationConfig
from services.notifications.models import PENDING_DUE_INDEX, Delivery
from shared.db import Database
from shared.migrations import alembic_config
from tests.support.contracts_world import Client
from tests.support.databases import migrations_dir

from . import world
from .world import NOW, ZHANG

BACKLOG = 3_000
LIMIT = 50


def fill_backlog(db: Database) -> None:
    """BACKLOG due e-mails and as many already sent, cloned from one routed notice; then
    statistics, as autovacuum would have them on a table this size."""
    world.apply(db, world.appraisal_published(ZHANG))
    with db.read() as s:
        model = s.scalars(select(Delivery).where(Delivery.channel == "email")).first()
        assert model is not None
    rows = []
    for i in range(2 * BACKLOG):
        rows.append({
            "id": str(uuid.uuid4()), "notice_id": model.notice_id,
            "notice_key": str(uuid.uuid4()), "channel": "email",
            "state": "queued" if i % 2 else "sent", "attempts": 0, "generation": 0,
            "next_attempt_at": NOW - timedelta(minutes=i % 997),
            "created_at": NOW, "updated_at": NOW})
    with db.unit_of_work() as s:
        s.execute(insert(Delivery), rows)
    with db.engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


def plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in plan_nodes(child))]


def generic_plan(db: Database) -> list[dict[str, Any]]:
    """The claim prepared on the server and explained as its generic plan, executed."""
    stmt = worker.due_deliveries(NOW, LIMIT, postgres=True)
    compiled = stmt.compile(dialect=postgresql.dialect())
    names = list(compiled.params)
    sql = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m.group(1)) + 1}", str(compiled))
    with db.engine.connect() as conn:
        conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        conn.exec_driver_sql(f"PREPARE claim AS {sql}")
        args = ", ".join(f"'{compiled.params[n]}'" for n in names)
        raw = conn.exec_driver_sql(
            f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE claim({args})").scalar_one()
        conn.rollback()
    found = raw if isinstance(raw, list) else json.loads(raw)
    return plan_nodes(found[0]["Plan"])


def test_a_claim_walks_the_pending_index_and_reads_only_the_rows_it_takes(
        db: Database, group: Client) -> None:
    fill_backlog(db)
    if db.is_postgres:
        nodes = generic_plan(db)
        assert any(node.get("Index Name") == PENDING_DUE_INDEX for node in nodes), nodes
        assert not [node for node in nodes if node["Node Type"] == "Sort"]
        # Every node of the plan handled at most the rows taken: no scan of the backlog.
        assert max(node["Actual Rows"] for node in nodes) == LIMIT
    else:
        stmt = worker.due_deliveries(NOW, LIMIT, postgres=False)
        compiled = stmt.compile(db.engine)  # with its parameters bound, as the claim runs
        args = tuple(compiled.params[name] for name in compiled.positiontup or ())
        with db.engine.connect() as conn:
            plan = " | ".join(row[-1] for row in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {compiled}", args))
        assert f"USING INDEX {PENDING_DUE_INDEX}" in plan, plan
        assert "TEMP B-TREE" not in plan, plan  # no sort of the due rows
    # And the claim takes the oldest due pending rows in order, none of the sent ones.
    with db.read() as s:
        oldest = list(s.scalars(select(Delivery.id).where(
            Delivery.state == "queued", Delivery.next_attempt_at <= NOW)
            .order_by(Delivery.next_attempt_at, Delivery.id).limit(LIMIT)))
    assert worker.claim_due(db, NOW, LIMIT, NotificationConfig()) == oldest

def test_the_migration_adds_the_index_to_an_existing_table_and_takes_it_away(
        database_url_factory: Any) -> None:
    url = database_url_factory("notifications")
    cfg = alembic_config(migrations_dir("notifications"), url)
    engine = create_engine(url)

    def indexes() -> dict[str, Any]:
        with engine.connect() as conn:
            return {i["name"]: i for i in inspect(conn).get_indexes("deliveries")}

    try:
        assert indexes()[PENDING_DUE_INDEX]["column_names"] == ["next_attempt_at", "id"]
        command.downgrade(cfg, "0004")
        assert PENDING_DUE_INDEX not in indexes()
        command.upgrade(cfg, "head")
        assert indexes()[PENDING_DUE_INDEX]["column_names"] == ["next_attempt_at", "id"]
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                definition = conn.execute(text(
                    "SELECT pg_get_indexdef(CAST(:n AS regclass))"),
                    {"n": PENDING_DUE_INDEX}).scalar_one()
            assert "WHERE ((state)::text = ANY" in definition, definition
            assert "'queued'" in definition and "'failed'" in definition
    finally:
        engine.dispose()
