"""gunicorn entry point: `gunicorn services.appraisal.wsgi:app`."""

from services.appraisal import create_app

app = create_app()
