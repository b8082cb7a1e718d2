"""The contracts service: org tree, managers, tenure contracts, targets, coverage."""

from __future__ import annotations

from flask import Flask

from shared.config import Settings

CONTRACT_READS_CHANNEL = "tenure_contract_reads"


def create_app(settings: Settings | None = None) -> Flask:
    from services.contracts.api import BLUEPRINTS
    from services.contracts.cli import register_commands
    from services.contracts.models import idempotency_keys, inbox, outbox
    from shared.db import Database
    from shared.web import create_service_app

    settings = settings or Settings.from_env("contracts")
    database = Database(settings.database_url)
    if settings.read_cache:
        # GET one contract from memory where it can be; migration 0002 sends the notices.
        database.enable_read_cache(CONTRACT_READS_CHANNEL)
    app = create_service_app(
        settings,
        title="Tenure contracts",
        description="Org tree, managers at all levels, tenure contracts (two letters and one "
        "agreement), annual targets, bulk issue and coverage reports.",
        blueprints=BLUEPRINTS,
        database=database,
    )
    app.extensions["tenure_tables"] = {
        "outbox": outbox, "inbox": inbox, "idempotency": idempotency_keys,
    }
    register_commands(app)
    return app
