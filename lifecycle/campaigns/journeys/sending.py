"""Running due journeys to their sends, the one-marketing-message-per-moment priority
conflict, and delivery (holdout, rendering, the outbox message).

Each send first passes the send gate
(:func:`~lifecycle.campaigns.journeys.send_gate.why_not_now`); the marketing sends that
pass compete, the highest ``priority`` wins (ties: campaign id), losing journey steps are
deferred by ``conflict_delay`` and losing new entries dropped. A new entry's outputs are
held back until it stands, so a dropped entry leaves only its ``lower_priority``
decision. Phases 5 to 7 of :mod:`~lifecycle.campaigns.journeys.campaign_set`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from lifecycle.campaigns.journeys.membership import Entry
from lifecycle.campaigns.journeys.moment import Moment, template_for
from lifecycle.campaigns.journeys.send_gate import why_not_now
from lifecycle.campaigns.journeys.stepping import advance
from lifecycle.campaigns.model import CONTROL, Campaign, SendStep
from lifecycle.campaigns.records import JourneyOutput
from lifecycle.campaigns.templates import message_variables
from lifecycle.exceptions import TemplateRenderError
from lifecycle.mail import OutboxMessage, derive_message_id
from lifecycle.state import JourneyState, SendRecord

__all__ = ["open_conversion_window", "run_due_and_new"]


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


def run_due_and_new(moment: Moment, entering: Sequence[Entry]) -> None:
    """Run every due journey and every new one to its next stop, gate the sends they
    reach, resolve the priority conflict and deliver what stands."""
    contenders: list[_Contender] = []
    new_ids = {entry.campaign.id for entry in entering}
    for campaign in moment.campaigns:
        journey = moment.journeys.get(campaign.id)
        if (
            campaign.id in new_ids
            or journey is None
            or not journey.active
            or journey.wake_at is None
            or journey.wake_at > moment.now
        ):
            continue
        journey, step = advance(moment, campaign, journey, None)
        moment.journeys[campaign.id] = journey
        if step is not None:
            _gate(moment, _Contender(campaign, journey, step), contenders)
    for entry in entering:
        campaign = entry.campaign
        pending: list[JourneyOutput] = []
        moment.journey_record(campaign.id, entry.journey, "entered", into=pending)
        journey, step = advance(moment, campaign, entry.journey, pending)
        if step is None:
            moment.journeys[campaign.id] = journey
            moment.outputs.extend(pending)
        else:
            contender = _Contender(campaign, journey, step, entry.before, True, pending)
            _gate(moment, contender, contenders)
    _resolve(moment, contenders)


def _gate(moment: Moment, contender: _Contender, contenders: list[_Contender]) -> None:
    """Gate one send: either it competes for the moment, or its outcome is final."""
    campaign, journey, step = contender.campaign, contender.journey, contender.step
    blocked = why_not_now(
        campaign,
        profile=moment.state.profile,
        sends=moment.sends,
        now=moment.now,
        tz=moment.tz,
        ctx=moment.ctx,
    )
    if blocked is None:
        contenders.append(contender)
        return
    outcome, detail = blocked
    into = contender.pending if contender.is_entry else None
    template = template_for(step, journey.variant)
    timing = journey.send_timing
    if outcome == "no_consent":
        journey = moment.end(campaign, journey, "no_consent", outcome="no_consent", into=into)
    elif outcome == "quiet_hours":
        assert isinstance(detail, datetime)
        moment.decision(
            campaign,
            journey,
            step.number,
            outcome,
            template,
            deferred_until=detail,
            send_time=timing,
            into=into,
        )
        journey = journey.model_copy(update={"wake_at": detail})
    else:
        assert not isinstance(detail, datetime)
        moment.decision(
            campaign,
            journey,
            step.number,
            outcome,
            template,
            detail=detail,
            send_time=timing,
            into=into,
        )
        journey = _after_send(moment, campaign, journey, into)
    _settle(moment, contender, journey)


def _settle(moment: Moment, contender: _Contender, journey: JourneyState) -> None:
    moment.journeys[contender.campaign.id] = journey
    if contender.is_entry:
        moment.outputs.extend(contender.pending)
        contender.pending = []


def _after_send(
    moment: Moment, campaign: Campaign, journey: JourneyState, into: list[JourneyOutput] | None
) -> JourneyState:
    """Move past a send step (sent or skipped) and on to the next wait or the end."""
    journey = journey.model_copy(update={"step": journey.step + 1, "send_timing": None})
    journey, again = advance(moment, campaign, journey, into)
    if again is not None:
        # Validation forbids two sends without a wait; a program that has them anyway
        # gets the second one deferred, never sent in the same moment.
        wake = moment.conflict_wake()
        moment.decision(
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


def _resolve(moment: Moment, contenders: list[_Contender]) -> None:
    """At most one marketing message per moment: the winner and every transactional send
    are delivered; a losing journey step is deferred, a losing new entry dropped."""
    marketing = sorted(
        (c for c in contenders if c.campaign.category == "marketing"),
        key=lambda c: (-c.campaign.priority, c.campaign.id),
    )
    taken = any(s.category == "marketing" and s.at == moment.now for s in moment.sends)
    winner = None if taken or not marketing else marketing[0]
    for contender in contenders:
        if contender.campaign.category == "marketing" and contender is not winner:
            continue
        _settle(moment, contender, _deliver(moment, contender))
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
            moment.decision(
                campaign,
                journey,
                step.number,
                "lower_priority",
                template,
                detail=f"entry dropped for {detail}",
            )
            if contender.entry_of is None:
                moment.journeys.pop(campaign.id, None)
            else:
                moment.journeys[campaign.id] = contender.entry_of
            continue
        wake = moment.conflict_wake()
        moment.decision(
            campaign,
            journey,
            step.number,
            "lower_priority",
            template,
            deferred_until=wake,
            detail=detail,
        )
        moment.journeys[campaign.id] = journey.model_copy(update={"wake_at": wake})


def open_conversion_window(
    moment: Moment, campaign: Campaign, journey: JourneyState
) -> JourneyState:
    """The entry's first treatment (a send, a render error or, for the control, a
    holdout) opens its conversion window: from now until ``within`` later.

    Every arm reaches this point through the same checks (consent, address, quiet
    hours, caps, priority), so each is measured from the moment its message went or
    would have gone; a customer who converts before that converts in no arm.
    """
    if campaign.conversion is None or journey.conversion_deadline is not None:
        return journey
    deadline = moment.now + campaign.conversion.within
    return journey.model_copy(
        update={"conversion_deadline": deadline, "treated_send_timing": journey.send_timing}
    )


def _deliver(moment: Moment, contender: _Contender) -> JourneyState:
    campaign, step = contender.campaign, contender.step
    journey = open_conversion_window(moment, campaign, contender.journey)
    into = contender.pending if contender.is_entry else None
    variant = journey.variant or CONTROL
    sent = SendRecord(at=moment.now, campaign=campaign.id, category=campaign.category)
    if variant == CONTROL:
        # A holdout stands in for a send everywhere but the mailbox: it counts toward
        # the frequency caps, so control customers are held back from later messages
        # exactly as treated ones are, and the comparison stays fair.
        moment.sends.append(sent)
        moment.decision(
            campaign,
            journey,
            step.number,
            "holdout",
            None,
            send_time=journey.send_timing,
            into=into,
        )
        return _after_send(moment, campaign, journey, into)
    template = step.templates[variant]
    try:
        if moment.stale_before is not None and moment.now < moment.stale_before:
            message = _unrendered(moment, campaign, journey, step, template)
        else:
            message = _render(moment, campaign, journey, step, template)
    except TemplateRenderError as exc:
        moment.decision(
            campaign,
            journey,
            step.number,
            "render_error",
            template,
            detail=str(exc),
            send_time=journey.send_timing,
            into=into,
        )
        return _after_send(moment, campaign, journey, into)
    moment.sends.append(sent)
    moment.decision(
        campaign,
        journey,
        step.number,
        "send",
        template,
        message=message,
        send_time=journey.send_timing,
        into=into,
    )
    return _after_send(moment, campaign, journey, into)


def _unrendered(
    moment: Moment, campaign: Campaign, journey: JourneyState, step: SendStep, template: str
) -> OutboxMessage:
    """The message of a send too old to go out: its id and facts, none of its text.

    Rendering is most of what a send costs, and a backfill decides many sends that
    delivery would only expire; the decision, the message id and the counts are the same.
    The worker does not publish such a message: the engine's outcome lists it as
    ``expired`` and its state's facts count it so (:mod:`lifecycle.measurement.tally`).
    """
    profile = moment.state.profile
    assert profile.email is not None
    return OutboxMessage(
        message_id=_message_id(moment, campaign, journey, step),
        customer_id=moment.customer_id,
        campaign_id=campaign.id,
        variant=journey.variant or CONTROL,
        step=step.number,
        category=campaign.category,
        decided_at=moment.now,
        to_address=profile.email,
        # The locale rendering would have chosen: the decision records it.
        locale=moment.templates.pick(template, profile.locale).locale,
        subject="",
        text="",
        html="",
        send_time=journey.send_timing,
        rendered=False,
    )


def _message_id(moment: Moment, campaign: Campaign, journey: JourneyState, step: SendStep) -> str:
    return derive_message_id(
        moment.customer_id,
        campaign.id,
        step.number,
        journey.cause or "",
        domain=moment.ctx.message_domain,
    )


def _render(
    moment: Moment, campaign: Campaign, journey: JourneyState, step: SendStep, template: str
) -> OutboxMessage:
    profile = moment.state.profile
    assert profile.email is not None
    variant = journey.variant or CONTROL
    variables = message_variables(
        moment.state,
        moment.now,
        moment.ctx,
        campaign=campaign,
        variant=variant,
        step=step.number,
        journey=journey,
        order=moment.order,
    )
    rendered = moment.templates.render(
        template,
        profile.locale,
        variables,
        zone=moment.tz,
        default_currency=moment.ctx.rules.default_currency,
    )
    return OutboxMessage(
        message_id=_message_id(moment, campaign, journey, step),
        customer_id=moment.customer_id,
        campaign_id=campaign.id,
        variant=variant,
        step=step.number,
        category=campaign.category,
        decided_at=moment.now,
        to_address=profile.email,
        to_name=profile.name,
        locale=rendered.locale,
        subject=rendered.subject,
        preheader=rendered.preheader,
        text=rendered.text,
        html=rendered.html,
        send_time=journey.send_timing,
    )
