"""When an ``at: best_time`` send goes: the customer's most active hour inside the window.

The candidates are ``now`` and every start of a local hour after it, up to ``now +
within``, except those inside quiet hours for the campaign's category. Each is scored
from the customer's hour-of-week profile (:mod:`lifecycle.customer.active_hours`) as

    7 * weight(that hour of that weekday) + sum over the 7 weekdays of weight(that hour)

i.e. the hour of the week, backed by the same hour on the other days (a customer who
reads mail at 19:00 on weekdays gets 19:00 on a Saturday rather than nothing). The
highest score wins; ties go to the earliest. The send is ``optimised``.

It is ``fallback`` when the profile holds fewer than ``SendTimeConfig.min_events``
(decayed) events, or no candidate hour has any activity: then it goes at the next
``fallback_at`` on the customer's clock inside the window, or at once if there is none
(and the send gate still holds it back through quiet hours). Pure and deterministic: the
worker and a replay choose the same time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from lifecycle.campaigns.context import QuietHours
from lifecycle.campaigns.journeys.timing import in_quiet_hours, next_local_time
from lifecycle.config import SendTimeConfig
from lifecycle.customer import decayed_event_count, hour_of_week, profile_weights
from lifecycle.mail import Category
from lifecycle.state import CustomerState

__all__ = ["SendTiming", "best_send_time"]

SendTiming = Literal["optimised", "fallback"]

_HOUR = timedelta(hours=1)


def _quiet(at: datetime, tz: ZoneInfo, quiet: QuietHours | None, category: Category) -> bool:
    if quiet is None or category not in quiet.categories:
        return False
    return in_quiet_hours(at, quiet.start, quiet.end, tz) is not None


def _candidates(now: datetime, within: timedelta, tz: ZoneInfo) -> list[datetime]:
    local = now.astimezone(tz)
    into_hour = timedelta(
        minutes=local.minute, seconds=local.second, microseconds=local.microsecond
    )
    found = [now]
    at = now - into_hour + _HOUR
    while at <= now + within:
        found.append(at)
        at += _HOUR
    return found


def best_send_time(
    state: CustomerState,
    now: datetime,
    within: timedelta,
    tz: ZoneInfo,
    cfg: SendTimeConfig,
    *,
    quiet: QuietHours | None,
    category: Category,
) -> tuple[datetime, SendTiming]:
    """The time to send and whether the profile chose it (see the module docstring)."""
    now_period = now.astimezone(tz).toordinal() // cfg.half_life_days
    held = decayed_event_count(state.active_hours, state.active_hours_period, now_period)
    if held >= cfg.min_events:
        weights = profile_weights(state.active_hours)
        by_hour = [sum(weights.get(day * 24 + hour, 0) for day in range(7)) for hour in range(24)]
        best: tuple[int, datetime] | None = None
        for at in _candidates(now, within, tz):
            if _quiet(at, tz, quiet, category):
                continue
            local = at.astimezone(tz)
            score = 7 * weights.get(hour_of_week(local), 0) + by_hour[local.hour]
            if score > 0 and (best is None or score > best[0]):
                best = (score, at)
        if best is not None:
            return best[1], "optimised"
    fallback = next_local_time(now, cfg.fallback_at, tz)
    if fallback <= now + within and not _quiet(fallback, tz, quiet, category):
        return fallback, "fallback"
    return now, "fallback"
