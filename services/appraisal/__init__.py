"""The appraisal service: annual and tenure appraisals against targets, grades, pay, exits."""

from __future__ import annotations

from flask import Flask

from shared.config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    from services.appraisal.api import BLUEPRINTS
    from services.appraisal.cli import register_commands
    from services.appraisal.models import idempotency_keys, inbox, outbox
    from shared.db import Database
    from shared.web import create_service_app

    settings = settings or Settings.from_env("appraisal")
    database = Database(settings.database_url)
    app = create_service_app(
        settings,
        title="Tenure appraisal",
        description="Annual and tenure appraisals against the targets of performance "
        "contracts: schemes, actuals, cohort runs with forced distribution, grades, pay, "
        "rigid exit, appeals, what-if and reports.",
        blueprints=BLUEPRINTS,
        database=database,
    )
    app.extensions["tenure_tables"] = {
        "outbox": outbox, "inbox": inbox, "idempotency": idempotency_keys,
    }
    register_commands(app)
    return app
