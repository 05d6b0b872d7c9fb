"""How far the whole consumer group has consumed the shop's topics, as the broker has it.

The ticker holds a tick until every shop record that existed at the tick's time has been
consumed by the group (:class:`streams.agents.ticker.TickHold`). Both figures it needs
are the cluster's, not this worker's: the end offset of every partition of the shop's
topics, and the offsets the group committed for them, whichever worker owns them.

A committed offset of a shop partition means its records before that offset were
re-keyed onto the customer-events topic and acknowledged by the broker: the worker's
producer drains before each commit (:class:`streams.internals.DrainingProducer`). So a
tick written after the committed offsets reach the end offsets of time T lands, on every
customer-events partition, behind every re-keyed event of a shop record written before T.

Failure window: the figures are read a moment apart, and the group commits every few
seconds; a partition's committed offset only grows (a rebalance may replay records
behind it, never move it back), so a snapshot seen covered stays covered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

__all__ = ["GroupProgress", "Offsets"]

#: Offsets by partition.
Offsets = Mapping[TopicPartition, int]

#: How long one read may take before it counts as failed (the ticker tries again).
_REQUEST_TIMEOUT_SECONDS = 15.0


class GroupProgress:
    """End and committed offsets of ``topics`` for ``group_id``, over two lazy clients.

    ``partitions_of`` gives a topic's partition count from the worker's own metadata
    (None or 0: the topic does not exist yet, so it holds nothing back).
    """

    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str,
        topics: Sequence[str],
        *,
        partitions_of: Callable[[str], int | None],
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.group_id = group_id
        self.topics = tuple(topics)
        self.partitions_of = partitions_of
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None

    def partitions(self) -> list[TopicPartition]:
        return [
            TopicPartition(topic, partition)
            for topic in self.topics
            for partition in range(self.partitions_of(topic) or 0)
        ]

    async def ends(self) -> dict[TopicPartition, int]:
        """The offset the next record of each shop partition will get."""
        partitions = self.partitions()
        if not partitions:
            return {}
        consumer = await self._end_reader()
        # aiokafka waits forever on a partition it cannot find; ours come from metadata.
        ends = await asyncio.wait_for(consumer.end_offsets(partitions), _REQUEST_TIMEOUT_SECONDS)
        return {tp: int(offset) for tp, offset in ends.items()}

    async def committed(self) -> dict[TopicPartition, int]:
        """The group's committed offset of each shop partition it has committed at all."""
        admin = await self._admin_client()
        offsets = await asyncio.wait_for(
            admin.list_consumer_group_offsets(self.group_id), _REQUEST_TIMEOUT_SECONDS
        )
        return {
            tp: meta.offset
            for tp, meta in offsets.items()
            if tp.topic in self.topics and meta.offset >= 0
        }

    async def _end_reader(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap_servers,
                group_id=None,
                enable_auto_commit=False,
                request_timeout_ms=int(_REQUEST_TIMEOUT_SECONDS * 1000),
            )
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def _admin_client(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap_servers,
                request_timeout_ms=int(_REQUEST_TIMEOUT_SECONDS * 1000),
            )
            await admin.start()
            self._admin = admin
        return self._admin

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        admin, self._admin = self._admin, None
        if consumer is not None:
            await consumer.stop()
        if admin is not None:
            await admin.close()
