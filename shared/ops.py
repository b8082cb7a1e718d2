"""Operating the event backbone: topics and consumer lag, dead letters and their replay, readiness.

Usable as functions (from a service CLI or a test) and as a small command line:

    python -m shared.ops --bootstrap 127.0.0.1:9092 lag
    python -m shared.ops --bootstrap 127.0.0.1:9092 dead-letters [--limit 20]
    python -m shared.ops --bootstrap 127.0.0.1:9092 replay --event-id <uuid>
    python -m shared.ops --bootstrap 127.0.0.1:9092 replay --partition 0 --offset 17
    python -m shared.ops --bootstrap 127.0.0.1:9092 check

Replaying puts the dead letter's original key, value and CloudEvents headers back on its
original topic. Every consumer group of that topic sees it again; the groups that applied it
before skip it (their inbox has its event id), the group that failed applies it, now that
the fix is deployed. Replaying the same dead letter twice is therefore harmless too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from kafka import TopicPartition

from shared.events.catalogue import DEAD_LETTER_TOPIC
from shared.kafka_clients import make_admin, make_consumer, make_producer, probe_broker


class DeadLetterNotFound(LookupError):
    """No dead letter matches the event id or position asked for."""


# -- readiness --------------------------------------------------------------------------------


class BrokerReadiness:
    """A `/readyz` check: `(ok, detail)` from a raw Metadata probe, cached for a few seconds.

    The probe has a hard timeout (2 s), and the cache keeps a burst of readiness calls (load
    balancers, several gunicorn threads) from each opening a socket to the broker.
    """

    def __init__(self, bootstrap_servers: str | Sequence[str], *, timeout: float = 2.0,
                 cache_seconds: float = 5.0) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._result: tuple[bool, str] | None = None
        self._checked_at = 0.0

    def __call__(self) -> tuple[bool, str]:
        with self._lock:
            now = time.monotonic()
            if self._result is None or now - self._checked_at >= self.cache_seconds:
                self._result = probe_broker(self.bootstrap_servers, self.timeout)
                self._checked_at = time.monotonic()
            return self._result


def broker_reachable(bootstrap_servers: str | Sequence[str], timeout: float = 2.0
                     ) -> tuple[bool, str]:
    """One uncached probe."""
    return probe_broker(bootstrap_servers, timeout)


# -- topics and lag ---------------------------------------------------------------------------


def topics_and_lag(bootstrap_servers: str | Sequence[str],
                   groups: Sequence[str] | None = None,
                   *, include_internal: bool = False) -> dict[str, Any]:
    """Every topic with its partitions' end offsets, and each consumer group's lag.

    Returns {"topics": {name: {"partitions": n, "end_offsets": {p: offset},
    "messages": total}}, "groups": [{"group", "topic", "partition", "committed", "end",
    "lag"}], "total_lag": {group: lag}}. `groups` limits the groups looked at (default:
    every group the broker knows).
    """
    from kafka.admin import OffsetSpec

    admin = make_admin(bootstrap_servers)
    try:
        described = admin.describe_topics()
        partitions: list[TopicPartition] = []
        counts: dict[str, int] = {}
        for topic in described:
            name = topic["name"]
            if topic.get("is_internal") and not include_internal:
                continue
            if name.startswith("__") and not include_internal:
                continue
            parts = sorted(p["partition_index"] for p in topic["partitions"])
            counts[name] = len(parts)
            partitions += [TopicPartition(name, p) for p in parts]
        ends: dict[TopicPartition, int] = {}
        if partitions:
            latest = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions})
            ends = {tp: int(v.offset) for tp, v in latest.items()}
        topics = {
            name: {
                "partitions": n,
                "end_offsets": {tp.partition: ends.get(tp, 0)
                                for tp in partitions if tp.topic == name},
            }
            for name, n in sorted(counts.items())
        }
        for info in topics.values():
            info["messages"] = sum(info["end_offsets"].values())
        group_ids = list(groups) if groups is not None else sorted(
            _group_id(g) for g in admin.list_groups())
        rows: list[dict[str, Any]] = []
        totals: dict[str, int] = {}
        if group_ids:
            committed = admin.list_group_offsets({g: None for g in group_ids})
            for group in group_ids:
                totals[group] = 0
                for tp, meta in sorted(committed.get(group, {}).items()):
                    if meta.offset is None or meta.offset < 0:
                        continue
                    end = ends.get(tp)
                    lag = max(0, end - meta.offset) if end is not None else None
                    rows.append({"group": group, "topic": tp.topic, "partition": tp.partition,
                                 "committed": meta.offset, "end": end, "lag": lag})
                    totals[group] += lag or 0
        return {"topics": topics, "groups": rows, "total_lag": totals}
    finally:
        admin.close()


def _group_id(group: Any) -> str:
    if isinstance(group, dict):
        return str(group.get("group_id") or group.get("groupId"))
    if isinstance(group, tuple | list):
        return str(group[0])
    return str(getattr(group, "group_id", group))


# -- dead letters -----------------------------------------------------------------------------


def _text(value: bytes | None) -> str:
    return value.decode("utf-8", errors="replace") if value is not None else ""


def _dead_letter_view(record: Any) -> dict[str, Any]:
    headers = {k: v for k, v in (record.headers or [])}
    event_id = _text(headers.get("ce_id")) or None
    event_type = _text(headers.get("ce_type")) or None
    if event_id is None and record.value:
        try:
            envelope = json.loads(record.value)
            if isinstance(envelope, dict):
                event_id = envelope.get("id")
                event_type = event_type or envelope.get("type")
        except ValueError:
            pass
    return {
        "partition": record.partition,
        "offset": record.offset,
        "event_id": event_id,
        "event_type": event_type,
        "key": _text(record.key) or None,
        "original_topic": _text(headers.get("dl_original_topic")) or None,
        "original_partition": _int(headers.get("dl_original_partition")),
        "original_offset": _int(headers.get("dl_original_offset")),
        "consumer_group": _text(headers.get("dl_consumer_group")) or None,
        "service": _text(headers.get("dl_service")) or None,
        "error_class": _text(headers.get("dl_error_class")) or None,
        "error_message": _text(headers.get("dl_error_message")) or None,
        "attempts": _int(headers.get("dl_attempts")),
        "failed_at": _text(headers.get("dl_failed_at")) or None,
        "value": _text(record.value),
    }


def _int(value: bytes | None) -> int | None:
    try:
        return int(_text(value))
    except ValueError:
        return None


def _read_topic(bootstrap_servers: str | Sequence[str], topic: str,
                *, start: dict[int, int] | None = None, timeout: float = 10.0) -> list[Any]:
    """Every record of a topic from `start` (default: the beginning) to its current end."""
    consumer = make_consumer(bootstrap_servers, None, enable_auto_commit=False,
                             allow_auto_create_topics=False, client_id="tenure-ops")
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return []
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        for tp in tps:
            if start and tp.partition in start:
                consumer.seek(tp, start[tp.partition])
            else:
                consumer.seek_to_beginning(tp)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        pending = {tp for tp in tps if consumer.position(tp) < ends[tp]}
        while pending and time.monotonic() < deadline:
            for tp, batch in consumer.poll(timeout_ms=500).items():
                records += [r for r in batch if r.offset < ends[tp]]
            pending = {tp for tp in pending if consumer.position(tp) < ends[tp]}
        return records
    finally:
        consumer.close(autocommit=False)


def list_dead_letters(bootstrap_servers: str | Sequence[str], *,
                      topic: str = DEAD_LETTER_TOPIC, limit: int | None = 100,
                      event_id: str | None = None, consumer_group: str | None = None
                      ) -> list[dict[str, Any]]:
    """Dead letters, newest last, with why they failed (the `dl_*` headers, decoded)."""
    views = [_dead_letter_view(r) for r in _read_topic(bootstrap_servers, topic)]
    views.sort(key=lambda v: (v["failed_at"] or "", v["partition"], v["offset"]))
    if event_id is not None:
        views = [v for v in views if v["event_id"] == event_id]
    if consumer_group is not None:
        views = [v for v in views if v["consumer_group"] == consumer_group]
    return views[-limit:] if limit else views


def replay_dead_letter(bootstrap_servers: str | Sequence[str], *,
                       event_id: str | None = None, partition: int | None = None,
                       offset: int | None = None, topic: str = DEAD_LETTER_TOPIC,
                       target_topic: str | None = None) -> dict[str, Any]:
    """Publish a dead letter again to its original topic (after the fix is deployed).

    Pick it by `event_id` (the newest dead letter of that event) or by its position in the
    dead-letter topic (`partition`, `offset`). Returns the dead letter's view plus
    `replayed_to` (topic, partition, offset). The key, value and `ce_*` headers are sent
    unchanged, so the event keeps its id and consumers deduplicate it as usual.
    """
    if event_id is None and (partition is None or offset is None):
        raise ValueError("give event_id, or partition and offset")
    if event_id is not None:
        records = _read_topic(bootstrap_servers, topic)
        matches = [r for r in records if _dead_letter_view(r)["event_id"] == event_id]
    else:
        records = _read_topic(bootstrap_servers, topic, start={int(partition): int(offset)})  # type: ignore[arg-type]
        matches = [r for r in records if r.partition == partition and r.offset == offset]
    if not matches:
        wanted = event_id or f"{topic}[{partition}]@{offset}"
        raise DeadLetterNotFound(f"no dead letter {wanted}")
    record = matches[-1]
    view = _dead_letter_view(record)
    destination = target_topic or view["original_topic"]
    if not destination:
        raise DeadLetterNotFound(f"dead letter {topic}[{record.partition}]@{record.offset} "
                                 "does not say its original topic")
    headers = [(k, v) for k, v in (record.headers or []) if not k.startswith("dl_")]
    headers.append(("dl_replayed_from",
                    f"{topic}:{record.partition}:{record.offset}".encode()))
    producer = make_producer(bootstrap_servers, client_id="tenure-ops-replay")
    try:
        meta = producer.send(destination, key=record.key, value=record.value,
                             headers=headers).get(timeout=30)
    finally:
        producer.close(timeout=5)
    view["replayed_to"] = {"topic": meta.topic, "partition": meta.partition,
                           "offset": meta.offset}
    return view


# -- command line -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.ops", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
                        help="host:port[,host:port] (default: $KAFKA_BOOTSTRAP_SERVERS)")
    sub = parser.add_subparsers(dest="command", required=True)
    lag = sub.add_parser("lag", help="topics, end offsets and lag per consumer group")
    lag.add_argument("--group", action="append", dest="groups")
    dead = sub.add_parser("dead-letters", help="list dead letters and why they failed")
    dead.add_argument("--limit", type=int, default=50)
    dead.add_argument("--group", default=None)
    dead.add_argument("--topic", default=DEAD_LETTER_TOPIC)
    replay = sub.add_parser("replay", help="send a dead letter back to its original topic")
    replay.add_argument("--event-id")
    replay.add_argument("--partition", type=int)
    replay.add_argument("--offset", type=int)
    replay.add_argument("--topic", default=DEAD_LETTER_TOPIC)
    sub.add_parser("check", help="is the broker reachable (exit 0) or not (exit 1)")
    args = parser.parse_args(argv)
    if not args.bootstrap:
        parser.error("--bootstrap or KAFKA_BOOTSTRAP_SERVERS is required")

    if args.command == "check":
        ok, detail = broker_reachable(args.bootstrap)
        print(("ok: " if ok else "unreachable: ") + detail)
        return 0 if ok else 1
    if args.command == "lag":
        result: Any = topics_and_lag(args.bootstrap, args.groups)
    elif args.command == "dead-letters":
        result = list_dead_letters(args.bootstrap, topic=args.topic, limit=args.limit,
                                   consumer_group=args.group)
    else:
        try:
            result = replay_dead_letter(args.bootstrap, event_id=args.event_id,
                                        partition=args.partition, offset=args.offset,
                                        topic=args.topic)
        except (DeadLetterNotFound, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    json.dump(result, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
