"""Predicted customer value and the next order's date, for one customer's state.

Both are O(1) in the customer's history: they read BG/NBD's ``(x, t_x, T)`` (as
:mod:`~lifecycle.prediction.churn` does) and the spend of the repeat purchase days
(``OrderStats.gross_spend - OrderStats.first_day_spend``) off the state.

- :func:`predicted_clv`: the discounted expected spend over the configured horizon,
  future orders only (``lifetime_value`` is the past). It is the documented
  approximation "discounted expected transactions x expected spend": the horizon is cut
  into months, each month's BG/NBD expected transactions (FHL 2005, eq. 10, differenced)
  are discounted at the month's end by the annual rate, summed, and multiplied by the
  Gamma-Gamma expected spend per transaction (note 025, eq. 5). Without discounting it
  is exactly E[Y(horizon)] x E[M]; with it, it brackets the continuous DERT from below
  (each month is discounted at its end).
- :func:`expected_next_order_at`: the last order plus BG/NBD's median wait to the next
  purchase of a customer who is still active (see
  :func:`~lifecycle.prediction.bgnbd.median_time_to_next_purchase`). Fixed between
  orders, so it falls into the past when a customer is late; P(alive) says how late.

Refunds are not taken off the spend (the model is of transaction values), and one
currency is assumed, as everywhere in the state.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal

from lifecycle.config import ChurnModelConfig, SpendModelConfig
from lifecycle.events import LATEST_TIMESTAMP
from lifecycle.prediction.bgnbd import (
    BgNbdParams,
    expected_transactions_curve,
    median_time_to_next_purchase,
)
from lifecycle.prediction.churn import bgnbd_statistics
from lifecycle.prediction.gamma_gamma import GammaGammaParams, conditional_expected_spend
from lifecycle.state import CustomerState

__all__ = ["customer_expected_spend", "expected_next_order_at", "predicted_clv"]

_DAY = timedelta(days=1)
_MONTH_DAYS = 365.25 / 12


def _unit_days(cfg: ChurnModelConfig) -> float:
    return 1.0 if cfg.time_unit == "day" else 7.0


def customer_expected_spend(state: CustomerState, cfg: SpendModelConfig) -> float | None:
    """Gamma-Gamma E[spend per purchase day]; None before the first order.

    ``x`` is the repeat purchase days and ``m_x`` their mean spend. A state that does not
    know its first day's spend (written before it was kept) uses the population mean.
    """
    orders = state.orders
    if orders.purchase_days == 0:
        return None
    params = GammaGammaParams(p=cfg.p, q=cfg.q, gamma=cfg.gamma)
    x = orders.purchase_days - 1
    repeat_spend = (
        None if orders.first_day_spend is None else orders.gross_spend - orders.first_day_spend
    )
    if x == 0 or repeat_spend is None or repeat_spend <= Decimal(0):
        return conditional_expected_spend(params, 0, 0.0)
    return conditional_expected_spend(params, x, float(repeat_spend) / x)


def predicted_clv(
    state: CustomerState, now: datetime, churn: ChurnModelConfig, spend: SpendModelConfig
) -> float | None:
    """Discounted expected spend over ``spend.horizon_months`` from ``now``; None before
    the first order, or when floating point cannot give it (parameters at the edge of
    what a fit can give)."""
    stats = bgnbd_statistics(state, now, churn)
    per_purchase = customer_expected_spend(state, spend)
    if stats is None or per_purchase is None:
        return None
    x, t_x, age = stats
    params = BgNbdParams(r=churn.r, alpha=churn.alpha, a=churn.a, b=churn.b)
    month = _MONTH_DAYS / _unit_days(churn)
    monthly_discount = (1.0 + spend.annual_discount_rate) ** (1.0 / 12)
    months = range(1, spend.horizon_months + 1)
    curve = expected_transactions_curve(params, x, t_x, age, [k * month for k in months])
    transactions = 0.0
    previous = 0.0
    for k, expected in zip(months, curve, strict=True):
        transactions += (expected - previous) / monthly_discount**k
        previous = expected
    value = transactions * per_purchase
    # Parameters at the edge of the fit's range can defeat floating point; no figure then.
    return value if math.isfinite(value) else None


def expected_next_order_at(state: CustomerState, churn: ChurnModelConfig) -> datetime | None:
    """The last order plus the median wait to the next purchase; None before the first
    order, or when that lies beyond the event contract's range (2200)."""
    orders = state.orders
    if orders.last_at is None:
        return None
    stats = bgnbd_statistics(state, orders.last_at, churn)
    if stats is None:
        return None
    x, t_x, _ = stats
    params = BgNbdParams(r=churn.r, alpha=churn.alpha, a=churn.a, b=churn.b)
    wait_days = median_time_to_next_purchase(params, x, t_x) * _unit_days(churn)
    if not wait_days < (LATEST_TIMESTAMP - orders.last_at) / _DAY:
        return None
    return orders.last_at + wait_days * _DAY
