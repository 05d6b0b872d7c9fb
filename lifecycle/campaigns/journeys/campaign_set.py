"""Journeys at runtime: pure functions of (state, time, input) -> (state, outputs).

The engine calls, for one customer:

* :meth:`CampaignSet.react` after an event was applied (``event`` given) or after
  detectors fired on a due time (``event`` None): conversions, exits, entries, and
  whatever journey steps are due at that moment.
* :meth:`CampaignSet.next_wake`: the earliest time a journey needs to run again.
* :meth:`CampaignSet.wake` at that time: run the due steps.

One call is one *moment*. Within it, in this order:

1. Journeys of campaigns that were removed or disabled end (``exited``).
2. Conversion goals are checked for every journey still inside its window (control too).
3. ``exit_on`` matches end journeys; marketing journeys end when consent is gone.
4. Triggers start journeys: not while already in it, only as ``reentry`` allows, only
   if every ``audience`` condition holds, and for marketing only with consent (else a
   ``no_consent`` decision and no entry). The variant comes from the A/B hash.
5. Every due journey (and every new one) runs until it reaches a send, a wait or its
   end. ``exit_when`` is checked first each time a journey runs.
6. Each send is checked, in this order: consent (marketing; failing ends the journey),
   address, suppression (marketing), quiet hours (deferred to their end), frequency
   caps (global per category, then the campaign's; skipped). Control customers go
   through the same checks and then get ``holdout`` instead of a message; a holdout
   counts toward later caps like the send it stands in for.
7. Priority: a customer gets at most one marketing message per moment. Among the
   marketing sends that passed step 6, the highest ``priority`` wins (ties: campaign
   id). A losing journey step is deferred by ``conflict_delay``; a losing *new entry*
   is dropped (the customer does not enter; the trigger is gone). A control winner
   takes the moment just as a real send would, so holdout and treatment stay
   comparable. Transactional messages take part in no conflict.

Every message considered produces a :class:`~lifecycle.campaigns.records.Decision`;
every journey move a :class:`~lifecycle.campaigns.records.JourneyRecord`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from lifecycle.campaigns.context import RuntimeContext
from lifecycle.campaigns.journeys.membership import Membership
from lifecycle.campaigns.journeys.sending import Sending
from lifecycle.campaigns.model import Campaign
from lifecycle.campaigns.records import JourneyOutput
from lifecycle.campaigns.templates import TemplateSet
from lifecycle.events import Event, OrderPlaced
from lifecycle.signals import Signal
from lifecycle.state import CustomerState

__all__ = ["CampaignSet"]


class _Round(Membership, Sending):
    """One moment for one customer: every phase, in the order the module docstring gives."""

    def finish(self) -> tuple[CustomerState, list[JourneyOutput]]:
        oldest = self.now - self.set.send_window
        sends = tuple(s for s in self.sends if s.at > oldest or s.at == self.now)
        journeys = {key: self.journeys[key] for key in sorted(self.journeys)}
        if journeys == self.state.journeys and sends == self.state.sends:
            return self.state, self.outputs
        state = self.state.model_copy(update={"journeys": journeys, "sends": sends})
        return state, self.outputs


class CampaignSet:
    """A compiled, validated set of campaigns and their templates, bound to the
    :class:`RuntimeContext` (the operator's rules) it runs with; immutable and shareable."""

    def __init__(
        self, campaigns: Sequence[Campaign], templates: TemplateSet, context: RuntimeContext
    ) -> None:
        #: In decision order: highest priority first, then by id.
        self.campaigns: tuple[Campaign, ...] = tuple(
            sorted(campaigns, key=lambda c: (-c.priority, c.id))
        )
        self.by_id: dict[str, Campaign] = {c.id: c for c in self.campaigns}
        self.templates = templates
        self.context = context
        #: How long send records matter (the longest cap window, a campaign's or a global
        #: one): older ones are pruned from the state.
        self.send_window: timedelta = max(
            [
                timedelta(0),
                *(c.cap.per for c in self.campaigns if c.cap is not None),
                *(cap.per for caps in context.caps.values() for cap in caps),
            ]
        )

    def __len__(self) -> int:
        return len(self.campaigns)

    def react(
        self,
        state: CustomerState,
        now: datetime,
        *,
        event: Event | None,
        signals: Sequence[Signal],
    ) -> tuple[CustomerState, list[JourneyOutput]]:
        """After ``event`` was applied (or detectors fired at ``now``), with its signals.

        The event's id and the signals' causes name each entry (and so the message ids).
        """
        round_ = _Round(self, state, now)
        if isinstance(event, OrderPlaced):
            round_.order = event
        round_.clean_up()
        round_.conversions(event, signals)
        round_.exits(event, signals)
        round_.consent_exits()
        round_.run(round_.entries(event, signals))
        return round_.finish()

    def next_wake(self, state: CustomerState) -> datetime | None:
        """The earliest time any active journey of this customer needs to run."""
        times = [j.wake_at for j in state.journeys.values() if j.active and j.wake_at is not None]
        return min(times) if times else None

    def wake(
        self, state: CustomerState, now: datetime
    ) -> tuple[CustomerState, list[JourneyOutput]]:
        """Run the journey steps due at or before ``now``."""
        round_ = _Round(self, state, now)
        round_.clean_up()
        round_.consent_exits()
        round_.run([])
        return round_.finish()
