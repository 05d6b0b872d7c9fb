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
   through the same checks and then get ``holdout`` instead of a message.
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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from lifecycle.attributes import ATTRIBUTES, AttributeValue
from lifecycle.campaigns.assignment import assign_variant
from lifecycle.campaigns.context import RuntimeContext
from lifecycle.campaigns.model import (
    CONTROL,
    BranchStep,
    Campaign,
    JumpStep,
    Matcher,
    SendStep,
    StopStep,
    WaitStep,
    WaitUntilStep,
)
from lifecycle.campaigns.personalise import message_variables
from lifecycle.campaigns.records import (
    CampaignOutput,
    Decision,
    JourneyAction,
    JourneyRecord,
    Outcome,
)
from lifecycle.campaigns.templates import TemplateSet
from lifecycle.campaigns.timing import add_wait, in_quiet_hours, next_local_time
from lifecycle.events import Event, OrderPlaced
from lifecycle.exceptions import TemplateRenderError
from lifecycle.localtime import zone
from lifecycle.outbox import OutboxMessage, derive_message_id
from lifecycle.signals import Signal
from lifecycle.state import CustomerState, JourneyState, SendRecord

if TYPE_CHECKING:
    from lifecycle.engine import CampaignRuntime

__all__ = ["CampaignSet", "JourneyRunner"]

_Detail = str | int | float | bool | None


@dataclass(frozen=True)
class _Match:
    matcher: Matcher
    cause: str
    data: dict[str, _Detail]


def _match(
    matchers: Sequence[Matcher], event: Event | None, signals: Sequence[Signal]
) -> _Match | None:
    """The first matcher that matches; among signals the last one (the highest tier
    reached when one order crosses two)."""
    for matcher in matchers:
        if event is not None and matcher.matches_event(event):
            return _Match(matcher, event.event_id, {})
        for signal in reversed(signals):
            if matcher.matches_signal(signal):
                return _Match(matcher, signal.cause, dict(signal.data))
    return None


@dataclass
class _Contender:
    campaign: Campaign
    journey: JourneyState
    step: SendStep
    #: For a new entry: the journey state before it, restored if the entry is dropped.
    entry_of: JourneyState | None = None
    is_entry: bool = False
    #: Outputs of a new entry, emitted only if the entry stands.
    pending: list[CampaignOutput] = field(default_factory=list)


