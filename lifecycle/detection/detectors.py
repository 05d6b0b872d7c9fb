"""Detectors driven by time: each says when it next needs this customer, and what to do then.

Nothing here scans customers. After every change the engine asks :func:`next_detector_due`
for the earliest time any detector wants to look again, and the due index wakes the
customer then. :func:`fire_due_detectors` runs every detector whose time has come.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from lifecycle.config import EngineConfig
from lifecycle.customer import change_stage, is_declining, next_decline_day, window_counts
from lifecycle.localtime import add_years, local_day, start_of_local_day, zone
from lifecycle.prediction import churn_crossing_at, churn_p_alive
from lifecycle.signals import Signal, SignalKind, due_cause
from lifecycle.state import CustomerState

__all__ = [
    "Timer",
    "detector_timers",
    "fire_due_detectors",
    "next_detector_due",
]

_DAY = timedelta(days=1)

FireFn = Callable[[CustomerState, datetime, EngineConfig], tuple[CustomerState, list[Signal]]]


@dataclass(frozen=True)
class Timer:
    name: str
    when: datetime
    fire: FireFn


def _signal(
    name: str, kind: SignalKind, at: datetime, **data: str | int | float | bool | None
) -> Signal:
    return Signal(name=name, kind=kind, at=at, cause=due_cause(at), data=data)


# -- the timers -------------------------------------------------------------------------


def _stage_timers(state: CustomerState, cfg: EngineConfig) -> list[Timer]:
    last = state.orders.last_at
    if last is None:
        return []
    if state.stage in ("new", "active", "reactivated"):
        when = last + timedelta(days=cfg.stages.at_risk_after_days)
        return [Timer("at_risk", when, _fire_at_risk)]
    if state.stage == "at_risk":
        when = last + timedelta(days=cfg.stages.lapsed_after_days)
        return [Timer("lapsed", when, _fire_lapsed)]
    return []


def _fire_at_risk(
    state: CustomerState, at: datetime, cfg: EngineConfig
) -> tuple[CustomerState, list[Signal]]:
    return change_stage(state, "at_risk", at, due_cause(at))


def _fire_lapsed(
    state: CustomerState, at: datetime, cfg: EngineConfig
) -> tuple[CustomerState, list[Signal]]:
    return change_stage(state, "lapsed", at, due_cause(at))


def _no_order_timers(state: CustomerState, cfg: EngineConfig) -> list[Timer]:
    signed_up = state.profile.signed_up_at
    if signed_up is None or state.orders.count > 0:
        return []
    timers = []
    for days in cfg.milestones.no_order_after_signup_days:
        key = f"no_order_after_signup:{days:g}"
        if key not in state.milestones:
            timers.append(Timer(key, signed_up + timedelta(days=days), _fire_no_order(days, key)))
    return timers


def _fire_no_order(days: float, key: str) -> FireFn:
    def fire(
        state: CustomerState, at: datetime, cfg: EngineConfig
    ) -> tuple[CustomerState, list[Signal]]:
        state = state.model_copy(update={"milestones": (*state.milestones, key)})
        return state, [_signal("no_order_after_signup", "milestone", at, days=days)]

    return fire


def _anniversary_timers(state: CustomerState, cfg: EngineConfig) -> list[Timer]:
    signed_up = state.profile.signed_up_at
    if signed_up is None or not cfg.milestones.signup_anniversary:
        return []
    years = state.anniversaries_signalled + 1
    return [Timer("signup_anniversary", add_years(signed_up, years), _fire_anniversary)]


def _fire_anniversary(
    state: CustomerState, at: datetime, cfg: EngineConfig
) -> tuple[CustomerState, list[Signal]]:
    years = state.anniversaries_signalled + 1
    state = state.model_copy(update={"anniversaries_signalled": years})
    return state, [_signal("signup_anniversary", "milestone", at, years=years)]


def _overdue_timers(state: CustomerState, cfg: EngineConfig) -> list[Timer]:
    orders = state.orders
    if (
        orders.last_at is None
        or orders.interval_count < cfg.overdue.min_intervals
        or state.overdue_signalled_for == orders.last_at
    ):
        return []
    days = max(cfg.overdue.min_days, cfg.overdue.factor * orders.interval_mean_days)
    return [Timer("purchase_overdue", orders.last_at + timedelta(days=days), _fire_overdue)]


def _fire_overdue(
    state: CustomerState, at: datetime, cfg: EngineConfig
) -> tuple[CustomerState, list[Signal]]:
    orders = state.orders
    assert orders.last_at is not None
    state = state.model_copy(update={"overdue_signalled_for": orders.last_at})
    signal = _signal(
        "purchase_overdue",
        "decline",
        at,
        mean_interval_days=round(orders.interval_mean_days, 2),
        days_since_last_order=round((at - orders.last_at) / _DAY, 2),
    )
    return state, [signal]


def _churn_timers(state: CustomerState, cfg: EngineConfig) -> list[Timer]:
    churn = cfg.churn
    orders = state.orders
    if not churn.enabled or orders.last_at is None or orders.first_at is None:
        return []
    if state.churn_signalled_for == orders.last_at:
        return []
    when = churn_crossing_at(state, churn)
    if when is None:
        return []
    return [Timer("churn_risk", when, _fire_churn)]


def _fire_churn(
    state: CustomerState, at: datetime, cfg: EngineConfig
) -> tuple[CustomerState, list[Signal]]:
    assert state.orders.last_at is not None
    probability = churn_p_alive(state, at, cfg.churn)
    state = state.model_copy(update={"churn_signalled_for": state.orders.last_at})
    p = None if probability is None else round(probability, 4)
    return state, [_signal("churn_risk", "decline", at, p_alive=p)]


def _engagement_timers(state: CustomerState, cfg: EngineConfig) -> list[Timer]:
    if state.engagement_decline_signalled or not state.activity or state.clock is None:
        return []
    if sum(b.logins + b.orders for b in state.activity) < cfg.engagement.min_baseline_events:
        return []  # too little activity for any baseline to compare against
    tz = zone(state.profile.timezone, cfg.fallback_timezone)
    today = local_day(state.clock, tz)
    if is_declining(*window_counts(state.activity, today, cfg.engagement), cfg.engagement):
        return [Timer("engagement_declining", state.clock, _fire_engagement)]
    day = next_decline_day(state.activity, today, cfg.engagement)
    if day is None:
        return []
    return [Timer("engagement_declining", start_of_local_day(day, tz), _fire_engagement)]


def _fire_engagement(
    state: CustomerState, at: datetime, cfg: EngineConfig
) -> tuple[CustomerState, list[Signal]]:
    tz = zone(state.profile.timezone, cfg.fallback_timezone)
    short, baseline = window_counts(state.activity, local_day(at, tz), cfg.engagement)
    state = state.model_copy(update={"engagement_decline_signalled": True})
    signal = _signal(
        "engagement_declining",
        "decline",
        at,
        short_window_events=short,
        baseline_events=baseline,
    )
    return state, [signal]


_TIMER_SOURCES = (
    _stage_timers,
    _no_order_timers,
    _anniversary_timers,
    _overdue_timers,
    _churn_timers,
    _engagement_timers,
)


def detector_timers(state: CustomerState, cfg: EngineConfig) -> list[Timer]:
    timers = [timer for source in _TIMER_SOURCES for timer in source(state, cfg)]
    timers.sort(key=lambda t: (t.when, t.name))
    return timers


def next_detector_due(state: CustomerState, cfg: EngineConfig) -> datetime | None:
    timers = detector_timers(state, cfg)
    return timers[0].when if timers else None


def fire_due_detectors(
    state: CustomerState, at: datetime, cfg: EngineConfig
) -> tuple[CustomerState, list[Signal]]:
    """Fire, in time order, every detector due at or before ``at``.

    Each fires at its own due time (or the clock, if that is later).
    """
    signals: list[Signal] = []
    for _ in range(10_000):
        due = [t for t in detector_timers(state, cfg) if t.when <= at]
        if not due:
            return state, signals
        timer = due[0]
        fire_at = max(timer.when, state.clock) if state.clock else timer.when
        state, fired = timer.fire(state, fire_at, cfg)
        state = state.model_copy(update={"clock": fire_at})
        signals.extend(fired)
    raise RuntimeError(f"detectors for {state.customer_id} did not settle")  # pragma: no cover
