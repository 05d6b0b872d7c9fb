"""Read the counters topic as a reader should: latest record per key, partitions summed."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer

from lifecycle.measurement import CounterKey, Number
from streams.counters.codec import CounterRecord, decode_record
from streams.counters.store import read_partition, topic_partitions

__all__ = ["read_counters"]


async def read_counters(bootstrap_servers: str, topic: str) -> dict[CounterKey, Number]:
    """Current totals over all source partitions (markers and foreign records ignored)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        count = await topic_partitions(bootstrap_servers, topic)
        if count is None:
            raise LookupError(f"no topic {topic} on {bootstrap_servers}")
        latest: dict[tuple[CounterKey, int], Number] = {}
        for partition in range(count):
            async for record in read_partition(consumer, topic, partition):
                decoded = decode_record(record.key, record.value)
                if isinstance(decoded, CounterRecord):
                    latest[(decoded.key, decoded.partition)] = decoded.total
    finally:
        await consumer.stop()
    totals: dict[CounterKey, Number] = {}
    for (key, _), total in latest.items():
        totals[key] = totals.get(key, 0) + total
    return totals
