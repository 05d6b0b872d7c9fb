"""The send gate: whether one message may go now (consent, address, suppression, quiet
hours, frequency caps), checked in that order, and why not.

Quiet hours defer the send to their end; the other outcomes are final for this step.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from lifecycle.campaigns.journeys.moment import Moment
from lifecycle.campaigns.journeys.timing import in_quiet_hours
from lifecycle.campaigns.model import Campaign
from lifecycle.campaigns.records import DecisionOutcome
from lifecycle.state import JourneyState

__all__ = ["SendGate"]


class SendGate(Moment):
    """Checks each send against the customer's consent and the send limits."""

    def gate(
        self, campaign: Campaign, journey: JourneyState
    ) -> tuple[DecisionOutcome, str | datetime | None] | None:
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


def _span(duration: timedelta) -> str:
    if duration % timedelta(days=7) == timedelta(0):
        weeks = duration // timedelta(days=7)
        return f"{weeks} week" + ("s" if weeks != 1 else "")
    if duration % timedelta(days=1) == timedelta(0):
        return f"{duration.days} day" + ("s" if duration.days != 1 else "")
    hours = duration / timedelta(hours=1)
    return f"{hours:g} hours"
