"""A customer's decayed activity profile by local hour of the week, for send-time optimisation.

The profile is two plain integer fields of the state (so any codec stores them compactly):

- ``CustomerState.active_hours``: the non-empty buckets, ascending, each packed as
  ``hour_of_week << 8 | weight`` (hour of week = Monday 00:00-00:59 is 0, Sunday 23:00 is
  167; weight 1-255). At most 168 entries, so at most 168 small integers whatever the
  history; a customer active at a handful of hours has a handful.
- ``CustomerState.active_hours_period``: the decay period (local day ordinal //
  ``half_life_days``) the weights are expressed in.

Each activity (a login, an order, an email click), at the customer's local time of the
event, adds :data:`EVENT_WEIGHT` to its hour. When the period moves on by k, every
weight is first halved k times (integer shifts, zeros dropped), so activity one half-life
old counts half as much as today's; a late event from an earlier period adds its weight
halved the same way. A weight that would pass 255 halves the whole profile first: the
shape is kept, the bytes stay bounded. Integer arithmetic only, so the worker and a
replay of the same history hold the same profile. Which hour the profile says is best is
decided by :mod:`lifecycle.campaigns.journeys.send_time`.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import datetime

__all__ = [
    "EVENT_WEIGHT",
    "HOURS_PER_WEEK",
    "MAX_WEIGHT",
    "decayed_event_count",
    "hour_of_week",
    "profile_weights",
    "record_activity",
]

HOURS_PER_WEEK = 168
#: What one event adds to its hour: 16 leaves four halvings before an event is forgotten.
EVENT_WEIGHT = 16
MAX_WEIGHT = 255


def hour_of_week(local: datetime) -> int:
    """0 for Monday 00:00-00:59 on the customer's clock, ..., 167 for Sunday 23:00."""
    return local.weekday() * 24 + local.hour


def profile_weights(packed: tuple[int, ...]) -> dict[int, int]:
    """Hour of week -> weight, from the packed form."""
    return {entry >> 8: entry & 0xFF for entry in packed}


def _pack(weights: dict[int, int]) -> tuple[int, ...]:
    return tuple(hour << 8 | weight for hour, weight in sorted(weights.items()) if weight > 0)


def _halve(weights: dict[int, int], times: int) -> dict[int, int]:
    if times <= 0:
        return weights
    shift = min(times, 16)
    return {hour: weight >> shift for hour, weight in weights.items() if weight >> shift}


def record_activity(
    packed: tuple[int, ...], period: int, local: datetime, *, half_life_days: int
) -> tuple[tuple[int, ...], int]:
    """The profile after one activity at ``local`` (the customer's clock): new
    ``(active_hours, active_hours_period)``."""
    event_period = local.toordinal() // half_life_days
    hour = hour_of_week(local)
    if event_period == period and packed:
        # The usual case, no decay due: one entry changes, found by bisection (the packed
        # entries sort by hour).
        index = bisect_left(packed, hour << 8)
        if index < len(packed) and packed[index] >> 8 == hour:
            weight = (packed[index] & 0xFF) + EVENT_WEIGHT
            if weight <= MAX_WEIGHT:
                return (*packed[:index], hour << 8 | weight, *packed[index + 1 :]), period
        else:
            return (*packed[:index], hour << 8 | EVENT_WEIGHT, *packed[index:]), period
    weights = profile_weights(packed)
    if not weights:
        period = event_period
    elif event_period > period:
        weights = _halve(weights, event_period - period)
        period = event_period
    added = EVENT_WEIGHT >> min(max(0, period - event_period), 16)
    if added == 0:
        return packed, period  # older than four half-lives: it would be forgotten at once
    if weights.get(hour, 0) + added > MAX_WEIGHT:
        weights = _halve(weights, 1)
    weights[hour] = weights.get(hour, 0) + added
    return _pack(weights), period


def decayed_event_count(packed: tuple[int, ...], period: int, now_period: int) -> float:
    """How many events' worth of activity the profile holds as of ``now_period``: its
    weight, halved once for each whole period since the end of the one it is expressed in.

    Not since its start: the weights are rebased only at period boundaries, so an event
    on the last day of a period would otherwise lose half its weight a day later.
    """
    total = sum(profile_weights(packed).values())
    halvings = min(max(0, now_period - period - 1), 64)
    return total / EVENT_WEIGHT / float(1 << halvings)
