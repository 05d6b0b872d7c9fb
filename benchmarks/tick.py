"""One tick at scale, at the core: the due index and the engine on the memory store.

``customers`` states, of which ``fraction`` are due within the hour before the tick and
the rest in a month; the tick finds the due ones through the due index, runs the engine
on each and writes them back (what the engine agent does per tick, without Kafka).
Building the states is not timed; the tick is, as the best of three on copies.

:func:`fill_seconds` times what a worker does for a partition before its first record
after a start or rebalance: read every state's due time and file it in a new due index
(:meth:`~streams.tables.TableStateStore.filed_due_times`, :meth:`DueIndex.file_all`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from lifecycle.config import EngineConfig, MilestoneConfig
from lifecycle.kv import MemoryBytesStore
from lifecycle.processing import DueIndex, Engine, MemoryStateStore, PartitionProcessor
from lifecycle.state import CustomerState
from streams.tables import TableStateStore, UnreadableState

__all__ = ["fill_seconds", "tick_seconds"]


def tick_seconds(customers: int, fraction: float = 0.001) -> tuple[int, float, float]:
    """(customers due, seconds of one tick (the best of three), seconds to fill a due
    index from the states)."""
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    due_count = max(1, round(customers * fraction))
    states: dict[str, bytes] = {}
    index_data: dict[bytes, bytes] = {}
    index = DueIndex(MemoryBytesStore(index_data), partition=0)
    template = CustomerState.new("template")
    for n in range(customers):
        due = t0 + (timedelta(seconds=n * 3) if n < due_count else timedelta(days=30, seconds=n))
        profile = template.profile.model_copy(update={"signed_up_at": due - timedelta(days=200)})
        state = template.model_copy(
            update={"customer_id": f"c{n}", "profile": profile, "clock": t0, "next_due_at": due}
        )
        states[state.customer_id] = state.to_bytes()
        index.reschedule(state.customer_id, None, due)
    now = t0 + timedelta(hours=1)
    engine = Engine(EngineConfig(milestones=MilestoneConfig(no_order_after_signup_days=())))
    best = float("inf")
    for _ in range(3):
        store = MemoryStateStore(dict(states))
        due_index = DueIndex(MemoryBytesStore(dict(index_data)), partition=0)
        processor = PartitionProcessor(engine, store, due_index)
        start = time.perf_counter()
        woken = 0
        for state in list(processor.due_states(now)):
            processor.commit(processor.on_due(state, now))
            woken += 1
        best = min(best, time.perf_counter() - start)
        assert woken == due_count, (woken, due_count)
    return due_count, best, fill_seconds(states)


def fill_seconds(states: dict[str, bytes]) -> float:
    """Seconds to fill one partition's due index from ``states`` (all of it)."""
    table = {customer_id.encode(): raw for customer_id, raw in states.items()}
    unreadable: list[UnreadableState] = []
    start = time.perf_counter()
    index = DueIndex(MemoryBytesStore(), partition=0)
    filed = index.file_all(TableStateStore(table).filed_due_times(0, 1, unreadable))  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    assert filed == len(states), (filed, len(states))
    assert not unreadable, unreadable
    return seconds
