"""bench/proc_cpu.py: the year's bench says how much CPU each process spent in each stage;
the figures must count a session's processes, and the children they waited for, once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import proc_cpu

BURN = "import time\nwhile time.process_time() < {seconds}: pass\n"


def test_a_root_counts_everything_below_it_once() -> None:
    # The root burns 0.2 s of CPU itself; a child of it leaves its session (as a PostgreSQL
    # backend does) and burns 0.5 s, still running when measured; another burns 0.5 s and
    # exits, waited for. 1.2 s and the interpreters' start-ups; either child twice is 1.7.
    live = BURN.format(seconds=0.5) + "print('ready', flush=True)\nimport sys\nsys.stdin.read()\n"
    done = BURN.format(seconds=0.5)
    root = (BURN.format(seconds=0.2) + "import subprocess, sys\n"
            f"subprocess.run([sys.executable, '-c', {done!r}], check=True)\n"
            f"live = subprocess.Popen([sys.executable, '-c', {live!r}], start_new_session=True,"
            " stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)\n"
            "print(live.stdout.readline(), end='', flush=True)\nsys.stdin.read()\n"
            "live.stdin.close()\nlive.wait()\n")
    proc = subprocess.Popen([sys.executable, "-c", root], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        spent = proc_cpu.cpu_by_root({"root": proc.pid, "this test": os.getpid()})
        assert 1.15 <= spent["root"] < 1.65, spent
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait()


def test_the_machine_busy_time_grows_by_at_least_what_this_process_burns() -> None:
    before, own = proc_cpu.machine_busy_seconds(), time.process_time()
    while time.process_time() < own + 0.3:
        pass
    assert proc_cpu.machine_busy_seconds() - before >= 0.25
