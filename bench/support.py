"""Helpers the benchmarks share: free ports, processes, waiting, wrk."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "deploy" / "local"))
# A bench runs on this machine with the dev secret: development mode (docs/identity.md).
os.environ.setdefault("TENURE_ENV", "development")


@contextmanager
def contracts_server(name: str) -> Iterator[tuple[Any, str]]:
    """A throwaway PostgreSQL server with one database holding the contracts schema, reached
    over its Unix socket as a service on the database host would: the server (for its CPU)
    and the database's SQLAlchemy URL."""
    import local_postgres

    from shared.migrations import upgrade

    with local_postgres.LocalPostgres() as pg:
        pg.create_database(name)
        url = pg.socket_url_for(name)
        upgrade(REPO / "services/contracts/migrations", url)
        yield pg, url


@contextmanager
def contracts_database(name: str) -> Iterator[str]:
    """`contracts_server`'s database URL alone."""
    with contracts_server(name) as (_, url):
        yield url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gunicorn(app: str, port: int, env: dict[str, str], workers: int = 2,
             log: Path | None = None, worker_connections: int | None = None,
             repo: Path = REPO) -> subprocess.Popen[bytes]:
    """`app` served from `repo` (another checkout of the project, for an A/B comparison)."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(repo / "deploy" / "gunicorn.conf.py"), app],
        cwd=repo, env={**os.environ, "PYTHONPATH": str(repo), **env, "PORT": str(port),
                       "GUNICORN_BIND": f"127.0.0.1:{port}",
                       "GUNICORN_WORKERS": str(workers),
                       # No recycling mid-run: a restarting worker would cost whichever
                       # endpoint is being measured a second of start-up.
                       "GUNICORN_MAX_REQUESTS": "0",
                       **({"GUNICORN_WORKER_CONNECTIONS": str(worker_connections)}
                          if worker_connections else {})},
        stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )
    wait_http(f"http://127.0.0.1:{port}/healthz" if "services" in app
              else f"http://127.0.0.1:{port}/bare")
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    import signal

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def ensure_wrk() -> str | None:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        found = shutil.which("wrk")
        if not found:
            subprocess.run(["apt-get", "update", "-qq"], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return shutil.which("wrk")


def wrk(url: str, headers: dict[str, str], *, seconds: int = 8, connections: int = 16,
        threads: int = 2, script: Path | None = None) -> dict[str, float]:
    """req/s, p50 and p99 (ms) as wrk measures them (latency distribution)."""
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    if script:
        args += ["-s", str(script)]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M)
        if not m:
            return float("nan")
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rate": rate, "p50": pct("50"), "p99": pct("99"),
            "errors": float(non2xx.group(1)) if non2xx else 0.0}


#: Where Debian's postfix package puts smtp-sink; /usr/sbin is not on every user's PATH.
SMTP_SINK_PATHS = ("smtp-sink", "/usr/sbin/smtp-sink")


def smtp_sink_command(port: int) -> tuple[list[str], str]:
    """The command of an SMTP server on 127.0.0.1:`port` that takes every message and throws
    it away, and the name the bench prints for it.

    Postfix's `smtp-sink` (written in C; `make bench` installs Debian's postfix for it, with
    no mail system configured) when it is there: it stands in for the group's mail relay,
    which in a deployment does not share the services' cores. It spends about 0.055 ms of CPU
    a message where aiosmtpd's Sink, in Python, spends about 0.475 (10,000 messages over four
    sessions, docs/scale-delivery.md): at 100,000 managers aiosmtpd took about 120 s of the
    year's CPU on the two cores. Without it, aiosmtpd's Sink, as before.
    """
    found = next((path for path in map(shutil.which, SMTP_SINK_PATHS) if path), None)
    if found is None:
        return ([sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink",
                 "-l", f"127.0.0.1:{port}"], "aiosmtpd Sink (Python)")
    # smtp-sink refuses to run as root unless told whose privileges to take after binding.
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    # 256: the listen backlog, smtp-sink's last argument.
    return [found, *user, "-4", f"127.0.0.1:{port}", "256"], "Postfix smtp-sink (C)"


def bare_smtp_seconds(host: str, port: int, messages: list[Any], connections: int) -> float:
    """Seconds to send `messages` with bare smtplib, dealt over `connections` sessions at
    once as the delivery worker deals a batch (`worker.deal`, a thread a session): the
    ceiling of the worker's e-mail rate, the SMTP dialogue and nothing else. Dealt here, not
    by `deal` itself: `bench_delivery.py --code` measures other checkouts' workers against
    this same ceiling."""
    import smtplib
    from concurrent.futures import ThreadPoolExecutor

    def send(lane: list[Any]) -> None:
        with smtplib.SMTP(host, port, timeout=30) as conn:
            conn.ehlo()
            for message in lane:
                conn.send_message(message)

    lanes = [lane for lane in (messages[i::connections] for i in range(connections)) if lane]
    started = time.perf_counter()
    with ThreadPoolExecutor(max(1, len(lanes))) as pool:
        for done in [pool.submit(send, lane) for lane in lanes]:
            done.result()
    return time.perf_counter() - started
