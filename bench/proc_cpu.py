"""CPU time and memory of running processes from /proc, for benches that set one figure against
another on a shared machine (wall time moves with the rest of the load; CPU time much less).
No imports of the project: a bench that serves another checkout (`--repo`) can use it."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping


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


def cpu_by_root(roots: Mapping[str, int]) -> dict[str, float]:
    """User + system CPU seconds of each named process (`roots`: name -> pid) with every
    process below it, and the children they have waited for, as /proc has them now: a bench
    takes two of these and sets one against the other.

    A process belongs to the first root found among itself and its ancestors, or to the root
    whose session it is in: a gunicorn master's workers, and PostgreSQL's backends, which
    leave the server's session (each calls setsid) but stay its children. An exited child's
    CPU counts with the parent that reaped it (cutime, cstime)."""
    tick = os.sysconf("SC_CLK_TCK")
    procs = {pid: (int(f[1]), int(f[3]), sum(int(x) for x in f[11:15])) for pid, f in _stats()}
    names = {pid: name for name, pid in roots.items()}
    totals = dict.fromkeys(roots, 0)
    for pid, (_, sid, ticks) in procs.items():
        at, seen = pid, 0
        while at in procs and at not in names and seen < 64:  # up to init, or a root
            at, seen = procs[at][0], seen + 1
        name = names.get(at) or names.get(sid)
        if name is not None:
            totals[name] += ticks
    return {name: ticks / tick for name, ticks in totals.items()}


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy since boot (/proc/stat: user,
    nice, system, irq, softirq, steal): whatever ran, measured or not."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
