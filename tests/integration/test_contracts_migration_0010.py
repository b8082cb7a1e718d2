"""Migration 0010 gives the bulk issues run before it their decisions a row each, in the
order of their lists, so that their pages read as a new job's do."""

from __future__ import annotations

import json
from typing import Any

from alembic import command
from sqlalchemy import create_engine, select, update

from services.contracts import create_app
from services.contracts.models import BulkIssueJob, bulk_issue_decisions
from shared.migrations import alembic_config
from tests.conftest import service_settings
from tests.integration.test_bulk_issue_chunks import EXPECTED, _world
from tests.support.contracts_world import Client, wait_for_job
from tests.support.databases import migrations_dir

#: A decision as jobs wrote them before outcomes existed (migration 0005): no `decision`.
BEFORE_0005 = [
    {"manager_id": "m-1", "employee_no": "E1", "issued": True, "reason": None},
    {"manager_id": "m-2", "employee_no": "E2", "issued": False, "reason": "manager_inactive"},
]


def test_the_jobs_before_it_get_their_decisions_as_rows_in_the_order_of_their_lists(
        database_url_factory: Any) -> None:
    url = database_url_factory("contracts")
    app = create_app(service_settings("contracts", url))
    api = Client(app.test_client())
    w = _world(api)
    jobs = [wait_for_job(api, api.post("/api/v1/bulk-issues", {
        "template_id": w["template"]["id"], "start_date": start,
        "filter": {"org_unit_id": w["group"]["sub_a"]["id"]}}, expect=202).get_json()["id"])
        for start in ("2026-01-01", "2030-01-01")]
    old = jobs[1]["id"]
    with app.extensions["tenure_db"].unit_of_work() as s:
        s.execute(update(BulkIssueJob).where(BulkIssueJob.id == old).values(
            decisions=BEFORE_0005))
    app.extensions["tenure_db"].dispose()

    def rows() -> dict[str, list[tuple[int, str, dict[str, Any]]]]:
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                found: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}
                for job_id, place, decision, body in conn.execute(select(
                        bulk_issue_decisions).order_by(bulk_issue_decisions.c.job_id,
                                                       bulk_issue_decisions.c.place)):
                    found.setdefault(job_id, []).append((place, decision, json.loads(body)))
                return found
        finally:
            engine.dispose()

    first = jobs[0]["id"]
    written = rows()[first]  # as the job wrote them
    assert [(p, dcs, b["employee_no"]) for p, dcs, b in written] == [
        (k + 1, outcome, n) for k, (n, outcome, _r) in enumerate(EXPECTED)]
    cfg = alembic_config(migrations_dir("contracts"), url)
    command.downgrade(cfg, "0009")
    command.upgrade(cfg, "0010")
    copied = rows()
    assert copied[first] == written
    assert copied[old] == [(1, "issued", BEFORE_0005[0]), (2, "skipped", BEFORE_0005[1])]
