"""The brokers the suite runs on do what the worker relies on.

Keyed records spread over partitions, every record of one key lands on one partition (also across
separate producers), a consumer group reads everything back in per-key order and commits, and on
Apache Kafka the log cleaner really compacts within seconds.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import pytest
from aiokafka import ConsumerRecord

from streams.dev.brokers.apache_kafka import FAST_COMPACTION_TOPIC_CONFIG
from streams.dev.brokers.base import Broker
from tests.support.kafka_helpers import KafkaKit, wait_for

pytestmark = pytest.mark.integration

CUSTOMERS = [f"c-{n}" for n in range(12)]
EVENTS_PER_CUSTOMER = 5


async def _keyed_roundtrip(kit: KafkaKit) -> None:
    topic = await kit.create_topic("events", partitions=4)
    produced = [
        (customer, {"customer_id": customer, "seq": seq})
        for seq in range(EVENTS_PER_CUSTOMER)
        for customer in CUSTOMERS
    ]
    split = 2 * len(CUSTOMERS)  # two producers, so stability does not rest on one client's state
    metadata = await kit.produce(topic, produced[:split]) + await kit.produce(
        topic, produced[split:]
    )

    partitions_of: dict[str, set[int]] = defaultdict(set)
    for (customer, _), meta in zip(produced, metadata, strict=True):
        partitions_of[customer].add(meta.partition)
    assert all(len(parts) == 1 for parts in partitions_of.values()), partitions_of
    partition_of = {customer: parts.pop() for customer, parts in partitions_of.items()}
    assert len(set(partition_of.values())) >= 2, "12 keys should spread over several partitions"

    group = kit.names.group("reader")
    consumed: list[ConsumerRecord[bytes, bytes]] = await kit.consume_until(
        topic, lambda got: len(got) >= len(produced), group_id=group
    )

    assert len(consumed) == len(produced)
    decoded = [(r.key.decode(), json.loads(r.value)) for r in consumed if r.key and r.value]
    assert sorted(map(repr, decoded)) == sorted(map(repr, produced))
    for record in consumed:
        assert record.key is not None
        assert record.partition == partition_of[record.key.decode()]
    seqs_per_customer: dict[str, list[int]] = defaultdict(list)
    for customer, value in decoded:
        seqs_per_customer[customer].append(value["seq"])
    assert all(seqs == list(range(EVENTS_PER_CUSTOMER)) for seqs in seqs_per_customer.values())

    per_partition = Counter(record.partition for record in consumed)
    committed = await kit.committed_offsets(group, topic)
    assert len(committed) == 4
    for partition, offset in committed.items():
        if partition in per_partition:
            assert offset == per_partition[partition]
        else:  # nothing to read there: committed at the start, or not at all
            assert offset in (0, -1)


@pytest.mark.asyncio
async def test_keyed_roundtrip_with_consumer_group(kafka_kit: KafkaKit) -> None:
    await _keyed_roundtrip(kafka_kit)


@pytest.mark.asyncio
@pytest.mark.tansu
async def test_keyed_roundtrip_with_consumer_group_on_tansu(tansu_kit: KafkaKit) -> None:
    await _keyed_roundtrip(tansu_kit)


@pytest.mark.asyncio
@pytest.mark.slow
async def test_compaction_runs_within_seconds_on_apache_kafka(
    kafka_broker: Broker, kafka_kit: KafkaKit
) -> None:
    if kafka_broker.kind != "apache-kafka":
        pytest.skip(
            f"compaction is only fast on the Apache Kafka started here, not {kafka_broker.kind}"
        )
    topic = await kafka_kit.create_topic("state", config=FAST_COMPACTION_TOPIC_CONFIG)
    await kafka_kit.produce(topic, [("c-1", {"v": v}) for v in range(5)] + [("c-2", {"v": 0})])
    fillers = 0

    async def append_filler_then_read() -> list[tuple[bytes | None, bytes | None]]:
        # The active segment is never cleaned: appending after segment.ms rolls it.
        nonlocal fillers
        fillers += 1
        await kafka_kit.produce(topic, [("filler", {"n": fillers})])
        return [(r.key, r.value) for r in await kafka_kit.read_topic(topic)]

    def compacted(records: list[tuple[bytes | None, bytes | None]]) -> bool:
        return [value for key, value in records if key == b"c-1"] == [b'{"v":4}']

    remaining = await wait_for(
        append_filler_then_read, compacted, within=60, interval=0.5, what="compaction of c-1"
    )
    assert (b"c-2", b'{"v":0}') in remaining
