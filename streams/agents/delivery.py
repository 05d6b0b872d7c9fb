"""The delivery agents: outbox records and retry records to :class:`~streams.delivery.Delivery`.

* :class:`OutboxAgent` makes the first attempt of every message.
* :class:`RetryAgent` makes later attempts from the retry topic, each after its backoff. It
  never sleeps longer than a short wait (see :class:`lifecycle.mail.RetryPacer`): a retry
  that is not due yet goes back, unchanged, to the end of its own partition, so one
  message that waits never holds up the rest of its partition, rebalances or shutdown.

Both prune the ledger of the partition they read (at most once per prune interval); the
ticker also puts a tick on every partition of the retry topic, so a partition with no
mail is pruned too (the retry agent prunes and drops it). Both run while processing a
record of that partition, so Faust writes the tombstones to the ledger's changelog
partition that holds the entries. Each agent holds ``delivery.sending()`` while it runs,
and makes sure the partition's delivery counters are recovered before it handles the
partition's first record in a group generation (:mod:`streams.counters`).

Every record ends processed or dead-lettered and counted, whatever it provokes: a record
that does not decode is dead-lettered as ``invalid_outbox``; a message that delivery
cannot handle is given up by :meth:`Delivery.attempt` (``delivery_error``, ledger
``failed``); and should that fail as well, the record itself is dead-lettered as
``delivery_error`` here. A pruning failure is logged and does not stop delivery.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from faust.types import Message, StreamT
from pydantic import ValidationError

from lifecycle.mail import OutboxMessage, RetryPacer, RetryRecord
from lifecycle.processing import Tick, parse_engine_record
from streams.acknowledged import send_acknowledged
from streams.agents.ticker import TICK_KEY
from streams.delivery import Delivery
from streams.failures import describe, log_failure

__all__ = ["OutboxAgent", "RetryAgent"]

T = TypeVar("T")

log = logging.getLogger(__name__)

#: The retry agent never sleeps longer than this at a time.
RETRY_SHORT_WAIT_SECONDS = 1.0


async def _decode(delivery: Delivery, source: Message, decode: Callable[[bytes], T]) -> T | None:
    try:
        return decode(source.value or b"")
    except Exception as exc:  # whatever the decoder raises (deep nesting, huge numbers, ...)
        # pydantic's first line names the model and the error count, never the input.
        reason = str(exc).splitlines()[0] if isinstance(exc, ValidationError) else describe(exc)
        await _dead_letter(delivery, source, f"not a delivery record: {reason}", "invalid_outbox")
        return None


async def _dead_letter(delivery: Delivery, source: Message, reason: str, kind: str) -> None:
    await delivery.dead_letters.publish_record(source, reason=reason, kind=kind, stage="delivery")
    delivery.metrics.events_dead_lettered.labels(source.topic, kind).inc()


async def _last_resort(delivery: Delivery, source: Message, exc: Exception) -> None:
    """Handling ``source`` failed, and so did giving its message up: dead-letter the record."""
    where = f"{source.topic}[{source.partition}]@{source.offset}"
    log_failure(log, f"delivery failed on {where}", exc)
    await _dead_letter(delivery, source, f"delivery error: {describe(exc)}", "delivery_error")


async def _run(
    delivery: Delivery, stream: StreamT[bytes], handle: Callable[[Message], Awaitable[None]]
) -> None:
    """Each record through ``handle``; whatever escapes it dead-letters the record."""
    async with delivery.sending():
        async for record in stream.events():
            source = record.message
            try:
                await handle(source)
            except Exception as exc:
                await _last_resort(delivery, source, exc)


def _prune(delivery: Delivery, partition: int) -> None:
    try:
        delivery.prune(partition)
    except Exception as exc:  # a ledger that cannot be pruned must not stop sending
        log_failure(log, f"pruning the ledger of partition {partition} failed", exc)


def _is_prune_tick(source: Message) -> bool:
    """A tick the ticker put on the retry topic (a customer id could be ``__tick__`` too,
    but then the value is a retry record, not a tick)."""
    if source.key != TICK_KEY:
        return False
    try:
        return isinstance(parse_engine_record(source.value or b"", max_bytes=1024), Tick)
    except Exception:
        return False


class OutboxAgent:
    name = "lifecycle.delivery"

    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery

    async def run(self, stream: StreamT[bytes]) -> None:
        await _run(self.delivery, stream, self.handle)

    async def handle(self, source: Message) -> None:
        delivery = self.delivery
        message = await _decode(delivery, source, OutboxMessage.from_json_bytes)
        if message is not None:
            await delivery.ready_to_count(source.partition)
            _prune(delivery, source.partition)
            await delivery.attempt(message, attempt=1, partition=source.partition, source=source)


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
        self._pacers: dict[int, RetryPacer] = {}

    async def run(self, stream: StreamT[bytes]) -> None:
        await _run(self.delivery, stream, self.handle)

    async def handle(self, source: Message) -> None:
        delivery = self.delivery
        if _is_prune_tick(source):
            await delivery.ready_to_count(source.partition)
            _prune(delivery, source.partition)
            return
        retry = await _decode(delivery, source, RetryRecord.from_bytes)
        if retry is None:
            return
        await delivery.ready_to_count(source.partition)
        _prune(delivery, source.partition)
        pacer = self._pacers.setdefault(source.partition, RetryPacer(short_wait=self.short_wait))
        step = pacer.step(
            f"{retry.message.message_id} {retry.attempt}", retry.not_before, delivery.clock()
        )
        if step.action == "defer":
            if step.pause > 0:
                await self.sleep(step.pause)  # at most one short wait
            await self._defer(source)
            return
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
        await send_acknowledged(
            self.delivery.retry_topic,
            what=f"deferred retry record {source.topic}[{source.partition}]@{source.offset}",
            key=source.key,
            value=source.value,
            partition=source.partition,
        )
