"""Thresholds and windows that shape detection. Every number here is a documented setting.

The adapter builds an :class:`EngineConfig` from environment variables
(``LIFECYCLE_ENGINE__...``); unit tests and ``lifecycle replay`` build it directly.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from lifecycle.values import FrozenModel

__all__ = [
    "ChurnModelConfig",
    "EngagementConfig",
    "EngineConfig",
    "MilestoneConfig",
    "OverdueConfig",
    "RfmConfig",
    "SendTimeConfig",
    "SpendModelConfig",
    "StageConfig",
    "SupportConfig",
]

PositiveDays = Annotated[float, Field(gt=0, le=3650)]


class StageConfig(FrozenModel):
    """When customers move between lifecycle stages, measured from their last order."""

    at_risk_after_days: PositiveDays = 60
    lapsed_after_days: PositiveDays = 180

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.lapsed_after_days <= self.at_risk_after_days:
            raise ValueError("lapsed_after_days must be greater than at_risk_after_days")
        return self


class MilestoneConfig(FrozenModel):
    order_counts: tuple[Annotated[int, Field(ge=3)], ...] = (5, 10, 25, 50, 100)
    #: Lifetime spend tiers, lowest first: a ``tier_reached`` signal fires when spend crosses one.
    spend_tiers: tuple[tuple[str, Decimal], ...] = (
        ("silver", Decimal(250)),
        ("gold", Decimal(1000)),
        ("platinum", Decimal(5000)),
    )
    #: ``no_order_after_signup`` fires this many days after signup when there is still no order.
    no_order_after_signup_days: tuple[PositiveDays, ...] = (3, 7, 14)
    signup_anniversary: bool = True

    @model_validator(mode="after")
    def _tiers_ascending(self) -> Self:
        amounts = [amount for _, amount in self.spend_tiers]
        if amounts != sorted(amounts) or len(set(amounts)) != len(amounts):
            raise ValueError("spend_tiers must be listed from the lowest amount to the highest")
        names = [name for name, _ in self.spend_tiers]
        if len(set(names)) != len(names):
            raise ValueError("spend_tiers names must be unique")
        return self


class EngagementConfig(FrozenModel):
    """Declining engagement: recent activity against the customer's own longer baseline.

    Activity is logins plus orders, counted per local calendar day. The short window is the
    last ``short_window_days`` days; the baseline is the ``long_window_days`` days before
    it. The signal fires when the short-window daily rate falls below ``decline_ratio``
    times the baseline daily rate, provided the baseline saw at least
    ``min_baseline_events`` events (so one-off visitors are not "declining").
    """

    short_window_days: Annotated[int, Field(ge=1, le=365)] = 14
    long_window_days: Annotated[int, Field(ge=2, le=730)] = 56
    decline_ratio: Annotated[float, Field(gt=0, lt=1)] = 0.5
    #: After a decline signal, the customer is re-armed only once the short-window rate is
    #: back to this fraction of the baseline rate, so one visit does not re-trigger it.
    recovery_ratio: Annotated[float, Field(gt=0, le=2)] = 0.8
    min_baseline_events: Annotated[int, Field(ge=1)] = 4

    @model_validator(mode="after")
    def _hysteresis(self) -> Self:
        if self.recovery_ratio <= self.decline_ratio:
            raise ValueError("recovery_ratio must be greater than decline_ratio")
        return self


class OverdueConfig(FrozenModel):
    """A purchase is overdue at ``factor`` times the customer's own mean inter-purchase interval."""

    factor: Annotated[float, Field(ge=1, le=20)] = 2.0
    #: Intervals needed before a cadence is trusted (3 orders give 2 intervals).
    min_intervals: Annotated[int, Field(ge=1)] = 2
    min_days: PositiveDays = 7


