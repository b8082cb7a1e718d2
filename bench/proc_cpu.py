"""CPU time of running processes from /proc, for benches that set one figure against
another on a shared machine (wall time moves with the rest of the load; CPU time much less).
No imports of the project: a bench that serves another checkout (`--repo`) can use it."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, its children and the session it leads (a gunicorn
    master and its workers, a PostgreSQL server and its backends), as /proc has them now:
    the CPU of a child that has exited is not counted."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if pid in (int(entry.name), int(fields[1]), int(fields[3])):  # itself, ppid, session
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick
