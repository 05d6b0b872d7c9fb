"""Who is in which journey: removed campaigns, conversions, exits and entries.

Triggers, conversion goals and ``exit_on`` all match the moment's event or signals;
entries honour ``reentry``, ``audience`` and (for marketing) consent, and pick the
variant from the A/B hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lifecycle.campaigns.journeys.assignment import assign_variant
from lifecycle.campaigns.journeys.moment import Moment
from lifecycle.campaigns.model import Campaign, Matcher
from lifecycle.events import Event
from lifecycle.signals import Signal
from lifecycle.state import JourneyState

__all__ = ["Membership"]

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


class Membership(Moment):
    """The phases that end journeys and start new ones."""

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
