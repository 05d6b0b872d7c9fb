"""The send gate: whether one message may go now (consent, address, suppression, quiet
hours, frequency caps), checked in that order, and why not.

Quiet hours defer the send to their end; the other outcomes are final for this step.
:func:`why_not_now` is a pure function of the customer's profile and send records, the
time and the operator's rules; it changes nothing (the caller records its answer).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from lifecycle.campaigns.context import RuntimeContext
from lifecycle.campaigns.journeys.timing import in_quiet_hours
from lifecycle.campaigns.model import Campaign
from lifecycle.campaigns.records import DecisionOutcome
from lifecycle.state import Profile, SendRecord

__all__ = ["Blocked", "why_not_now"]

#: Why a send cannot go now: the outcome, and its detail (the end of the quiet hours for
#: ``quiet_hours``, the suppression reason or the full cap for the others, or None).
Blocked = tuple[DecisionOutcome, str | datetime | None]


def why_not_now(
    campaign: Campaign,
    *,
    profile: Profile,
    sends: Sequence[SendRecord],
    now: datetime,
    tz: ZoneInfo,
    ctx: RuntimeContext,
) -> Blocked | None:
    """Why a send of ``campaign`` cannot go at ``now``, or None if it may."""
    marketing = campaign.category == "marketing"
    if marketing and not profile.marketing_consent:
        return "no_consent", None
    if not profile.email:
        return "no_address", None
    if marketing and profile.suppressed_reason is not None:
        return "suppressed", profile.suppressed_reason
    quiet = ctx.rules.quiet_hours
    if quiet is not None and campaign.category in quiet.categories:
        until = in_quiet_hours(now, quiet.start, quiet.end, tz)
        if until is not None:
            return "quiet_hours", until
    for cap in ctx.rules.caps_for(campaign.category):
        since = now - cap.per
        count = sum(1 for s in sends if s.category == campaign.category and s.at > since)
        if count >= cap.messages:
            return "capped", f"{campaign.category}: {cap.messages} per {_span(cap.per)}"
    if campaign.cap is not None:
        since = now - campaign.cap.per
        count = sum(1 for s in sends if s.campaign == campaign.id and s.at > since)
        if count >= campaign.cap.messages:
            return "capped", f"campaign: {campaign.cap.messages} per {_span(campaign.cap.per)}"
    return None


def _span(duration: timedelta) -> str:
    if duration % timedelta(days=7) == timedelta(0):
        weeks = duration // timedelta(days=7)
        return f"{weeks} week" + ("s" if weeks != 1 else "")
    if duration % timedelta(days=1) == timedelta(0):
        return f"{duration.days} day" + ("s" if duration.days != 1 else "")
    hours = duration / timedelta(hours=1)
    return f"{hours:g} hours"
