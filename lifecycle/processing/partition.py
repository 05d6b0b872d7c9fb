"""One partition's worth of customers: state store + due index + engine.

The worker and ``lifecycle replay`` drive the same steps: compute an outcome, do the
side effects (the worker publishes the outbox first, so a crash can only repeat work,
never lose it), then :meth:`PartitionProcessor.commit` the state and the due index, and
count the outcome's treatments and conversions in the adaptive splits' ledger of the
customer's partition (:mod:`~lifecycle.processing.allocation`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from datetime import datetime
from typing import Protocol

from lifecycle.events import Event
from lifecycle.processing.allocation import AllocationLedger
from lifecycle.processing.due_index import DueIndex
from lifecycle.processing.engine import Engine, Outcome
from lifecycle.state import CustomerState

__all__ = ["MemoryStateStore", "PartitionProcessor", "StateStore"]


class StateStore(Protocol):
    def get(self, customer_id: str) -> CustomerState | None: ...

    def put(self, state: CustomerState) -> None: ...


class MemoryStateStore:
    """Keeps serialized states, like the worker's table does, so replay pays the same codec."""

    def __init__(self, data: MutableMapping[str, bytes] | None = None) -> None:
        self.data: MutableMapping[str, bytes] = {} if data is None else data

    def get(self, customer_id: str) -> CustomerState | None:
        raw = self.data.get(customer_id)
        return None if raw is None else CustomerState.from_bytes(raw)

    def put(self, state: CustomerState) -> None:
        self.data[state.customer_id] = state.to_bytes()


class PartitionProcessor:
    def __init__(
        self,
        engine: Engine,
        states: StateStore,
        due: DueIndex,
        ledger_of: Callable[[str], AllocationLedger] | None = None,
    ) -> None:
        self.engine = engine
        self.states = states
        self.due = due
        #: The adaptive splits' ledger of a customer's partition (the worker: this
        #: partition's, whoever the customer; replay: by the producer's partitioner).
        self.ledger_of = ledger_of or _one_ledger(AllocationLedger(due.store, due.partition))
        #: State reads made for ticks: the cost a tick pays, which must follow the due count.
        self.tick_state_reads = 0

    def on_event(self, event: Event, *, stale_before: datetime | None = None) -> Outcome:
        """``stale_before``: see :meth:`Engine.handle_event`."""
        ledger = self.ledger_of(event.customer_id)
        state = self.states.get(event.customer_id)
        return self.engine.handle_event(state, event, ledger, stale_before=stale_before)

    def due_states(self, now: datetime) -> Iterator[CustomerState]:
        """States of the customers due at or before ``now`` (read through the due index)."""
        for filed_at, customer_id in self.due.candidates(now):
            self.tick_state_reads += 1
            state = self.states.get(customer_id)
            due = None if state is None else state.next_due_at
            if (
                state is None
                or due is None
                or self.due.bucket_of(due) != self.due.bucket_of(filed_at)
            ):
                # A stale entry (the worker dropped a batch's state writes when the
                # outbox refused a record; an index kept apart from the states after a
                # crash): file the customer where the state says, so the cursor moves on.
                self.due.reschedule(customer_id, filed_at, due)
                continue
            if due <= now:
                yield state

    def on_due(
        self, state: CustomerState, now: datetime, *, stale_before: datetime | None = None
    ) -> Outcome:
        ledger = self.ledger_of(state.customer_id)
        return self.engine.handle_due(state, now, ledger, stale_before=stale_before)

    def commit(self, outcome: Outcome) -> None:
        if outcome.duplicate:
            # A duplicate is usually a replay after a crash. An index kept apart from
            # the states may have lost the entry the state was written with: file it
            # again (a no-op when it is there, as in the worker, which fills its
            # indexes from the states).
            self.due.reschedule(outcome.state.customer_id, None, outcome.state.next_due_at)
            return
        self.states.put(outcome.state)
        self.due.reschedule(
            outcome.state.customer_id, outcome.previous_due, outcome.state.next_due_at
        )
        campaigns, state = self.engine.campaigns, outcome.state
        if campaigns is not None and state.facts and state.clock is not None:
            self.ledger_of(state.customer_id).count_facts(campaigns, state.facts, state.clock)


def _one_ledger(ledger: AllocationLedger) -> Callable[[str], AllocationLedger]:
    return lambda _customer_id: ledger
