"""The ceiling: a bare Flask endpoint under the same gunicorn settings as the services."""

from flask import Flask, jsonify

app = Flask(__name__)

DOC = {"id": "00000000-0000-0000-0000-000000000000", "state": "active",
       "start_date": "2026-01-01", "end_date": "2028-12-31", "position": "general_manager"}


@app.get("/bare")
def bare():  # type: ignore[no-untyped-def]
    return jsonify(DOC)
