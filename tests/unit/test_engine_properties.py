"""Properties of the engine over generated histories."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle.config import EngineConfig
from lifecycle.engine import Engine
from lifecycle.events import Event, parse_event
from lifecycle.replay import Replay, sorted_history
from lifecycle.stages import TRANSITIONS

START = datetime(2026, 1, 1, tzinfo=UTC)
CFG = EngineConfig.model_validate(
    {
        "stages": {"at_risk_after_days": 20, "lapsed_after_days": 50},
        "overdue": {"min_intervals": 1},
        "engagement": {"short_window_days": 3, "long_window_days": 10, "min_baseline_events": 2},
        "churn": {"enabled": True, "time_unit": "day", "alpha": 10.0},
    }
)
ZONES = ["UTC", "Europe/Stockholm", "America/New_York", "Australia/Lord_Howe", "Pacific/Kiritimati"]

_kinds = st.sampled_from(
    [
        "order",
        "order",
        "login",
        "login",
        "refund",
        "ticket_open",
        "ticket_resolved",
        "nps",
        "consent",
    ]
)


@st.composite
def histories(draw: st.DrawFn) -> list[Event]:
    customer = draw(st.sampled_from(["c-1", "c-2"]))
    zone = draw(st.sampled_from(ZONES))
    items: list[dict] = [
        {
            "event_id": "signup",
            "type": "customer.signed_up",
            "customer_id": customer,
            "occurred_at": START.isoformat(),
            "timezone": zone,
            "marketing_consent": True,
        }
    ]
    count = draw(st.integers(0, 25))
    for n in range(count):
        at = START + timedelta(minutes=draw(st.integers(0, 200 * 24 * 60)))
        kind = draw(_kinds)
        base = {"event_id": f"e{n}", "customer_id": customer, "occurred_at": at.isoformat()}
        if kind == "order":
            items.append(
                {
                    **base,
                    "type": "order.placed",
                    "order_id": f"o{n}",
                    "total": str(draw(st.integers(1, 900))),
                    "currency": "SEK",
                }
            )
        elif kind == "login":
            items.append({**base, "type": "customer.logged_in"})
        elif kind == "refund":
            items.append(
                {
                    **base,
                    "type": "order.refunded",
                    "order_id": "o0",
                    "amount": str(draw(st.integers(1, 2000))),
                    "currency": "SEK",
                }
            )
        elif kind == "ticket_open":
            items.append(
                {
                    **base,
                    "type": "support.ticket_opened",
                    "ticket_id": f"t{draw(st.integers(0, 3))}",
                }
            )
        elif kind == "ticket_resolved":
            items.append(
                {
                    **base,
                    "type": "support.ticket_resolved",
                    "ticket_id": f"t{draw(st.integers(0, 3))}",
                    "csat": draw(st.integers(1, 5)),
                }
            )
        elif kind == "nps":
            items.append({**base, "type": "survey.nps", "score": draw(st.integers(0, 10))})
        else:
            items.append(
                {**base, "type": "consent.changed", "marketing_consent": draw(st.booleans())}
            )
    return [parse_event(json.dumps(item).encode()) for item in items]


def run(events: list[Event], engine: Engine, until: datetime):
    state = None
    signals = []
    for e in events:
        outcome = engine.handle_event(state, e)
        state = outcome.state
        signals.extend(outcome.signals)
    assert state is not None
    final = engine.handle_due(state, until)
    return final.state, [*signals, *final.signals]


UNTIL = START + timedelta(days=400)
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(histories(), st.data())
def test_duplicates_change_nothing(events: list[Event], data: st.DataObject) -> None:
    engine = Engine(CFG)
    ordered = sorted_history(events)
    repeats = data.draw(st.lists(st.sampled_from(ordered), max_size=8))
    with_duplicates = list(ordered)
    for duplicate in repeats:
        position = data.draw(
            st.integers(with_duplicates.index(duplicate) + 1, len(with_duplicates))
        )
        with_duplicates.insert(position, duplicate)
    assert run(with_duplicates, engine, UNTIL) == run(ordered, engine, UNTIL)


@SETTINGS
@given(histories())
def test_stages_follow_the_graph_and_counters_stay_non_negative(events: list[Event]) -> None:
    state, signals = run(sorted_history(events), Engine(CFG), UNTIL)
    stage = "prospect"
    for signal in signals:
        if signal.name == "stage_changed":
            assert signal.data["from"] == stage
            assert signal.data["to"] in TRANSITIONS[stage]  # type: ignore[index]
            stage = str(signal.data["to"])
    assert state.stage == stage
    assert state.orders.count >= 0
    assert state.orders.lifetime_value >= 0
    assert state.orders.refunded <= state.orders.gross_spend
    assert all(b.logins >= 0 and b.orders >= 0 for b in state.activity)
    assert len(state.support.open_tickets) == len(set(state.support.open_tickets))


@SETTINGS
@given(histories())
def test_signal_times_never_go_back_for_a_customer(events: list[Event]) -> None:
    _, signals = run(sorted_history(events), Engine(CFG), UNTIL)
    times = [s.at for s in signals]
    assert times == sorted(times)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.sampled_from([timedelta(minutes=97), timedelta(days=2), timedelta(days=45)]))
def test_replay_decides_the_same_whatever_the_tick_interval(
    events: list[Event], tick: timedelta
) -> None:
    history = sorted_history(events)
    fine = list(Replay(Engine(CFG), tick=timedelta(hours=1)).run(history, until=UNTIL))
    coarse = list(Replay(Engine(CFG), tick=tick).run(history, until=UNTIL))
    assert coarse == fine


@SETTINGS
@given(histories())
def test_state_survives_its_serialized_form(events: list[Event]) -> None:
    from lifecycle.state import CustomerState

    state, _ = run(sorted_history(events), Engine(CFG), UNTIL)
    assert CustomerState.from_bytes(state.to_bytes()) == state
