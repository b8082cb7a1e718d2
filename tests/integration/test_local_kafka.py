"""The local Kafka broker: messages round-trip, survive a restart on the same port, a kill, a
new broker on a kept data dir; the jar cache is reused; missing tools are named."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import local_kafka
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from local_kafka import KafkaError, LocalKafka

pytestmark = pytest.mark.kafka

MODULE = Path(local_kafka.__file__).resolve()


def _topic(prefix: str) -> str:
    return f"test.{prefix}.{uuid.uuid4().hex[:8]}"


def _port_refuses(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _producer(bootstrap: str) -> KafkaProducer:
    # A short reconnect backoff so a producer that outlives a broker restart finds it quickly.
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0,
                         reconnect_backoff_max_ms=500)


def _read_all(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list[bytes]:
    """Every value in `topic` from the beginning, without a consumer group."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        deadline = time.monotonic() + timeout
        partitions: set[int] | None = None
        while not partitions and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                time.sleep(0.2)
        assert partitions, f"topic {topic} has no partitions"
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        consumer.seek_to_beginning()
        values: list[bytes] = []
        while len(values) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                values.extend(record.value for record in records)
        return values
    finally:
        consumer.close()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalKafka]:
    """A broker of the test's own (it will be stopped and killed), data kept in tmp_path."""
    broker = LocalKafka(data_dir=tmp_path / "kafka")
    try:
        yield broker
    finally:
        broker.close()


def test_message_round_trips_with_key_headers_and_a_consumer_group(
    kafka_broker: LocalKafka,
) -> None:
    topic = _topic("roundtrip")
    producer = _producer(kafka_broker.bootstrap_servers)
    sent = producer.send(topic, key=b"manager-7", value=b'{"type":"contract.signed"}',
                         headers=[("ce_type", b"contract.signed")]).get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=kafka_broker.bootstrap_servers,
                             group_id=f"group-{uuid.uuid4().hex[:6]}",
                             auto_offset_reset="earliest", enable_auto_commit=False)
    try:
        deadline = time.monotonic() + 30
        received = []
        while not received and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                received.extend(records)
        consumer.commit()
        assert consumer.committed(TopicPartition(topic, sent.partition)) == sent.offset + 1
    finally:
        consumer.close()
    assert [(r.key, r.value, r.headers) for r in received] == [
        (b"manager-7", b'{"type":"contract.signed"}', [("ce_type", b"contract.signed")])
    ]


def test_auto_created_topic_gets_three_partitions(kafka_broker: LocalKafka) -> None:
    topic = _topic("auto")
    producer = _producer(kafka_broker.bootstrap_servers)
    producer.send(topic, value=b"x").get(timeout=30)
    assert producer.partitions_for(topic) == {0, 1, 2}
    producer.close()


def test_create_topics_creates_only_what_is_missing(kafka_broker: LocalKafka) -> None:
    first, second = _topic("contracts"), _topic("notices")
    bootstrap = kafka_broker.bootstrap_servers
    assert local_kafka.create_topics(bootstrap, [first], partitions=2) == [first]
    assert local_kafka.create_topics(bootstrap, [first, second], partitions=4) == [second]
    producer = _producer(bootstrap)
    try:
        assert producer.partitions_for(first) == {0, 1}
        assert producer.partitions_for(second) == {0, 1, 2, 3}
    finally:
        producer.close()


def test_broker_restarted_on_same_port_keeps_messages_and_delivers_those_sent_while_down(
    own_broker: LocalKafka,
) -> None:
    topic = _topic("restart")
    own_broker.start()
    port, data_dir = own_broker.port, own_broker.data_dir
    local_kafka.create_topics(own_broker.bootstrap_servers, [topic])
    producer = _producer(own_broker.bootstrap_servers)
    try:
        producer.send(topic, key=b"m1", value=b"before").get(timeout=30)

        pid = own_broker.pid
        own_broker.stop()
        own_broker.stop()  # a second stop is harmless
        assert own_broker.stop_seconds < 15  # SIGTERM sufficed: no SIGKILL after 30 s
        assert not os.path.exists(f"/proc/{pid}")
        assert _port_refuses(port)
        during = producer.send(topic, key=b"m1", value=b"during")  # buffered, retried

        own_broker.start()
        assert (own_broker.port, own_broker.data_dir) == (port, data_dir)
        assert during.get(timeout=60).offset == 1  # same partition (same key), after "before"
    finally:
        producer.close()
    assert sorted(_read_all(own_broker.bootstrap_servers, topic, 2)) == [b"before", b"during"]


def test_kept_data_dir_survives_a_kill_and_is_not_reformatted(tmp_path: Path) -> None:
    topic = _topic("kept")
    data_dir = tmp_path / "var-kafka"
    with LocalKafka(data_dir=data_dir) as first:
        producer = _producer(first.bootstrap_servers)
        producer.send(topic, value=b"kept").get(timeout=30)
        producer.close()
        meta = (first.log_dir / "meta.properties").read_text()
        first.kill()  # no clean shutdown: the next start must recover the log
    assert data_dir.is_dir()
    with LocalKafka(data_dir=data_dir) as second:  # new ports, same cluster
        assert (second.log_dir / "meta.properties").read_text() == meta
        assert _read_all(second.bootstrap_servers, topic, 1) == [b"kept"]


def test_cli_run_prints_bootstrap_and_stops_cleanly_on_sigint() -> None:
    port = local_kafka.free_port()
    proc = subprocess.Popen([sys.executable, str(MODULE), "run", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("bootstrap:"):
                break
        assert lines and lines[-1].strip() == f"bootstrap: 127.0.0.1:{port}", "".join(lines)
        found = re.search(r"data (\S+)\)", "".join(lines))
        assert found, "".join(lines)
        temp_dir = Path(found.group(1))
        assert temp_dir.is_dir()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        assert "stopped" in proc.stdout.read()
        assert _port_refuses(port)
        assert not temp_dir.exists()  # a temporary data dir goes with the broker
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_second_fetch_reuses_the_cache_without_running_maven(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    libs = local_kafka.fetch()

    def no_subprocess(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"fetch ran a command on a complete cache: {args}")

    monkeypatch.setattr(local_kafka.subprocess, "run", no_subprocess)
    assert local_kafka.fetch() == libs
    assert any(libs.glob("kafka_2.13-*.jar"))
    assert any(libs.glob("log4j-core-*.jar"))


def test_cache_from_another_pom_is_fetched_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    libs = local_kafka.libs_dir(cache=tmp_path)
    libs.mkdir(parents=True)
    (libs / "kafka_2.13-0.jar").write_bytes(b"")
    (libs / local_kafka.MARKER).write_text("pom 0000000000000000\nkafka_2.13-0.jar\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(KafkaError, match="apt-get install -y openjdk-17-jre-headless maven"):
        local_kafka.fetch(cache=tmp_path)


def test_missing_java_names_the_package_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(KafkaError, match="openjdk-17-jre-headless"):
        local_kafka.find_java()


def test_port_someone_listens_on_is_refused_before_a_jvm_starts(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = LocalKafka(port=port, data_dir=tmp_path / "kafka")
        with pytest.raises(KafkaError, match=f"127.0.0.1:{port} is already in use"):
            broker.start()
        assert not broker.is_running()
        broker.close()
