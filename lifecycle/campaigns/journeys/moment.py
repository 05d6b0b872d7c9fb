"""One moment of the journey runtime for one customer: the working copy and the records.

A :class:`Moment` holds what one call of the runtime changes (journey states, send
records, outputs) beside what it reads (the campaigns in decision order, their templates,
the runtime context, the customer's time zone, the order of the moment, attributes read
once), and the moves every phase shares: recording a
:class:`~lifecycle.campaigns.records.Decision` or
:class:`~lifecycle.campaigns.records.JourneyRecord`, ending or completing a journey, and
:meth:`Moment.finish`, the state the moment leaves. The state it starts from is never
changed (journeys and send records are copied).

The phases are plain functions that take the moment, one module each:
:mod:`~lifecycle.campaigns.journeys.membership` (who is in which journey),
:mod:`~lifecycle.campaigns.journeys.stepping` (a journey to its next stop),
:mod:`~lifecycle.campaigns.journeys.send_gate` (whether a send may go now) and
:mod:`~lifecycle.campaigns.journeys.sending` (due and new journeys to their sends, the
priority conflict, delivery); :mod:`~lifecycle.campaigns.journeys.campaign_set` calls
them in the order of a moment.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Literal

from lifecycle.campaigns.context import RuntimeContext
from lifecycle.campaigns.journeys.adaptive import Allocations
from lifecycle.campaigns.journeys.timing import add_wait
from lifecycle.campaigns.model import (
    CONTROL,
    BranchStep,
    Campaign,
    JumpStep,
    SendStep,
    WaitStep,
    WaitUntilStep,
)
from lifecycle.campaigns.records import (
    Decision,
    DecisionOutcome,
    JourneyAction,
    JourneyOutput,
    JourneyRecord,
)
from lifecycle.campaigns.templates import TemplateSet
from lifecycle.customer import ATTRIBUTES, AttributeValue
from lifecycle.events import OrderPlaced
from lifecycle.localtime import zone
from lifecycle.mail import OutboxMessage
from lifecycle.state import CustomerState, JourneyState, SendRecord

__all__ = ["Moment", "template_for"]


class Moment:
    """One moment for one customer: a working copy of the journey state and the outputs."""

    def __init__(
        self,
        state: CustomerState,
        now: datetime,
        *,
        campaigns: tuple[Campaign, ...],
        by_id: Mapping[str, Campaign],
        templates: TemplateSet,
        ctx: RuntimeContext,
        order: OrderPlaced | None,
        allocations: Allocations | None = None,
        stale_before: datetime | None = None,
    ) -> None:
        self.state = state
        self.now = now
        #: In decision order: highest priority first, then by id.
        self.campaigns = campaigns
        self.by_id = by_id
        self.templates = templates
        self.ctx = ctx
        #: The order placed at this moment, if an order started it (templates show it).
        self.order = order
        #: Adaptive splits' shares (None: an adaptive split keeps its starting shares).
        self.allocations = allocations
        #: Sends decided before this are not rendered: delivery would expire them.
        self.stale_before = stale_before
        self.tz = zone(state.profile.timezone, ctx.engine.fallback_timezone)
        self.journeys: dict[str, JourneyState] = dict(state.journeys)
        self.sends: list[SendRecord] = list(state.sends)
        self.outputs: list[JourneyOutput] = []
        self._values: dict[str, AttributeValue] = {}

    @property
    def customer_id(self) -> str:
        return self.state.customer_id

    def read(self, name: str) -> AttributeValue:
        """An attribute of the customer, computed once per moment."""
        if name not in self._values:
            self._values[name] = ATTRIBUTES[name].get(self.state, self.now, self.ctx.engine)
        return self._values[name]

    # -- records -------------------------------------------------------------------------

    def journey_record(
        self,
        campaign_id: str,
        journey: JourneyState,
        action: JourneyAction,
        reason: str | None = None,
        cause: str | None = None,
        into: list[JourneyOutput] | None = None,
    ) -> None:
        record = JourneyRecord(
            at=self.now,
            customer_id=self.customer_id,
            campaign=campaign_id,
            variant=journey.variant or CONTROL,
            action=action,
            entry=journey.entries,
            cause=cause or journey.cause or "",
            reason=reason,
        )
        (self.outputs if into is None else into).append(record)

    def decision(
        self,
        campaign: Campaign,
        journey: JourneyState,
        step: int,
        outcome: DecisionOutcome,
        template: str | None,
        *,
        message: OutboxMessage | None = None,
        deferred_until: datetime | None = None,
        detail: str | None = None,
        cause: str | None = None,
        send_time: Literal["optimised", "fallback"] | None = None,
        into: list[JourneyOutput] | None = None,
    ) -> None:
        record = Decision(
            at=self.now,
            customer_id=self.customer_id,
            campaign=campaign.id,
            variant=journey.variant or CONTROL,
            step=step,
            outcome=outcome,
            template=template,
            cause=cause or journey.cause or "",
            category=campaign.category,
            message=message,
            deferred_until=deferred_until,
            detail=detail,
            send_time=send_time,
        )
        (self.outputs if into is None else into).append(record)

    # -- ending journeys -----------------------------------------------------------------

    def end(
        self,
        campaign: Campaign,
        journey: JourneyState,
        reason: str,
        outcome: DecisionOutcome = "exited",
        into: list[JourneyOutput] | None = None,
    ) -> JourneyState:
        """Exit a journey before its end; the step it would have run is recorded."""
        step, template = _pending_step(campaign, journey)
        if step:
            self.decision(campaign, journey, step, outcome, template, detail=reason, into=into)
        ended = self.closed(journey, reason)
        self.journey_record(campaign.id, ended, "exited", reason=reason, into=into)
        return ended

    def complete(
        self, campaign: Campaign, journey: JourneyState, into: list[JourneyOutput] | None
    ) -> JourneyState:
        done = self.closed(journey, "completed")
        self.journey_record(campaign.id, done, "completed", into=into)
        return done

    def closed(self, journey: JourneyState, reason: str) -> JourneyState:
        """``journey`` ended now for ``reason``; nothing is recorded."""
        return journey.model_copy(
            update={
                "active": False,
                "wake_at": None,
                "exited_at": self.now,
                "exit_reason": reason,
                "send_timing": None,
            }
        )

    def conflict_wake(self) -> datetime:
        """When a send that lost a priority conflict tries again."""
        return add_wait(self.now, self.ctx.rules.conflict_delay, self.tz, calendar=True)

    # -- the result ----------------------------------------------------------------------

    def finish(self, send_window: timedelta) -> tuple[CustomerState, list[JourneyOutput]]:
        """The state this moment leaves and what it reported; send records older than
        ``send_window`` (they count toward no cap any more) are pruned."""
        oldest = self.now - send_window
        sends = tuple(s for s in self.sends if s.at > oldest or s.at == self.now)
        journeys = {key: self.journeys[key] for key in sorted(self.journeys)}
        if journeys == self.state.journeys and sends == self.state.sends:
            return self.state, self.outputs
        state = self.state.model_copy(update={"journeys": journeys, "sends": sends})
        return state, self.outputs


def template_for(step: SendStep, variant: str | None) -> str | None:
    if variant is None or variant == CONTROL:
        return None
    return step.templates.get(variant)


def _pending_step(campaign: Campaign, journey: JourneyState) -> tuple[int, str | None]:
    """The step an exit prevents: the next send (past waits), or the next ``if``
    (its outcome is not known yet); ``(0, None)`` when nothing would be sent."""
    index = journey.step
    for _ in range(len(campaign.steps) + 1):
        if index >= len(campaign.steps):
            return 0, None
        step = campaign.steps[index]
        if isinstance(step, JumpStep):
            index = step.target
        elif isinstance(step, WaitStep | WaitUntilStep):
            index += 1
        elif isinstance(step, SendStep):
            return step.number, template_for(step, journey.variant)
        elif isinstance(step, BranchStep):
            return step.number, None
        else:
            return 0, None
    return 0, None  # pragma: no cover - programs only jump forward
