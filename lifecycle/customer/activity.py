"""Rolling engagement: daily activity buckets, window counts, and when decline will show.

Only days with activity are stored, and only while they can still fall inside the short
window or the baseline behind it, so an idle customer's state stays small.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from lifecycle.config import EngagementConfig
from lifecycle.state import ActivityDay

__all__ = [
    "add_activity",
    "has_recovered",
    "is_declining",
    "next_decline_day",
    "prune",
    "window_counts",
]


def add_activity(
    days: tuple[ActivityDay, ...], day: int, *, logins: int = 0, orders: int = 0
) -> tuple[ActivityDay, ...]:
    updated = []
    found = False
    for bucket in days:
        if bucket.day == day:
            bucket = bucket._replace(logins=bucket.logins + logins, orders=bucket.orders + orders)
            found = True
        updated.append(bucket)
    if not found:
        updated.append(ActivityDay(day=day, logins=logins, orders=orders))
    updated.sort(key=lambda b: b.day)
    return tuple(updated)


def prune(
    days: tuple[ActivityDay, ...], today: int, cfg: EngagementConfig
) -> tuple[ActivityDay, ...]:
    oldest = today - cfg.short_window_days - cfg.long_window_days + 1
    if not days or days[0].day >= oldest:
        return days
    return tuple(b for b in days if b.day >= oldest)


def window_counts(
    days: tuple[ActivityDay, ...], today: int, cfg: EngagementConfig
) -> tuple[int, int]:
    """(events in the short window ending today, events in the baseline before it)."""
    short_start = today - cfg.short_window_days + 1
    base_start = short_start - cfg.long_window_days
    short = base = 0
    for bucket in days:
        total = bucket.logins + bucket.orders
        if short_start <= bucket.day <= today:
            short += total
        elif base_start <= bucket.day < short_start:
            base += total
    return short, base


def is_declining(short: int, baseline: int, cfg: EngagementConfig) -> bool:
    if baseline < cfg.min_baseline_events:
        return False
    short_rate = short / cfg.short_window_days
    base_rate = baseline / cfg.long_window_days
    return short_rate < cfg.decline_ratio * base_rate


def has_recovered(short: int, baseline: int, cfg: EngagementConfig) -> bool:
    """Back to ``recovery_ratio`` of the baseline rate (or no baseline left to compare with)."""
    if baseline < cfg.min_baseline_events:
        return True
    return short / cfg.short_window_days >= cfg.recovery_ratio * baseline / cfg.long_window_days


def next_decline_day(
    days: tuple[ActivityDay, ...], after_day: int, cfg: EngagementConfig
) -> int | None:
    """First local day after ``after_day`` on which, with no new activity, decline shows.

    Counts only change when a bucket crosses a window edge, so only those days are
    checked, each with two binary searches over running totals.
    """
    total = sum(b.logins + b.orders for b in days)
    if total < cfg.min_baseline_events:
        return None  # the baseline can never hold enough to compare against
    ordinals = [b.day for b in days]
    running = [0]
    for bucket in days:
        running.append(running[-1] + bucket.logins + bucket.orders)

    def count(first: int, last: int) -> int:  # events on days first..last inclusive
        return running[bisect_right(ordinals, last)] - running[bisect_left(ordinals, first)]

    short_days, long_days = cfg.short_window_days, cfg.long_window_days
    candidates = {d + short_days for d in ordinals} | {d + short_days + long_days for d in ordinals}
    for day in sorted(d for d in candidates if d > after_day):
        short = count(day - short_days + 1, day)
        baseline = count(day - short_days - long_days + 1, day - short_days)
        if is_declining(short, baseline, cfg):
            return day
    return None
