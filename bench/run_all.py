"""`make bench`: every benchmark in turn; each prints its own figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["bench_contracts.py", "bench_events.py", "bench_appraisal.py",
           "bench_notifications.py",
           # The delivery worker's e-mails/s against bare smtplib on one connection.
           "bench_delivery.py",
           "bench_read_cache.py", "bench_portal.py",
           # 1 and then 2 processes for the run, the consumer and the delivery worker.
           "bench_scaleout.py",
           # The whole year for 100,000 managers (its default size), every service a process.
           "bench_cycle.py"]


def main() -> int:
    failed = []
    for name in BENCHES:
        if not (HERE / name).exists():
            continue
        print(f"\n===== {name} =====", flush=True)
        if subprocess.run([sys.executable, str(HERE / name)], check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
