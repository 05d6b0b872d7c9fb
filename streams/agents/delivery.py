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

The outbox agent takes its records in batches (``Stream.take_events``) and sends the
messages of different customers at once, up to ``concurrency`` in flight (the SMTP pool's
size), one customer's messages in the order of their partition: a relay that takes 100 ms
a message gets ``concurrency`` messages a tenth of a second instead of one. Faust acks a
batch's records once all of them are handled, so a crash repeats at most the batch, whose
messages the ledger does not send twice (the ``committing`` ones are reported in doubt,
as before); a batch left in the middle (the worker stopping) acks none of the records it
did not finish (:mod:`streams.internals.batch_acks`). Every attempt runs as its own
record's (:func:`~streams.internals.acting_for`), so its ledger writes go to that record's
changelog partition.

Every record ends processed or dead-lettered and counted, whatever it provokes: a record
that does not decode is dead-lettered as ``invalid_outbox``; a message that delivery
cannot handle is given up by :meth:`Delivery.attempt` (``delivery_error``, ledger
``failed``); and should that fail as well, the record itself is dead-lettered as
``delivery_error`` here. A pruning failure is logged and does not stop delivery.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

from faust.streams import Stream
from faust.types import EventT, Message, StreamT
from pydantic import ValidationError

from lifecycle.mail import OutboxMessage, RetryPacer, RetryRecord
from lifecycle.processing import Tick, parse_engine_record
from streams.acknowledged import send_acknowledged
from streams.agents.ticker import TICK_KEY
from streams.delivery import Delivery
from streams.failures import describe, log_failure
from streams.internals import acks_withheld_unless_handled, acting_for

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


Handler = Callable[[Message], Awaitable[None]]


async def _handle_or_dead_letter(delivery: Delivery, handle: Handler, source: Message) -> None:
    """``source`` through ``handle``; whatever escapes it dead-letters the record."""
    try:
        await handle(source)
    except Exception as exc:
        await _last_resort(delivery, source, exc)


async def _run(delivery: Delivery, stream: StreamT[bytes], handle: Handler) -> None:
    """Each record through ``handle``, one at a time (see _handle_or_dead_letter)."""
    async with delivery.sending():
        async for record in stream.events():
            await _handle_or_dead_letter(delivery, handle, record.message)


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

    def __init__(
        self,
        delivery: Delivery,
        *,
        concurrency: int = 1,
        batch_size: int = 200,
        batch_seconds: float = 0.005,
    ) -> None:
        self.delivery = delivery
        #: Messages in flight at once (different customers); the SMTP pool bounds it too.
        self.concurrency = concurrency
        self.batch_size = batch_size
        #: How long a batch waits to fill: Faust waits it out even for a lone record, so it
        #: is latency (at 300 events/s, p50 produce to SMTP 64 ms with 10 ms, 47 ms with 5).
        self.batch_seconds = batch_seconds

    async def run(self, stream: StreamT[bytes]) -> None:
        # ``take_events`` is public on faust's Stream, but missing from its StreamT type.
        batches = cast("Stream[bytes]", stream).take_events(
            self.batch_size, within=self.batch_seconds
        )
        async with self.delivery.sending():
            async for records in batches:
                await self.handle_batch(records)

    async def handle_batch(self, records: Sequence[EventT[Any]]) -> None:
        """Handle ``records``: one customer's in order, up to ``concurrency`` at once.

        Never raises for a record: whatever escapes :meth:`handle` dead-letters it."""
        by_customer: dict[bytes | None, list[EventT[Any]]] = {}
        for record in records:
            by_customer.setdefault(record.message.key, []).append(record)
        slots = asyncio.Semaphore(self.concurrency)
        # Stopped in the middle (cancelled), the records not handled must come again.
        with acks_withheld_unless_handled(records) as handled:

            async def in_order(customer_records: list[EventT[Any]]) -> None:
                for record in customer_records:
                    async with slots:
                        with acting_for(record):
                            await _handle_or_dead_letter(self.delivery, self.handle, record.message)
                    handled.add(id(record))

            await asyncio.gather(*(in_order(rs) for rs in by_customer.values()))

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
