"""Retention figures per period, as the retention articles define them, from counts and sums.

**A customer at a time t** is someone whose latest order placed at or before t is less than
``W`` days before t, where ``W`` is the at-risk threshold (``STAGES__AT_RISK_AFTER_DAYS``,
60 by default): exactly the customers whose stage at t is ``new``, ``active`` or
``reactivated``, since the stage moves to ``at_risk`` at the last order plus ``W``. Only
orders count (a login is not buying), and a refunded order still counts as an order.
From the state the worker keeps: ``orders.last_at`` (and, for "new", ``orders.first_at``);
see :func:`is_customer_at`.

For a period ``[start, end)`` each customer falls in at most one of four groups
(:func:`flow_group`):

- **retained**: a customer at ``start`` and at ``end``;
- **lost**: a customer at ``start``, not at ``end``;
- **first-time**: first order inside the period, and a customer at ``end``;
- **reactivated**: ordered before ``start``, not a customer at ``start``, a customer at ``end``.

So ``S = retained + lost`` (customers at start), ``E = retained + first-time + reactivated``
(customers at end) and **N = first-time + reactivated**: the customers at the end who were
not customers at the start. A reactivated customer counts in N because the formula below
subtracts N to keep only the customers carried over from S; counted as retained they would
lift the retention rate by bringing back people who had already gone. A customer who
becomes a customer and stops again inside one period is in none of S, E, N (possible only
in periods longer than ``W``). Whether someone was a customer at a boundary is decided by
their orders up to that boundary, whatever happens later.

The figures (rates in percent, like the articles):

- retention rate = (E - N) / S x 100
- churn rate = lost / S x 100 (= 100 - retention rate, since lost = S - (E - N))
- repeat purchase rate = customers with two or more orders in the period / customers with
  at least one, x 100
- purchase frequency = orders / customers with at least one order (in the period)
- average order value (AOV) = revenue / orders
- expected lifespan = 100 / churn rate, in periods: if the same share of customers leaves
  every period, a customer stays 1 / share periods on average (the mean of a geometric
  lifetime)
- customer lifetime value (CLV) = AOV x purchase frequency x expected lifespan
- NPS = % promoters (9-10) - % detractors (0-6) of the answers; CSAT = % of answers 4-5
  (of 1-5); CES = the mean effort answer (1-7)

A cohort is the customers who signed up in a month (the month of their first order for
those without a signup event); :func:`cohort_triangle` gives, for each cohort and each
month since, the share that ordered in that month.

Note on the articles: one worked example (50 000 at start, 1 000 new, 40 000 at end)
subtracts N from S and gets 81%; the formula it states gives (40 000 - 1 000) / 50 000 =
78%. This module follows the formula.

Nothing here raises on data that can occur (an empty period, no orders, no churn): a
figure that cannot be computed is None and ``notes`` says why. Impossible input (negative
counts, more repeat buyers than buyers, E - N outside 0..S) raises ``ValueError``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Literal

__all__ = [
    "CohortRow",
    "CustomerFlow",
    "FlowGroup",
    "PeriodActivity",
    "PeriodFigures",
    "SurveyCounts",
    "average_ces",
    "average_order_value",
    "churn_rate",
    "cohort_triangle",
    "csat_score",
    "customer_lifetime_value",
    "expected_lifespan",
    "flow_group",
    "is_customer_at",
    "net_promoter_score",
    "period_figures",
    "purchase_frequency",
    "repeat_purchase_rate",
    "retention_rate",
]

Amount = Decimal | float | int
FlowGroup = Literal["retained", "lost", "first_time", "reactivated"]

_MONTH = re.compile(r"(\d{4})-(\d{2})")


def _non_negative(**counts: int) -> None:
    for name, value in counts.items():
        if value < 0:
            raise ValueError(f"{name} cannot be negative ({value})")


# --- who is a customer -----------------------------------------------------------------


def is_customer_at(last_order_at: datetime | None, at: datetime, window: timedelta) -> bool:
    """Whether someone whose latest order up to ``at`` was at ``last_order_at`` is a
    customer at ``at``: that order is less than ``window`` before ``at``."""
    return last_order_at is not None and last_order_at <= at < last_order_at + window


def flow_group(
    *,
    first_order_at: datetime | None,
    customer_at_start: bool,
    customer_at_end: bool,
    start: datetime,
) -> FlowGroup | None:
    """Which of the four groups a customer is in for a period beginning at ``start``
    (None: in none of them, so in none of S, E, N)."""
    if customer_at_start:
        return "retained" if customer_at_end else "lost"
    if not customer_at_end or first_order_at is None:
        return None
    return "first_time" if first_order_at >= start else "reactivated"


@dataclass(frozen=True, slots=True)
class CustomerFlow:
    """A period's customers in four disjoint groups (see the module docstring)."""

    retained: int
    lost: int
    first_time: int
    reactivated: int = 0

    def __post_init__(self) -> None:
        _non_negative(
            retained=self.retained,
            lost=self.lost,
            first_time=self.first_time,
            reactivated=self.reactivated,
        )

    @classmethod
    def from_totals(cls, *, start: int, new: int, end: int) -> CustomerFlow:
        """From S, N and E as the articles give them (all of N taken as first-time)."""
        _non_negative(start=start, new=new, end=end)
        retained = end - new
        if not 0 <= retained <= start:
            raise ValueError(
                f"E - N = {retained} customers kept from the start, but S = {start}: "
                "the counts do not fit together"
            )
        return cls(retained=retained, lost=start - retained, first_time=new)

    @property
    def at_start(self) -> int:
        """S."""
        return self.retained + self.lost

    @property
    def new(self) -> int:
        """N: customers at the end who were not customers at the start."""
        return self.first_time + self.reactivated

    @property
    def at_end(self) -> int:
        """E."""
        return self.retained + self.new


