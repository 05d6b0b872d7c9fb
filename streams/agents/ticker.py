"""The ticker: on the leader only, every tick interval, one tick record to every partition.

Faust timers cannot write tables, but a tick on the customer-events topic is processed by
the engine agent in the partition that owns the customers, where it can.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lifecycle.processing import encode_tick

if TYPE_CHECKING:
    from streams.app import Worker

__all__ = ["register", "send_ticks"]


async def send_ticks(worker: Worker, at: datetime) -> int:
    """Send a tick for ``at`` to every partition of the customer-events topic; returns how many."""
    topic = worker.topics.customer_events
    # The topic may predate us with another partition count; ask the cluster metadata.
    partitions = worker.app.consumer.topic_partitions(topic.get_topic_name())
    count = partitions or worker.settings.partitions
    value = encode_tick(at)
    for partition in range(count):
        await topic.send(key=b"__tick__", value=value, partition=partition)
    return count


def register(worker: Worker) -> None:
    interval = worker.settings.tick_interval_seconds

    async def tick() -> None:
        try:
            await send_ticks(worker, datetime.now(UTC))
        except Exception:  # an exception in a Faust timer would stop the whole worker
            worker.app.log.exception("sending ticks failed; will try again next interval")

    worker.app.timer(interval, on_leader=True, name="lifecycle.ticker")(tick)
