"""Flask commands of the appraisal service: migrate, relay, consume, appraise, score-runs,
remind, close-appeal-windows."""

from __future__ import annotations

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
        click.echo("appraisal database is up to date")

    @app.cli.command("relay")
    def relay() -> None:
        """Publish the outbox to Kafka until SIGTERM (one publisher per database)."""
        from services.appraisal.models import outbox
        from shared.relay import run_relay_process

        settings = current_app.config["TENURE_SETTINGS"]
        run_relay_process(current_app.extensions["tenure_db"], outbox,
                          _bootstrap(settings), service="appraisal")

    @app.cli.command("consume")
    def consume() -> None:
        """Keep the read model of org units, managers, contracts and targets until SIGTERM."""
        from services.appraisal.events import CONSUMER_GROUP, consumer_options
        from services.appraisal.models import inbox
        from shared.consumer import run_consumer_process
        from shared.events.catalogue import CONTRACTS_TOPIC

        settings = current_app.config["TENURE_SETTINGS"]
        run_consumer_process(current_app.extensions["tenure_db"], inbox, _bootstrap(settings),
                             CONSUMER_GROUP, [CONTRACTS_TOPIC], service="appraisal",
                             **consumer_options())

    @app.cli.command("appraise")
    @click.option("--year", type=int, required=True)
    @click.option("--kind", type=click.Choice(["annual", "tenure"]), default="annual")
    @click.option("--org-unit-id", default=None)
    @click.option("--layer", type=int, default=None)
    @click.option("--category", default=None)
    def appraise(year: int, kind: str, org_unit_id: str | None, layer: int | None,
            category: str | None) -> None:
        """Score a cohort in the foreground (what POST /api/v1/appraisal-runs does)."""
        from services.appraisal.service import execute_run, start_run
        from shared.auth import Principal

        database = current_app.extensions["tenure_db"]
        actor = Principal(subject="cli", roles=frozenset({"hr_admin"}))
        data = {"year": year, "kind": kind, "org_unit_id": org_unit_id, "layer": layer,
                "category": category}
        started = start_run(database, actor, data)
        execute_run(database, started.id)
        with database.read() as s:
            from services.appraisal.models import AppraisalRun

            done = s.get(AppraisalRun, started.id)
            assert done is not None
            click.echo(f"run {done.id}: {done.status}, scored {done.scored}, "
                       f"skipped {done.skipped} {done.error or ''}".rstrip())

    @app.cli.command("score-runs")
    @click.option("--poll", type=float, default=0.5, help="seconds between looks when idle")
    def score_runs(poll: float) -> None:
        """Score batches of any running appraisal run until SIGTERM (PostgreSQL): as many of
        these processes as wanted, on any machine, share a run's work (docs/scale-out.md)."""
        import threading

        from services.appraisal.service.claims import claimer_name, serve
        from shared.heap import freeze_startup_objects
        from shared.kafka_clients import stop_on_signals

        database = current_app.extensions["tenure_db"]
        if not database.is_postgres:
            raise click.UsageError("score-runs needs PostgreSQL: on SQLite a run's own "
                                   "process scores it")
        stop = threading.Event()
        stop_on_signals(stop)
        freeze_startup_objects()
        click.echo(f"scoring batches of running appraisal runs as {claimer_name()}")
        done = serve(database.url, stop, poll)
        click.echo(f"scored {done} batch(es)")

    @app.cli.command("remind")
    @click.option("--as-of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None)
    @click.option("--days", type=int, default=14)
    def remind(as_of: object, days: int) -> None:
        """Send actuals.due for open appraisals whose actuals are due within --days, and
        self_report.due to managers whose self-report is due in 7 or 1 days (daily job)."""
        from services.appraisal.service import remind_actuals_due, remind_self_reports_due

        today = as_of.date() if as_of else date.today()  # type: ignore[attr-defined]
        result = remind_actuals_due(current_app.extensions["tenure_db"], today, days)
        click.echo(f"reminded {result['reminded']}")
        reports = remind_self_reports_due(current_app.extensions["tenure_db"], today)
        click.echo(f"self-reports reminded {reports['reminded']}")

    @app.cli.command("close-appeal-windows")
    @click.option("--as-of", default=None,
                  help="ISO instant (default: now): confirm windows closed before it")
    def close_appeal_windows(as_of: str | None) -> None:
        """Confirm every exit whose appeal window closed without an appeal (exit.confirmed).

        The daily job (`make run` and the Kubernetes CronJob run it); idempotent and safe to
        run in several processes at once."""
        from datetime import UTC, datetime

        from services.appraisal.service import close_elapsed_windows

        at = None
        if as_of:
            at = datetime.fromisoformat(as_of)
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
        result = close_elapsed_windows(current_app.extensions["tenure_db"], at)
        click.echo(f"confirmed {result['confirmed']} exit(s) whose appeal window closed "
                   f"before {result['as_of']}")

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
