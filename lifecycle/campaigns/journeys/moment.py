"""One moment of the journey runtime for one customer: the working copy and the records.

:class:`Moment` holds what a moment changes (journey states, send records, outputs)
and the moves every phase shares: reading attributes once, recording a
:class:`~lifecycle.campaigns.records.Decision` or
:class:`~lifecycle.campaigns.records.JourneyRecord`, ending or completing a journey.
The phases themselves are mixins on top of it (:mod:`~lifecycle.campaigns.journeys.membership`,
:mod:`~lifecycle.campaigns.journeys.stepping`, :mod:`~lifecycle.campaigns.journeys.send_gate`,
:mod:`~lifecycle.campaigns.journeys.sending`), put together in
:mod:`~lifecycle.campaigns.journeys.campaign_set`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

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
from lifecycle.customer import ATTRIBUTES, AttributeValue
from lifecycle.events import OrderPlaced
from lifecycle.localtime import zone
from lifecycle.mail import OutboxMessage
from lifecycle.state import CustomerState, JourneyState, SendRecord

if TYPE_CHECKING:
    from lifecycle.campaigns.journeys.campaign_set import CampaignSet

__all__ = ["Moment", "template_for"]


class Moment:
    """One moment for one customer: a working copy of the journey state and the outputs."""

    def __init__(self, campaigns: CampaignSet, state: CustomerState, now: datetime) -> None:
        self.set = campaigns
        self.state = state
        self.now = now
        self.ctx = campaigns.context
        self.journeys: dict[str, JourneyState] = dict(state.journeys)
        self.sends: list[SendRecord] = list(state.sends)
        self.outputs: list[JourneyOutput] = []
        self.tz = zone(state.profile.timezone, self.ctx.engine.fallback_timezone)
        self.order: OrderPlaced | None = None
        self._values: dict[str, AttributeValue] = {}

    # -- helpers -------------------------------------------------------------------------

    def read(self, name: str) -> AttributeValue:
        if name not in self._values:
            self._values[name] = ATTRIBUTES[name].get(self.state, self.now, self.ctx.engine)
        return self._values[name]

    @property
    def customer_id(self) -> str:
        return self.state.customer_id

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
        )
        (self.outputs if into is None else into).append(record)

    def pending_step(self, campaign: Campaign, journey: JourneyState) -> tuple[int, str | None]:
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

    def end(
        self,
        campaign: Campaign,
        journey: JourneyState,
        reason: str,
        outcome: DecisionOutcome = "exited",
        into: list[JourneyOutput] | None = None,
    ) -> JourneyState:
        """Exit a journey before its end; the step it would have run is recorded."""
        step, template = self.pending_step(campaign, journey)
        if step:
            self.decision(campaign, journey, step, outcome, template, detail=reason, into=into)
        ended = journey.model_copy(
            update={"active": False, "wake_at": None, "exited_at": self.now, "exit_reason": reason}
        )
        self.journey_record(campaign.id, ended, "exited", reason=reason, into=into)
        return ended

    def complete(
        self, campaign: Campaign, journey: JourneyState, into: list[JourneyOutput] | None
    ) -> JourneyState:
        done = journey.model_copy(
            update={
                "active": False,
                "wake_at": None,
                "exited_at": self.now,
                "exit_reason": "completed",
            }
        )
        self.journey_record(campaign.id, done, "completed", into=into)
        return done

    def conflict_wake(self) -> datetime:
        """When a send that lost a priority conflict tries again."""
        return add_wait(self.now, self.ctx.conflict_delay, self.tz, calendar=True)


def template_for(step: SendStep, variant: str | None) -> str | None:
    if variant is None or variant == CONTROL:
        return None
    return step.templates.get(variant)
