"""The churn model applied to one customer: BG/NBD's three numbers from the state.

The model itself (:mod:`lifecycle.prediction.bgnbd`) knows nothing of customers; this module
reads ``(x, t_x, T)`` off :class:`~lifecycle.state.CustomerState` in the configured time
unit, so the detector that schedules the churn signal and the ``churn_p_alive`` attribute
that campaigns read compute the same figure the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from lifecycle.config import ChurnModelConfig
from lifecycle.events import LATEST_TIMESTAMP
from lifecycle.prediction.bgnbd import BgNbdParams, p_alive, p_alive_crossing_time
from lifecycle.state import CustomerState

__all__ = ["bgnbd_statistics", "churn_crossing_at", "churn_p_alive"]

_DAY = timedelta(days=1)


def _time_unit(cfg: ChurnModelConfig) -> timedelta:
    return _DAY if cfg.time_unit == "day" else 7 * _DAY


def _params(cfg: ChurnModelConfig) -> BgNbdParams:
    return BgNbdParams(r=cfg.r, alpha=cfg.alpha, a=cfg.a, b=cfg.b)


def bgnbd_statistics(
    state: CustomerState, now: datetime, cfg: ChurnModelConfig
) -> tuple[int, float, float] | None:
    """(x, t_x, T) in the model's time unit, or None before the first order."""
    orders = state.orders
    if orders.first_at is None or orders.last_at is None:
        return None
    unit = _time_unit(cfg)
    x = max(0, orders.purchase_days - 1)
    t_x = (orders.last_at - orders.first_at) / unit
    age = max(t_x, (now - orders.first_at) / unit)
    return x, t_x, age


def churn_p_alive(state: CustomerState, now: datetime, cfg: ChurnModelConfig) -> float | None:
    """P(alive) at ``now``; None before the first order."""
    stats = bgnbd_statistics(state, now, cfg)
    if stats is None:
        return None
    return p_alive(_params(cfg), *stats)


def churn_crossing_at(state: CustomerState, cfg: ChurnModelConfig) -> datetime | None:
    """When P(alive) falls below ``cfg.threshold`` if no order comes first (closed form).

    None before a repeat purchase (BG/NBD's P(alive) is 1 then) or when it never falls
    that low before the end of the event contract's time range (2200): no event or tick
    can come later, and the closed form can give ages of 1e300 weeks, which no
    ``datetime`` holds.
    """
    orders = state.orders
    stats = None if orders.last_at is None else bgnbd_statistics(state, orders.last_at, cfg)
    if stats is None or stats[0] == 0 or orders.first_at is None:
        return None
    x, t_x, _ = stats
    crossing = p_alive_crossing_time(_params(cfg), x, t_x, cfg.threshold)
    if crossing is None:
        return None
    age = max(crossing, t_x)
    unit = _time_unit(cfg)
    if age >= (LATEST_TIMESTAMP - orders.first_at) / unit:
        return None
    return orders.first_at + age * unit
