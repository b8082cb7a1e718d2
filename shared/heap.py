"""A long-running process's start-up objects, kept out of the collector's full passes.

A service process builds its app once: Flask and its routes, SQLAlchemy's mappers, the
marshmallow schemas, every module imported. These are well over 100,000 objects that live as
long as the process. CPython's full collection walks every tracked object, so every so often
one request, or one batch of a consumer, pays tens of milliseconds for walking objects that
can never be garbage: the coverage report at 100,000 managers took 80-90 ms longer on one
call in eight (docs/scale.md). `gc.freeze()` moves the objects alive now into a permanent
generation the collector never walks; everything made afterwards is collected as before.

Called once a process is ready to serve (gunicorn's `post_worker_init`, the consumers', relays'
and workers' loops), after a collection so that no garbage of the start-up is kept for good.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> int:
    """Collect, then freeze what survives; returns how many objects are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
