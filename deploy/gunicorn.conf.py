"""gunicorn settings for every Tenure service; each value can be overridden by environment.

- Two worker processes per CPU, two threads each (gthread). Python holds one lock per
  process while it runs, and our hot reads spend more time in Python than waiting on the
  database: four threads in one process queued on that lock, and bench/bench_contracts.py
  served GET one contract about 10% faster with 2 x CPUs workers of 2 threads than with
  CPUs workers of 4. The second thread keeps a worker busy while a request waits on I/O.
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
workers = int(os.environ.get("GUNICORN_WORKERS", 2 * multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
# Open connections one worker holds (kept-alive ones included). gunicorn's default, 1000,
# lets one worker take every connection a client opens at once; behind a load balancer with
# a few long-lived connections, a smaller figure spreads them over the workers.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
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
# Header and request-line limits (docs/input-limits.md). The app refuses any header over
# 16 KiB with a problem+json 431; gunicorn's own limit sits well above it so that answer is
# the one clients see. Only a header line over 64 KiB, more than 100 headers, or a request
# line over 8190 bytes gets gunicorn's own plain-text answer (431 / 414), before any app runs.
limit_request_field_size = int(os.environ.get("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", "65536"))
limit_request_fields = int(os.environ.get("GUNICORN_LIMIT_REQUEST_FIELDS", "100"))
limit_request_line = int(os.environ.get("GUNICORN_LIMIT_REQUEST_LINE", "8190"))


def on_starting(server):  # type: ignore[no-untyped-def]
    """Refuse an unsafe configuration before any worker forks (one clear line, exit 1), then
    start from an empty metrics directory (samples of a previous run would add up)."""
    _refuse_unsafe_configuration(server)
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)


def when_ready(server):  # type: ignore[no-untyped-def]
    """With METRICS_PORT set, /metrics leaves the API port for its own, served by the master
    from every worker's samples: scrapers need no route through the API's ingress."""
    port = int(os.environ.get("METRICS_PORT", "0") or 0)
    if port:
        from prometheus_client import CollectorRegistry, multiprocess, start_http_server

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        start_http_server(port, addr=os.environ.get("METRICS_BIND", "0.0.0.0"),
                          registry=registry)


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    """The app is built: keep its objects out of the collector's full passes (shared/heap.py)."""
    from shared.heap import freeze_startup_objects

    freeze_startup_objects()


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def _refuse_unsafe_configuration(server):  # type: ignore[no-untyped-def]
    """`services.<name>.wsgi:app` -> that service's settings; see Settings.refuse_unsafe."""
    import re
    import sys

    uri = getattr(server.app, "app_uri", None) or server.cfg.wsgi_app or ""
    match = re.fullmatch(r"services\.(\w+)\.wsgi:app", str(uri))
    if not match:
        return
    from shared.config import Settings, UnsafeConfiguration

    try:
        Settings.from_env(match.group(1)).refuse_unsafe()
    except UnsafeConfiguration as refusal:
        print(f"tenure: {refusal}", file=sys.stderr, flush=True)
        sys.exit(1)