@dataclass(frozen=True, slots=True)
class PeriodActivity:
    """Orders placed in a period: how many, by how many customers, for how much."""

    orders: int
    buyers: int
    repeat_buyers: int
    revenue: Amount

    def __post_init__(self) -> None:
        _non_negative(orders=self.orders, buyers=self.buyers, repeat_buyers=self.repeat_buyers)
        if self.repeat_buyers > self.buyers:
            raise ValueError(f"{self.repeat_buyers} repeat buyers > {self.buyers} buyers")
        if self.buyers > self.orders:
            raise ValueError(f"{self.buyers} buyers > {self.orders} orders")
        if self.orders < self.buyers + self.repeat_buyers:
            raise ValueError(f"{self.repeat_buyers} repeat buyers need two orders each")
        finite = (
            self.revenue.is_finite()
            if isinstance(self.revenue, Decimal)
            else (math.isfinite(self.revenue))
        )
        if not finite:
            raise ValueError("revenue is not a finite number")


@dataclass(frozen=True, slots=True)
class SurveyCounts:
    """Answers by score: ``nps`` 0-10, ``csat`` 1-5, ``ces`` 1-7 (score -> answers)."""

    nps: Mapping[int, int]
    csat: Mapping[int, int]
    ces: Mapping[int, int]

    def __post_init__(self) -> None:
        for name, counts, low, high in (
            ("nps", self.nps, 0, 10),
            ("csat", self.csat, 1, 5),
            ("ces", self.ces, 1, 7),
        ):
            for score, answers in counts.items():
                if not low <= score <= high:
                    raise ValueError(f"{name} score {score} is outside {low}-{high}")
                if answers < 0:
                    raise ValueError(f"{name} answers for {score} cannot be negative")


# --- the figures -----------------------------------------------------------------------


def _percent(part: int, whole: int) -> float | None:
    return part * 100 / whole if whole else None


def retention_rate(flow: CustomerFlow) -> float | None:
    """(E - N) / S x 100; None when there were no customers at the start."""
    return _percent(flow.at_end - flow.new, flow.at_start)


def churn_rate(flow: CustomerFlow) -> float | None:
    """lost / S x 100; None when there were no customers at the start."""
    return _percent(flow.lost, flow.at_start)


def repeat_purchase_rate(activity: PeriodActivity) -> float | None:
    return _percent(activity.repeat_buyers, activity.buyers)


def purchase_frequency(activity: PeriodActivity) -> float | None:
    return activity.orders / activity.buyers if activity.buyers else None


def average_order_value(activity: PeriodActivity) -> float | None:
    return float(Fraction(activity.revenue) / activity.orders) if activity.orders else None


def expected_lifespan(churn_percent: float | None) -> float | None:
    """100 / churn rate, in periods; None without churn (no finite lifespan to expect)."""
    if churn_percent is None or churn_percent <= 0:
        return None
    return 100 / churn_percent


def customer_lifetime_value(
    aov: float | None, frequency: float | None, lifespan: float | None
) -> float | None:
    """AOV x purchase frequency x expected lifespan (the articles' simple formula)."""
    if aov is None or frequency is None or lifespan is None:
        return None
    return aov * frequency * lifespan


def net_promoter_score(counts: Mapping[int, int]) -> float | None:
    """% promoters (9-10) - % detractors (0-6), from -100 to 100."""
    answers = sum(counts.values())
    if not answers:
        return None
    promoters = sum(n for score, n in counts.items() if score >= 9)
    detractors = sum(n for score, n in counts.items() if score <= 6)
    return (promoters - detractors) * 100 / answers


