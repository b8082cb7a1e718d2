"""CPU time and memory of running processes from /proc, for benches that set one figure against
another on a shared machine (wall time moves with the rest of the load; CPU time much less).
No imports of the project: a bench that serves another checkout (`--repo`) can use it."""

from __future__ import annotations

import os
from collections.abc import Iterator


def _stats() -> Iterator[tuple[int, list[str]]]:
    """Every process's pid and the fields of its /proc/<pid>/stat after the command name
    (field 3, the state, first), as /proc has them now."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        yield int(entry.name), [field.decode() for field in fields]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, its children and the session it leads (a gunicorn
    master and its workers, a PostgreSQL server and its backends), as /proc has them now:
    the CPU of a child that has exited is not counted."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for own, fields in _stats():
        if pid in (own, int(fields[1]), int(fields[3])):  # itself, ppid, session
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def rss_by_session() -> dict[int, int]:
    """The largest resident set of each session's processes, in bytes (a service started in
    a session of its own counts as one: a gunicorn master and its workers, PostgreSQL and
    its backends), from one pass over /proc."""
    page = os.sysconf("SC_PAGE_SIZE")
    peaks: dict[int, int] = {}
    for _, fields in _stats():
        sid, rss = int(fields[3]), int(fields[21]) * page  # session id, resident pages
        peaks[sid] = max(peaks.get(sid, 0), rss)
    return peaks
