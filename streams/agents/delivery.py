"""The delivery agents: outbox records and retry records to :class:`~streams.delivery.Delivery`.

* :class:`OutboxAgent` makes the first attempt of every message.
* :class:`RetryAgent` makes later attempts from the retry topic, each after its backoff. It
  never sleeps longer than a short wait (see :class:`lifecycle.mail.RetryPacer`): a retry
  that is not due yet goes back, unchanged, to the end of its own partition, so one
  message that waits never holds up the rest of its partition, rebalances or shutdown.

Both prune the ledger of the partition they read (at most once per prune interval) and
dead-letter a record they cannot decode. Each holds ``delivery.sending()`` while it runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from faust.types import Message, StreamT

from lifecycle.mail import OutboxMessage, RetryPacer, RetryRecord
from streams.delivery import Delivery

__all__ = ["OutboxAgent", "RetryAgent"]

T = TypeVar("T")

#: The retry agent never sleeps longer than this at a time.
RETRY_SHORT_WAIT_SECONDS = 1.0


async def _decode(delivery: Delivery, source: Message, decode: Callable[[bytes], T]) -> T | None:
    try:
        return decode(source.value or b"")
    except ValueError as exc:
        reason = str(exc).splitlines()[0]
        await delivery.dead_letters.publish_record(
            source,
            reason=f"not a delivery record: {reason}",
            kind="invalid_outbox",
            stage="delivery",
        )
        return None


class OutboxAgent:
    name = "lifecycle.delivery"

    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery

    async def run(self, stream: StreamT[bytes]) -> None:
        delivery = self.delivery
        async with delivery.sending():
            async for record in stream.events():
                source = record.message
                message = await _decode(delivery, source, OutboxMessage.from_json_bytes)
                if message is not None:
                    delivery.prune(source.partition)
                    await delivery.attempt(
                        message, attempt=1, partition=source.partition, source=source
                    )


class RetryAgent:
    name = "lifecycle.delivery-retry"

    def __init__(
        self,
        delivery: Delivery,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        short_wait: float = RETRY_SHORT_WAIT_SECONDS,
    ) -> None:
        self.delivery = delivery
        self.sleep = sleep
        self.short_wait = short_wait

    async def run(self, stream: StreamT[bytes]) -> None:
        delivery = self.delivery
        pacers: dict[int, RetryPacer] = {}
        async with delivery.sending():
            async for record in stream.events():
                source = record.message
                retry = await _decode(delivery, source, RetryRecord.from_bytes)
                if retry is None:
                    continue
                delivery.prune(source.partition)
                pacer = pacers.setdefault(source.partition, RetryPacer(short_wait=self.short_wait))
                step = pacer.step(
                    f"{retry.message.message_id} {retry.attempt}",
                    retry.not_before,
                    delivery.clock(),
                )
                if step.action == "defer":
                    if step.pause > 0:
                        await self.sleep(step.pause)  # at most one short wait
                    await self._defer(source)
                    continue
                if step.wait > 0:
                    await self.sleep(step.wait)  # at most one short wait
                await delivery.attempt(
                    retry.message, attempt=retry.attempt, partition=source.partition, source=source
                )

    async def _defer(self, source: Message) -> None:
        """Put a retry record, unchanged, at the end of its own partition.

        Awaited until acknowledged before the stream moves on (and commits past the
        original), so a crash leaves the record at least once on the topic. A copy left
        twice (crash between the two) is a stale attempt the ledger skips.
        """
        pending = await self.delivery.retry_topic.send(
            key=source.key, value=source.value, partition=source.partition
        )
        await pending
