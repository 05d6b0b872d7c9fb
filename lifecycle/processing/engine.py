"""The engine: one customer, one input (an event or the passage of time), one outcome.

This is the single place where detection and campaigns meet, and it is what the Faust
agent, ``lifecycle replay`` and the tests all call, so they decide identically. Campaigns
come in as a :class:`~lifecycle.campaigns.CampaignSet` (bound to its runtime context);
without one the engine only detects.

Every outcome's state carries its counted facts (:mod:`lifecycle.measurement.tally`), so
the worker and a replay count alike too.

Time rule: before an event at time ``t`` is applied, everything that was due for this
customer at or before ``t`` runs first, each at its own due time. A tick only wakes
customers nobody else woke. So what is decided, and the time it is decided at, depend on
each customer's own history alone, not on how often ticks arrive or how partitions
interleave: a replay of the same history decides exactly what the live worker decided.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from lifecycle.campaigns import Allocations, CampaignSet, JourneyOutput
from lifecycle.config import EngineConfig
from lifecycle.customer import apply, is_duplicate
from lifecycle.detection import fire_due_detectors, next_detector_due
from lifecycle.events import Event
from lifecycle.mail import OutboxMessage
from lifecycle.measurement import tally
from lifecycle.signals import Signal
from lifecycle.state import CustomerState

__all__ = ["Engine", "Outcome"]

_MAX_WAKEUPS = 10_000


@dataclass(frozen=True)
class Outcome:
    state: CustomerState
    #: ``next_due_at`` before this input, so a due index can move the customer.
    previous_due: datetime | None
    signals: tuple[Signal, ...] = ()
    outputs: tuple[JourneyOutput, ...] = ()
    duplicate: bool = False
    #: The outbox records to publish.
    messages: tuple[OutboxMessage, ...] = field(init=False)
    #: Sends decided before ``stale_before``: never published, since delivery would only
    #: expire them; the state's facts count each as ``expired`` (see measurement.tally).
    expired: tuple[OutboxMessage, ...] = field(init=False)

    def __post_init__(self) -> None:
        found = [o.message for o in self.outputs if o.message is not None]
        object.__setattr__(self, "messages", tuple(m for m in found if m.rendered))
        object.__setattr__(self, "expired", tuple(m for m in found if not m.rendered))


class Engine:
    def __init__(self, config: EngineConfig, campaigns: CampaignSet | None = None) -> None:
        self.config = config
        #: None runs detection only (an empty set would still end the journeys it lacks).
        self.campaigns = campaigns

    def handle_event(
        self,
        state: CustomerState | None,
        event: Event,
        allocations: Allocations | None = None,
        *,
        stale_before: datetime | None = None,
    ) -> Outcome:
        """``allocations``: the adaptive splits' shares of the customer's partition.

        ``stale_before``: sends decided before it are decided as always, but neither
        rendered nor published: they are the outcome's ``expired``, counted as such in its
        state's facts (delivery would expire them); None renders every send."""
        before = state
        state = state or CustomerState.new(event.customer_id)
        previous_due = state.next_due_at
        if is_duplicate(state, event):
            return Outcome(state=state, previous_due=previous_due, duplicate=True)
        state, signals, outputs = self._advance(state, event.occurred_at, allocations, stale_before)
        state, applied = apply(state, event, self.config)
        assert state.clock is not None
        reacted: list[JourneyOutput] = []
        if self.campaigns is not None:
            state, reacted = self.campaigns.react(
                state,
                state.clock,
                event=event,
                signals=applied,
                allocations=allocations,
                stale_before=stale_before,
            )
        state = self._reschedule(state)
        all_signals, all_outputs = (*signals, *applied), (*outputs, *reacted)
        state = tally(before, state, signals=all_signals, outputs=all_outputs, event=event)
        return Outcome(
            state=state, previous_due=previous_due, signals=all_signals, outputs=all_outputs
        )

    def handle_due(
        self,
        state: CustomerState,
        now: datetime,
        allocations: Allocations | None = None,
        *,
        stale_before: datetime | None = None,
    ) -> Outcome:
        """Run whatever is due for this customer at or before ``now``."""
        previous_due = state.next_due_at
        before = state
        state, signals, outputs = self._advance(state, now, allocations, stale_before)
        state = self._reschedule(state)
        state = tally(before, state, signals=signals, outputs=outputs, event=None)
        return Outcome(
            state=state, previous_due=previous_due, signals=tuple(signals), outputs=tuple(outputs)
        )

    def next_due(self, state: CustomerState) -> datetime | None:
        wake = None if self.campaigns is None else self.campaigns.next_wake(state)
        candidates = [t for t in (next_detector_due(state, self.config), wake) if t is not None]
        return min(candidates) if candidates else None

    def _reschedule(self, state: CustomerState) -> CustomerState:
        due = self.next_due(state)
        if due == state.next_due_at:
            return state
        return state.model_copy(update={"next_due_at": due})

    def _advance(
        self,
        state: CustomerState,
        until: datetime,
        allocations: Allocations | None = None,
        stale_before: datetime | None = None,
    ) -> tuple[CustomerState, list[Signal], list[JourneyOutput]]:
        signals: list[Signal] = []
        outputs: list[JourneyOutput] = []
        # The state carries its next due time from the last step; it is recomputed after
        # every change. (Changed thresholds therefore apply to a customer from their next
        # event or wake-up on.)
        due = state.next_due_at
        for _ in range(_MAX_WAKEUPS):
            if due is None or due > until:
                return state, signals, outputs
            state, fired = fire_due_detectors(state, due, self.config)
            at = max(due, state.clock) if state.clock else due
            state = state.model_copy(update={"clock": at})
            woke: list[JourneyOutput] = []
            if self.campaigns is not None:
                if fired:
                    state, reacted = self.campaigns.react(
                        state,
                        at,
                        event=None,
                        signals=fired,
                        allocations=allocations,
                        stale_before=stale_before,
                    )
                    outputs.extend(reacted)
                state, woke = self.campaigns.wake(state, at, stale_before)
            signals.extend(fired)
            outputs.extend(woke)
            previous, due = due, self.next_due(state)
            if not fired and not woke and due == previous:
                raise RuntimeError(  # a runtime that neither acts nor moves its wake time
                    f"customer {state.customer_id}: nothing ran at due time {previous.isoformat()}"
                )
        raise RuntimeError(f"customer {state.customer_id}: too many wake-ups before {until}")
