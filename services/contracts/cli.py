"""Flask commands of the contracts service: migrate, expire, dev-token."""

from __future__ import annotations

import json
from datetime import date
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
        click.echo("contracts database is up to date")

    @app.cli.command("expire")
    @click.option("--dry-run", is_flag=True,
                  help="Change and send nothing; print what the sweep would send (JSON).")
    @click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
                  help="The day to sweep for; only with --dry-run.")
    def expire(dry_run: bool, as_of: object) -> None:
        """Mark contracts past their end expired; record 90/30/7-day reminders (today)."""
        from services.contracts.service import run_expiry

        if as_of is not None and not dry_run:
            raise click.BadParameter("the sweep sends real notices, so it runs for today "
                                     "only; add --dry-run to see another day", param_hint="--as-of")
        today = as_of.date() if as_of else date.today()  # type: ignore[attr-defined]
        result = run_expiry(current_app.extensions["tenure_db"], today, dry_run=dry_run)
        if dry_run:
            click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        else:
            click.echo(f"expired {result['expired']}, reminders {result['expiring']}")

    @app.cli.command("relay")
    def relay() -> None:
        """Publish the outbox to Kafka until SIGTERM (one publisher per database)."""
        from services.contracts.models import outbox
        from shared.relay import run_relay_process

        settings = current_app.config["TENURE_SETTINGS"]
        run_relay_process(current_app.extensions["tenure_db"], outbox,
                          _bootstrap(settings), service="contracts")

    @app.cli.command("consume")
    def consume() -> None:
        """Apply appraisal outcomes (exit, tenure conclusion) until SIGTERM."""
        from services.contracts.events import (
            CONSUMER_GROUP,
            HANDLED_TYPES,
            handle_appraisal_outcome,
        )
        from services.contracts.models import inbox
        from shared.consumer import run_consumer_process
        from shared.events.catalogue import APPRAISALS_TOPIC

        settings = current_app.config["TENURE_SETTINGS"]
        run_consumer_process(current_app.extensions["tenure_db"], inbox, _bootstrap(settings),
                             CONSUMER_GROUP, [APPRAISALS_TOPIC], handle_appraisal_outcome,
                             service="contracts", event_types=HANDLED_TYPES)

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
