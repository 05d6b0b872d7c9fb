"""Backtest: run the live engine over a history, in event-time order, with synthesised ticks.

Output records (one JSON object per line in ``lifecycle replay``) are stable:

* ``{"kind": "signal", "at", "customer_id", "signal", "signal_kind", "cause", ...data}``
  (a data key with one of those names never replaces them)
* ``{"kind": "decision", "at", "customer_id", "campaign", "variant", "step", "outcome",
  "template", ...}`` from the campaign runtime, plus its journey records.
* ``{"kind": "tally", "at", "customer_id", "facts"}``: what the outcome adds to the
  counters (:mod:`lifecycle.measurement.tally`), so a backtest's report is built from the
  same facts as the live one.
* ``{"kind": "allocation", ...}``: an adaptive split fixed a window's shares.

Adaptive splits learn per partition (:mod:`~lifecycle.processing.allocation`): give
``partitions`` the worker's partition count and each customer's counts go to the ledger
of the partition the worker's producer sends them to, so a replay fixes the same shares.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from lifecycle.events import Event
from lifecycle.kv import MemoryBytesStore
from lifecycle.processing.allocation import AllocationLedger, partition_for
from lifecycle.processing.due_index import DueIndex
from lifecycle.processing.engine import Engine, Outcome
from lifecycle.processing.partition import MemoryStateStore, PartitionProcessor
from lifecycle.signals import Signal

__all__ = ["Replay", "outcome_records", "signal_record", "sorted_history", "tally_record"]


def signal_record(customer_id: str, signal: Signal) -> dict[str, Any]:
    stable = {
        "kind": "signal",
        "at": signal.at.astimezone(UTC).isoformat(),
        "customer_id": customer_id,
        "signal": signal.name,
        "signal_kind": signal.kind,
        "cause": signal.cause,
    }
    # The stable fields first and untouchable: a signal's data never overwrites them.
    return stable | {k: v for k, v in signal.data.items() if k not in stable}


def tally_record(outcome: Outcome) -> dict[str, Any] | None:
    """What the outcome counts (``lifecycle report --from`` adds these up), or None."""
    state = outcome.state
    if outcome.duplicate or not state.facts:
        return None
    return {
        "kind": "tally",
        "at": state.clock.astimezone(UTC).isoformat() if state.clock else None,
        "customer_id": state.customer_id,
        "facts": [list(fact) for fact in state.facts],
    }


def outcome_records(outcome: Outcome) -> list[dict[str, Any]]:
    customer_id = outcome.state.customer_id
    records = [signal_record(customer_id, s) for s in outcome.signals]
    records.extend(o.to_record() for o in outcome.outputs)
    tally = tally_record(outcome)
    if tally is not None:
        records.append(tally)
    return records


class Replay:
    """Feeds a history through one in-memory partition, exactly as the worker would."""

    def __init__(
        self, engine: Engine, tick: timedelta = timedelta(hours=1), partitions: int = 1
    ) -> None:
        if tick <= timedelta(0):
            raise ValueError("tick must be positive")
        if partitions < 1:
            raise ValueError("partitions must be at least 1")
        self.tick = tick
        self.states = MemoryStateStore()
        store = MemoryBytesStore()
        self.ledgers = [AllocationLedger(store, p) for p in range(partitions)]
        # One bucket per tick: the bucket size changes what a tick reads, never what it decides.
        buckets = max(60, int(tick.total_seconds()))
        self.processor = PartitionProcessor(
            engine,
            self.states,
            DueIndex(store, partition=0, bucket_seconds=buckets),
            ledger_of=lambda customer_id: self.ledgers[partition_for(customer_id, partitions)],
        )
        self._next_tick: datetime | None = None

    def _first_tick_after(self, at: datetime) -> datetime:
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        steps = (at - epoch) // self.tick
        return epoch + (steps + 1) * self.tick

    def run(
        self, events: Iterable[Event], until: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """Output records; events must come in event-time order (see :func:`sorted_history`)."""
        for outcome, _ in self.outcomes(events, until):
            yield from outcome_records(outcome)

    def outcomes(
        self, events: Iterable[Event], until: datetime | None = None
    ) -> Iterator[tuple[Outcome, Event | None]]:
        """Each outcome with the event that caused it (None for a tick), in processing order."""
        last_time: datetime | None = None
        for event in events:
            if until is not None and event.occurred_at > until:
                break
            yield from self._ticks_until(event.occurred_at)
            outcome = self.processor.on_event(event)
            self.processor.commit(outcome)
            yield outcome, event
            last_time = event.occurred_at
        end = until if until is not None else last_time
        if end is not None:
            yield from self._ticks_until(end, inclusive=True)

    def _ticks_until(
        self, at: datetime, inclusive: bool = False
    ) -> Iterator[tuple[Outcome, Event | None]]:
        if self._next_tick is None:
            self._next_tick = self._first_tick_after(at)
            return
        while self._next_tick < at or (inclusive and self._next_tick <= at):
            yield from self.tick_at(self._next_tick)
            self._next_tick += self.tick
        if inclusive and self._next_tick > at:
            # A last, partial tick so everything due by ``until`` runs.
            yield from self.tick_at(at)

    def tick_at(self, now: datetime) -> Iterator[tuple[Outcome, Event | None]]:
        for state in self.processor.due_states(now):
            outcome = self.processor.on_due(state, now)
            self.processor.commit(outcome)
            yield outcome, None


def sorted_history(events: Iterable[Event]) -> list[Event]:
    """Event-time order; events at the same instant keep their order in the file."""
    return sorted(events, key=lambda e: e.occurred_at)