class ChurnModelConfig(FrozenModel):
    """BG/NBD churn risk; parameters come from ``lifecycle model fit``. Disabled without them.

    The fit's JSON object can be pasted as it is (``LIFECYCLE_ENGINE__CHURN='{...}'``): its
    ``log_likelihood`` and ``customers`` are accepted as a record of the fit and not used.
    Any other unknown key is still an error.
    """

    enabled: bool = False
    r: Annotated[float, Field(gt=0)] = 0.243
    alpha: Annotated[float, Field(gt=0)] = 4.414
    a: Annotated[float, Field(gt=0)] = 0.793
    b: Annotated[float, Field(gt=0)] = 2.426
    time_unit: Literal["day", "week"] = "week"
    threshold: Annotated[float, Field(gt=0, lt=1)] = 0.3
    #: Informational, from ``lifecycle model fit``: the fit's log-likelihood and sample size.
    log_likelihood: float | None = None
    customers: Annotated[int, Field(ge=0)] | None = None


class SpendModelConfig(FrozenModel):
    """Gamma-Gamma spend model and the CLV horizon; parameters come from ``lifecycle model
    fit`` (its second line). Disabled without them; ``predicted_clv`` also needs the churn
    model (BG/NBD gives the expected transactions).

    As with the churn model, the fit's ``log_likelihood`` and ``customers`` are accepted
    as a record of the fit and not used.
    """

    enabled: bool = False
    p: Annotated[float, Field(gt=0)] = 6.25
    q: Annotated[float, Field(gt=1)] = 3.74
    gamma: Annotated[float, Field(gt=0)] = 15.44
    #: CLV horizon: the expected transactions of this many months ahead count.
    horizon_months: Annotated[int, Field(ge=1, le=120)] = 12
    #: Annual discount rate; each month's expected spend is discounted at its end.
    annual_discount_rate: Annotated[float, Field(ge=0, le=1)] = 0.1
    log_likelihood: float | None = None
    customers: Annotated[int, Field(ge=0)] | None = None


class SendTimeConfig(FrozenModel):
    """Send-time optimisation: each customer's decayed hour-of-week activity profile
    (logins, orders, email clicks on their own clock) and what ``at: best_time`` sends do
    without enough of it (:mod:`lifecycle.customer.active_hours`)."""

    #: Activity this many days old counts half as much as today's.
    half_life_days: Annotated[int, Field(ge=1, le=365)] = 28
    #: Fewer (decayed) events than this, and a best-time send goes at ``fallback_at``.
    min_events: Annotated[int, Field(ge=1, le=1000)] = 5
    #: The customer-local time a best-time send falls back to.
    fallback_at: time = time(10, 0)


class SupportConfig(FrozenModel):
    low_csat_max: Annotated[int, Field(ge=1, le=5)] = 2
    high_ces_min: Annotated[int, Field(ge=1, le=7)] = 6
    nps_detractor_max: Annotated[int, Field(ge=0, le=10)] = 6
    repeated_tickets: Annotated[int, Field(ge=2)] = 3
    repeated_tickets_window_days: PositiveDays = 90


class RfmConfig(FrozenModel):
    """Fixed score breakpoints (a worker sees one partition, so population quintiles are
    not available live; fit them offline and set them here). Scores are 1-5, 0 = no orders.
    """

    recency_days: tuple[float, float, float, float] = (30, 90, 180, 365)
    frequency_orders: tuple[int, int, int, int] = (2, 3, 5, 10)
    monetary: tuple[Decimal, Decimal, Decimal, Decimal] = (
        Decimal(100),
        Decimal(300),
        Decimal(1000),
        Decimal(3000),
    )


class EngineConfig(FrozenModel):
    stages: StageConfig = StageConfig()
    milestones: MilestoneConfig = MilestoneConfig()
    engagement: EngagementConfig = EngagementConfig()
    overdue: OverdueConfig = OverdueConfig()
    churn: ChurnModelConfig = ChurnModelConfig()
    spend: SpendModelConfig = SpendModelConfig()
    send_time: SendTimeConfig = SendTimeConfig()
    support: SupportConfig = SupportConfig()
    rfm: RfmConfig = RfmConfig()
    #: How many recent event ids per customer are remembered to drop duplicates.
    dedupe_window: Annotated[int, Field(ge=1, le=10_000)] = 32
    #: Time zone for customers who never told us theirs.
    fallback_timezone: str = "UTC"
