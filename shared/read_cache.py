"""A per-process cache of rendered reads that PostgreSQL keeps honest with LISTEN/NOTIFY.

Why: after one-query reads, the database round trip is most of what a hot GET costs. Rows
that are read far more often than they change can be served from memory, provided every
change reaches every process. Triggers in the service's schema NOTIFY a channel with the key
of what changed ("*" for "anything may have"), inside the writing transaction, so the
notice is sent exactly when the change commits, whichever process or statement (ORM, Core,
COPY) made it. Each process listens on its own connection and drops what the notice names.

Safety rules, all enforced here:
- Nothing is cached while the listener is not connected, and everything is dropped when it
  (re)connects: a notice missed in between cannot leave a stale entry.
- A value read from the database is stored only if no notice (and no local write) arrived
  since before the read began (`generation`), so a read racing a write never caches the old
  version.
- The writing process drops its own cache when it commits (`Database.unit_of_work`), so a
  client reads its own writes through the same process without waiting for the notice.
Reads through another process may trail a commit by the time its notice takes to arrive
(bench/bench_read_cache.py: p50 0.13 ms, p99 0.4 ms on an idle server).

Reference entries (`get_kept`, `put_kept`) hold rows the service itself never changes once
written, such as the indicator library's definitions (it only grows): they are dropped by
the notices that name them, by a "*" notice and when the listener (re)connects, but not by
this process's own commits, which drop every other entry. A write path may use them where
its statement would only read such rows: every manager's signature checks its targets
against the library, and a busy process commits hundreds of times a second.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import MutableMapping
from typing import Any

import psycopg

log = logging.getLogger("tenure.read_cache")

EVERYTHING = "*"


def _drop(entries: MutableMapping[str, Any], key: str) -> None:
    """`key`; "*" everything, and "prefix:*" every key starting "prefix:"."""
    if key == EVERYTHING:
        entries.clear()
    elif key.endswith(":*"):
        prefix = key[:-1]
        for stale in [k for k in entries if k.startswith(prefix)]:
            del entries[stale]
    else:
        entries.pop(key, None)


class ReadCache:
    """Values by key, at most `max_entries` (least recently used go first)."""

    def __init__(self, connect_kwargs: dict[str, Any], channel: str,
                 max_entries: int = 20_000) -> None:
        if not channel.isidentifier():
            raise ValueError(f"not a channel name: {channel!r}")
        self.channel = channel
        self.max_entries = max_entries
        self._connect_kwargs = connect_kwargs
        self._entries: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0
        self._kept: dict[str, Any] = {}
        self._kept_generation = 0
        self._live = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.hits = 0
        self.misses = 0

    # --- the cache -----------------------------------------------------------------------

    def start(self) -> None:
        """Start listening (once); call it in the serving process, after any fork."""
        if self._thread is not None:  # the hot path: no lock once started
            return
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._listen, name=f"listen-{self.channel}",
                                            daemon=True)
            self._thread.start()

    def generation(self) -> int | None:
        """Take before reading the database; None while nothing may be cached."""
        with self._lock:
            return self._generation if self._live else None

    def get(self, key: str) -> Any:
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: str, value: Any, generation: int | None) -> bool:
        """Store `value`, read after `generation()` returned `generation`, if still current."""
        with self._lock:
            if generation is None or not self._live or generation != self._generation:
                return False
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            return True

    def invalidate(self, key: str = EVERYTHING) -> None:
        """Drop `key`; "*" drops everything, and "prefix:*" every key starting "prefix:"."""
        with self._lock:
            self._generation += 1
            _drop(self._entries, key)

    # --- reference entries ---------------------------------------------------------------

    def kept_generation(self) -> int | None:
        """Take before reading reference rows; None while nothing may be kept."""
        with self._lock:
            return self._kept_generation if self._live else None

    def get_kept(self, key: str) -> Any:
        """A reference entry, or None (also while the listener is not connected)."""
        with self._lock:
            return self._kept.get(key) if self._live else None

    def put_kept(self, key: str, value: Any, generation: int | None) -> bool:
        """Keep `value`, read after `kept_generation()` returned `generation`, if no notice
        arrived since. Unbounded: reference data is small (the library's few hundred rows)."""
        with self._lock:
            if generation is None or not self._live or generation != self._kept_generation:
                return False
            self._kept[key] = value
            return True

    def heard(self, key: str) -> None:
        """A notice from the database: what `invalidate` drops, and the reference entries it
        names ("*" or a "prefix:*" of theirs). Any notice refuses the reference values being
        read meanwhile (one it names may not be kept yet), so none is kept stale."""
        self.invalidate(key)
        with self._lock:
            self._kept_generation += 1
            _drop(self._kept, key)

    def _reset(self, *, live: bool) -> None:
        """Drop everything, and say whether values may be stored from now on."""
        with self._lock:
            self._entries.clear()
            self._generation += 1
            self._kept.clear()
            self._kept_generation += 1
            self._live = live

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def live(self) -> bool:
        return self._live

    def stop(self, wait: float = 0.0) -> None:
        """Stop listening; the thread ends within half a second (wait for it if asked)."""
        self._stop.set()
        self._reset(live=False)
        thread = self._thread
        if thread is not None and wait > 0:
            thread.join(wait)

    # --- the listener --------------------------------------------------------------------

    def _listen(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            try:
                with psycopg.connect(autocommit=True, **self._connect_kwargs) as conn:
                    conn.execute(f"LISTEN {self.channel}")
                    self._reset(live=True)  # notices before LISTEN were not heard
                    backoff = 0.1
                    while not self._stop.is_set():
                        for notice in conn.notifies(timeout=0.5):
                            self.heard(notice.payload or EVERYTHING)
            except Exception as exc:  # any failure: stop caching, then reconnect
                if not self._stop.is_set():
                    log.warning("read cache listener on %s lost its connection: %s",
                                self.channel, exc)
            finally:
                self._reset(live=False)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 5.0)
