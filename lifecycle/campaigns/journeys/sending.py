"""Running due journeys to their sends, the one-marketing-message-per-moment priority
conflict, and delivery (holdout, rendering, the outbox message).

Each send first passes the :class:`~lifecycle.campaigns.journeys.send_gate.SendGate`; the
marketing sends that pass compete, the highest ``priority`` wins (ties: campaign id),
losing journey steps are deferred by ``conflict_delay`` and losing new entries dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from lifecycle.campaigns.journeys.moment import template_for
from lifecycle.campaigns.journeys.send_gate import SendGate
from lifecycle.campaigns.journeys.stepping import Stepping
from lifecycle.campaigns.model import CONTROL, Campaign, SendStep
from lifecycle.campaigns.records import JourneyOutput
from lifecycle.campaigns.templates import message_variables
from lifecycle.exceptions import TemplateRenderError
from lifecycle.mail import OutboxMessage, derive_message_id
from lifecycle.state import JourneyState, SendRecord

__all__ = ["Sending"]


@dataclass
class _Contender:
    campaign: Campaign
    journey: JourneyState
    step: SendStep
    #: For a new entry: the journey state before it, restored if the entry is dropped.
    entry_of: JourneyState | None = None
    is_entry: bool = False
    #: Outputs of a new entry, emitted only if the entry stands.
    pending: list[JourneyOutput] = field(default_factory=list)


class Sending(Stepping, SendGate):
    """Runs due and new journeys, resolves priority conflicts and delivers the winners."""

    def run(self, entering: list[tuple[Campaign, JourneyState, JourneyState | None]]) -> None:
        contenders: list[_Contender] = []
        new_ids = {campaign.id for campaign, _, _ in entering}
        for campaign in self.set.campaigns:
            journey = self.journeys.get(campaign.id)
            if (
                campaign.id in new_ids
                or journey is None
                or not journey.active
                or journey.wake_at is None
                or journey.wake_at > self.now
            ):
                continue
            journey, step = self.advance(campaign, journey, None)
            self.journeys[campaign.id] = journey
            if step is not None:
                self.check(_Contender(campaign, journey, step), contenders)
        for campaign, journey, before in entering:
            pending: list[JourneyOutput] = []
            self.journey_record(campaign.id, journey, "entered", into=pending)
            journey, step = self.advance(campaign, journey, pending)
            contender = _Contender(campaign, journey, step, before, True, pending) if step else None
            if contender is None:
                self.journeys[campaign.id] = journey
                self.outputs.extend(pending)
            else:
                self.check(contender, contenders)
        self.resolve(contenders)

    def check(self, contender: _Contender, contenders: list[_Contender]) -> None:
        """Gate one send: either it competes for the moment, or its outcome is final."""
        campaign, journey, step = contender.campaign, contender.journey, contender.step
        blocked = self.gate(campaign, journey)
        if blocked is None:
            contenders.append(contender)
            return
        outcome, detail = blocked
        into = contender.pending if contender.is_entry else None
        template = template_for(step, journey.variant)
        if outcome == "no_consent":
            journey = self.end(campaign, journey, "no_consent", outcome="no_consent", into=into)
        elif outcome == "quiet_hours":
            assert isinstance(detail, datetime)
            self.decision(
                campaign, journey, step.number, outcome, template, deferred_until=detail, into=into
            )
            journey = journey.model_copy(update={"wake_at": detail})
        else:
            assert not isinstance(detail, datetime)
            self.decision(
                campaign, journey, step.number, outcome, template, detail=detail, into=into
            )
            journey = self.after_send(campaign, journey, into)
        self.settle(contender, journey)

    def settle(self, contender: _Contender, journey: JourneyState) -> None:
        self.journeys[contender.campaign.id] = journey
        if contender.is_entry:
            self.outputs.extend(contender.pending)
            contender.pending = []

    def after_send(
        self, campaign: Campaign, journey: JourneyState, into: list[JourneyOutput] | None
    ) -> JourneyState:
        """Move past a send step (sent or skipped) and on to the next wait or the end."""
        journey = journey.model_copy(update={"step": journey.step + 1})
        journey, again = self.advance(campaign, journey, into)
        if again is not None:
            # Validation forbids two sends without a wait; a program that has them anyway
            # gets the second one deferred, never sent in the same moment.
            wake = self.conflict_wake()
            self.decision(
                campaign,
                journey,
                again.number,
                "lower_priority",
                template_for(again, journey.variant),
                deferred_until=wake,
                detail="one message per moment",
                into=into,
            )
            journey = journey.model_copy(update={"wake_at": wake})
        return journey

    def resolve(self, contenders: list[_Contender]) -> None:
        marketing = sorted(
            (c for c in contenders if c.campaign.category == "marketing"),
            key=lambda c: (-c.campaign.priority, c.campaign.id),
        )
        taken = any(s.category == "marketing" and s.at == self.now for s in self.sends)
        winner = None if taken or not marketing else marketing[0]
        for contender in contenders:
            if contender.campaign.category == "marketing" and contender is not winner:
                continue
            self.settle(contender, self.deliver(contender))
        for contender in marketing:
            if contender is winner:
                continue
            campaign, journey, step = contender.campaign, contender.journey, contender.step
            template = template_for(step, journey.variant)
            detail = (
                f"{winner.campaign.id} (priority {winner.campaign.priority})"
                if winner is not None
                else "a marketing message already went out at this moment"
            )
            if contender.is_entry:
                # The customer does not enter: no journey record, only the decision.
                self.decision(
                    campaign,
                    journey,
                    step.number,
                    "lower_priority",
                    template,
                    detail=f"entry dropped for {detail}",
                )
                if contender.entry_of is None:
                    self.journeys.pop(campaign.id, None)
                else:
                    self.journeys[campaign.id] = contender.entry_of
                continue
            wake = self.conflict_wake()
            self.decision(
                campaign,
                journey,
                step.number,
                "lower_priority",
                template,
                deferred_until=wake,
                detail=detail,
            )
            self.journeys[campaign.id] = journey.model_copy(update={"wake_at": wake})

    def deliver(self, contender: _Contender) -> JourneyState:
        campaign, journey, step = contender.campaign, contender.journey, contender.step
        into = contender.pending if contender.is_entry else None
        variant = journey.variant or CONTROL
        sent = SendRecord(at=self.now, campaign=campaign.id, category=campaign.category)
        if variant == CONTROL:
            # A holdout stands in for a send everywhere but the mailbox: it counts toward
            # the frequency caps, so control customers are held back from later messages
            # exactly as treated ones are, and the comparison stays fair.
            self.sends.append(sent)
            self.decision(campaign, journey, step.number, "holdout", None, into=into)
            return self.after_send(campaign, journey, into)
        template = step.templates[variant]
        try:
            message = self.render(campaign, journey, step, template)
        except TemplateRenderError as exc:
            self.decision(
                campaign,
                journey,
                step.number,
                "render_error",
                template,
                detail=str(exc),
                into=into,
            )
            return self.after_send(campaign, journey, into)
        self.sends.append(sent)
        self.decision(campaign, journey, step.number, "send", template, message=message, into=into)
        return self.after_send(campaign, journey, into)

    def render(
        self, campaign: Campaign, journey: JourneyState, step: SendStep, template: str
    ) -> OutboxMessage:
        profile = self.state.profile
        assert profile.email is not None
        variant = journey.variant or CONTROL
        variables = message_variables(
            self.state,
            self.now,
            self.ctx,
            campaign=campaign,
            variant=variant,
            step=step.number,
            journey=journey,
            order=self.order,
        )
        rendered = self.set.templates.render(
            template,
            profile.locale,
            variables,
            zone=self.tz,
            default_currency=self.ctx.default_currency,
        )
        return OutboxMessage(
            message_id=derive_message_id(
                self.customer_id,
                campaign.id,
                step.number,
                journey.cause or "",
                domain=self.ctx.message_domain,
            ),
            customer_id=self.customer_id,
            campaign_id=campaign.id,
            variant=variant,
            step=step.number,
            category=campaign.category,
            decided_at=self.now,
            to_address=profile.email,
            to_name=profile.name,
            locale=rendered.locale,
            subject=rendered.subject,
            preheader=rendered.preheader,
            text=rendered.text,
            html=rendered.html,
        )
