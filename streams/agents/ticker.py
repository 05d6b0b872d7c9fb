"""The ticker: on the leader only, every tick interval, one tick record to every partition.

Faust timers cannot write tables, but a tick on the customer-events topic is processed by
the engine agent in the partition that owns the customers, where it can.

The same tick also goes to every partition of the outbox-retry topic, where the retry
agent prunes that partition's delivery ledger (:mod:`streams.agents.delivery`): the ledger
is written while processing outbox and retry records of a partition, so its tombstones
must be written while processing a record of the same partition, and a partition with no
mail has no other record to do it in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from faust.types import TopicT

from lifecycle.processing import encode_tick

__all__ = ["TICK_KEY", "Ticker"]

#: The key of every tick record (customer ids are keys too: the value tells them apart).
TICK_KEY = b"__tick__"

log = logging.getLogger(__name__)

#: The partition count of a topic as the cluster metadata has it (None: not known yet).
PartitionsOf = Callable[[str], int | None]


class Ticker:
    name = "lifecycle.ticker"

    def __init__(
        self,
        customer_events: TopicT,
        *,
        partitions_of: PartitionsOf,
        default_partitions: int,
        retry_topic: TopicT | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.topic = customer_events
        self.partitions_of = partitions_of
        self.default_partitions = default_partitions
        self.retry_topic = retry_topic
        self.clock = clock

    async def send_ticks(self, at: datetime) -> int:
        """Send a tick for ``at`` to every partition of the customer-events topic; say how many."""
        return await self._send(self.topic, at)

    async def send_prune_ticks(self, at: datetime) -> int:
        """Send a tick for ``at`` to every partition of the retry topic; say how many."""
        return 0 if self.retry_topic is None else await self._send(self.retry_topic, at)

    async def _send(self, topic: TopicT, at: datetime) -> int:
        # The topic may predate us with another partition count; ask the cluster metadata.
        count = self.partitions_of(topic.get_topic_name()) or self.default_partitions
        value = encode_tick(at)
        for partition in range(count):
            await topic.send(key=TICK_KEY, value=value, partition=partition)
        return count

    async def tick(self) -> None:
        """The timer's body: an exception in a Faust timer would stop the whole worker."""
        at = self.clock()
        try:
            await self.send_ticks(at)
        except Exception:
            log.exception("sending ticks failed; will try again next interval")
        try:
            await self.send_prune_ticks(at)
        except Exception:
            log.exception("sending pruning ticks failed; will try again next interval")
