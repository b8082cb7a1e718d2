"""Flask commands of the contracts service: migrate, expire, dev-token."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from flask import Flask, current_app

from shared.auth import ROLES, issue_token
from shared.migrations import upgrade

MIGRATIONS = Path(__file__).parent / "migrations"


def register_commands(app: Flask) -> None:
    @app.cli.command("migrate")
    def migrate() -> None:
        """Bring the database schema up to date (run before the service starts)."""
        upgrade(MIGRATIONS, current_app.config["TENURE_SETTINGS"].database_url)
        click.echo("contracts database is up to date")

    @app.cli.command("expire")
    @click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None)
    def expire(as_of: object) -> None:
        """Mark contracts past their end expired; record 90/30/7-day reminders."""
        from services.contracts.service import run_expiry

        today = as_of.date() if as_of else date.today()  # type: ignore[attr-defined]
        result = run_expiry(current_app.extensions["tenure_db"], today)
        click.echo(f"expired {result['expired']}, reminders {result['expiring']}")

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
