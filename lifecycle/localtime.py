"""Customer-local calendar arithmetic. Days and times of day are the customer's own.

Durations written as text (``30m``, ``5d``, ``2w``; campaign files, conditions, settings)
are at most :data:`MAX_DURATION` (3660 days, ten years and then some), so a time plus
a duration stays far inside what ``datetime`` holds for every time the event contract
accepts (before 2200); anything longer, or written with more than 12 digits, is a
``ValueError`` with a hint, never an ``OverflowError``.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator

__all__ = [
    "MAX_DURATION",
    "Duration",
    "add_years",
    "local_day",
    "parse_duration",
    "start_of_local_day",
    "zone",
]

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: The longest duration :func:`parse_duration` accepts.
MAX_DURATION = timedelta(days=3660)
_MAX_DURATION_DIGITS = 12


@lru_cache(maxsize=512)
def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    """The customer's zone, or the fallback when unknown or unusable."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(fallback)


def local_day(at: datetime, tz: ZoneInfo) -> int:
    """Proleptic ordinal of the local calendar day containing ``at``."""
    return at.astimezone(tz).date().toordinal()


def start_of_local_day(day: int, tz: ZoneInfo) -> datetime:
    """The instant local midnight of ``day`` begins (DST-safe: resolves gaps forward)."""
    naive = datetime.combine(date.fromordinal(day), time(0))
    aware = naive.replace(tzinfo=tz)
    # A midnight inside a DST gap does not exist; round-tripping through UTC moves it to
    # the first valid instant of the day.
    return aware.astimezone(ZoneInfo("UTC")).astimezone(tz)


def add_years(at: datetime, years: int) -> datetime:
    """Same wall-clock moment ``years`` later; 29 February becomes 28 February."""
    try:
        return at.replace(year=at.year + years)
    except ValueError:
        return at.replace(year=at.year + years, day=28)


def parse_duration(text: str) -> timedelta:
    """``30s``, ``15m``, ``6h``, ``5d``, ``2w`` -> timedelta. Raises ValueError with a hint."""
    match = _DURATION.fullmatch(text) if len(text) <= 100 else None
    if not match:
        shown = repr(text) if len(text) <= 40 else repr(text[:40]) + "..."
        raise ValueError(f"{shown} is not a duration; write a number and a unit: 30m, 6h, 5d or 2w")
    amount, unit = match.groups()
    too_long = ValueError(
        f"{text.strip()!r} is longer than the longest duration allowed, "
        f"{MAX_DURATION.days}d (ten years)"
    )
    if len(amount.replace(".", "")) > _MAX_DURATION_DIGITS:
        raise too_long
    seconds = float(amount) * _UNIT_SECONDS[unit]
    if seconds > MAX_DURATION.total_seconds():
        raise too_long
    return timedelta(seconds=seconds)


def _duration_or_value(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str) and value[-1:].isalpha() else value


#: A timedelta field that also takes ``"30m"``, ``"1d"``, ``"2w"`` (settings, campaign context).
Duration = Annotated[timedelta, BeforeValidator(_duration_or_value)]
