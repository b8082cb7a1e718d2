"""HTTP helpers every service's API uses: the database of the app, ETags, pages."""

from __future__ import annotations

import re
from typing import Any

import orjson
from flask import Response, current_app, request

from shared.db import Database
from shared.errors import ApiProblem
from shared.fields import page_info

# "v" and a row version: ASCII digits, at most what a database integer holds (10 digits).
ETAG = re.compile(r"^v[0-9]{1,10}$")


def db() -> Database:
    return current_app.extensions["tenure_db"]


def etag_of(row_version: int) -> str:
    """ETags are the row's version, so a stale If-Match is one integer comparison."""
    return f'"v{row_version}"'


def if_match(required: bool = False) -> int | None:
    """The row version the client read, from If-Match: "v<n>" (as our ETags are)."""
    header = request.headers.get("If-Match")
    if header is None:
        if required:
            raise ApiProblem(428, "Precondition Required",
                             "Send If-Match with the ETag you read, so no change is lost",
                             errors={"If-Match": ["required"]})
        return None
    value = header.strip().removeprefix("W/").strip('"')
    if not ETAG.match(value):
        raise ApiProblem(400, "Bad Request", "If-Match must be an ETag this API returned",
                         errors={"If-Match": ["not an ETag of this API"]})
    return int(value[1:])


def with_etag(body: Any, row_version: int, status: int = 200,
              location: str | None = None) -> tuple[Any, int, dict[str, str]]:
    headers = {"ETag": etag_of(row_version)}
    if location:
        headers["Location"] = location
    return body, status, headers


def page_of(page: Any, query: dict[str, Any], items: list[Any]) -> dict[str, Any]:
    return {"items": items, "page": page_info(query["page"], query["page_size"], page.total)}


def json_response(body: Any, status: int = 200, *, etag: int | None = None,
                  location: str | None = None) -> Response:
    """A body already in its documented shape, sent as it is: no schema dump on the way out.

    For the hottest reads only, where the dump costs more than the query; the endpoint's
    response schema still documents the shape, and a test holds the two together. Bytes are
    taken as JSON already encoded (a cached read). orjson
    encodes it (several times faster than the json module) and splices in orjson.Fragment
    values, JSON stored in the database, without parsing them.
    """
    # A trailing newline, as Flask's own JSON responses end, so curl output stays one per line.
    encoded = (body + b"\n" if isinstance(body, bytes)
               else orjson.dumps(body, option=orjson.OPT_APPEND_NEWLINE))  # no second copy
    resp = current_app.response_class(encoded, status=status, mimetype="application/json")
    if etag is not None:
        resp.headers["ETag"] = etag_of(etag)
    if location:
        resp.headers["Location"] = location
    return resp
