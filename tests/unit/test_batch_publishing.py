"""Re-keyed events go to the broker in batches: partitioned as aiokafka would, in order,
acknowledged before their records are acked, and a refused batch dead-lettered.

aiokafka's own batch builder is used; the producer around it is a fake that keeps what
it is given. The broker path (every integration test's events pass through it, and a
restarted worker must find each customer's state on the partition the key gives) is in
tests/integration.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from streams.agents import IngestAgent
from streams.dead_letter import DeadLetters
from streams.internals import BatchPublisher
from streams.metrics import WorkerMetrics
from tests.factories import event_dict
from tests.unit.test_agents_survive_hostile_records import counted, record
from tests.unit.test_delivery_attempts import FakeTopic


class RecordingBuilder:
    """aiokafka's BatchBuilder, remembering what it took."""

    def __init__(self, batch_size: int) -> None:
        self.builder = BatchBuilder(batch_size, 0)
        self.taken: list[tuple[bytes, bytes]] = []
        self.closed = False

    def append(self, *, timestamp: float | None, key: bytes, value: bytes) -> Any:
        found = self.builder.append(timestamp=timestamp, key=key, value=value)
        if found is not None:
            self.taken.append((key, value))
        return found

    def close(self) -> None:
        self.closed = True
        self.builder.close()


class FakeProducer:
    """What the publisher uses of aiokafka's producer, behind Faust's ``_ensure_producer``."""

    def __init__(self, partitions: int = 8, batch_size: int = 16384) -> None:
        self.partitions = partitions
        self.batch_size = batch_size
        self.sent: list[tuple[str, int, RecordingBuilder]] = []
        self.refuse: set[int] = set()

    def _ensure_producer(self) -> FakeProducer:
        return self

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    def create_batch(self) -> RecordingBuilder:
        return RecordingBuilder(self.batch_size)

    async def send_batch(
        self, batch: RecordingBuilder, topic: str, *, partition: int
    ) -> asyncio.Future[None]:
        assert batch.closed, "a batch is closed before it is handed over"
        self.sent.append((topic, partition, batch))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if partition in self.refuse:
            done.set_exception(KafkaTimeoutError())
        else:
            done.set_result(None)
        return done


def _records(count: int, size: int = 10) -> list[tuple[bytes, bytes]]:
    return [(f"c-{n}".encode(), f"{n:0{size}d}".encode()) for n in range(count)]


@pytest.mark.asyncio
async def test_records_go_where_the_default_partitioner_sends_them_in_order() -> None:
    producer = FakeProducer(partitions=8)
    records = _records(200)
    published = await BatchPublisher(producer).publish("events", records)
    partitioner = DefaultPartitioner()
    everything = list(range(8))
    for topic, partition, batch in producer.sent:
        assert topic == "events"
        for key, _ in batch.taken:
            assert partitioner(key, everything, everything) == partition
    # Every record once, each partition's records in the order given.
    by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
    for _, partition, batch in producer.sent:
        by_partition.setdefault(partition, []).extend(batch.taken)
    assert sorted(r for taken in by_partition.values() for r in taken) == sorted(records)
    for taken in by_partition.values():
        assert taken == sorted(taken, key=records.index)
    assert len(by_partition) == 8
    # The batches say which records they hold (one send per batch, in the same order).
    for batch, (_, partition, builder) in zip(published, producer.sent, strict=True):
        assert batch.partition == partition
        assert [records[i] for i in batch.indexes] == builder.taken
    await asyncio.gather(*(b.acknowledged for b in published))


@pytest.mark.asyncio
async def test_a_full_batch_is_sent_and_the_next_one_started_and_a_big_record_goes_alone() -> None:
    producer = FakeProducer(partitions=1, batch_size=1024)
    records = _records(50, size=100)
    records.insert(20, (b"c-big", b"x" * 5000))  # larger than a whole batch
    published = await BatchPublisher(producer).publish("events", records)
    assert len(producer.sent) > 3
    assert [r for _, _, b in producer.sent for r in b.taken] == records
    assert [records[i] for batch in published for i in batch.indexes] == records
    assert [(b"c-big", b"x" * 5000)] in [b.taken for _, _, b in producer.sent]


