"""gunicorn entry point: `gunicorn services.contracts.wsgi:app`."""

from services.contracts import create_app

app = create_app()
