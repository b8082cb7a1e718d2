"""The notifications service: notices to managers and HR by inbox, e-mail and webhook."""

from __future__ import annotations

from flask import Flask

from shared.config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    from services.notifications.api import BLUEPRINTS
    from services.notifications.cli import register_commands
    from services.notifications.config import SERVICE, NotificationConfig
    from services.notifications.models import idempotency_keys, inbox, outbox
    from shared.db import Database
    from shared.web import create_service_app

    settings = settings or Settings.from_env(SERVICE)
    database = Database(settings.database_url)
    app = create_service_app(
        settings,
        title="Tenure notifications",
        description="Notices to managers, HR admins and appraisers from contract and appraisal "
        "events: an inbox per person, e-mail and signed webhooks with retries, templates in "
        "Chinese and English that HR can edit.",
        blueprints=BLUEPRINTS,
        database=database,
    )
    app.extensions["tenure_tables"] = {
        "outbox": outbox, "inbox": inbox, "idempotency": idempotency_keys,
    }
    app.extensions["notifications_config"] = NotificationConfig.from_env()
    register_commands(app)
    return app
