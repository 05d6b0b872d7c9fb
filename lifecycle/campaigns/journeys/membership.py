"""Who is in which journey: removed campaigns, conversions, exits and entries.

Triggers, conversion goals and ``exit_on`` all match the moment's event or signals;
entries honour ``reentry``, ``audience`` and (for marketing) consent, and pick the
variant from the A/B hash. Each function is one phase of a moment (phases 1 to 4 of
:mod:`~lifecycle.campaigns.journeys.campaign_set`) and changes only the moment;
:func:`new_entries` leaves the journeys it starts to
:func:`~lifecycle.campaigns.journeys.sending.run_due_and_new`, since a new entry whose
first send loses the priority conflict is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from lifecycle.campaigns.journeys.adaptive import ArmCounts, window_start
from lifecycle.campaigns.journeys.assignment import assign_variant
from lifecycle.campaigns.journeys.moment import Moment
from lifecycle.campaigns.model import Campaign, Matcher, Variant
from lifecycle.campaigns.records import AllocationRecord
from lifecycle.events import Event, OrderPlaced
from lifecycle.signals import Signal
from lifecycle.state import JourneyState

__all__ = [
    "Entry",
    "end_exit_on_matches",
    "end_removed_or_disabled",
    "end_without_consent",
    "new_entries",
    "record_conversions",
]

_Detail = str | int | float | bool | None


@dataclass(frozen=True)
class Entry:
    """A journey a trigger starts at this moment, not yet among the moment's journeys."""

    campaign: Campaign
    journey: JourneyState
    #: The journey state before this entry (None: never entered), restored if it is dropped.
    before: JourneyState | None


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


def end_removed_or_disabled(moment: Moment) -> None:
    """Phase 1: journeys of campaigns that were removed or disabled end."""
    for campaign_id in sorted(moment.journeys):
        journey = moment.journeys[campaign_id]
        if not journey.active:
            continue
        campaign = moment.by_id.get(campaign_id)
        if campaign is None:
            # No program to name a pending step with: only the journey record.
            ended = moment.closed(journey, "campaign_removed")
            moment.journey_record(campaign_id, ended, "exited", reason="campaign_removed")
            moment.journeys[campaign_id] = ended
        elif not campaign.enabled:
            moment.journeys[campaign_id] = moment.end(campaign, journey, "campaign_disabled")


def record_conversions(moment: Moment, event: Event | None, signals: Sequence[Signal]) -> None:
    """Phase 2: conversion goals, for every journey inside its window (control too).

    The window opens at the entry's first treatment (see
    :func:`~lifecycle.campaigns.journeys.sending.open_conversion_window`) and closes
    ``within`` later; an order inside it adds its total to the entry's attributed revenue,
    and the first goal inside it converts the entry (once per entry).
    """
    for campaign in moment.campaigns:
        journey = moment.journeys.get(campaign.id)
        if (
            journey is None
            or campaign.conversion is None
            or journey.conversion_deadline is None
            or moment.now > journey.conversion_deadline
        ):
            continue
        if isinstance(event, OrderPlaced):
            journey = journey.model_copy(update={"revenue": journey.revenue + event.total})
            moment.journeys[campaign.id] = journey
        if journey.converted_at is not None:
            continue
        found = _match(campaign.conversion.goals, event, signals)
        if found is None:
            continue
        converted = journey.model_copy(update={"converted_at": moment.now})
        moment.journeys[campaign.id] = converted
        moment.journey_record(
            campaign.id, converted, "converted", reason=found.matcher.label, cause=found.cause
        )


def end_exit_on_matches(moment: Moment, event: Event | None, signals: Sequence[Signal]) -> None:
    """Phase 3: ``exit_on`` matches end journeys."""
    for campaign in moment.campaigns:
        journey = moment.journeys.get(campaign.id)
        if journey is None or not journey.active:
            continue
        found = _match(campaign.exit_on, event, signals)
        if found is not None:
            moment.journeys[campaign.id] = moment.end(
                campaign, journey, f"exit_on:{found.matcher.label}"
            )


def end_without_consent(moment: Moment) -> None:
    """Phase 3: marketing journeys end when consent is gone."""
    if moment.state.profile.marketing_consent:
        return
    for campaign in moment.campaigns:
        journey = moment.journeys.get(campaign.id)
        if journey is not None and journey.active and campaign.category == "marketing":
            moment.journeys[campaign.id] = moment.end(
                campaign, journey, "no_consent", outcome="no_consent"
            )


def _may_enter(campaign: Campaign, journey: JourneyState | None, now: datetime) -> bool:
    if journey is None or journey.entries == 0:
        return True
    if journey.active:
        return False
    rule = campaign.reentry
    if rule.max_entries is not None and journey.entries >= rule.max_entries:
        return False
    if rule.after is not None and journey.entered_at is not None:
        return now >= journey.entered_at + rule.after
    return True


def _shares(moment: Moment, campaign: Campaign) -> tuple[Variant, ...] | None:
    """An adaptive split's shares in force now (None: the split's own). The moment that
    fixes a window's shares reports them (an ``allocation`` record)."""
    adaptive = campaign.split.adaptive
    if adaptive is None or moment.allocations is None:
        return None
    in_force, fixed_now = moment.allocations.weights_in_force(campaign, moment.now)
    if fixed_now:
        start = window_start(in_force.window, adaptive.every)
        names = campaign.split.names
        moment.outputs.append(
            AllocationRecord(
                at=moment.now,
                customer_id=moment.customer_id,
                campaign=campaign.id,
                partition=moment.allocations.partition,
                window_start=start,
                window_end=start + adaptive.every,
                settled_before=start - adaptive.every,
                weights=tuple((v.name, v.weight) for v in in_force.variants),
                control=campaign.split.control,
                counts=tuple((n, *in_force.counts.get(n, ArmCounts())) for n in names),
            )
        )
    return in_force.variants


def new_entries(moment: Moment, event: Event | None, signals: Sequence[Signal]) -> list[Entry]:
    """Phase 4: the journeys triggers start. Not while already in it, only as ``reentry``
    allows, only if every ``audience`` condition holds, and for marketing only with
    consent (else a ``no_consent`` decision and no entry)."""
    entering = []
    for campaign in moment.campaigns:
        if not campaign.enabled:
            continue
        found = _match(campaign.triggers, event, signals)
        if found is None:
            continue
        before = moment.journeys.get(campaign.id)
        if not _may_enter(campaign, before, moment.now):
            continue
        if not all(condition.evaluate(moment.read) for condition in campaign.audience):
            continue
        variant = assign_variant(campaign.split, moment.customer_id, _shares(moment, campaign))
        journey = JourneyState(
            entries=(0 if before is None else before.entries) + 1,
            active=True,
            variant=variant,
            step=0,
            entered_at=moment.now,
            cause=found.cause,
            wake_at=moment.now,
            trigger=found.matcher.name,
            data=found.data,
        )
        if campaign.category == "marketing" and not moment.state.profile.marketing_consent:
            moment.decision(campaign, journey, 0, "no_consent", None, detail="at entry")
            continue
        entering.append(Entry(campaign, journey, before))
    return entering