class _Round:
    """One moment for one customer: a working copy of the journey state and the outputs."""

    def __init__(
        self, campaigns: CampaignSet, state: CustomerState, now: datetime, ctx: RuntimeContext
    ) -> None:
        self.set = campaigns
        self.state = state
        self.now = now
        self.ctx = ctx
        self.journeys: dict[str, JourneyState] = dict(state.journeys)
        self.sends: list[SendRecord] = list(state.sends)
        self.outputs: list[CampaignOutput] = []
        self.tz = zone(state.profile.timezone, ctx.engine.fallback_timezone)
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
        into: list[CampaignOutput] | None = None,
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
        outcome: Outcome,
        template: str | None,
        *,
        message: OutboxMessage | None = None,
        deferred_until: datetime | None = None,
        detail: str | None = None,
        cause: str | None = None,
        into: list[CampaignOutput] | None = None,
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
                return step.number, _template(step, journey.variant)
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
        outcome: Outcome = "exited",
        into: list[CampaignOutput] | None = None,
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
        self, campaign: Campaign, journey: JourneyState, into: list[CampaignOutput] | None
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

    # -- the phases ----------------------------------------------------------------------

    def clean_up(self) -> None:
        for campaign_id in sorted(self.journeys):
            journey = self.journeys[campaign_id]
            if not journey.active:
                continue
            campaign = self.set.by_id.get(campaign_id)
            if campaign is None:
                # No program to name a pending step with: only the journey record.
                ended = journey.model_copy(
                    update={
                        "active": False,
                        "wake_at": None,
                        "exited_at": self.now,
                        "exit_reason": "campaign_removed",
                    }
                )
                self.journey_record(campaign_id, ended, "exited", reason="campaign_removed")
                self.journeys[campaign_id] = ended
            elif not campaign.enabled:
                self.journeys[campaign_id] = self.end(campaign, journey, "campaign_disabled")

    def conversions(self, event: Event | None, signals: Sequence[Signal]) -> None:
        for campaign in self.set.campaigns:
            journey = self.journeys.get(campaign.id)
            if (
                journey is None
                or campaign.conversion is None
                or journey.converted_at is not None
                or journey.conversion_deadline is None
                or self.now > journey.conversion_deadline
            ):
                continue
            found = _match(campaign.conversion.goals, event, signals)
            if found is None:
                continue
            converted = journey.model_copy(update={"converted_at": self.now})
            self.journeys[campaign.id] = converted
            self.journey_record(
                campaign.id, converted, "converted", reason=found.matcher.label, cause=found.cause
            )

    def exits(self, event: Event | None, signals: Sequence[Signal]) -> None:
        for campaign in self.set.campaigns:
            journey = self.journeys.get(campaign.id)
            if journey is None or not journey.active:
                continue
            found = _match(campaign.exit_on, event, signals)
            if found is not None:
                self.journeys[campaign.id] = self.end(
                    campaign, journey, f"exit_on:{found.matcher.label}"
                )

    def consent_exits(self) -> None:
        if self.state.profile.marketing_consent:
            return
        for campaign in self.set.campaigns:
            journey = self.journeys.get(campaign.id)
            if journey is not None and journey.active and campaign.category == "marketing":
                self.journeys[campaign.id] = self.end(
                    campaign, journey, "no_consent", outcome="no_consent"
                )

    def may_enter(self, campaign: Campaign, journey: JourneyState | None) -> bool:
        if journey is None or journey.entries == 0:
            return True
        if journey.active:
            return False
        rule = campaign.reentry
        if rule.max_entries is not None and journey.entries >= rule.max_entries:
            return False
        if rule.after is not None and journey.entered_at is not None:
            return self.now >= journey.entered_at + rule.after
        return True

    def entries(
        self, event: Event | None, signals: Sequence[Signal]
    ) -> list[tuple[Campaign, JourneyState, JourneyState | None]]:
        entering = []
        for campaign in self.set.campaigns:
            if not campaign.enabled:
                continue
            found = _match(campaign.triggers, event, signals)
            if found is None:
                continue
            before = self.journeys.get(campaign.id)
            if not self.may_enter(campaign, before):
                continue
            if not all(condition.evaluate(self.read) for condition in campaign.audience):
                continue
            variant = assign_variant(campaign.split, self.customer_id)
            journey = JourneyState(
                entries=(0 if before is None else before.entries) + 1,
                active=True,
                variant=variant,
                step=0,
                entered_at=self.now,
                cause=found.cause,
                wake_at=self.now,
                conversion_deadline=(
                    None if campaign.conversion is None else self.now + campaign.conversion.within
                ),
                trigger=found.matcher.name,
                data=found.data,
            )
            if campaign.category == "marketing" and not self.state.profile.marketing_consent:
                self.decision(campaign, journey, 0, "no_consent", None, detail="at entry")
                continue
            entering.append((campaign, journey, before))
        return entering

    # -- running journeys ----------------------------------------------------------------

    def advance(
        self, campaign: Campaign, journey: JourneyState, into: list[CampaignOutput] | None
    ) -> tuple[JourneyState, SendStep | None]:
        """Run from ``journey.step`` until a send (returned), a wait, or the end."""
        for condition in campaign.exit_when:
            if condition.evaluate(self.read):
                return self.end(campaign, journey, f"exit_when:{condition}", into=into), None
        for _ in range(len(campaign.steps) + 1):
            if journey.step >= len(campaign.steps):
                return self.complete(campaign, journey, into), None
            step = campaign.steps[journey.step]
            if isinstance(step, SendStep):
                return journey, step
            if isinstance(step, WaitStep | WaitUntilStep):
                if isinstance(step, WaitStep):
                    wake = add_wait(self.now, step.duration, self.tz, calendar=step.calendar)
                else:
                    wake = next_local_time(self.now, step.at, self.tz, step.weekdays)
                journey = journey.model_copy(update={"step": journey.step + 1, "wake_at": wake})
                if wake > self.now:
                    return journey, None
                continue  # the clock already shows that time: no wait at all
            if isinstance(step, BranchStep):
                taken = step.condition.evaluate(self.read)
                target = journey.step + 1 if taken else step.else_step
                journey = journey.model_copy(update={"step": target})
            elif isinstance(step, JumpStep):
                journey = journey.model_copy(update={"step": step.target})
            else:
                assert isinstance(step, StopStep)
                return self.complete(campaign, journey, into), None
        raise AssertionError("programs only jump forward")  # pragma: no cover

    def gate(
        self, campaign: Campaign, journey: JourneyState
    ) -> tuple[Outcome, str | datetime | None] | None:
        """Why this send cannot go now (outcome, detail), or None if it may."""
        profile = self.state.profile
        marketing = campaign.category == "marketing"
        if marketing and not profile.marketing_consent:
            return "no_consent", None
        if not profile.email:
            return "no_address", None
        if marketing and profile.suppressed_reason is not None:
            return "suppressed", profile.suppressed_reason
        quiet = self.ctx.quiet_hours
        if quiet is not None and campaign.category in quiet.categories:
            until = in_quiet_hours(self.now, quiet.start, quiet.end, self.tz)
            if until is not None:
                return "quiet_hours", until
        for cap in self.ctx.caps_for(campaign.category):
            since = self.now - cap.per
            count = sum(1 for s in self.sends if s.category == campaign.category and s.at > since)
            if count >= cap.messages:
                return "capped", f"{campaign.category}: {cap.messages} per {_span(cap.per)}"
        if campaign.cap is not None:
            since = self.now - campaign.cap.per
            count = sum(1 for s in self.sends if s.campaign == campaign.id and s.at > since)
            if count >= campaign.cap.messages:
                return "capped", (
                    f"campaign: {campaign.cap.messages} per {_span(campaign.cap.per)}"
                )
        return None

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
            pending: list[CampaignOutput] = []
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
        template = _template(step, journey.variant)
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
        self, campaign: Campaign, journey: JourneyState, into: list[CampaignOutput] | None
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
                _template(again, journey.variant),
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
            template = _template(step, journey.variant)
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
        if variant == CONTROL:
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
        self.sends.append(SendRecord(at=self.now, campaign=campaign.id, category=campaign.category))
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

    # -- the result ----------------------------------------------------------------------

    def finish(self) -> tuple[CustomerState, list[CampaignOutput]]:
        window = self.set.longest_cap_window(self.ctx)
        oldest = self.now - window
        sends = tuple(s for s in self.sends if s.at > oldest or s.at == self.now)
        journeys = {key: self.journeys[key] for key in sorted(self.journeys)}
        if journeys == self.state.journeys and sends == self.state.sends:
            return self.state, self.outputs
        state = self.state.model_copy(update={"journeys": journeys, "sends": sends})
        return state, self.outputs


