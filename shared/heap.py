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

The same call raises the youngest generation's threshold from CPython's 700 allocations to
`YOUNG_THRESHOLD`. A request or a batch keeps its ORM objects, rows and event dicts alive
until it ends: at 700 the collector walked them again and again while they were still in use
and moved them to older generations, which it then walked too, to find almost no garbage
(reference counting frees nearly everything). In process, a manager's signature spent 1.3 %
of its CPU in collections at 700 and 0.4 % at 10,000 (bench/profile_signing.py with
`gc.callbacks` timing every pass; docs/scale-signing-cpu.md). Cycles are still collected,
a little later: at most this many more tracked objects wait for their pass.
"""

from __future__ import annotations

import gc

#: Allocations of tracked objects (less deallocations) that start a young collection.
YOUNG_THRESHOLD = 10_000


def freeze_startup_objects() -> int:
    """Collect, then freeze what survives, and collect the young generation less often from
    now on; returns how many objects are frozen."""
    gc.collect()
    gc.freeze()
    collect_young_less_often()
    return gc.get_freeze_count()


def collect_young_less_often() -> None:
    """The young threshold alone, for a process that is not to freeze anything (a run's
    scorers, spawned by the pool of an API worker, which froze its own at start-up)."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
