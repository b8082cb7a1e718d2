"""gunicorn entry point: `gunicorn services.portal.wsgi:app`."""

from services.portal import create_app

app = create_app()
