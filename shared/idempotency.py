"""Idempotency-Key support for creates, so a retrying HR system never creates twice.

The key is reserved in its own short transaction before the work runs (a unique row), so
two concurrent retries cannot both do the work; the response is stored when the work
succeeds and replayed for any later call with the same key and the same request.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import Response, current_app, make_response, request
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from shared.auth import authenticate
from shared.errors import ApiProblem

F = TypeVar("F", bound=Callable[..., Any])
HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


def _fingerprint() -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(request.full_path.encode())
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def idempotent(func: F) -> F:
    """Decorate a create view (outermost, above the schema decorators)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER)
        if key is None:
            return func(*args, **kwargs)
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            raise ApiProblem(
                400, "Bad Request", f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters",
                errors={HEADER: ["invalid length"]},
            )
        principal = authenticate().subject
        db = current_app.extensions["tenure_db"]
        table = current_app.extensions["tenure_tables"]["idempotency"]
        fingerprint = _fingerprint()
        try:
            with db.unit_of_work() as session:
                session.execute(insert(table).values(
                    key=key, principal=principal, request_fingerprint=fingerprint,
                    created_at=datetime.now(UTC),
                ))
        except IntegrityError:
            with db.read() as session:
                row = session.execute(
                    select(table).where(table.c.key == key, table.c.principal == principal)
                ).one()
            if row.request_fingerprint != fingerprint:
                raise ApiProblem(
                    422, "Unprocessable Entity",
                    f"{HEADER} {key!r} was already used for a different request",
                    errors={HEADER: ["reused with a different request"]},
                ) from None
            if row.status_code is None:
                raise ApiProblem(
                    409, "Conflict", f"A request with {HEADER} {key!r} is still in progress",
                    headers={"Retry-After": "1"},
                ) from None
            replay = Response(
                row.response_body, status=row.status_code,
                headers=json.loads(row.response_headers or "{}"),
            )
            replay.headers["Idempotent-Replayed"] = "true"
            return replay
        where = (table.c.key == key) & (table.c.principal == principal)
        try:
            response = make_response(func(*args, **kwargs))
        except BaseException:
            with db.unit_of_work() as session:
                session.execute(delete(table).where(where))
            raise
        if response.status_code >= 400:
            # A refused request may be corrected and retried under the same key.
            with db.unit_of_work() as session:
                session.execute(delete(table).where(where))
            return response
        headers = {k: v for k, v in response.headers.items()
                   if k in {"Content-Type", "Location", "ETag"}}
        with db.unit_of_work() as session:
            session.execute(update(table).where(where).values(
                status_code=response.status_code,
                response_body=response.get_data(as_text=True),
                response_headers=json.dumps(headers),
            ))
        return response

    return wrapper  # type: ignore[return-value]
