"""Periods of the counters: UTC days, ISO weeks and months, named as text.

A day is ``2026-02-14``, an ISO week ``2026-W07`` (Monday to Sunday, the ISO year), a month
``2026-02``; ``all`` is the whole history. Counters keep days as ``date.toordinal()``
integers and name the three periods that contain a day.

**Two ways to date a thing.** Something that happened *in* a period (an order, an answer,
a campaign decision) is counted in the period that contains its time. A change of
"is a customer" is counted by its **boundary day**, :func:`boundary_day`: the day that
contains the instant just before it. Whether someone is a customer at a period's start
``s`` depends on everything at or before ``s`` (:func:`lifecycle.measurement.retention.
is_customer_at`), so a change at exactly midnight ``s`` already decides the status at
``s`` and belongs to the period that ends at ``s``. So: customers at the start of day
``D`` = the sum of the changes with boundary day before ``D``; the changes of a period
``[s, e)`` are those with boundary day in ``[s, e)``, the ones between its two boundaries.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Literal

__all__ = [
    "ALL",
    "GRANULARITIES",
    "Granularity",
    "boundary_day",
    "day_of",
    "days_of",
    "granularity_of",
    "month_index",
    "month_label",
    "period_label",
    "period_range",
    "periods_between",
]

Granularity = Literal["day", "week", "month"]
GRANULARITIES: tuple[Granularity, ...] = ("day", "week", "month")
#: The period of counters kept over the whole history.
ALL = "all"

_JUST_BEFORE = timedelta(microseconds=1)


def day_of(at: datetime) -> int:
    """The UTC day that contains ``at``, as ``date.toordinal()``."""
    return at.astimezone(UTC).date().toordinal()


def boundary_day(at: datetime) -> int:
    """The UTC day that contains the instant just before ``at`` (see the module docstring)."""
    return day_of(at - _JUST_BEFORE)


def month_index(day: int) -> int:
    """``year * 12 + month - 1`` of a day: months as consecutive integers."""
    value = date.fromordinal(day)
    return value.year * 12 + value.month - 1


def month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def period_label(day: int, granularity: Granularity) -> str:
    value = date.fromordinal(day)
    if granularity == "day":
        return value.isoformat()
    if granularity == "week":
        year, week, _ = value.isocalendar()
        return f"{year:04d}-W{week:02d}"
    return f"{value.year:04d}-{value.month:02d}"


def granularity_of(label: str) -> Granularity | None:
    """Which kind of period a label names (None for ``all`` or anything else)."""
    if len(label) == 10 and label[4] == "-" and label[7] == "-":
        return "day"
    if len(label) == 8 and label[4:6] == "-W":
        return "week"
    if len(label) == 7 and label[4] == "-":
        return "month"
    return None


def period_range(label: str) -> tuple[int, int]:
    """First day and the day after the last (ordinals) of a day, week or month label."""
    kind = granularity_of(label)
    if kind == "day":
        first = date.fromisoformat(label)
        return first.toordinal(), first.toordinal() + 1
    if kind == "week":
        first = date.fromisocalendar(int(label[:4]), int(label[6:]), 1)
        return first.toordinal(), first.toordinal() + 7
    if kind == "month":
        year, month = int(label[:4]), int(label[5:])
        after = date(year + month // 12, month % 12 + 1, 1)
        return date(year, month, 1).toordinal(), after.toordinal()
    raise ValueError(f"{label!r} is not a day, ISO week or month")


def periods_between(first_day: int, last_day: int, granularity: Granularity) -> Iterator[str]:
    """The labels of every period from the one containing ``first_day`` to the one
    containing ``last_day``, in order."""
    day = first_day
    while day <= last_day:
        label = period_label(day, granularity)
        yield label
        day = period_range(label)[1]


def days_of(label: str) -> range:
    first, after = period_range(label)
    return range(first, after)
