"""The producers' partitioner picks the default partitioner's partition for every key (a
manager's events keep their partition whoever produces them), with the key's hash kept."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kafka.partitioner.default import DefaultPartitioner

from shared import kafka_clients
from shared.kafka_clients import KeyHashPartitioner


class Cluster:
    """What a partitioner asks of the producer's cluster metadata."""

    def __init__(self, partitions: dict[str, set[int]]) -> None:
        self.partitions = partitions

    def topics(self) -> set[str]:
        return set(self.partitions)

    def partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions[topic]

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions[topic]


@given(keys=st.lists(st.binary(max_size=64), min_size=1, max_size=20),
       partitions=st.sets(st.integers(min_value=0, max_value=200), min_size=1, max_size=12))
def test_every_key_goes_where_the_default_partitioner_sends_it_first_time_and_after(
        keys: list[bytes], partitions: set[int]) -> None:
    cluster = Cluster({"hr.contracts": partitions})
    ours, default = KeyHashPartitioner(), DefaultPartitioner()

    def both(key: bytes) -> tuple[Any, Any]:
        return (ours.partition("hr.contracts", None, key, None, b"{}", cluster),
                default.partition("hr.contracts", None, key, None, b"{}", cluster))

    for key in [*keys, *keys]:  # the second time from the kept hash
        mine, theirs = both(key)
        assert mine == theirs
        assert mine in partitions


def test_a_manager_id_keeps_its_partition_and_the_kept_hashes_are_bounded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(KeyHashPartitioner, "MAX_KEYS", 3)
    cluster = Cluster({"hr.contracts": {0, 1, 2}})
    ours, default = KeyHashPartitioner(), DefaultPartitioner()
    keys = [f"0b000000-0000-4000-8000-00000000000{i}".encode() for i in range(8)]
    for key in keys:
        assert ours.partition("hr.contracts", None, key, None, b"", cluster) == \
            default.partition("hr.contracts", None, key, None, b"", cluster)
        assert len(ours._hashes) <= 3


def test_no_key_or_an_unknown_topic_is_left_to_the_default_partitioner() -> None:
    cluster = Cluster({"hr.contracts": {0, 1, 2}})
    ours = KeyHashPartitioner()
    assert ours.partition("hr.contracts", None, None, None, b"{}", cluster) in {0, 1, 2}
    assert ours._hashes == {}
    with pytest.raises(ValueError):
        ours.partition("hr.unknown", None, b"k", None, b"{}", cluster)


def test_every_producer_gets_a_partitioner_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[dict[str, Any]] = []
    monkeypatch.setattr(kafka_clients, "KafkaProducer", lambda **config: made.append(config))
    kafka_clients.make_producer("127.0.0.1:9092")
    kafka_clients.make_producer("127.0.0.1:9092")
    first, second = (config["partitioner"] for config in made)
    assert isinstance(first, KeyHashPartitioner) and first is not second
