"""RFC 7807 problem+json: every error of every service leaves through here."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, json, request
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("tenure.errors")

TYPE_BASE = "https://tenure.example/problems/"


class ApiProblem(Exception):
    """A problem a service raises on purpose (not found, conflict, forbidden...)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        *,
        errors: dict[str, list[str]] | None = None,
        type_: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors or {}
        self.type = type_ or TYPE_BASE + title.lower().replace(" ", "-")
        self.headers = headers or {}
        self.extra = extra


def not_found(what: str, ident: object) -> ApiProblem:
    return ApiProblem(404, "Not Found", f"{what} {ident} does not exist")


def problem_response(
    status: int,
    title: str,
    detail: str = "",
    *,
    errors: dict[str, Any] | None = None,
    type_: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": type_ or TYPE_BASE + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
        "detail": detail or title,
        "instance": request.path if request else None,
    }
    if errors:
        body["errors"] = errors
        # The field at fault, named once at the top so a client need not walk the tree.
        body["invalid_params"] = [
            {"name": name, "reason": "; ".join(_as_messages(msgs))}
            for name, msgs in _flatten(errors)
        ]
    rid = getattr(g, "request_id", None)
    if rid:
        body["request_id"] = rid
    body.update(extra)
    resp = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def _as_messages(msgs: Any) -> list[str]:
    if isinstance(msgs, list | tuple):
        return [str(m) for m in msgs]
    return [str(msgs)]


def _flatten(errors: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """webargs nests errors by location and field; flatten to dotted paths."""
    out: list[tuple[str, Any]] = []
    if isinstance(errors, dict):
        for key, value in errors.items():
            if prefix == "" and key in {"json", "query", "headers", "form", "files", "view_args"}:
                name = ""
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict):
                out.extend(_flatten(value, name))
            else:
                out.append((name or str(key), value))
    else:
        out.append((prefix or "body", errors))
    return out


def _flatten_to_dict(errors: Any) -> dict[str, list[str]]:
    return {name: _as_messages(msgs) for name, msgs in _flatten(errors)}


def register_error_handlers(app: Flask) -> None:
    """Map domain errors, HTTP errors and crashes to problem+json, once, for the app."""

    @app.errorhandler(ApiProblem)
    def _api_problem(err: ApiProblem) -> Response:
        headers = dict(err.headers)
        if err.status == 401:
            headers.setdefault("WWW-Authenticate", 'Bearer realm="tenure"')
        return problem_response(
            err.status, err.title, err.detail, errors=err.errors, type_=err.type,
            headers=headers, **err.extra,
        )

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Response:
        data = getattr(err, "data", None) or {}
        errors = data.get("errors") or data.get("messages")
        status = err.code or 500
        detail = data.get("message") or err.description or ""
        if errors:
            errors = _flatten_to_dict(errors)
            if status == 422:
                detail = "The request has invalid fields: " + ", ".join(sorted(errors))
        headers = dict(data.get("headers") or {})
        if status == 401:
            headers.setdefault("WWW-Authenticate", 'Bearer realm="tenure"')
        return problem_response(status, err.name, detail, errors=errors, headers=headers)

    @app.errorhandler(DataError)
    def _data_error(err: DataError) -> Response:
        # The database refused a value (out of range, too long, not storable text) that the
        # field bounds should have caught: still the client's input, so a 422, never a 500;
        # logged with its traceback so the missing bound gets added.
        log.warning("the database refused a value", exc_info=err,
                    extra={"path": request.path})
        reason = str(getattr(err, "orig", err)).splitlines()[0][:200]
        return problem_response(422, "Unprocessable Entity",
                                f"A value does not fit what the database stores: {reason}",
                                errors={"body": [reason]})

    @app.errorhandler(Exception)
    def _crash(err: Exception) -> Response:
        # Domain errors carry status/title/errors by convention (see each service's domain).
        status = getattr(err, "status", None)
        if isinstance(status, int) and 400 <= status < 500 and hasattr(err, "title"):
            return problem_response(
                status,
                str(err.title),
                str(getattr(err, "detail", "") or err),
                errors=getattr(err, "errors", None) or None,
            )
        log.exception("unhandled error", extra={"path": request.path})
        return problem_response(500, "Internal Server Error", "An unexpected error occurred")
