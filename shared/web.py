"""The Flask app skeleton every service builds on: API docs, errors, ids, health, metrics."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable

from flask import Flask, Response, g, jsonify, request
from flask_smorest import Api, Blueprint
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from shared.api_docs import ASSETS_URL, register_api_docs
from shared.config import Settings, UnsafeConfiguration
from shared.db import Database
from shared.errors import register_error_handlers
from shared.logs import configure_logging

log = logging.getLogger("tenure.web")

REQUESTS = Counter(
    "tenure_http_requests_total", "HTTP requests", ["service", "method", "endpoint", "status"]
)
LATENCY = Histogram(
    "tenure_http_request_seconds", "HTTP request latency", ["service", "method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

ReadinessCheck = Callable[[], tuple[bool, str]]


class TenureApi(Api):
    """flask-smorest's Api with errors left to shared.errors (problem+json)."""

    def _register_error_handlers(self) -> None:  # the app registers problem+json handlers
        return None


def create_service_app(
    settings: Settings,
    *,
    title: str,
    description: str,
    blueprints: Iterable[Blueprint],
    database: Database | None = None,
    readiness: dict[str, ReadinessCheck] | None = None,
) -> Flask:
    """Assemble one service's app; the service's own factory adds its extensions first.

    Every process of a service (API worker, relay, consumer, CLI) builds its app here, so
    this is where one that could be fooled by a guessable token refuses to start.
    """
    configure_logging(settings.service, settings.log_level, settings.log_json)
    try:
        settings.refuse_unsafe()
    except UnsafeConfiguration as refusal:
        log.critical("%s", refusal)
        raise
    app = Flask(f"tenure.{settings.service}")
    app.config.update(
        TENURE_SETTINGS=settings,
        TESTING=settings.testing,
        API_TITLE=title,
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        # Packaged with the service (shared.api_docs): /docs works offline. No ReDoc page:
        # its bundle would have to come from a CDN.
        OPENAPI_SWAGGER_UI_URL=ASSETS_URL,
        API_SPEC_OPTIONS={
            "info": {"description": description},
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                }
            },
            "security": [{"bearerAuth": []}],
        },
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=32 * 1024 * 1024,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if database is not None:
        app.extensions["tenure_db"] = database
    api = TenureApi(app)
    register_api_docs(app)
    for blp in blueprints:
        api.register_blueprint(blp)
    app.extensions["tenure_api"] = api
    register_error_handlers(app)
    _install_request_ids(app, settings.service)
    informational: dict[str, ReadinessCheck] = {}
    if settings.kafka_bootstrap:
        from shared.ops import BrokerReadiness

        # Reported, not required: with the broker down the API still takes every write
        # (events wait in the outbox), so pulling pods out of service would only hurt.
        informational["kafka"] = BrokerReadiness(settings.kafka_bootstrap)
    _install_health(app, database, dict(readiness or {}), informational)
    return app


def _install_request_ids(app: Flask, service: str) -> None:
    @app.before_request
    def _start() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if 0 < len(incoming) <= 128 else str(uuid.uuid4())
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = getattr(g, "request_id", "")
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - getattr(g, "started", time.perf_counter())
        REQUESTS.labels(service, request.method, endpoint, str(response.status_code)).inc()
        LATENCY.labels(service, request.method, endpoint).observe(elapsed)
        return response


def _install_health(
    app: Flask, database: Database | None, readiness: dict[str, ReadinessCheck],
    informational: dict[str, ReadinessCheck],
) -> None:
    @app.get("/healthz")
    def healthz() -> Response:
        """Liveness: the process answers. Nothing external is checked here."""
        return jsonify(status="ok", service=app.config["TENURE_SETTINGS"].service)

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        """Readiness: the database and every registered dependency answer."""
        checks: dict[str, dict[str, object]] = {}
        if database is not None:
            try:
                database.ping()
                checks["database"] = {"ok": True}
            except Exception as exc:  # readiness reports any failure, whatever its kind
                checks["database"] = {"ok": False, "error": str(exc)[:300]}
        for name, check in [*readiness.items(), *informational.items()]:
            try:
                ok, detail = check()
            except Exception as exc:  # same: a failing check is reported, not raised
                ok, detail = False, str(exc)[:300]
            checks[name] = {"ok": ok, "detail": detail, "required": name not in informational}
        ready = all(bool(c["ok"]) for c in checks.values() if c.get("required", True))
        return jsonify(status="ready" if ready else "not_ready", checks=checks), (
            200 if ready else 503
        )

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus metrics; under gunicorn, summed over every worker (multiprocess mode)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import CollectorRegistry, multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
