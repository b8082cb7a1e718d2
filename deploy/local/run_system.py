"""`make run`: the whole system on one machine: Kafka, every service, its relay and consumer.

Everything runs on the embedded defaults (SQLite files and a Kafka broker under var/), each
as a real process, the way they run in containers. Ctrl-C stops everything cleanly.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from services.portal.config import PORTAL_PORT  # noqa: E402
from shared.auth import issue_token  # noqa: E402
from shared.config import DEFAULT_PORTS, DEV_JWT_SECRET  # noqa: E402

# The background processes each service runs beside its API (flask commands of its CLI).
WORKERS = {
    "contracts": ["relay", "consume"],
    "appraisal": ["relay", "consume"],
    "notifications": ["relay", "consume", "deliver"],
}


# Scheduled jobs (one-shot flask commands): run at start, then every interval (seconds; the
# environment variable overrides the daily default), as the Kubernetes CronJobs do.
SCHEDULED = {
    "appraisal": [("close-appeal-windows", "APPEAL_WINDOWS_INTERVAL_SECONDS", 24 * 3600)],
}


@dataclass
class ScheduledJob:
    name: str
    argv: list[str]
    interval: float  # seconds between runs
    due: float = 0.0  # time.monotonic() of the next run: 0 runs it at start


def _available_commands(service: str, env: dict[str, str]) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-m", "flask", "--app", f"services.{service}:create_app", "--help"],
        cwd=REPO, env=env, capture_output=True, text=True, check=False,
    ).stdout
    return {line.split()[0] for line in out.split("Commands:")[-1].splitlines() if line.strip()}


def _wait_ready(url: str, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def main() -> int:
    import local_kafka

    var = Path(os.environ.get("TENURE_VAR_DIR", REPO / "var"))
    var.mkdir(parents=True, exist_ok=True)
    (var / "logs").mkdir(exist_ok=True)
    services = [s for s in DEFAULT_PORTS if (REPO / "services" / s / "wsgi.py").exists()]
    kafka_port = int(os.environ.get("KAFKA_PORT", "9092"))
    print(f"Starting Kafka on 127.0.0.1:{kafka_port} (data in {var / 'kafka'}) ...", flush=True)
    broker = local_kafka.LocalKafka(port=kafka_port, data_dir=var / "kafka")
    broker.start()
    from shared.events.catalogue import TOPICS

    local_kafka.create_topics(broker.bootstrap_servers, TOPICS, partitions=3)
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
           "TENURE_VAR_DIR": str(var), "PYTHONPATH": str(REPO), "LOG_JSON": "true"}
    # `make run` is development: the embedded dev secret is accepted here and nowhere else.
    env.setdefault("TENURE_ENV", "development")
    env.setdefault("JWT_SECRET", DEV_JWT_SECRET)
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(name: str, args: list[str], extra: dict[str, str]) -> None:
        log = open(var / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - lives with the child
        procs.append((name, subprocess.Popen(args, cwd=REPO, env={**env, **extra},
                                             stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True)))

    stopping = False
    schedule: list[ScheduledJob] = []
    jobs: dict[str, subprocess.Popen[bytes]] = {}  # the runs in flight, by job name

    def run_due_jobs() -> None:
        now = time.monotonic()
        for job in schedule:
            running = jobs.get(job.name)
            if (running is not None and running.poll() is None) or now < job.due:
                continue  # never two runs of one job at once
            log = open(var / "logs" / f"{job.name}.log", "ab")  # noqa: SIM115 - the child's
            jobs[job.name] = subprocess.Popen(job.argv, cwd=REPO, env=env, stdout=log,
                                              stderr=subprocess.STDOUT, start_new_session=True)
            job.due = now + job.interval

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        if "SMTP_HOST" not in os.environ:
            # A local mail sink, so e-mail notices are really sent over SMTP and can be read
            # in var/logs/smtp-sink.log; point SMTP_* at a real server to send for real.
            smtp_port = os.environ.get("SMTP_SINK_PORT", "8025")
            spawn("smtp-sink", [sys.executable, "-m", "aiosmtpd", "-n", "-d", "-c",
                                "aiosmtpd.handlers.Debugging", "-l", f"127.0.0.1:{smtp_port}"],
                  {})
            env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_port, SMTP_STARTTLS="false")
        for service in services:
            app = f"services.{service}:create_app"
            subprocess.run([sys.executable, "-m", "flask", "--app", app, "migrate"], cwd=REPO,
                           env=env, check=True)
            port = os.environ.get(f"{service.upper()}_PORT", str(DEFAULT_PORTS[service]))
            spawn(f"{service}-api", [sys.executable, "-m", "gunicorn", "-c",
                                     "deploy/gunicorn.conf.py", f"services.{service}.wsgi:app"],
                  {"PORT": port, "GUNICORN_WORKERS": os.environ.get("GUNICORN_WORKERS", "2")})
            available = _available_commands(service, env)
            for job, variable, default in SCHEDULED.get(service, []):
                if job in available:
                    every = float(os.environ.get(variable, default))
                    schedule.append(ScheduledJob(
                        f"{service}-{job}", [sys.executable, "-m", "flask", "--app", app, job],
                        every))
            for worker in WORKERS.get(service, []):
                if worker in available:
                    spawn(f"{service}-{worker}",
                          [sys.executable, "-m", "flask", "--app", app, worker], {})
        # The web portal: pages for HR staff and managers over the three APIs.
        portal_port = os.environ.get("PORTAL_PORT", str(PORTAL_PORT))
        spawn("portal", [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py",
                         "services.portal.wsgi:app"],
              {"PORT": portal_port, "GUNICORN_WORKERS": "2",
               # one key for every worker, so a login holds whichever worker answers
               "PORTAL_SECRET_KEY": env.get("PORTAL_SECRET_KEY") or secrets.token_urlsafe(32)})
        print()
        for service in services:
            port = os.environ.get(f"{service.upper()}_PORT", str(DEFAULT_PORTS[service]))
            ok = _wait_ready(f"http://127.0.0.1:{port}/readyz")
            print(f"  {service:<14} http://127.0.0.1:{port}   docs: "
                  f"http://127.0.0.1:{port}/docs   {'ready' if ok else 'NOT READY (see logs)'}")
        ok = _wait_ready(f"http://127.0.0.1:{portal_port}/healthz")
        print(f"  {'portal':<14} http://127.0.0.1:{portal_port}   (demo login: pick a person)"
              f"   {'ready' if ok else 'NOT READY (see logs)'}")
        print(f"  {'kafka':<14} {broker.bootstrap_servers}")
        print(f"  {'smtp':<14} {env.get('SMTP_HOST')}:{env.get('SMTP_PORT')}")
        print(f"  logs           {var / 'logs'}")
        for job in schedule:
            print(f"  {job.name:<14} at start, then every {job.interval / 3600:g} h")
        token = issue_token(env["JWT_SECRET"], "dev-hr", ["hr_admin"], ttl_seconds=24 * 3600)
        print(f"\nDev token (hr_admin, whole group, 24 h):\n  export TOKEN={token}\n")
        print("Press Ctrl-C to stop everything.", flush=True)
        while not stopping:
            run_due_jobs()
            for name, proc in procs:
                if proc.poll() is not None:
                    print(f"{name} exited with {proc.returncode}; see {var / 'logs'}/{name}.log")
                    stopping = True
            time.sleep(0.5)
    finally:
        print("\nStopping ...", flush=True)
        for run in jobs.values():
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGTERM)
        for _, proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _, proc in reversed(procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        broker.stop()
        print("Stopped.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
