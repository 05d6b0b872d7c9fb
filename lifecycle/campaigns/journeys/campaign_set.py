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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from lifecycle.campaigns.context import RuntimeContext
from lifecycle.campaigns.journeys.membership import Membership
from lifecycle.campaigns.journeys.sending import Sending
from lifecycle.campaigns.model import Campaign
from lifecycle.campaigns.records import JourneyOutput
from lifecycle.campaigns.templates import TemplateSet
from lifecycle.events import Event, OrderPlaced
from lifecycle.signals import Signal
from lifecycle.state import CustomerState

if TYPE_CHECKING:
    from lifecycle.processing import CampaignRuntime

__all__ = ["CampaignSet", "JourneyRunner"]


class _Round(Membership, Sending):
    """One moment for one customer: every phase, in the order the module docstring gives."""

    def finish(self) -> tuple[CustomerState, list[JourneyOutput]]:
        window = self.set.longest_cap_window(self.ctx)
        oldest = self.now - window
        sends = tuple(s for s in self.sends if s.at > oldest or s.at == self.now)
        journeys = {key: self.journeys[key] for key in sorted(self.journeys)}
        if journeys == self.state.journeys and sends == self.state.sends:
            return self.state, self.outputs
        state = self.state.model_copy(update={"journeys": journeys, "sends": sends})
        return state, self.outputs


class CampaignSet:
    """A compiled, validated set of campaigns and their templates; immutable and shareable."""

    def __init__(self, campaigns: Sequence[Campaign], templates: TemplateSet) -> None:
        #: In decision order: highest priority first, then by id.
        self.campaigns: tuple[Campaign, ...] = tuple(
            sorted(campaigns, key=lambda c: (-c.priority, c.id))
        )
        self.by_id: dict[str, Campaign] = {c.id: c for c in self.campaigns}
        self.templates = templates
        self._campaign_window = max(
            (c.cap.per for c in self.campaigns if c.cap is not None), default=timedelta(0)
        )

    def __len__(self) -> int:
        return len(self.campaigns)

    def longest_cap_window(self, ctx: RuntimeContext) -> timedelta:
        """How long send records matter: older ones are pruned from the state."""
        windows = [cap.per for caps in ctx.caps.values() for cap in caps]
        return max([self._campaign_window, *windows])

    def react(
        self,
        state: CustomerState,
        now: datetime,
        *,
        event: Event | None,
        signals: Sequence[Signal],
        cause: str,
        ctx: RuntimeContext,
    ) -> tuple[CustomerState, list[JourneyOutput]]:
        """After ``event`` was applied (or detectors fired at ``now``), with its signals.

        ``cause`` is the event id or due cause; the causes of the signals and the event
        themselves name each entry (and so the message ids).
        """
        del cause  # each match carries its own cause (event id or the signal's cause)
        round_ = _Round(self, state, now, ctx)
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
        self, state: CustomerState, now: datetime, ctx: RuntimeContext
    ) -> tuple[CustomerState, list[JourneyOutput]]:
        """Run the journey steps due at or before ``now``."""
        round_ = _Round(self, state, now, ctx)
        round_.clean_up()
        round_.consent_exits()
        round_.run([])
        return round_.finish()

    def runner(self, ctx: RuntimeContext) -> JourneyRunner:
        """This set bound to ``ctx``: the shape ``lifecycle.processing.engine.Engine`` calls."""
        return JourneyRunner(self, ctx)


@dataclass(frozen=True)
class JourneyRunner:
    """:class:`CampaignSet` with its :class:`RuntimeContext` bound, matching the engine's
    ``CampaignRuntime`` protocol (``react``/``next_wake``/``wake`` without ``ctx``)."""

    campaigns: CampaignSet
    ctx: RuntimeContext

    def react(
        self,
        state: CustomerState,
        now: datetime,
        *,
        event: Event | None,
        signals: Sequence[Signal],
        cause: str,
    ) -> tuple[CustomerState, list[JourneyOutput]]:
        return self.campaigns.react(
            state, now, event=event, signals=signals, cause=cause, ctx=self.ctx
        )

    def next_wake(self, state: CustomerState) -> datetime | None:
        return self.campaigns.next_wake(state)

    def wake(
        self, state: CustomerState, now: datetime
    ) -> tuple[CustomerState, list[JourneyOutput]]:
        return self.campaigns.wake(state, now, self.ctx)


if TYPE_CHECKING:  # mypy proves the runner fits the engine's protocol

    def _fits_the_engine(runner: JourneyRunner) -> CampaignRuntime:
        return runner
