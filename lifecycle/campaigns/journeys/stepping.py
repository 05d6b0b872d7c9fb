"""Journey stepping: run a journey's program from its current step to the next stop.

A journey runs until it reaches a send (handed back to be gated), a wait (which sets
its wake time) or its end; a best-time send is first scheduled (a ``scheduled``
decision, its time as ``deferred_until``) and handed back when that time comes.
``exit_when`` is checked first each time it runs, and ``if`` steps branch on attributes
read in this moment. Outputs go to ``into`` when given
(a new entry's, held until the entry stands), else to the moment's.
"""

from __future__ import annotations

from lifecycle.campaigns.journeys.moment import Moment, template_for
from lifecycle.campaigns.journeys.send_time import best_send_time
from lifecycle.campaigns.journeys.timing import add_wait, next_local_time
from lifecycle.campaigns.model import (
    BranchStep,
    Campaign,
    JumpStep,
    SendStep,
    StopStep,
    WaitStep,
    WaitUntilStep,
)
from lifecycle.campaigns.records import JourneyOutput
from lifecycle.state import JourneyState

__all__ = ["advance"]


def advance(
    moment: Moment, campaign: Campaign, journey: JourneyState, into: list[JourneyOutput] | None
) -> tuple[JourneyState, SendStep | None]:
    """Run from ``journey.step`` until a send (returned), a wait, or the end."""
    for condition in campaign.exit_when:
        if condition.evaluate(moment.read):
            return moment.end(campaign, journey, f"exit_when:{condition}", into=into), None
    for _ in range(len(campaign.steps) + 1):
        if journey.step >= len(campaign.steps):
            return moment.complete(campaign, journey, into), None
        step = campaign.steps[journey.step]
        if isinstance(step, SendStep):
            if step.at == "best_time" and journey.send_timing is None:
                journey = _schedule(moment, campaign, journey, step, into)
                if journey.wake_at is not None and journey.wake_at > moment.now:
                    return journey, None
            return journey, step
        if isinstance(step, WaitStep | WaitUntilStep):
            if isinstance(step, WaitStep):
                wake = add_wait(moment.now, step.duration, moment.tz, calendar=step.calendar)
            else:
                wake = next_local_time(moment.now, step.at, moment.tz, step.weekdays)
            journey = journey.model_copy(update={"step": journey.step + 1, "wake_at": wake})
            if wake > moment.now:
                return journey, None
            continue  # the clock already shows that time: no wait at all
        if isinstance(step, BranchStep):
            taken = step.condition.evaluate(moment.read)
            target = journey.step + 1 if taken else step.else_step
            journey = journey.model_copy(update={"step": target})
        elif isinstance(step, JumpStep):
            journey = journey.model_copy(update={"step": step.target})
        else:
            assert isinstance(step, StopStep)
            return moment.complete(campaign, journey, into), None
    raise AssertionError("programs only jump forward")  # pragma: no cover


def _schedule(
    moment: Moment,
    campaign: Campaign,
    journey: JourneyState,
    step: SendStep,
    into: list[JourneyOutput] | None,
) -> JourneyState:
    """Choose the time of a best-time send and record it; the journey wakes then."""
    assert step.within is not None, "the compiler gives every best-time send a window"
    quiet = moment.ctx.rules.quiet_hours
    at, timing = best_send_time(
        moment.state,
        moment.now,
        step.within,
        moment.tz,
        moment.ctx.engine.send_time,
        quiet=quiet,
        category=campaign.category,
    )
    local = at.astimezone(moment.tz)
    moment.decision(
        campaign,
        journey,
        step.number,
        "scheduled",
        template_for(step, journey.variant),
        deferred_until=at,
        detail=f"{timing}: {local:%a %H:%M} local",
        send_time=timing,
        into=into,
    )
    return journey.model_copy(update={"send_timing": timing, "wake_at": at})
