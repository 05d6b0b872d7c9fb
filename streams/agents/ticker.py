"""The ticker: on the leader only, every tick interval, one tick record to every partition.

Faust timers cannot write tables, but a tick on the customer-events topic is processed by
the engine agent in the partition that owns the customers, where it can.

The same tick also goes to every partition of the outbox-retry topic, where the retry
agent prunes that partition's delivery ledger (:mod:`streams.agents.delivery`): the ledger
is written while processing outbox and retry records of a partition, so its tombstones
must be written while processing a record of the same partition, and a partition with no
mail has no other record to do it in.

A tick says "the time is T" to the engine, which then runs every due customer's timers up
to T. So a tick must not overtake the shop's records from before T: during a backfill
(a worker started on months of history) a tick sent at once would wake customers whose
later history is still on its way, decide their lapse or win-back on the wall clock, and
turn the rest of their history into late events. With a tick hold
(``LIFECYCLE_TICK_HOLD_MAX_SECONDS``, on by default) the ticker notes the end offsets of
the shop's topics when a tick is due and sends the tick, dated then, only once the whole
group has consumed past them (:class:`TickHold`, :mod:`streams.agents.source_offsets`):
behind every re-keyed event it must follow, on every partition. Live, that is the group's
commit interval later; in a backfill, once the shop's history is re-keyed. Pruning ticks
are not held (the ledger's expiry is wall-clock time, whatever the engine has seen).

A worker that cannot catch up would hold its ticks for good, and no timer would fire; so
a tick held longer than the maximum hold is sent anyway, and ticks then follow the wall
clock (with a warning) until the group next catches up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from aiokafka import TopicPartition
from faust.types import TopicT
from prometheus_client import Gauge

from lifecycle.processing import encode_tick

__all__ = ["TICK_KEY", "ShopHold", "ShopProgress", "TickHold", "Ticker"]

#: The key of every tick record (customer ids are keys too: the value tells them apart).
TICK_KEY = b"__tick__"

log = logging.getLogger(__name__)

#: The partition count of a topic as the cluster metadata has it (None: not known yet).
PartitionsOf = Callable[[str], int | None]

#: Held ticks kept at most; beyond that every other one is dropped (a held tick only
#: matters as the latest one covered).
MAX_HELD_TICKS = 64


class ShopProgress(Protocol):
    """The group's progress on the shop's topics (see :mod:`streams.agents.source_offsets`)."""

    async def ends(self) -> dict[TopicPartition, int]: ...

    async def committed(self) -> dict[TopicPartition, int]: ...


@dataclass(frozen=True)
class _Held:
    at: datetime
    ends: Mapping[TopicPartition, int]

    def covered_by(self, committed: Mapping[TopicPartition, int]) -> bool:
        # A partition the group never committed holds back only if it had records.
        return all(committed.get(tp, 0) >= end for tp, end in self.ends.items())


class TickHold:
    """Ticks waiting for the group to consume the shop's records written before them.

    Pure: the offsets and the clock are passed in. :meth:`release` answers the time of
    the latest held tick the committed offsets cover (the older ones are dropped with
    it: one tick at the latest time wakes whatever they would have), or, once the oldest
    has waited longer than ``max_hold``, the latest held tick's time regardless; from
    then on every tick is released at once until one is covered again.
    """

    def __init__(self, max_hold: timedelta) -> None:
        self.max_hold = max_hold
        self._held: list[_Held] = []
        self._overdue = False

    @property
    def overdue(self) -> bool:
        """Ticks follow the wall clock: the group has been behind for longer than the hold."""
        return self._overdue

    def hold(self, at: datetime, ends: Mapping[TopicPartition, int]) -> None:
        self._held.append(_Held(at, dict(ends)))
        if len(self._held) > MAX_HELD_TICKS:
            # Thin out the middle; keep the oldest (its age is the hold's) and the latest.
            self._held = [self._held[0], *self._held[1:-1:2], self._held[-1]]

    def __len__(self) -> int:
        return len(self._held)

    def held_since(self) -> datetime | None:
        return self._held[0].at if self._held else None

    def release(self, committed: Mapping[TopicPartition, int], now: datetime) -> datetime | None:
        covered = [n for n, held in enumerate(self._held) if held.covered_by(committed)]
        if covered:
            at = self._held[covered[-1]].at
            del self._held[: covered[-1] + 1]
            self._overdue = False
            return at
        if self._held and (self._overdue or now - self._held[0].at > self.max_hold):
            at = self._held[-1].at
            self._held.clear()
            self._overdue = True
            return at
        return None


@dataclass(frozen=True)
class ShopHold:
    """What a ticker needs to hold its ticks: the group's progress and the held ticks."""

    progress: ShopProgress
    ticks: TickHold