def csat_score(counts: Mapping[int, int]) -> float | None:
    """% of answers that are 4 or 5."""
    return _percent(sum(n for score, n in counts.items() if score >= 4), sum(counts.values()))


def average_ces(counts: Mapping[int, int]) -> float | None:
    answers = sum(counts.values())
    return sum(score * n for score, n in counts.items()) / answers if answers else None


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    customers_at_start: int
    new_customers: int
    first_time_customers: int
    reactivated_customers: int
    customers_at_end: int
    lost_customers: int
    retention_rate: float | None
    churn_rate: float | None
    orders: int
    buyers: int
    revenue: float
    repeat_purchase_rate: float | None
    purchase_frequency: float | None
    average_order_value: float | None
    expected_lifespan: float | None
    customer_lifetime_value: float | None
    nps: float | None
    csat: float | None
    average_ces: float | None
    #: Why any figure above is None.
    notes: tuple[str, ...] = ()


def period_figures(
    flow: CustomerFlow, activity: PeriodActivity, surveys: SurveyCounts | None = None
) -> PeriodFigures:
    notes: list[str] = []
    retention, churn = retention_rate(flow), churn_rate(flow)
    if retention is None:
        notes.append("retention, churn, lifespan, CLV: no customers at the start of the period")
    lifespan = expected_lifespan(churn)
    if churn == 0:
        notes.append("lifespan, CLV: no customer was lost, so no finite lifespan to expect")
    repeat, frequency = repeat_purchase_rate(activity), purchase_frequency(activity)
    if frequency is None:
        notes.append("repeat purchase rate, purchase frequency, AOV, CLV: no orders")
    aov = average_order_value(activity)
    nps = csat = ces = None
    if surveys is not None:
        nps, csat, ces = (
            net_promoter_score(surveys.nps),
            csat_score(surveys.csat),
            average_ces(surveys.ces),
        )
    for name, value in (("NPS", nps), ("CSAT", csat), ("CES", ces)):
        if value is None:
            notes.append(f"{name}: no answers")
    return PeriodFigures(
        customers_at_start=flow.at_start,
        new_customers=flow.new,
        first_time_customers=flow.first_time,
        reactivated_customers=flow.reactivated,
        customers_at_end=flow.at_end,
        lost_customers=flow.lost,
        retention_rate=retention,
        churn_rate=churn,
        orders=activity.orders,
        buyers=activity.buyers,
        revenue=float(activity.revenue),
        repeat_purchase_rate=repeat,
        purchase_frequency=frequency,
        average_order_value=aov,
        expected_lifespan=lifespan,
        customer_lifetime_value=customer_lifetime_value(aov, frequency, lifespan),
        nps=nps,
        csat=csat,
        average_ces=ces,
        notes=tuple(notes),
    )


# --- cohorts ---------------------------------------------------------------------------


def _month_index(month: str) -> int:
    match = _MONTH.fullmatch(month)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"{month!r} is not a month written YYYY-MM")
    return int(match.group(1)) * 12 + int(match.group(2)) - 1


@dataclass(frozen=True, slots=True)
class CohortRow:
    """One signup month: its size and, per month since signup (0 = the signup month),
    the customers who ordered in that month and their share of the cohort in percent."""

    cohort: str
    size: int
    active: tuple[int, ...]
    rates: tuple[float | None, ...]


def cohort_triangle(
    sizes: Mapping[str, int], active: Mapping[tuple[str, int], int], through: str
) -> tuple[CohortRow, ...]:
    """The cohort retention triangle up to the month ``through`` (all months ``YYYY-MM``).

    ``sizes`` maps a cohort to its customers; ``active`` maps (cohort, months since signup)
    to those of them who ordered in that month (missing: 0). Row c has one cell per month
    from c to ``through``; cohorts after ``through`` are left out. Rates are None for an
    empty cohort.
    """
    last = _month_index(through)
    for (cohort, offset), count in active.items():
        _month_index(cohort)
        if offset < 0 or count < 0:
            raise ValueError(f"cohort {cohort}: negative month or count")
        if count > sizes.get(cohort, 0):
            raise ValueError(f"cohort {cohort}: {count} active > {sizes.get(cohort, 0)} in it")
    rows = []
    for cohort in sorted(sizes, key=_month_index):
        size = sizes[cohort]
        _non_negative(size=size)
        first = _month_index(cohort)
        if first > last:
            continue
        counts = tuple(active.get((cohort, k), 0) for k in range(last - first + 1))
        rows.append(CohortRow(cohort, size, counts, tuple(_percent(c, size) for c in counts)))
    return tuple(rows)
