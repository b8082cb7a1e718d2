"""The portal: web pages for HR staff and managers, over the three services' APIs."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, render_template, request
from flask_babel import Babel
from flask_wtf.csrf import CSRFError, CSRFProtect
from markupsafe import Markup, escape

from services.portal.config import PortalSettings

HERE = Path(__file__).parent


def create_app(settings: PortalSettings | None = None) -> Flask:
    from services.portal.clients import ApiError
    from services.portal.people import current_person, language
    from services.portal.views import countersign, hr, mine, session
    from services.portal.words import label
    from shared.logs import configure_logging

    settings = settings or PortalSettings.from_env()
    configure_logging("portal", "INFO", not settings.testing)
    app = Flask("tenure.portal", root_path=str(HERE))
    app.config.update(
        PORTAL_SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        TESTING=settings.testing,
        SESSION_COOKIE_NAME="tenure_portal",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
        WTF_CSRF_TIME_LIMIT=8 * 3600,
        WTF_CSRF_SSL_STRICT=settings.secure_cookies,
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        BABEL_TRANSLATION_DIRECTORIES=str(HERE / "translations"),
        BABEL_DEFAULT_LOCALE="zh",
    )
    CSRFProtect(app)
    Babel(app, locale_selector=language)
    for blueprint in (session.bp, hr.bp, mine.bp, countersign.bp):
        app.register_blueprint(blueprint)

    app.jinja_env.filters["linkify"] = linkify

    @app.context_processor
    def _page_context() -> dict[str, Any]:
        return {"person": getattr(g, "person", None) or current_person(),
                "lang": language(), "label": label,
                "awaiting_count": countersign.awaiting_count}

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> tuple[str, int]:
        status = exc.status if 400 <= exc.status < 600 else 502
        return render_template("error.html", error=exc, status=status), status

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> tuple[str, int]:
        return render_template("error.html", status=400, error=None,
                               message=exc.description), 400

    for status in (400, 401, 403, 404, 405):
        app.register_error_handler(status, _plain_error(status))

    @app.get("/healthz")
    def healthz() -> Response:
        return Response('{"status": "ok", "service": "portal"}\n', mimetype="application/json")

    @app.after_request
    def _headers(resp: Response) -> Response:
        # Everything the pages use comes from this site: no CDN, no inline script.
        resp.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                "script-src 'self'; frame-ancestors 'none'; form-action 'self'")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        if request.is_secure:
            resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if resp.mimetype == "text/html":
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    return app


_URL = re.compile(r"https?://[^\s<>\"']+")


def linkify(text: str) -> Markup:
    """Plain notice text with its web addresses as links (the rest escaped)."""
    out, last = [], 0
    for match in _URL.finditer(text or ""):
        out.append(escape(text[last:match.start()]))
        url = match.group(0)
        out.append(Markup('<a href="{0}">{0}</a>').format(url))
        last = match.end()
    out.append(escape((text or "")[last:]))
    return Markup("").join(out)


def _plain_error(status: int) -> Any:
    def handler(exc: Exception) -> tuple[str, int]:
        return render_template("error.html", status=status, error=None,
                               message=getattr(exc, "description", "")), status

    return handler
