"""Migration 0004 judges contracts that existed before it exactly as the service now does."""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import create_engine, select

from services.contracts import create_app
from services.contracts.models import TenureContract
from shared.migrations import alembic_config
from tests.conftest import service_settings
from tests.support.contracts_world import Client, manager, small_group, template
from tests.support.databases import migrations_dir


def test_existing_contracts_are_judged_from_their_documents(database_url_factory: Any) -> None:
    url = database_url_factory("contracts")
    app = create_app(service_settings("contracts", url))
    api = Client(app.test_client())
    g = small_group(api)
    t = template(api)
    for no, body in (("A1", {}), ("A2", {"template_id": t["id"]})):
        m = manager(api, no, g["sub_a"]["id"])
        api.post("/api/v1/contracts", {"manager_id": m["id"], "start_date": "2026-01-01",
                                       **body}, expect=201)
    app.extensions["tenure_db"].dispose()

    def verdicts() -> dict[str, Any]:
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                return dict(conn.execute(select(TenureContract.id,
                                                TenureContract.appraisable)).all())
        finally:
            engine.dispose()

    written = verdicts()
    assert sorted(v["annual"] for v in written.values()) == [False, True]
    cfg = alembic_config(migrations_dir("contracts"), url)
    command.downgrade(cfg, "0002")
    command.upgrade(cfg, "0004")
    assert verdicts() == written