@pytest.mark.asyncio
async def test_a_given_partition_takes_every_record_and_an_unknown_one_is_refused() -> None:
    producer = FakeProducer(partitions=4)
    await BatchPublisher(producer).publish("counters", _records(30), partition=2)
    assert {p for _, p, _ in producer.sent} == {2}
    with pytest.raises(ValueError, match="no partition 9"):
        await BatchPublisher(producer).publish("counters", _records(3), partition=9)
    assert await BatchPublisher(producer).publish("counters", []) == []


def _ingest(producer: FakeProducer) -> SimpleNamespace:
    kit = SimpleNamespace(dead_letter=FakeTopic(), metrics=WorkerMetrics())
    kit.agent = IngestAgent(
        "shop.logins",
        customer_events=SimpleNamespace(get_topic_name=lambda: "lifecycle.customer-events"),  # type: ignore[arg-type]
        publisher=BatchPublisher(producer),
        dead_letters=DeadLetters(kit.dead_letter),  # type: ignore[arg-type]
        metrics=kit.metrics,
        max_event_bytes=65536,
    )
    return kit


def _login(customer: str, n: int) -> bytes:
    at = datetime(2026, 5, 1, 12, n % 60, tzinfo=UTC)
    return json.dumps(event_dict("customer.logged_in", customer, at, event_id=f"e-{n}")).encode()


@pytest.mark.asyncio
async def test_ingest_republishes_a_batch_keyed_by_customer_and_dead_letters_the_bad() -> None:
    producer = FakeProducer(partitions=8)
    kit = _ingest(producer)
    records = [record(_login(f"c-{n % 5}", n), n, key=b"session") for n in range(12)]
    records.insert(4, record(b"not json", 99))
    await kit.agent.process_batch(records)
    sent = [r for _, _, b in producer.sent for r in b.taken]
    assert sorted(k for k, _ in sent) == sorted(f"c-{n % 5}".encode() for n in range(12))
    # One customer's events keep their order.
    c1 = [json.loads(v)["event_id"] for k, v in sent if k == b"c-1"]
    assert c1 == ["e-1", "e-6", "e-11"]
    assert [h["lifecycle.reason-kind"] for h in kit.dead_letter.headers] == ["not_json"]
    assert counted(kit.metrics, "lifecycle_events_ingested_total") == 12
    assert all(r.message.acked is False for r in records)  # Faust acks them, not us


@pytest.mark.asyncio
async def test_an_event_the_broker_refused_is_dead_lettered_and_the_others_count() -> None:
    producer = FakeProducer(partitions=8)
    kit = _ingest(producer)
    partitioner, everything = DefaultPartitioner(), list(range(8))
    refused = partitioner(b"c-3", everything, everything)
    producer.refuse.add(refused)
    records = [record(_login(f"c-{n}", n), n) for n in range(10)]
    await kit.agent.process_batch(records)
    lost = [
        n for n in range(10) if partitioner(f"c-{n}".encode(), everything, everything) == refused
    ]
    assert [int(h["lifecycle.source-offset"]) for h in kit.dead_letter.headers] == lost
    assert {h["lifecycle.reason-kind"] for h in kit.dead_letter.headers} == {"republish_failed"}
    assert "KafkaTimeoutError" in kit.dead_letter.headers[0]["lifecycle.reason"]
    assert [v for _, v, _ in kit.dead_letter.records] == [records[n].message.value for n in lost]
    assert counted(kit.metrics, "lifecycle_events_ingested_total") == 10 - len(lost)


@pytest.mark.asyncio
async def test_a_batch_whose_publishing_fails_acks_none_of_its_valid_records() -> None:
    class Broken(FakeProducer):
        async def partitions_for(self, topic: str) -> set[int]:
            raise KafkaTimeoutError()

    kit = _ingest(Broken())
    records = [record(b"not json", 0), *(record(_login("c-1", n), n) for n in range(1, 4))]
    with pytest.raises(KafkaTimeoutError):
        await kit.agent.process_batch(records)
    # The bad record was dead-lettered (handled); the valid ones are withheld from the
    # commit, so they come again after a restart.
    assert [r.message.acked for r in records] == [False, True, True, True]
