"""Relay and runtime rules that need no broker: what a partly failed batch may mark sent."""

from __future__ import annotations

import socket
import time
from types import SimpleNamespace
from typing import Any

import pytest

from shared import ops
from shared.kafka_clients import Backoff, bootstrap_list, probe_broker
from shared.relay import relay_lock_key, rows_to_mark


class _Future:
    def __init__(self, ok: bool | None) -> None:
        self.is_done = ok is not None
        self._ok = bool(ok)
        self.exception = None if ok else RuntimeError("broker said no")

    def succeeded(self) -> bool:
        return self.is_done and self._ok


def _classify(outcomes: list[tuple[str | None, bool | None]]) -> tuple[list[int], Any]:
    rows = [SimpleNamespace(id=i + 1, key=key) for i, (key, _) in enumerate(outcomes)]
    futures = [_Future(ok) for _, ok in outcomes]
    return rows_to_mark(rows, futures)


def test_rows_before_the_first_failure_are_marked_sent() -> None:
    sent, failures = _classify([("a", True), ("b", True), ("a", False)])
    assert sent == [1, 2]
    assert list(failures.values()) == [[3]]


def test_a_later_row_with_the_failed_rows_key_is_not_marked_even_if_delivered() -> None:
    sent, _ = _classify([("a", False), ("a", True), ("a", True)])
    assert sent == []


def test_later_rows_of_other_keys_are_marked_when_delivered() -> None:
    sent, failures = _classify([("a", True), ("a", False), ("b", True), ("a", True),
                                ("c", True)])
    assert sent == [1, 3, 5]
    assert sorted(i for ids in failures.values() for i in ids) == [2]


def test_an_unacknowledged_row_counts_as_failed() -> None:
    sent, failures = _classify([("a", None), ("a", True)])
    assert sent == []
    assert list(failures) == ["not acknowledged in time"]


def test_rows_without_key_share_one_ordering_group() -> None:
    sent, _ = _classify([(None, False), (None, True), ("a", True)])
    assert sent == [3]


def test_backoff_doubles_from_the_initial_delay_and_stops_at_the_cap() -> None:
    backoff = Backoff(0.2, 5.0)
    assert [backoff.delay(n) for n in range(1, 8)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]


def test_bootstrap_servers_from_an_environment_string_or_a_list() -> None:
    assert bootstrap_list(" a:9092, b:9093 ,") == ["a:9092", "b:9093"]
    assert bootstrap_list(["a:1"]) == ["a:1"]


def test_relay_lock_key_is_stable_per_outbox_table_and_fits_a_bigint() -> None:
    first = relay_lock_key(SimpleNamespace(name="outbox"))  # type: ignore[arg-type]
    again = relay_lock_key(SimpleNamespace(name="outbox"))  # type: ignore[arg-type]
    other = relay_lock_key(SimpleNamespace(name="outbox2"))  # type: ignore[arg-type]
    assert first == again != other
    assert -(2 ** 63) <= first < 2 ** 63


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_probe_of_a_closed_port_answers_not_ok_quickly() -> None:
    started = time.monotonic()
    ok, detail = probe_broker(f"127.0.0.1:{_closed_port()}", timeout=2.0)
    assert not ok and "refused" in detail.lower()
    assert time.monotonic() - started < 2.5


def test_readiness_check_caches_its_answer_for_a_few_seconds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def probe(bootstrap: str, timeout: float) -> tuple[bool, str]:
        calls.append(bootstrap)
        return True, "fine"

    monkeypatch.setattr(ops, "probe_broker", probe)
    check = ops.BrokerReadiness("k:9092", cache_seconds=60)
    assert check() == (True, "fine")
    assert check() == (True, "fine")
    assert calls == ["k:9092"]
    expired = ops.BrokerReadiness("k:9092", cache_seconds=0)
    expired()
    expired()
    assert len(calls) == 3
