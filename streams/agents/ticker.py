"""The ticker: on the leader only, every tick interval, one tick record to every partition.

Faust timers cannot write tables, but a tick on the customer-events topic is processed by
the engine agent in the partition that owns the customers, where it can.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from faust.types import TopicT

from lifecycle.processing import encode_tick

__all__ = ["Ticker"]

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
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.topic = customer_events
        self.partitions_of = partitions_of
        self.default_partitions = default_partitions
        self.clock = clock

    async def send_ticks(self, at: datetime) -> int:
        """Send a tick for ``at`` to every partition of the customer-events topic; say how many."""
        # The topic may predate us with another partition count; ask the cluster metadata.
        count = self.partitions_of(self.topic.get_topic_name()) or self.default_partitions
        value = encode_tick(at)
        for partition in range(count):
            await self.topic.send(key=b"__tick__", value=value, partition=partition)
        return count

    async def tick(self) -> None:
        """The timer's body: an exception in a Faust timer would stop the whole worker."""
        try:
            await self.send_ticks(self.clock())
        except Exception:
            log.exception("sending ticks failed; will try again next interval")