class Ticker:
    name = "lifecycle.ticker"
    #: The name of the timer that releases held ticks (:meth:`release`).
    release_name = "lifecycle.ticker.release"
    #: How often held ticks are checked against the group's committed offsets.
    release_interval_seconds = 1.0

    def __init__(
        self,
        customer_events: TopicT,
        *,
        partitions_of: PartitionsOf,
        default_partitions: int,
        retry_topic: TopicT | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        hold: ShopHold | None = None,
        held_seconds: Gauge | None = None,
    ) -> None:
        self.topic = customer_events
        self.partitions_of = partitions_of
        self.default_partitions = default_partitions
        self.retry_topic = retry_topic
        self.clock = clock
        #: Without one, ticks go out at once.
        self.hold = hold
        self.held_seconds = held_seconds
        self._holding_logged = False

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
            await self.send_prune_ticks(at)
        except Exception:
            log.exception("sending pruning ticks failed; will try again next interval")
        if self.hold is None:
            try:
                await self.send_ticks(at)
            except Exception:
                log.exception("sending ticks failed; will try again next interval")
            return
        try:
            self.hold.ticks.hold(at, await self.hold.progress.ends())
        except Exception:
            log.exception("reading the shop topics' end offsets failed; no tick this interval")
        await self.release()

    async def release(self) -> None:
        """Send the latest held tick the group's progress covers (the release timer's body)."""
        if self.hold is None or not self.hold.ticks:
            self._show_held()
            return
        ticks = self.hold.ticks
        try:
            committed = await self.hold.progress.committed()
        except Exception:
            log.exception("reading the group's committed offsets failed; ticks stay held")
            return
        now = self.clock()
        was_overdue = ticks.overdue
        since = ticks.held_since()
        at = ticks.release(committed, now)
        self._log_hold(ticks, since, at, now, was_overdue)
        self._show_held()
        if at is None:
            return
        try:
            await self.send_ticks(at)
        except Exception:
            log.exception("sending ticks failed; will try again next interval")

    def _log_hold(
        self,
        ticks: TickHold,
        since: datetime | None,
        at: datetime | None,
        now: datetime,
        was_overdue: bool,
    ) -> None:
        if since is None:
            return
        if ticks.overdue and not was_overdue:
            log.warning(
                "ticks held for over %.0f s: the group is still behind on the shop's topics; "
                "ticks follow the wall clock until it catches up",
                ticks.max_hold.total_seconds(),
            )
        elif was_overdue and not ticks.overdue:
            log.info("ticks held again until the shop's records before each are consumed")
        waited = (now - since).total_seconds()
        if at is None and waited >= 60 and not self._holding_logged:
            self._holding_logged = True
            log.info(
                "holding ticks until the group has consumed the shop's records written "
                "before %s (a backfill); waiting %.0f s so far",
                since.isoformat(timespec="seconds"),
                waited,
            )
        elif at is not None and self._holding_logged:
            self._holding_logged = False
            log.info("ticks resumed after %.0f s held: the shop's history is re-keyed", waited)

    def _show_held(self) -> None:
        if self.held_seconds is None:
            return
        since = self.hold.ticks.held_since() if self.hold is not None else None
        waited = 0.0 if since is None else (self.clock() - since).total_seconds()
        self.held_seconds.set(max(0.0, waited))
