"""Kafka client factories with the project's settings, and the retry backoff they share.

Clients are always built on demand (by the relay, a consumer or an ops call), never at import:
a client opens sockets and starts I/O threads, which must not be inherited across gunicorn's
fork. `api_version` is left unset so kafka-python negotiates it with the broker it finds.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.partitioner.default import DefaultPartitioner, murmur2

log = logging.getLogger("tenure.kafka")

# The producer of outbox events. Idempotence (kafka-python 3 turns it on by default; we ask
# for it explicitly so a conflicting setting raises instead of silently disabling it) makes
# the broker drop retried duplicates and keeps order within a partition with up to five
# requests in flight, so one manager's events stay in order without max_in_flight=1.
PRODUCER_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "max_in_flight_requests_per_connection": 5,
    "linger_ms": 5,
    "batch_size": 256 * 1024,
    "request_timeout_ms": 10_000,
    # A record not acknowledged within this time fails its future; the relay then leaves its
    # row unsent and tries again later. Must be >= request_timeout_ms + linger_ms.
    "delivery_timeout_ms": 30_000,
    "max_block_ms": 10_000,
    "bootstrap_timeout_ms": 5_000,
    # kafka-python backs off reconnects up to 30 s by default: after a broker restart that
    # is up to 30 s of needless delay. Two seconds is cheap and recovers fast.
    "reconnect_backoff_max_ms": 2_000,
}

# Offsets are committed by hand, after the database transaction that applied the events.
CONSUMER_DEFAULTS: dict[str, Any] = {
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    "max_poll_records": 200,
    "session_timeout_ms": 10_000,
    "heartbeat_interval_ms": 3_000,
    # The broker answers a fetch once it has 256 KiB for it or after 100 ms. With the
    # default of one byte, a consumer fed a trickle (a group's signing) polled a handful of
    # events at a time, and each poll paid its own transaction, reads and offset commit:
    # about half the consumers' CPU per event, for 100 ms at most of added latency
    # (docs/scale.md, "Fewer, fuller batches while events trickle in"). 32 KiB still came
    # back every 30-40 ms while a group signs; 256 KiB lets the 100 ms decide, the bound of
    # the added latency unchanged, and a backlog fills a poll at once either way.
    "fetch_min_bytes": 256 * 1024,
    "fetch_max_wait_ms": 100,
    "request_timeout_ms": 30_000,
    "bootstrap_timeout_ms": 5_000,
    "reconnect_backoff_max_ms": 2_000,
}

ADMIN_DEFAULTS: dict[str, Any] = {
    "request_timeout_ms": 10_000,
    "bootstrap_timeout_ms": 5_000,
    "reconnect_backoff_max_ms": 2_000,
}


_crc_checked = False


def _warn_without_native_crc() -> None:
    """Kafka record batches carry a CRC-32C. Without the `crc32c` C extension kafka-python
    computes it in pure Python, which measured ~10x slower on both produce and fetch here.
    Installed with `kafka-python[crc32c]`; we only warn, the clients still work without it."""
    global _crc_checked
    if _crc_checked:
        return
    _crc_checked = True
    try:
        import crc32c  # noqa: F401
    except ImportError:
        log.warning("the crc32c extension is missing: Kafka throughput will be ~10x lower "
                    "(install kafka-python[crc32c])")


def bootstrap_list(bootstrap_servers: str | Sequence[str]) -> list[str]:
    """Accept "host:port,host:port" (as in an environment variable) or a list."""
    if isinstance(bootstrap_servers, str):
        return [s.strip() for s in bootstrap_servers.split(",") if s.strip()]
    return [str(s) for s in bootstrap_servers]


class KeyHashPartitioner(DefaultPartitioner):
    """The default partitioner's choice (murmur2 of the key, as the Java client, so a
    manager's events stay on one partition whoever produces them), with each key's hash
    kept: kafka-python computes murmur2 in Python (py-spy put it at a tenth of the outbox
    relay's samples while a group signed), and a manager's events share their key (three
    for a signature, sent together): 5.3 us an event by the default, 2.2 us with the hash
    kept, for keys in threes. At most `MAX_KEYS` hashes are kept; then they are dropped and
    found again."""

    MAX_KEYS = 65_536

    def __init__(self) -> None:
        self._hashes: dict[bytes, int] = {}

    def partition(self, topic: str, key: Any, serialized_key: bytes | None, value: Any,
                  serialized_value: bytes | None, cluster: Any) -> int:
        if serialized_key is None or topic not in cluster.topics():
            # No key: a random partition; an unknown topic: the default's error.
            return int(super().partition(topic, key, serialized_key, value,
                                         serialized_value, cluster))
        hashed = self._hashes.get(serialized_key)
        if hashed is None:
            if len(self._hashes) >= self.MAX_KEYS:
                self._hashes.clear()
            hashed = self._hashes[serialized_key] = murmur2(serialized_key) & 0x7FFFFFFF
        partitions = sorted(cluster.partitions_for_topic(topic))
        return int(partitions[hashed % len(partitions)])


def make_producer(bootstrap_servers: str | Sequence[str], *, client_id: str | None = None,
                  **overrides: Any) -> KafkaProducer:
    """A producer sending bytes as given (callers encode keys and values themselves)."""
    _warn_without_native_crc()
    config = {"partitioner": KeyHashPartitioner(), **PRODUCER_DEFAULTS, **overrides}
    if client_id:
        config["client_id"] = client_id
    return KafkaProducer(bootstrap_servers=bootstrap_list(bootstrap_servers), **config)


def make_consumer(bootstrap_servers: str | Sequence[str], group_id: str | None,
                  topics: Iterable[str] = (), *, client_id: str | None = None,
                  **overrides: Any) -> KafkaConsumer:
    """A consumer receiving raw bytes; subscribed to `topics` when given."""
    _warn_without_native_crc()
    config = {**CONSUMER_DEFAULTS, **overrides}
    if client_id:
        config["client_id"] = client_id
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_list(bootstrap_servers),
                             group_id=group_id, **config)
    topics = list(topics)
    if topics:
        consumer.subscribe(topics)
    return consumer


def make_admin(bootstrap_servers: str | Sequence[str], **overrides: Any) -> KafkaAdminClient:
    config = {**ADMIN_DEFAULTS, **overrides}
    return KafkaAdminClient(bootstrap_servers=bootstrap_list(bootstrap_servers), **config)


def ensure_topics(bootstrap_servers: str | Sequence[str], names: Iterable[str], *,
                  partitions: int = 3, replication_factor: int = 1) -> list[str]:
    """Create the topics that do not exist yet; returns the names it created."""
    admin = make_admin(bootstrap_servers)
    try:
        existing = set(admin.list_topics())
        missing = [n for n in dict.fromkeys(names) if n not in existing]
        if missing:
            spec = {"num_partitions": partitions, "replication_factor": replication_factor}
            # raise_errors=False: a topic created meanwhile by someone else is not an error.
            admin.create_topics({n: dict(spec) for n in missing}, raise_errors=False)
            admin.wait_for_topics(missing, timeout_ms=15_000)
        return missing
    finally:
        admin.close()


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff, capped: 0.2 s, 0.4 s, 0.8 s ... up to `maximum`."""

    initial: float = 0.2
    maximum: float = 5.0
    factor: float = 2.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1 = the first retry)."""
        return min(self.maximum, self.initial * self.factor ** max(0, attempt - 1))


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        chunks.extend(chunk)
    return bytes(chunks)


def _metadata_broker_count(host: str, port: int, timeout: float) -> int:
    # Metadata v7 (non-flexible, within every Kafka >= 2.1) asking for no topics: the reply
    # starts with correlation id, throttle time and the broker array's length.
    client = b"tenure-probe"
    body = struct.pack(">hhih", 3, 7, 1, len(client)) + client + struct.pack(">ib", 0, 0)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(body)) + body)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        payload = _recv_exact(sock, size)
    _correlation, _throttle, brokers = struct.unpack(">iii", payload[:12])
    return int(brokers)


def probe_broker(bootstrap_servers: str | Sequence[str], timeout: float = 2.0
                 ) -> tuple[bool, str]:
    """Does any bootstrap server answer a Metadata request listing at least one broker?

    A raw request on a plain socket, deliberately not a kafka-python client: a client whose
    bootstrap fails leaves its I/O thread behind, so probing with one in a retry loop (or a
    readiness endpoint) while the broker is down would leak a thread per attempt.
    """
    errors = []
    deadline = time.monotonic() + timeout
    for server in bootstrap_list(bootstrap_servers):
        host, _, port = server.rpartition(":")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            brokers = _metadata_broker_count(host.strip("[]") or "localhost", int(port),
                                             remaining)
        except (OSError, ValueError, struct.error) as exc:
            errors.append(f"{server}: {exc or type(exc).__name__}")
            continue
        if brokers > 0:
            return True, f"{server} answers ({brokers} broker{'s' if brokers > 1 else ''})"
        errors.append(f"{server}: no broker registered yet")
    return False, "; ".join(errors) or "no bootstrap server"


def stop_on_signals(stop_event: threading.Event) -> None:
    """SIGTERM/SIGINT set `stop_event`: the loop finishes its current work, commits, exits.

    Only the main thread may install signal handlers; elsewhere (a test thread) this is a
    no-op and the caller sets the event itself.
    """
    if threading.current_thread() is not threading.main_thread():
        return

    def _request_stop(signum: int, _frame: object) -> None:
        log.info("stop requested by signal %s", signal.Signals(signum).name)
        stop_event.set()

    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)


def serve_metrics(port: int | None) -> None:
    """Expose /metrics of a relay or consumer process (they have no web app of their own);
    the port comes from the caller or METRICS_PORT."""
    port = port or int(os.environ.get("METRICS_PORT") or 0) or None
    if port:
        from prometheus_client import start_http_server

        start_http_server(port)
