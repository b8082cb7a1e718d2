"""Flask commands of the notifications service: migrate, consume, deliver, relay, dev-token."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app

from shared.audit import purge_command as audit_purge
from shared.auth import ROLES, issue_token
from shared.migrations import upgrade

MIGRATIONS = Path(__file__).parent / "migrations"


def register_commands(app: Flask) -> None:
    app.cli.add_command(audit_purge)  # docs/audit.md: retention

    @app.cli.command("migrate")
    def migrate() -> None:
        """Bring the database schema up to date (run before the service starts)."""
        upgrade(MIGRATIONS, current_app.config["TENURE_SETTINGS"].database_url)
        click.echo("notifications database is up to date")

    @app.cli.command("consume")
    def consume() -> None:
        """Turn contract, appraisal and notice events into notices until SIGTERM."""
        from services.notifications.events import (
            HANDLED_TYPES,
            make_batch_handler,
            make_handler,
            subscription,
        )
        from services.notifications.models import inbox
        from shared.consumer import run_consumer_process

        settings = current_app.config["TENURE_SETTINGS"]
        config = current_app.extensions["notifications_config"]
        sub = subscription(config.topic_prefix)
        run_consumer_process(current_app.extensions["tenure_db"], inbox, _bootstrap(settings),
                             sub.group, sub.topics, make_handler(config),
                             service="notifications", event_types=HANDLED_TYPES,
                             dead_letter_topic=sub.dead_letter_topic,
                             batch_handler=make_batch_handler(config))

    @app.cli.command("deliver")
    @click.option("--once", is_flag=True, help="One pass, then exit (a cron job, a test).")
    def deliver(once: bool) -> None:
        """Send due reminders and deliveries (e-mail, webhook) with retries until SIGTERM."""
        import threading

        from services.notifications import worker
        from shared.heap import freeze_startup_objects
        from shared.kafka_clients import stop_on_signals

        database = current_app.extensions["tenure_db"]
        config = current_app.extensions["notifications_config"]
        if once:
            result = worker.run_once(database, config)
            click.echo(f"reminders {result.reminders}, sent {result.sent}, "
                       f"failed {result.failed}, given up {result.given_up}")
            return
        stop = threading.Event()
        stop_on_signals(stop)
        freeze_startup_objects()
        worker.run_forever(database, config, stop)

    @app.cli.command("relay")
    def relay() -> None:
        """Publish the outbox (notice.given_up) to Kafka until SIGTERM."""
        from services.notifications.models import outbox
        from shared.relay import run_relay_process

        settings = current_app.config["TENURE_SETTINGS"]
        config = current_app.extensions["notifications_config"]
        run_relay_process(current_app.extensions["tenure_db"], outbox, _bootstrap(settings),
                          service="notifications", topic_prefix=config.topic_prefix)

    @app.cli.command("dev-token")
    @click.option("--role", "roles", multiple=True, default=["hr_admin"],
                  type=click.Choice(sorted(ROLES)))
    @click.option("--subject", default="dev-hr")
    @click.option("--org-scope", default=None)
    @click.option("--manager-id", default=None)
    @click.option("--hours", default=8, type=int)
    def dev_token(roles: tuple[str, ...], subject: str, org_scope: str | None,
                  manager_id: str | None, hours: int) -> None:
        """Print a bearer token signed with this service's secret (local use)."""
        settings = current_app.config["TENURE_SETTINGS"]
        click.echo(issue_token(settings.jwt_secret, subject, roles, org_scope=org_scope,
                               manager_id=manager_id, ttl_seconds=hours * 3600))


def _bootstrap(settings: object) -> str:
    servers = getattr(settings, "kafka_bootstrap", None)
    if not servers:
        raise click.UsageError("Set KAFKA_BOOTSTRAP_SERVERS (host:port of the Kafka broker)")
    return str(servers)
