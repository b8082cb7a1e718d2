"""gunicorn entry point: `gunicorn services.notifications.wsgi:app`."""

from services.notifications import create_app

app = create_app()
