"""The Flask app skeleton every service builds on: API docs, errors, ids, input limits,
security headers, the access log, health and metrics."""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable

from apispec import APISpec, BasePlugin
from flask import Flask, Response, g, jsonify, request
from flask_smorest import Api, Blueprint
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from werkzeug.middleware.proxy_fix import ProxyFix

from shared.api_docs import ASSETS_URL, register_api_docs
from shared.config import Settings, UnsafeConfiguration
from shared.db import Database
from shared.errors import register_error_handlers
from shared.inputs import install_request_guard
from shared.logs import configure_logging

log = logging.getLogger("tenure.web")
access_log = logging.getLogger("tenure.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Framing only: /docs and /redoc load their viewers' scripts, which a script policy
    # would have to allow anyway; no API answer is a page worth framing.
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}
HSTS = "max-age=31536000; includeSubDomains"

REQUESTS = Counter(
    "tenure_http_requests_total", "HTTP requests", ["service", "method", "endpoint", "status"]
)
LATENCY = Histogram(
    "tenure_http_request_seconds", "HTTP request latency", ["service", "method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

ReadinessCheck = Callable[[], tuple[bool, str]]


class OptionalBodies(BasePlugin):
    """A body whose schema has no required field may be left out (webargs reads a missing
    body as {}); flask-smorest documents every body as required, and the document should say
    what the API does."""

    def init_spec(self, spec: APISpec) -> None:
        self.spec = spec

    def operation_helper(self, path: str | None = None, operations: dict | None = None,  # type: ignore[type-arg]
                         **kwargs: object) -> None:
        for operation in (operations or {}).values():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            if not body or not body.get("required"):
                continue
            for media in body.get("content", {}).values():
                schema = media.get("schema") or {}
                ref = schema.get("$ref", "") if isinstance(schema, dict) else ""
                if ref:
                    schema = self.spec.components.schemas.get(ref.rsplit("/", 1)[-1], {})
                if isinstance(schema, dict) and schema.get("type", "object") == "object" \
                        and not schema.get("required"):
                    body["required"] = False


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
    if settings.trusted_proxies:
        # X-Forwarded-For/-Proto are believed only from this many proxies in front of us.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    if settings.access_log:
        access_log.setLevel(logging.INFO)  # one line per request, whatever LOG_LEVEL says
    _install_request_ids(app, settings.service, access=settings.access_log)
    install_request_guard(app)  # before the blueprints: it brings the bounded int converter
    if database is not None:
        app.extensions["tenure_db"] = database
    api = TenureApi(app, spec_kwargs={"extra_plugins": [OptionalBodies()]})
    register_api_docs(app)
    for blp in blueprints:
        api.register_blueprint(blp)
    app.extensions["tenure_api"] = api
    register_error_handlers(app)
    informational: dict[str, ReadinessCheck] = {}
    if settings.kafka_bootstrap:
        from shared.ops import BrokerReadiness

        # Reported, not required: with the broker down the API still takes every write
        # (events wait in the outbox), so pulling pods out of service would only hurt.
        informational["kafka"] = BrokerReadiness(settings.kafka_bootstrap)
    _install_health(app, database, dict(readiness or {}), informational,
                    metrics=not settings.metrics_port)
    return app


def _install_request_ids(app: Flask, service: str, *, access: bool = True) -> None:
    """Installed before the input guard: a refused request has its id and its log line."""

    @app.before_request
    def _start() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else str(uuid.uuid4())
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = getattr(g, "request_id", "")
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - getattr(g, "started", time.perf_counter())
        REQUESTS.labels(service, request.method, endpoint, str(response.status_code)).inc()
        LATENCY.labels(service, request.method, endpoint).observe(elapsed)
        if access:
            principal = getattr(g, "principal", None)
            # The route's rule, never the raw path: ids stay out, and nothing a client typed
            # (a token pasted in a query, say) reaches the log.
            access_log.info("%s %s %s", request.method, endpoint, response.status_code, extra={
                "subject": principal.subject if principal is not None else None,
                "method": request.method, "path": endpoint,
                "status": response.status_code, "duration_ms": round(elapsed * 1000, 3)})
        return response


def _install_health(
    app: Flask, database: Database | None, readiness: dict[str, ReadinessCheck],
    informational: dict[str, ReadinessCheck], *, metrics: bool = True,
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

    if not metrics:  # METRICS_PORT: gunicorn's master serves them (deploy/gunicorn.conf.py)
        return

    @app.get("/metrics")
    def metrics_page() -> Response:
        """Prometheus metrics; under gunicorn, summed over every worker (multiprocess mode)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import CollectorRegistry, multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
