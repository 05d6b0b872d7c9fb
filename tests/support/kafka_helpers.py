"""Async helpers for tests that talk to a real broker with plain aiokafka clients.

Every helper opens its own short-lived client, so tests need no client fixtures, and every wait is
a condition polled against a deadline, never a sleep.

    kit = KafkaKit(broker.bootstrap_servers, UniqueNames.for_test("test_orders"))
    topic = await kit.create_topic("orders", partitions=4)
    await kit.produce(topic, [("c-1", {"type": "order.placed"})])
    records = await kit.consume_until(topic, lambda got: len(got) >= 1)
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code
from aiokafka.structs import RecordMetadata

from streams.dev.worker_process import wait_for

__all__ = [
    "KafkaKit",
    "UniqueNames",
    "committed_offsets",
    "consume_until",
    "create_topics",
    "encode_value",
    "produce",
    "read_topic",
    "wait_for",
]

Key = str | bytes | None
Value = bytes | str | None | Any  # anything else is encoded as JSON

DEFAULT_WITHIN = 30.0  # seconds


def encode_value(value: Value) -> bytes | None:
    """bytes as is, str as UTF-8, None as a tombstone, anything else as compact sorted JSON."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _encode_key(key: Key) -> bytes | None:
    return key.encode() if isinstance(key, str) else key


