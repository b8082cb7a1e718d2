"""Swagger UI served from a packaged copy, so /docs works on a machine with no internet."""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, Flask

#: Where the page loads Swagger UI's script and style from: this service, never a CDN.
ASSETS_URL = "/docs/assets/"


def swagger_ui_dist() -> Path:
    """The Swagger UI distribution that the flask-swagger-ui wheel ships (JS, CSS, icons)."""
    return Path(flask_swagger_ui.__file__).parent / "dist"


def register_api_docs(app: Flask) -> None:
    """Serve the packaged Swagger UI files under ASSETS_URL for flask-smorest's /docs page."""
    assets = Blueprint("api_docs_assets", __name__, static_folder=str(swagger_ui_dist()),
                       static_url_path=ASSETS_URL.rstrip("/"))
    app.register_blueprint(assets)
