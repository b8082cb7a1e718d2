"""The contracts service: org tree, managers, tenure contracts, targets, coverage."""

from __future__ import annotations

from flask import Flask

from shared.config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    from services.contracts.api import BLUEPRINTS
    from services.contracts.cli import register_commands
    from services.contracts.models import idempotency_keys, inbox, outbox
    from shared.db import Database
    from shared.web import create_service_app

    settings = settings or Settings.from_env("contracts")
    database = Database(settings.database_url)
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