async def create_topics(
    bootstrap_servers: str,
    topics: Mapping[str, int],
    *,
    config: Mapping[str, str] | None = None,
    within: float = DEFAULT_WITHIN,
) -> None:
    """Create ``{name: partitions}`` and wait until every partition's leader serves.

    An existing topic with the same partition count is accepted; any other error raises.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        response = await admin.create_topics(
            [
                NewTopic(name, count, 1, topic_configs=dict(config or {}))
                for name, count in topics.items()
            ]
        )
        for name, code, message in response.topic_errors:
            error = for_code(code)
            if code and error is not TopicAlreadyExistsError:
                raise error(f"creating topic {name!r}: {message}")

        async def describe() -> dict[str, int]:
            described = await admin.describe_topics(list(topics))
            return {
                entry["topic"]: sum(1 for p in entry["partitions"] if p["leader"] >= 0)
                for entry in described
                if entry["error_code"] == 0
            }

        await wait_for(
            describe,
            lambda led: all(led.get(name) == count for name, count in topics.items()),
            within=within,
            what=f"leaders for every partition of {dict(topics)}",
        )
    finally:
        await admin.close()
    # The controller names leaders before the broker serves as one (KRaft metadata propagates);
    # ListOffsets answers only from a serving leader, and aiokafka retries it until then.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(name, p) for name, count in topics.items() for p in range(count)
        ]
        await asyncio.wait_for(consumer.end_offsets(partitions), within)
    finally:
        await consumer.stop()


async def produce(
    bootstrap_servers: str,
    topic: str,
    records: Iterable[tuple[Key, Value]],
    *,
    headers: Sequence[tuple[str, bytes]] = (),
) -> list[RecordMetadata]:
    """Send ``(key, value)`` pairs in order with a fresh producer (acks=all, default partitioner).

    Returns each record's metadata (partition, offset), in the order given.
    """
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await producer.start()
    try:
        futures = [
            await producer.send(
                topic,
                encode_value(value),
                key=_encode_key(key),
                headers=list(headers) or None,
            )
            for key, value in records
        ]
        return list(await asyncio.gather(*futures))
    finally:
        await producer.stop()


async def consume_until(
    bootstrap_servers: str,
    topics: str | Sequence[str],
    until: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    *,
    group_id: str | None = None,
    within: float = DEFAULT_WITHIN,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read from the earliest offset until ``until(all records so far)`` holds.

    With ``group_id`` the consumer joins that group and commits what it read before returning;
    without, it reads every partition with no group. Fails with a summary at the deadline.
    """
    names = [topics] if isinstance(topics, str) else list(topics)
    consumer = AIOKafkaConsumer(
        *names,
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        # Tansu holds a new member's JoinGroup for half the session timeout (5 s at aiokafka's
        # default); 6 s is the smallest Apache Kafka accepts (group.min.session.timeout.ms).
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
    )
    await consumer.start()
    received: list[ConsumerRecord[bytes, bytes]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not until(received):
            if loop.time() >= deadline:
                raise AssertionError(
                    f"condition on {names} not met within {within:.0f}s; "
                    f"received {len(received)} records, last: {received[-3:]!r}"
                )
            batches = await consumer.getmany(timeout_ms=200)
            for partition_records in batches.values():
                received.extend(partition_records)
        if group_id is not None and received:
            await consumer.commit()
        return received
    finally:
        await consumer.stop()


async def _partitions_of(bootstrap_servers: str, topic: str) -> list[TopicPartition]:
    # aiokafka's metadata request allows auto-creation: an unknown topic gets created here.
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"] or not described["partitions"]:
        raise AssertionError(f"topic {topic!r} is unknown: {described!r}")
    return sorted(TopicPartition(topic, p["partition"]) for p in described["partitions"])


async def read_topic(
    bootstrap_servers: str, topic: str, *, within: float = DEFAULT_WITHIN
) -> list[ConsumerRecord[bytes, bytes]]:
    """Everything the topic holds now: each partition read from its start to its end offset."""
    partitions = await _partitions_of(bootstrap_servers, topic)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end_offsets = await consumer.end_offsets(partitions)
        received: list[ConsumerRecord[bytes, bytes]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within

        async def behind() -> bool:
            positions = [await consumer.position(tp) for tp in partitions]
            return any(pos < end_offsets[tp] for tp, pos in zip(partitions, positions, strict=True))

        while await behind():
            if loop.time() >= deadline:
                raise AssertionError(f"could not read {topic!r} to its end within {within:.0f}s")
            batches = await consumer.getmany(*partitions, timeout_ms=200)
            for partition_records in batches.values():
                received.extend(partition_records)
        return received
    finally:
        await consumer.stop()


async def committed_offsets(bootstrap_servers: str, group_id: str, topic: str) -> dict[int, int]:
    """The offset ``group_id`` has committed on each partition of ``topic`` (-1: none).

    Asks for the topic's partitions explicitly: Tansu 0.6.0 answers a fetch of all of a group's
    offsets (OffsetFetch v3 with no topic list) with a body aiokafka 0.14 cannot decode.
    """
    partitions = await _partitions_of(bootstrap_servers, topic)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group_id, partitions=partitions)
    finally:
        await admin.close()
    return {tp.partition: offsets[tp].offset if tp in offsets else -1 for tp in partitions}


_UNSAFE = re.compile(r"[^a-zA-Z0-9-]+")


@dataclass(frozen=True)
class UniqueNames:
    """Topic, group and app names that no other test (or earlier run) on a shared broker uses."""

    prefix: str

    @classmethod
    def for_test(cls, test_name: str) -> UniqueNames:
        slug = _UNSAFE.sub("-", test_name).strip("-").lower()[:40] or "test"
        return cls(f"{slug}-{uuid.uuid4().hex[:8]}")

    def topic(self, base: str) -> str:
        return f"{self.prefix}.{base}"

    def group(self, base: str = "group") -> str:
        return f"{self.prefix}.{base}"


@dataclass(frozen=True)
class KafkaKit:
    """The helpers above, bound to one broker and one test's unique names."""

    bootstrap_servers: str
    names: UniqueNames

    async def create_topic(
        self,
        base: str,
        *,
        partitions: int = 1,
        config: Mapping[str, str] | None = None,
    ) -> str:
        """Create this test's topic ``base`` and return its full (unique) name."""
        name = self.names.topic(base)
        await create_topics(self.bootstrap_servers, {name: partitions}, config=config)
        return name

    async def produce(
        self,
        topic: str,
        records: Iterable[tuple[Key, Value]],
        *,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> list[RecordMetadata]:
        return await produce(self.bootstrap_servers, topic, records, headers=headers)

    async def consume_until(
        self,
        topics: str | Sequence[str],
        until: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
        *,
        group_id: str | None = None,
        within: float = DEFAULT_WITHIN,
    ) -> list[ConsumerRecord[bytes, bytes]]:
        return await consume_until(
            self.bootstrap_servers, topics, until, group_id=group_id, within=within
        )

    async def read_topic(
        self, topic: str, *, within: float = DEFAULT_WITHIN
    ) -> list[ConsumerRecord[bytes, bytes]]:
        return await read_topic(self.bootstrap_servers, topic, within=within)

    async def committed_offsets(self, group_id: str, topic: str) -> dict[int, int]:
        return await committed_offsets(self.bootstrap_servers, group_id, topic)
