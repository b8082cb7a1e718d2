"""A WSGI app that answers how many objects its process has frozen (gc.get_freeze_count) and
the young generation's threshold, so a test can see that gunicorn's worker hooks in
deploy/gunicorn.conf.py ran."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from typing import Any


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = f"{gc.get_freeze_count()} {gc.get_threshold()[0]}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
