"""A Faust Kafka consumer that does not lose the records in flight during a rebalance.

Faust (faust-streaming 0.15.3, and its main branch) throws fetched records away at several
points of a rebalance and counts on "seek back to the committed offsets" to fetch them again:
a batch that comes back from the consumer thread after ``stop_flow()``, records of partitions
paused at that moment, and the agents' queues, which ``app.flow_control`` empties when
partitions are revoked and again when flow resumes after table recovery. The seek misses
records in two ways:

1. aiokafka's ``seek_to_committed()`` only moves partitions whose committed offset is above 0.
   A partition the group has never committed (a new group; no record of it finished yet) keeps
   its position, already past the dropped records, so nothing fetches them again.
2. ``Recovery.on_recovery_completed()`` resumes the stream partitions while the fetch loop
   runs, seeks them, and only then calls ``flow_control.resume()``, which empties the agents'
   queues. Records delivered in between are thrown away after the last seek
   (faust-streaming/faust#596). Commits of such a partition then stop at the hole until the
   next rebalance, or, with no committed offset, the records are lost.

Seen from outside, a worker "stops consuming" when another joins its group: the records that
arrived around the rebalance never reach its agents, though what arrives later does.

:class:`RebalanceSafeConsumer` keeps stream records out of the rebalance altogether:

- From the start of a rebalance until it has settled, the fetch loop asks the consumer thread
  for changelog partitions only (table recovery needs those), and discards stream records of a
  fetch that was under way when the rebalance began. So no stream record reaches Faust's
  rebalance code, where it could be dropped (or delivered, then dropped, then delivered again).
- Once Faust has finished the rebalance (``app.rebalancing`` false: recovery done, queues
  cleared, flow resumed), the fetch loop itself seeks every assigned partition to its committed
  offset, then fetches stream partitions again. Seeking in the fetch loop means no delivery
  runs at the same time; it also rewinds the batch that may have been in flight when the
  rebalance began.
- Seeking to the committed offsets also moves a partition without one to where the
  ``earliest`` reset policy starts it (changelog partitions excepted: table recovery positions
  those itself).

Records processed but not yet committed before a rebalance are processed again after it:
at-least-once, as Kafka consumers are after any rebalance.

It also makes the fetch long-poll configurable: Faust hard-codes ``fetch_max_wait_ms=1500``
for the worker's aiokafka consumer, and a broker with nothing new to send may hold each fetch
that long (Tansu does), so every hop of a pipeline that is mostly idle (shop topic, customer
events, outbox) can cost up to that much latency. The transport's ``fetch_max_wait_ms``
(``LIFECYCLE_KAFKA_FETCH_MAX_WAIT_MS``) replaces it before the consumer starts; only latency
and the number of empty fetches change, never which records are fetched or committed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Set
from typing import Any

import aiokafka
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, Message

__all__ = ["FAUST_FETCH_MAX_WAIT_MS", "RebalanceSafeConsumer"]

#: What Faust's aiokafka driver passes as ``fetch_max_wait_ms`` (faust-streaming 0.15.3).
FAUST_FETCH_MAX_WAIT_MS = 1500

#: How often the fetch loop looks again while it has nothing it may fetch.
_IDLE_POLL_SECONDS = 0.1


class _ConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    """Faust's consumer thread with the transport's fetch long-poll instead of 1500 ms."""

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # Read by AIOKafkaConsumer.start(), which builds its Fetcher with it.
        consumer._fetch_max_wait_ms = getattr(
            transport, "fetch_max_wait_ms", FAUST_FETCH_MAX_WAIT_MS
        )
        return consumer


class RebalanceSafeConsumer(aiokafka_driver.Consumer):
    #: The group generation whose partitions the fetch loop has sought after its rebalance.
    _settled_generation: int | None = None

    def _new_consumer_thread(self) -> aiokafka_driver.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def rebalance_settled(self) -> bool:
        """True once the current generation's rebalance is over and its seek is done."""
        app = self.app
        return not app.rebalancing and app.consumer_generation_id == self._settled_generation

    # Faust's signature: the fetch loop passes its poll timeout.
    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:  # noqa: ASYNC109
        if not self.rebalance_settled() and not self.app.rebalancing and self.flow_active:
            await self._seek_after_rebalance()
        async for tp, message in super().getmany(timeout):
            yield tp, message

    async def _seek_after_rebalance(self) -> None:
        generation = self.app.consumer_generation_id
        if self.assignment():
            try:
                await self.perform_seek()
            except Exception as exc:  # a new rebalance may take partitions away meanwhile
                self.log.warning("Seek after rebalance failed, will try again: %r", exc)
                return
            self.log.info("Sought partitions to committed offsets after rebalance")
        self._settled_generation = generation

    async def _getmany(self, active_partitions: Set[TP] | None, timeout: float) -> Any:  # noqa: ASYNC109
        if active_partitions is None:  # a client-only app: no groups, no rebalances
            return await super()._getmany(active_partitions, timeout)
        # A copy: Faust hands the live set to the consumer thread, where emptying it during a
        # rebalance would mean "every assigned partition" to aiokafka.
        if self.rebalance_settled():
            allowed = set(active_partitions)
        else:
            allowed = {tp for tp in active_partitions if self._is_changelog_tp(tp)}
        if not allowed:
            await self.sleep(min(timeout, _IDLE_POLL_SECONDS))
            return {}
        records = await super()._getmany(allowed, timeout)
        if not self.rebalance_settled():
            # Asked for before the rebalance began, back after: the seek that settles it
            # comes next and fetches these again.
            records = {tp: batch for tp, batch in records.items() if self._is_changelog_tp(tp)}
        return records

    async def seek_to_committed(self) -> Mapping[TP, int]:
        committed = await super().seek_to_committed()
        if self.app.conf.consumer_auto_offset_reset == "earliest":
            # aiokafka leaves these where they are (it only seeks offsets above 0).
            never_committed = [
                tp
                for tp, offset in committed.items()
                if (offset is None or offset <= 0) and not self._is_changelog_tp(tp)
            ]
            if never_committed:
                # Offset 0, or, once retention has removed it, out of range: aiokafka then
                # resets to the earliest offset. (seek_to_beginning would wait for a
                # ListOffsets answer behind the fetch long-poll, up to fetch_max_wait_ms.)
                await self._thread.seek_wait(dict.fromkeys(never_committed, 0))
        return committed