def _template(step: SendStep, variant: str | None) -> str | None:
    if variant is None or variant == CONTROL:
        return None
    return step.templates.get(variant)


def _span(duration: timedelta) -> str:
    if duration % timedelta(days=7) == timedelta(0):
        weeks = duration // timedelta(days=7)
        return f"{weeks} week" + ("s" if weeks != 1 else "")
    if duration % timedelta(days=1) == timedelta(0):
        return f"{duration.days} day" + ("s" if duration.days != 1 else "")
    hours = duration / timedelta(hours=1)
    return f"{hours:g} hours"


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
    ) -> tuple[CustomerState, list[CampaignOutput]]:
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
    ) -> tuple[CustomerState, list[CampaignOutput]]:
        """Run the journey steps due at or before ``now``."""
        round_ = _Round(self, state, now, ctx)
        round_.clean_up()
        round_.consent_exits()
        round_.run([])
        return round_.finish()

    def runner(self, ctx: RuntimeContext) -> JourneyRunner:
        """This set bound to ``ctx``: the shape ``lifecycle.engine.Engine`` calls."""
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
    ) -> tuple[CustomerState, list[CampaignOutput]]:
        return self.campaigns.react(
            state, now, event=event, signals=signals, cause=cause, ctx=self.ctx
        )

    def next_wake(self, state: CustomerState) -> datetime | None:
        return self.campaigns.next_wake(state)

    def wake(
        self, state: CustomerState, now: datetime
    ) -> tuple[CustomerState, list[CampaignOutput]]:
        return self.campaigns.wake(state, now, self.ctx)


if TYPE_CHECKING:  # mypy proves the runner fits the engine's protocol

    def _fits_the_engine(runner: JourneyRunner) -> CampaignRuntime:
        return runner
