"""The documented customer attributes that campaign conditions and templates may use.

Each attribute is computed from a state and a ``now``; nothing here is stored. The
registry is the single source for the campaign validator (unknown names are errors with
the nearest valid name), the JSON Schema, the README table and template personalisation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from lifecycle.config import EngineConfig
from lifecycle.customer.activity import window_counts
from lifecycle.localtime import local_day, zone
from lifecycle.prediction import churn_p_alive, expected_next_order_at, predicted_clv
from lifecycle.state import CustomerState

__all__ = [
    "ATTRIBUTES",
    "RFM_SEGMENTS",
    "Attribute",
    "AttributeType",
    "AttributeValue",
    "attribute_values",
    "rfm_segment",
]

AttributeType = Literal["number", "decimal", "string", "bool", "stage", "datetime"]
AttributeValue = int | float | Decimal | str | bool | datetime | None

_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Attribute:
    name: str
    type: AttributeType
    description: str
    get: Callable[[CustomerState, datetime, EngineConfig], AttributeValue]


def _whole_days_since(at: datetime | None, now: datetime) -> int | None:
    # Whole days read naturally in a message ("it has been 20 days") and in a condition
    # (``days_since_last_order >= 30`` holds from the 30th full day on).
    return None if at is None else max(0, (now - at) // _DAY)


def _score(
    value: float | Decimal,
    breakpoints: tuple[float, ...] | tuple[Decimal, ...],
    higher_is_better: bool,
) -> int:
    below = sum(1 for b in breakpoints if value >= b)
    return 1 + below if higher_is_better else 5 - below


def _rfm(state: CustomerState, now: datetime, cfg: EngineConfig) -> tuple[int, int, int]:
    orders = state.orders
    if orders.count == 0 or orders.last_at is None:
        return 0, 0, 0
    recency = (now - orders.last_at) / _DAY
    return (
        _score(recency, cfg.rfm.recency_days, higher_is_better=False),
        _score(
            orders.count, tuple(float(b) for b in cfg.rfm.frequency_orders), higher_is_better=True
        ),
        _score(orders.lifetime_value, cfg.rfm.monetary, higher_is_better=True),
    )


#: Every value :func:`rfm_segment` gives, best first ("no_orders" before the first order).
RFM_SEGMENTS: tuple[str, ...] = (
    "champions",
    "loyal",
    "promising",
    "needs_attention",
    "at_risk",
    "hibernating",
    "no_orders",
)


def rfm_segment(r: int, f: int, m: int) -> str:
    """A named segment from R and F scores (the common 5x5 grid, simplified)."""
    if r == 0:
        return "no_orders"
    if r >= 4 and f >= 4:
        return "champions"
    if r >= 3 and f >= 3:
        return "loyal"
    if r >= 4 and f <= 2:
        return "promising"
    if r <= 2 and f >= 3:
        return "at_risk"
    if r <= 2 and f <= 2:
        return "hibernating"
    return "needs_attention"


def _tier(state: CustomerState, now: datetime, cfg: EngineConfig) -> str | None:
    current = None
    for name, threshold in cfg.milestones.spend_tiers:
        if state.orders.lifetime_value >= threshold:
            current = name
    return current


def _engagement(state: CustomerState, now: datetime, cfg: EngineConfig) -> tuple[int, int]:
    tz = zone(state.profile.timezone, cfg.fallback_timezone)
    return window_counts(state.activity, local_day(now, tz), cfg.engagement)


def _tickets_in_window(state: CustomerState, now: datetime, cfg: EngineConfig) -> int:
    tz = zone(state.profile.timezone, cfg.fallback_timezone)
    oldest = local_day(now, tz) - cfg.support.repeated_tickets_window_days
    return sum(1 for d in state.support.ticket_days if d > oldest)


def _interval_stddev(state: CustomerState) -> float | None:
    """Sample standard deviation of the purchase intervals (Welford's M2 over n - 1)."""
    orders = state.orders
    if orders.interval_count < 2:
        return None
    return round(math.sqrt(max(0.0, orders.interval_m2) / (orders.interval_count - 1)), 2)


def _aov(state: CustomerState) -> Decimal | None:
    orders = state.orders
    if orders.count == 0:
        return None
    return (orders.lifetime_value / orders.count).quantize(Decimal("0.01"))


_LIST: tuple[Attribute, ...] = (
    Attribute("customer_id", "string", "The customer's id.", lambda s, n, c: s.customer_id),
    Attribute("email", "string", "Email address, if known.", lambda s, n, c: s.profile.email),
    Attribute("name", "string", "Name, if known.", lambda s, n, c: s.profile.name),
    Attribute("locale", "string", "Locale tag, e.g. sv-SE.", lambda s, n, c: s.profile.locale),
    Attribute(
        "timezone", "string", "IANA time zone, if known.", lambda s, n, c: s.profile.timezone
    ),
    Attribute(
        "marketing_consent",
        "bool",
        "Has opted in to marketing email.",
        lambda s, n, c: s.profile.marketing_consent,
    ),
    Attribute(
        "suppressed",
        "bool",
        "Address hard-bounced; no marketing mail.",
        lambda s, n, c: s.profile.suppressed_reason is not None,
    ),
    Attribute("stage", "stage", "Lifecycle stage.", lambda s, n, c: s.stage),
    Attribute(
        "days_in_stage",
        "number",
        "Whole days since the last stage change, rounded down.",
        lambda s, n, c: _whole_days_since(s.stage_since, n),
    ),
    Attribute("signed_up_at", "datetime", "Signup time.", lambda s, n, c: s.profile.signed_up_at),
    Attribute(
        "days_since_signup",
        "number",
        "Whole days since signup, rounded down.",
        lambda s, n, c: _whole_days_since(s.profile.signed_up_at, n),
    ),
    Attribute("orders_count", "number", "Orders placed.", lambda s, n, c: s.orders.count),
    Attribute(
        "lifetime_value",
        "decimal",
        "Spend net of refunds.",
        lambda s, n, c: s.orders.lifetime_value,
    ),
    Attribute(
        "average_order_value", "decimal", "Lifetime value / orders.", lambda s, n, c: _aov(s)
    ),
    Attribute(
        "currency", "string", "Currency of the first order.", lambda s, n, c: s.orders.currency
    ),
    Attribute("first_order_at", "datetime", "First order time.", lambda s, n, c: s.orders.first_at),
    Attribute("last_order_at", "datetime", "Latest order time.", lambda s, n, c: s.orders.last_at),
    Attribute(
        "last_order_id", "string", "Latest order id.", lambda s, n, c: s.orders.last_order_id
    ),
    Attribute(
        "last_order_total", "decimal", "Latest order total.", lambda s, n, c: s.orders.last_total
    ),
    Attribute(
        "days_since_last_order",
        "number",
        "Whole days since the latest order, rounded down (20 days 22 hours is 20).",
        lambda s, n, c: _whole_days_since(s.orders.last_at, n),
    ),
    Attribute(
        "mean_days_between_orders",
        "number",
        "The customer's own purchase cadence (needs 2+ orders).",
        lambda s, n, c: round(s.orders.interval_mean_days, 2) if s.orders.interval_count else None,
    ),
    Attribute(
        "purchase_interval_stddev_days",
        "number",
        "Standard deviation of the days between purchases (needs 3+ purchase days).",
        lambda s, n, c: _interval_stddev(s),
    ),
    Attribute(
        "days_since_last_login",
        "number",
        "Whole days since the latest login, rounded down.",
        lambda s, n, c: _whole_days_since(s.last_login_at, n),
    ),
    Attribute(
        "recent_activity",
        "number",
        "Logins and orders in the short engagement window.",
        lambda s, n, c: _engagement(s, n, c)[0],
    ),
    Attribute(
        "baseline_activity",
        "number",
        "Logins and orders in the baseline window before it.",
        lambda s, n, c: _engagement(s, n, c)[1],
    ),
    Attribute("tier", "string", "Current spend tier name, or none.", _tier),
    Attribute(
        "open_tickets",
        "number",
        "Support tickets still open.",
        lambda s, n, c: len(s.support.open_tickets),
    ),
    Attribute(
        "tickets_90d",
        "number",
        "Tickets opened in the last SUPPORT__REPEATED_TICKETS_WINDOW_DAYS local days (90 by"
        " default; the name keeps the default).",
        _tickets_in_window,
    ),
    Attribute("last_csat", "number", "Latest CSAT (1-5).", lambda s, n, c: s.support.last_csat),
    Attribute("last_ces", "number", "Latest CES (1-7).", lambda s, n, c: s.support.last_ces),
    Attribute(
        "last_nps", "number", "Latest NPS answer (0-10).", lambda s, n, c: s.support.last_nps
    ),
    Attribute(
        "rfm_recency",
        "number",
        "Recency score 1-5 (0: no orders).",
        lambda s, n, c: _rfm(s, n, c)[0],
    ),
    Attribute(
        "rfm_frequency",
        "number",
        "Frequency score 1-5 (0: no orders).",
        lambda s, n, c: _rfm(s, n, c)[1],
    ),
    Attribute(
        "rfm_monetary",
        "number",
        "Monetary score 1-5 (0: no orders).",
        lambda s, n, c: _rfm(s, n, c)[2],
    ),
    Attribute(
        "rfm_segment",
        "string",
        ", ".join(RFM_SEGMENTS[:-1]) + f" or {RFM_SEGMENTS[-1]}.",
        lambda s, n, c: rfm_segment(*_rfm(s, n, c)),
    ),
    Attribute(
        "p_alive",
        "number",
        "BG/NBD probability the customer is still active (churn model on).",
        lambda s, n, c: _p_alive(s, n, c),
    ),
    Attribute(
        "predicted_clv",
        "decimal",
        "Predicted spend over the next SPEND__HORIZON_MONTHS (12), discounted at"
        " SPEND__ANNUAL_DISCOUNT_RATE (10%): BG/NBD transactions x Gamma-Gamma spend"
        " (churn and spend models on; needs an order).",
        lambda s, n, c: _predicted_clv(s, n, c),
    ),
    Attribute(
        "expected_next_order_at",
        "datetime",
        "When the next order is expected: the last order plus BG/NBD's median wait for"
        " an active customer (churn model on).",
        lambda s, n, c: _next_order_at(s, c),
    ),
    Attribute(
        "days_until_next_order",
        "number",
        "Whole days from now to expected_next_order_at, rounded down; negative once it"
        " has passed (churn model on).",
        lambda s, n, c: _days_until_next_order(s, n, c),
    ),
)


def _predicted_clv(state: CustomerState, now: datetime, cfg: EngineConfig) -> Decimal | None:
    if not (cfg.churn.enabled and cfg.spend.enabled):
        return None
    value = predicted_clv(state, now, cfg.churn, cfg.spend)
    return None if value is None else Decimal(repr(value)).quantize(Decimal("0.01"))


def _next_order_at(state: CustomerState, cfg: EngineConfig) -> datetime | None:
    if not cfg.churn.enabled:
        return None
    return expected_next_order_at(state, cfg.churn)


def _days_until_next_order(state: CustomerState, now: datetime, cfg: EngineConfig) -> int | None:
    at = _next_order_at(state, cfg)
    return None if at is None else (at - now) // _DAY


def _p_alive(state: CustomerState, now: datetime, cfg: EngineConfig) -> float | None:
    if not cfg.churn.enabled:
        return None
    value = churn_p_alive(state, now, cfg.churn)
    return None if value is None else round(value, 4)


ATTRIBUTES: dict[str, Attribute] = {attribute.name: attribute for attribute in _LIST}


def attribute_values(
    state: CustomerState, now: datetime, cfg: EngineConfig
) -> dict[str, AttributeValue]:
    """Every attribute for one customer at ``now``."""
    return {name: attribute.get(state, now, cfg) for name, attribute in ATTRIBUTES.items()}
