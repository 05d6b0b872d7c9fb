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
   ``no_consent`` decision and no entry). The variant comes from the A/B hash, walked
   over an adaptive split's shares in force (:mod:`~lifecycle.campaigns.journeys.adaptive`).
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

Each phase is a module of plain functions over one
:class:`~lifecycle.campaigns.journeys.moment.Moment` (the customer's working copy):
phases 1 to 4 in :mod:`~lifecycle.campaigns.journeys.membership`, 5 in
:mod:`~lifecycle.campaigns.journeys.stepping`, 6 in
:mod:`~lifecycle.campaigns.journeys.send_gate`, and 5 to 7 with delivery in
:mod:`~lifecycle.campaigns.journeys.sending`. :meth:`CampaignSet.react` and
:meth:`CampaignSet.wake` below call them in this order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from lifecycle.campaigns.context import RuntimeContext
from lifecycle.campaigns.journeys.adaptive import Allocations
from lifecycle.campaigns.journeys.membership import (
    end_exit_on_matches,
    end_removed_or_disabled,
    end_without_consent,
    new_entries,
    record_conversions,
)
from lifecycle.campaigns.journeys.moment import Moment
from lifecycle.campaigns.journeys.sending import run_due_and_new
from lifecycle.campaigns.model import Campaign
from lifecycle.campaigns.records import JourneyOutput
from lifecycle.campaigns.templates import TemplateSet
from lifecycle.events import Event, OrderPlaced
from lifecycle.signals import Signal
from lifecycle.state import CustomerState

__all__ = ["CampaignSet"]


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
                *(cap.per for caps in context.rules.caps.values() for cap in caps),
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
        allocations: Allocations | None = None,
        stale_before: datetime | None = None,
    ) -> tuple[CustomerState, list[JourneyOutput]]:
        """After ``event`` was applied (or detectors fired at ``now``), with its signals.

        The event's id and the signals' causes name each entry (and so the message ids).
        ``allocations`` gives adaptive splits their current shares (entries are the only
        place they are read); without it they keep their starting shares. A send decided
        before ``stale_before`` is not rendered (see :class:`~lifecycle.mail.OutboxMessage`).
        """
        order = event if isinstance(event, OrderPlaced) else None
        moment = self._moment(state, now, order, allocations, stale_before)
        end_removed_or_disabled(moment)  # phase 1
        record_conversions(moment, event, signals)  # phase 2
        end_exit_on_matches(moment, event, signals)  # phase 3
        end_without_consent(moment)
        run_due_and_new(moment, new_entries(moment, event, signals))  # phase 4, then 5 to 7
        return moment.finish(self.send_window)

    def next_wake(self, state: CustomerState) -> datetime | None:
        """The earliest time any active journey of this customer needs to run."""
        times = [j.wake_at for j in state.journeys.values() if j.active and j.wake_at is not None]
        return min(times) if times else None

    def wake(
        self, state: CustomerState, now: datetime, stale_before: datetime | None = None
    ) -> tuple[CustomerState, list[JourneyOutput]]:
        """Run the journey steps due at or before ``now``."""
        # Time alone matches no trigger, goal or exit_on: phases 1, 3 (consent), 5 to 7.
        moment = self._moment(state, now, None, stale_before=stale_before)
        end_removed_or_disabled(moment)
        end_without_consent(moment)
        run_due_and_new(moment, [])
        return moment.finish(self.send_window)

    def _moment(
        self,
        state: CustomerState,
        now: datetime,
        order: OrderPlaced | None,
        allocations: Allocations | None = None,
        stale_before: datetime | None = None,
    ) -> Moment:
        return Moment(
            state,
            now,
            campaigns=self.campaigns,
            by_id=self.by_id,
            templates=self.templates,
            ctx=self.context,
            order=order,
            allocations=allocations,
            stale_before=stale_before,
        )
