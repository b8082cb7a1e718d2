"""Input limits every request meets before a view runs: headers, path, query and JSON body.

Crafted input must end in a 4xx problem+json that names what is wrong, never in a crash deep
in the JSON parser, the database driver or the date arithmetic. What can be checked without
knowing the endpoint is checked here, once, for every service (docs/input-limits.md lists
every limit); field bounds (dates, integers, decimals, booleans) live in shared/fields.py.
"""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.routing import IntegerConverter

from shared.errors import problem_response
from shared.fields import BAD_TEXT, BAD_TEXT_MESSAGE

MAX_JSON_DEPTH = 32  # arrays and objects inside each other; our deepest body (a scheme) uses 4
MAX_HEADER_BYTES = 16 * 1024  # one header's value; identity providers' tokens fit in it
MAX_PATH_INTEGER = 2**31 - 1  # an integer path parameter: what a database integer holds
_BAD_HEADER = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
# flask-smorest's own pages (/openapi.json, /docs, /redoc) take what their viewers send.
_DOC_BLUEPRINTS = frozenset({"api-docs"})
_RULE_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


class OutOfRangeInteger(str):
    """An integer path parameter the database could not hold, kept as its text so the
    request guard can refuse it by name (a converter cannot name its parameter)."""


class BoundedIntegerConverter(IntegerConverter):
    """`<int:...>` in a route: digits only, and at most MAX_PATH_INTEGER, else a 422."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_PATH_INTEGER)  # shown in the OpenAPI document
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str) -> Any:
        if len(value) > len(str(MAX_PATH_INTEGER)) or int(value) > MAX_PATH_INTEGER:
            return OutOfRangeInteger(value)
        return int(value)


def install_request_guard(app: Flask) -> None:
    """Check every request before its view: the first fault found is answered."""
    app.url_map.converters["int"] = BoundedIntegerConverter

    @app.before_request
    def _guard() -> Response | None:
        return (_check_headers() or _check_path() or _check_query() or _check_json_body())


def _check_headers() -> Response | None:
    for name, value in request.headers.items():
        if len(value) > MAX_HEADER_BYTES:
            return problem_response(
                431, "Request Header Fields Too Large",
                f"The {name} header is longer than {MAX_HEADER_BYTES} bytes",
                errors={name: [f"at most {MAX_HEADER_BYTES} bytes"]})
        if _BAD_HEADER.search(value):
            return problem_response(400, "Bad Request", f"The {name} header has control "
                                    "characters", errors={name: ["control characters"]})
    return None


def _check_path() -> Response | None:
    for name, value in (request.view_args or {}).items():
        if isinstance(value, OutOfRangeInteger):
            return problem_response(
                422, "Unprocessable Entity", f"{name} is out of range",
                errors={name: [f"an integer from 0 to {MAX_PATH_INTEGER}"]})
        if isinstance(value, str) and BAD_TEXT.search(value):
            return problem_response(400, "Bad Request", f"{name} is not valid text",
                                    errors={name: [BAD_TEXT_MESSAGE]})
    return None


def _check_query() -> Response | None:
    if not request.query_string:
        return None
    for name, value in request.args.items(multi=True):
        if BAD_TEXT.search(name) or BAD_TEXT.search(value):
            shown = BAD_TEXT.sub("?", name)
            return problem_response(422, "Unprocessable Entity", f"{shown} is not valid text",
                                    errors={shown: [BAD_TEXT_MESSAGE]})
    allowed = allowed_query_names(current_app, request.url_rule, request.method)
    if allowed is None:
        return None
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        return problem_response(
            422, "Unprocessable Entity",
            f"Unknown query parameter: {', '.join(unknown)} (this endpoint takes: {known})",
            errors={name: ["Unknown field."] for name in unknown})
    return None


def allowed_query_names(app: Flask, rule: Any, method: str) -> frozenset[str] | None:
    """The query parameters an endpoint documents in the OpenAPI document; None where the
    request matched no route (the 404 comes later) or a documentation page."""
    if rule is None or request.blueprint in _DOC_BLUEPRINTS:
        return None
    table = app.extensions.get("tenure_query_names")
    if table is None:
        table = app.extensions["tenure_query_names"] = _documented_query_names(app)
    method = "get" if method == "HEAD" else method.lower()
    return table.get((_openapi_path(rule.rule), method), frozenset())


@functools.lru_cache(maxsize=1024)
def _openapi_path(rule: str) -> str:
    """/contracts/<contract_id> -> /contracts/{contract_id}, as flask-smorest writes it."""
    return _RULE_ARGUMENT.sub(r"{\1}", rule)


def _documented_query_names(app: Flask) -> dict[tuple[str, str], frozenset[str]]:
    api = app.extensions.get("tenure_api")
    if api is None:
        return {}
    table: dict[tuple[str, str], frozenset[str]] = {}
    for path, operations in api.spec.to_dict().get("paths", {}).items():
        shared = [p for p in operations.get("parameters", []) if p.get("in") == "query"]
        for method, operation in operations.items():
            if method == "parameters" or not isinstance(operation, dict):
                continue
            params = shared + [p for p in operation.get("parameters", [])
                               if isinstance(p, dict) and p.get("in") == "query"]
            table[(path, method)] = frozenset(p["name"] for p in params)
    return table


class _BadJson(ValueError):
    pass


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _BadJson(f"the number {text[:40]} is too large")
    return value


def _no_constant(name: str) -> Any:
    raise _BadJson(f"{name} is not JSON")


def _check_json_body() -> Response | None:
    if not request.is_json:
        return None
    raw = request.get_data(cache=True)
    if not raw.strip():
        return None
    try:
        data = json.loads(raw.decode("utf-8"), parse_float=_finite_float,
                          parse_constant=_no_constant)
    except RecursionError:
        return _too_deep()
    except UnicodeDecodeError:
        return problem_response(400, "Bad Request", "The body is not UTF-8",
                                errors={"body": ["not UTF-8"]})
    except ValueError as exc:  # JSONDecodeError, _BadJson, an integer of 4,300+ digits
        return problem_response(400, "Bad Request", "The body is not valid JSON",
                                errors={"body": [f"Invalid JSON body: {str(exc)[:200]}"]})
    return _check_json_value(data)


def _too_deep() -> Response:
    return problem_response(
        400, "Bad Request", f"The body nests arrays and objects deeper than {MAX_JSON_DEPTH}",
        errors={"body": [f"at most {MAX_JSON_DEPTH} levels of nesting"]})


def _check_json_value(data: Any) -> Response | None:
    """Walk the body without recursion: depth, and text every database can store."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth >= MAX_JSON_DEPTH:
                return _too_deep()
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, child in items:
                name = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and BAD_TEXT.search(key):
                    return _bad_text(BAD_TEXT.sub("?", name))
                stack.append((child, name, depth + 1))
        elif isinstance(value, str) and BAD_TEXT.search(value):
            return _bad_text(path or "body")
    return None


def _bad_text(name: str) -> Response:
    return problem_response(422, "Unprocessable Entity", f"{name} is not valid text",
                            errors={name: [BAD_TEXT_MESSAGE]})
