"""Time-driven detection through the engine: what fires, and exactly when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lifecycle.config import EngineConfig
from lifecycle.localtime import start_of_local_day, zone
from lifecycle.prediction.bgnbd import BgNbdParams, p_alive
from lifecycle.processing.engine import Engine
from lifecycle.state import CustomerState
from tests.factories import event, ts


def drive(engine: Engine, events, until: datetime):
    """Events in order, then time up to ``until``; returns (state, signals)."""
    state: CustomerState | None = None
    signals = []
    for e in events:
        outcome = engine.handle_event(state, e)
        state = outcome.state
        signals.extend(outcome.signals)
    assert state is not None
    outcome = engine.handle_due(state, until)
    return outcome.state, [*signals, *outcome.signals]


def fired(signals, name):
    return [s for s in signals if s.name == name]


def test_stage_moves_to_at_risk_then_lapsed_at_the_configured_days() -> None:
    cfg = EngineConfig.model_validate(
        {"stages": {"at_risk_after_days": 30, "lapsed_after_days": 90}}
    )
    last = ts("2026-01-10T08:00:00Z")
    state, signals = drive(
        Engine(cfg),
        [event("order.placed", "c", "2026-01-01T08:00:00Z"), event("order.placed", "c", last)],
        until=ts("2027-01-01T00:00:00Z"),
    )
    moves = [(s.data["to"], s.at) for s in fired(signals, "stage_changed")]
    assert moves == [
        ("new", ts("2026-01-01T08:00:00Z")),
        ("active", last),
        ("at_risk", last + timedelta(days=30)),
        ("lapsed", last + timedelta(days=90)),
    ]
    assert state.stage == "lapsed"


def test_an_order_after_slipping_away_reactivates_then_the_next_makes_active() -> None:
    cfg = EngineConfig.model_validate(
        {"stages": {"at_risk_after_days": 30, "lapsed_after_days": 90}}
    )
    engine = Engine(cfg)
    _, signals = drive(
        engine,
        [
            event("order.placed", "c", "2026-01-01T08:00:00Z"),
            event("order.placed", "c", "2026-06-01T08:00:00Z"),  # after lapsing
            event("order.placed", "c", "2026-06-10T08:00:00Z"),
        ],
        until=ts("2026-06-11T00:00:00Z"),
    )
    assert [s.data["to"] for s in fired(signals, "stage_changed")] == [
        "new",
        "at_risk",
        "lapsed",
        "reactivated",
        "active",
    ]


def test_a_late_order_from_before_the_slip_does_not_reactivate() -> None:
    cfg = EngineConfig.model_validate(
        {"stages": {"at_risk_after_days": 30, "lapsed_after_days": 90}}
    )
    engine = Engine(cfg)
    state, _ = drive(
        engine,
        [event("order.placed", "c", "2026-01-01T08:00:00Z")],
        until=ts("2026-03-01T00:00:00Z"),
    )
    assert state.stage == "at_risk"
    outcome = engine.handle_event(state, event("order.placed", "c", "2026-01-15T08:00:00Z"))
    assert outcome.state.stage == "at_risk"
    assert outcome.state.orders.count == 2


def test_no_order_after_signup_fires_per_configured_day_until_the_first_order() -> None:
    engine = Engine(
        EngineConfig.model_validate({"milestones": {"no_order_after_signup_days": [3, 7, 14]}})
    )
    signup = ts("2026-01-01T10:00:00Z")
    _, signals = drive(
        engine,
        [
            event("customer.signed_up", "c", signup),
            event("order.placed", "c", signup + timedelta(days=10)),
        ],
        until=ts("2026-02-01T00:00:00Z"),
    )
    assert [(s.data["days"], s.at) for s in fired(signals, "no_order_after_signup")] == [
        (3, signup + timedelta(days=3)),
        (7, signup + timedelta(days=7)),
    ]


def test_signup_anniversary_each_year_and_29_february() -> None:
    signup = ts("2024-02-29T12:00:00Z")
    _, signals = drive(
        Engine(EngineConfig()),
        [event("customer.signed_up", "c", signup)],
        until=ts("2026-03-01T00:00:00Z"),
    )
    assert [(s.data["years"], s.at) for s in fired(signals, "signup_anniversary")] == [
        (1, ts("2025-02-28T12:00:00Z")),
        (2, ts("2026-02-28T12:00:00Z")),
    ]


def test_purchase_overdue_at_factor_times_own_cadence_once_per_last_order() -> None:
    cfg = EngineConfig.model_validate({"overdue": {"factor": 2.0, "min_intervals": 2}})
    orders = [
        event("order.placed", "c", ts("2026-01-01T12:00:00Z") + timedelta(days=d))
        for d in (0, 10, 20)
    ]
    _, signals = drive(Engine(cfg), orders, until=ts("2026-06-01T00:00:00Z"))
    overdue = fired(signals, "purchase_overdue")
    assert [s.at for s in overdue] == [ts("2026-01-21T12:00:00Z") + timedelta(days=20)]
    assert overdue[0].data["mean_interval_days"] == 10.0


def test_overdue_needs_enough_intervals() -> None:
    cfg = EngineConfig.model_validate({"overdue": {"min_intervals": 2}})
    orders = [
        event("order.placed", "c", ts("2026-01-01T12:00:00Z") + timedelta(days=d)) for d in (0, 10)
    ]
    _, signals = drive(Engine(cfg), orders, until=ts("2026-06-01T00:00:00Z"))
    assert fired(signals, "purchase_overdue") == []


def test_churn_risk_fires_when_p_alive_crosses_the_threshold() -> None:
    cfg = EngineConfig.model_validate(
        {
            "churn": {
                "enabled": True,
                "time_unit": "day",
                "threshold": 0.5,
                "r": 0.243,
                "alpha": 30.9,
                "a": 0.793,
                "b": 2.426,
            }
        }
    )
    first = ts("2026-01-01T12:00:00Z")
    orders = [event("order.placed", "c", first + timedelta(days=d)) for d in (0, 7, 14)]
    _, signals = drive(Engine(cfg), orders, until=ts("2028-01-01T00:00:00Z"))
    [churn] = fired(signals, "churn_risk")
    params = BgNbdParams(r=0.243, alpha=30.9, a=0.793, b=2.426)
    age = (churn.at - first) / timedelta(days=1)
    assert p_alive(params, 2, 14, age) == pytest.approx(0.5, abs=1e-6)
    assert p_alive(params, 2, 14, age - 1) > 0.5
    assert churn.data["p_alive"] == pytest.approx(0.5, abs=1e-3)


def test_churn_model_off_by_default() -> None:
    orders = [
        event("order.placed", "c", ts("2026-01-01T12:00:00Z") + timedelta(days=d))
        for d in (0, 7, 14)
    ]
    _, signals = drive(Engine(EngineConfig()), orders, until=ts("2030-01-01T00:00:00Z"))
    assert fired(signals, "churn_risk") == []


def test_engagement_declining_fires_at_local_midnight_and_rearms_after_recovery() -> None:
    cfg = EngineConfig.model_validate(
        {
            "engagement": {
                "short_window_days": 7,
                "long_window_days": 28,
                "decline_ratio": 0.5,
                "min_baseline_events": 4,
            }
        }
    )
    tz_name = "Europe/Stockholm"
    signup = event("customer.signed_up", "c", "2026-01-01T08:00:00+01:00", timezone=tz_name)
    daily = [
        event("customer.logged_in", "c", ts("2026-01-01T09:00:00+01:00") + timedelta(days=d))
        for d in range(35)
    ]
    engine = Engine(cfg)
    state, signals = drive(engine, [signup, *daily], until=ts("2026-03-01T00:00:00+01:00"))
    [first] = fired(signals, "engagement_declining")
    # Last login on 4 Feb; a daily rate of 1 against a threshold of 0.5/day breaks when the
    # short window holds 3 logins, i.e. at the start of the local day 8 Feb.
    assert first.at == start_of_local_day(datetime(2026, 2, 8).toordinal(), zone(tz_name))
    assert first.data == {"short_window_events": 3, "baseline_events": 28}
    # One visit is not a recovery; a week of daily visits is, and a new slump fires again.
    state = engine.handle_event(
        state, event("customer.logged_in", "c", "2026-03-01T10:00:00+01:00")
    ).state
    assert state.engagement_decline_signalled
    for d in range(1, 8):
        state = engine.handle_event(
            state,
            event("customer.logged_in", "c", ts("2026-03-01T10:00:00+01:00") + timedelta(days=d)),
        ).state
    assert not state.engagement_decline_signalled
    outcome = engine.handle_due(state, ts("2026-05-01T00:00:00+02:00"))
    assert len(fired(outcome.signals, "engagement_declining")) == 1


def test_local_midnight_due_time_survives_a_dst_change() -> None:
    tz = zone("Europe/Stockholm")
    # 29 March 2026: clocks go from 02:00 to 03:00; midnight still exists and is UTC+1.
    assert start_of_local_day(datetime(2026, 3, 29).toordinal(), tz) == datetime(
        2026, 3, 28, 23, 0, tzinfo=UTC
    )
    assert start_of_local_day(datetime(2026, 3, 30).toordinal(), tz) == datetime(
        2026, 3, 29, 22, 0, tzinfo=UTC
    )
    # A zone whose DST change happens at midnight: the day starts at 01:00.
    havana = zone("America/Havana")
    start = start_of_local_day(datetime(2026, 3, 8).toordinal(), havana)
    assert start.astimezone(havana).hour == 1


def test_everything_due_before_an_event_runs_first_at_its_own_time() -> None:
    cfg = EngineConfig.model_validate(
        {"stages": {"at_risk_after_days": 30, "lapsed_after_days": 90}}
    )
    engine = Engine(cfg)
    state = engine.handle_event(None, event("order.placed", "c", "2026-01-01T00:00:00Z")).state
    # No ticks at all: the next event brings the customer up to date first.
    outcome = engine.handle_event(state, event("customer.logged_in", "c", "2026-12-01T00:00:00Z"))
    assert [(s.data["to"], s.at) for s in fired(outcome.signals, "stage_changed")] == [
        ("at_risk", ts("2026-01-31T00:00:00Z")),
        ("lapsed", ts("2026-04-01T00:00:00Z")),
    ]


def test_next_due_is_the_earliest_detector_time() -> None:
    engine = Engine(
        EngineConfig.model_validate({"milestones": {"no_order_after_signup_days": [3]}})
    )
    outcome = engine.handle_event(None, event("customer.signed_up", "c", "2026-01-01T10:00:00Z"))
    assert outcome.state.next_due_at == ts("2026-01-04T10:00:00Z")
    outcome = engine.handle_due(outcome.state, ts("2026-01-04T10:00:00Z"))
    # Next: the first anniversary.
    assert outcome.state.next_due_at == ts("2027-01-01T10:00:00Z")
