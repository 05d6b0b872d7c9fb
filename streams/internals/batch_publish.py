"""Many records to one topic as one aiokafka batch per partition, instead of a send each.

Private name used (faust-streaming 0.15): ``Producer._ensure_producer()``, the aiokafka
producer behind Faust's (started and stopped with the app, with the worker's acks,
linger and security settings). Public aiokafka API from there: ``partitions_for``,
``create_batch`` and ``send_batch``.

Why: each ``Topic.send`` costs about 45 us of Python in Faust and aiokafka (a
``FutureMessage``, the channel, the producer's futures and callbacks); appending to a
batch builder costs a tenth of that. The ingest agents re-key every shop event and the
counters publish thousands of totals a flush, so this is several per cent of a worker's
time.

Records with a key go to the partition aiokafka's default partitioner would choose
(murmur2 of the key over the topic's partitions in order), so a customer's re-keyed events
meet the customer's state wherever they were produced from. Order within a partition is
the order given. Each returned future resolves when the broker acknowledged its batch
(or fails with the broker's error); the caller awaits them before its input records are
acked. Nothing here is tracked by :class:`~streams.internals.DrainingProducer`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lifecycle.processing import partition_of_key

__all__ = ["BatchPublisher", "PublishedBatch"]


@dataclass(frozen=True)
class PublishedBatch:
    """One batch handed to the producer: where it goes, which of the given records it
    holds (their indexes), and its acknowledgement."""

    partition: int
    indexes: list[int]
    acknowledged: asyncio.Future[Any]


class BatchPublisher:
    def __init__(self, producer: Any) -> None:
        #: Faust's producer (``app.producer``); its aiokafka producer is read at each
        #: publish, so this can be built before the app starts.
        self.producer = producer

    async def publish(
        self,
        topic: str,
        records: Sequence[tuple[bytes, bytes]],
        *,
        partition: int | None = None,
    ) -> list[PublishedBatch]:
        """Hand ``(key, value)`` records to the producer, one batch per partition (more
        if a batch fills up); ``partition`` None partitions by key. Returns the batches,
        each with its future."""
        if not records:
            return []
        client = self.producer._ensure_producer()
        partitions = sorted(await client.partitions_for(topic))
        if partition is not None and partition not in partitions:
            raise ValueError(f"{topic} has no partition {partition}")
        by_partition: dict[int, list[int]] = {}
        for index, (key, _) in enumerate(records):
            target = (
                partition
                if partition is not None
                else partitions[partition_of_key(key, len(partitions))]
            )
            by_partition.setdefault(target, []).append(index)
        published: list[PublishedBatch] = []
        for target, indexes in by_partition.items():
            for batch in _batches(client, records, indexes, target):
                builder, taken = batch
                builder.close()  # nothing sent with send() may join it
                acknowledged = await client.send_batch(builder, topic, partition=target)
                published.append(PublishedBatch(target, taken, acknowledged))
        return published


def _batches(
    client: Any, records: Sequence[tuple[bytes, bytes]], indexes: Iterable[int], target: int
) -> list[tuple[Any, list[int]]]:
    """The records at ``indexes`` in builders of the producer's batch size."""
    batches: list[tuple[Any, list[int]]] = []
    builder, taken = client.create_batch(), list[int]()
    for index in indexes:
        key, value = records[index]
        if builder.append(key=key, value=value, timestamp=None) is None:
            batches.append((builder, taken))
            # A batch's first record always fits, whatever its size (aiokafka).
            builder, taken = client.create_batch(), list[int]()
            if builder.append(key=key, value=value, timestamp=None) is None:
                raise RuntimeError("a new batch refused its first record")
        taken.append(index)
    if taken:
        batches.append((builder, taken))
    return batches
