"""Customer-local clock arithmetic for waits and quiet hours, safe across DST changes.

Times come back in UTC (compact and comparable in state). A wall-clock time that does
not exist (02:30 on the spring-forward night) moves forward by the length of the gap
(to 03:30); one that exists twice (autumn) means its first occurrence.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["add_wait", "in_quiet_hours", "next_local_time"]

_DAY = timedelta(days=1)


def _at_local(day: datetime, at: time, tz: ZoneInfo) -> datetime:
    naive = datetime.combine(day.date(), at)
    aware = naive.replace(tzinfo=tz, fold=0)
    # A time inside a DST gap does not exist; the conversion moves it past the gap.
    return aware.astimezone(UTC)


def next_local_time(
    now: datetime, at: time, tz: ZoneInfo, weekdays: Sequence[int] = ()
) -> datetime:
    """The first instant at or after ``now`` when the customer's clock shows ``at`` on
    one of ``weekdays`` (Monday = 0; empty = any day). Exactly ``at`` now means now."""
    local_now = now.astimezone(tz)
    for offset in range(0, 9):
        day = local_now + offset * _DAY
        if weekdays and day.weekday() not in weekdays:
            continue
        candidate = _at_local(day, at, tz)
        if candidate >= now:
            return candidate
    raise AssertionError("a weekday always comes within a week")  # pragma: no cover


def add_wait(now: datetime, duration: timedelta, tz: ZoneInfo, *, calendar: bool) -> datetime:
    """``now + duration``. With ``calendar`` (a wait written in days or weeks) whole days
    keep the local time of day, so ``1d`` across a DST change lands at the same clock
    time, while ``24h`` is always 24 hours."""
    if not calendar or duration % _DAY != timedelta(0):
        return (now + duration).astimezone(UTC)
    local = now.astimezone(tz)
    naive = local.replace(tzinfo=None) + duration
    return naive.replace(tzinfo=tz, fold=local.fold).astimezone(UTC)


def in_quiet_hours(now: datetime, start: time, end: time, tz: ZoneInfo) -> datetime | None:
    """When quiet hours end, if ``now`` is inside them on the customer's clock; else None."""
    if start == end:
        return None
    local = now.astimezone(tz).time().replace(tzinfo=None)
    inside = start <= local < end if start < end else (local >= start or local < end)
    if not inside:
        return None
    return next_local_time(now, end, tz)
