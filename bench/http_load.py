"""A small closed-loop HTTP load generator: N threads, keep-alive, latency percentiles.

Closed loop (each thread sends its next request when the previous one answers) measures the
server's capacity; every service and the bare-Flask ceiling are measured the same way in the
same run, so the ratio between them is what to read.
"""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# i -> (method, path, json body or None[, headers of this request only])
RequestFactory = Callable[[int], tuple[Any, ...]]


@dataclass
class LoadResult:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, round(p / 100 * (len(data) - 1)))]

    def row(self) -> str:
        return (f"{self.name:<34} {self.rate:>9.1f} req/s   p50 {self.pct(50):>7.2f} ms   "
                f"p99 {self.pct(99):>7.2f} ms   n={self.requests} errors={self.errors}")


def run_load(name: str, host: str, port: int, factory: RequestFactory, headers: dict[str, str],
             *, threads: int = 8, duration: float = 8.0, max_requests: int = 200_000,
             expect: tuple[int, ...] = (200, 201)) -> LoadResult:
    counter = iter(range(max_requests))
    lock = threading.Lock()
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + duration

    def worker() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection(host, port, timeout=30)
        local: list[float] = []
        local_errors = 0
        while time.monotonic() < deadline:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            method, path, body, *own = factory(i)
            payload = json.dumps(body).encode() if body is not None else None
            hdrs = {**headers, **(own[0] if own else {})}
            if payload is not None:
                hdrs["Content-Type"] = "application/json"
            start = time.perf_counter()
            try:
                conn.request(method, path, body=payload, headers=hdrs)
                resp = conn.getresponse()
                resp.read()
                ok = resp.status in expect
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=30)
                ok = False
            local.append((time.perf_counter() - start) * 1000)
            if not ok:
                local_errors += 1
        conn.close()
        with lock:
            latencies.extend(local)
            errors += local_errors

    started = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.monotonic() - started
    return LoadResult(name, len(latencies), errors, elapsed, latencies)


def summary(results: list[LoadResult]) -> str:
    return "\n".join(r.row() for r in results) + (
        f"\n(median of all: {statistics.median([r.rate for r in results]):.1f} req/s)"
        if results else "")
