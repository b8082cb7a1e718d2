"""gunicorn settings for every Tenure service; each value can be overridden by environment.

- Threads over processes: requests spend their time waiting on the database, so a few
  threaded workers (gthread) serve more than many sync workers, at a fraction of the memory.
- No preload: each worker builds its app, engine and Kafka clients after the fork, so no
  socket or connection pool is shared between processes.
- Workers recycle after max_requests (with jitter) to bound any slow leak.
"""

import multiprocessing
import os
import shutil
import tempfile

# Every worker writes its Prometheus samples here and /metrics sums them, so a scrape sees
# the whole server rather than whichever worker answered. Set before any worker imports
# prometheus_client.
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix=f"tenure-metrics-{os.getpid()}-")
)

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("GUNICORN_WORKERS", max(2, multiprocessing.cpu_count())))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "1000"))
preload_app = False
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "warning")
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server):  # type: ignore[no-untyped-def]
    """Start from an empty metrics directory (samples of a previous run would add up)."""
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
