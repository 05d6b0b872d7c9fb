"""The counters of one journal (customer state or delivery ledger) over this worker's partitions.

A write that carries facts (a customer state from the engine, a final ledger entry from
delivery) is counted when the broker acknowledges its changelog record, with that record's
offset: :meth:`Journal.acknowledged` adds the facts only to a partition that is ready and
only above the partition's coverage (the offset up to which its totals already hold every
fact). A write the broker refused is never counted (and its state never existed). While a
partition recovers (:mod:`streams.counters.store`), acknowledgements are held and applied
after it, above the recovered coverage, so a write that lands during recovery is counted
once: by the tail read or by its acknowledgement, never both.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from lifecycle.measurement import Number, Totals
from lifecycle.state import Fact

__all__ = ["Journal", "PartitionCounters"]

log = logging.getLogger(__name__)


@dataclass
class PartitionCounters:
    totals: Totals
    #: Every fact of a record at or below this offset of the journal is in ``totals``.
    coverage: int
    #: The consumer group generation this partition was recovered in.
    generation: int


@dataclass
class _Recovering:
    held: list[tuple[int, tuple[Fact, ...]]] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Journal:
    def __init__(self, name: str, changelog: str, *, generation: Callable[[], int]) -> None:
        self.name = name
        #: The changelog topic whose records carry this journal's facts.
        self.changelog = changelog
        self.generation = generation
        self.partitions: dict[int, PartitionCounters] = {}
        self._recovering: dict[int, _Recovering] = {}

    def ready(self, partition: int) -> bool:
        counters = self.partitions.get(partition)
        return counters is not None and counters.generation == self.generation()

    def track(self, future: asyncio.Future[Any], facts: tuple[Fact, ...]) -> None:
        """Count ``facts`` once ``future`` (a changelog record's) is acknowledged."""
        if facts:
            future.add_done_callback(lambda done: self._on_written(done, facts))

    def _on_written(self, future: asyncio.Future[Any], facts: tuple[Fact, ...]) -> None:
        if future.cancelled() or future.exception() is not None:
            return  # not durable: neither is the write it stands for
        metadata = future.result()
        self.acknowledged(metadata.partition, metadata.offset, facts)

    def acknowledged(self, partition: int, offset: int, facts: tuple[Fact, ...]) -> None:
        recovering = self._recovering.get(partition)
        if recovering is not None:
            recovering.held.append((offset, facts))
            return
        counters = self.partitions.get(partition)
        if counters is None or offset <= counters.coverage:
            return
        counters.totals.add_facts(facts)
        counters.coverage = offset

    # -- recovery (driven by streams.counters.store) ------------------------------------

    def begin_recovery(self, partition: int) -> asyncio.Event | None:
        """Start recovering ``partition``; None if it is being recovered already (wait for
        the returned event of that recovery instead: :meth:`recovery_of`)."""
        if partition in self._recovering:
            return None
        self.partitions.pop(partition, None)
        self._recovering[partition] = _Recovering()
        return self._recovering[partition].done

    def recovery_of(self, partition: int) -> asyncio.Event | None:
        recovering = self._recovering.get(partition)
        return None if recovering is None else recovering.done

    def finish_recovery(self, partition: int, counters: PartitionCounters | None) -> None:
        """Install the recovered counters (None: recovery failed; try again next record)."""
        recovering = self._recovering.pop(partition)
        if counters is not None:
            self.partitions[partition] = counters
            for offset, facts in sorted(recovering.held, key=lambda held: held[0]):
                self.acknowledged(partition, offset, facts)
        recovering.done.set()

    # -- flushing ---------------------------------------------------------------------

    def take_changes(self) -> list[tuple[int, dict[Any, Number], int]]:
        """(partition, changed totals, coverage) for every partition with changes that
        this worker still owns in the current group generation (a partition that moved
        is the new owner's to publish)."""
        changes = []
        for partition, counters in self.partitions.items():
            if counters.generation != self.generation():
                continue
            dirty = counters.totals.take_dirty()
            if dirty:
                changes.append((partition, dirty, counters.coverage))
        return changes

    def unflushed(self, partition: int, keys: Iterable[Any]) -> None:
        """A flush of these keys failed: send them again next time."""
        counters = self.partitions.get(partition)
        if counters is not None:
            counters.totals.mark_dirty(keys)
