"""Properties of the engine over generated histories."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lifecycle.config import EngineConfig
from lifecycle.customer.stages import TRANSITIONS
from lifecycle.events import Event, parse_event
from lifecycle.processing.engine import Engine
from lifecycle.processing.replay import Replay, sorted_history

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


def _expected_order_facts(events: list[Event]):
    from decimal import Decimal

    from lifecycle.events import OrderPlaced, OrderRefunded

    orders = [e for e in events if isinstance(e, OrderPlaced)]
    gross = sum((e.total for e in orders), Decimal(0))
    refunds = sum((e.amount for e in events if isinstance(e, OrderRefunded)), Decimal(0))
    return orders, gross, refunds


@SETTINGS
@given(histories())
def test_order_facts_are_exactly_what_the_history_says(events: list[Event]) -> None:
    from decimal import Decimal

    from lifecycle.events import CustomerSignedUp
    from lifecycle.localtime import local_day, zone

    history = sorted_history(events)
    state, _ = run(history, Engine(CFG), UNTIL)
    orders, gross, refunds = _expected_order_facts(history)
    assert state.orders.count == len(orders)
    assert state.orders.gross_spend == gross
    # Refunds are capped at what was spent so far (a refund before any order refunds 0),
    # so the refunded total is at most both the refunds asked for and the gross spend.
    assert state.orders.refunded <= min(refunds, gross)
    assert state.orders.lifetime_value == max(Decimal(0), gross - state.orders.refunded)
    [signup] = [e for e in history if isinstance(e, CustomerSignedUp)]
    tz = zone(signup.timezone)
    days = {local_day(e.occurred_at, tz) for e in orders}
    assert state.orders.purchase_days == len(days)  # < 32 distinct days: exact
    if orders:
        assert state.orders.first_at == min(e.occurred_at for e in orders)
        assert state.orders.last_at == max(e.occurred_at for e in orders)


@SETTINGS
@given(histories())
def test_open_tickets_are_those_opened_and_not_resolved_since(events: list[Event]) -> None:
    from lifecycle.events import SupportTicketOpened, SupportTicketResolved

    history = sorted_history(events)
    state, _ = run(history, Engine(CFG), UNTIL)
    open_now: set[str] = set()
    opened: set[str] = set()
    for e in history:
        if isinstance(e, SupportTicketOpened):
            open_now.add(e.ticket_id)
            opened.add(e.ticket_id)
        elif isinstance(e, SupportTicketResolved):
            open_now.discard(e.ticket_id)
    assert set(state.support.open_tickets) == open_now
    assert len(state.support.open_tickets) <= len(opened)


@SETTINGS
@given(histories())
def test_activity_days_hold_each_login_and_order_once(events: list[Event]) -> None:
    from lifecycle.events import CustomerLoggedIn, OrderPlaced

    history = sorted_history(events)
    state, _ = run(history, Engine(CFG), UNTIL)
    days = [b.day for b in state.activity]
    assert days == sorted(set(days))  # one bucket per day, in order
    logins = sum(1 for e in history if isinstance(e, CustomerLoggedIn))
    orders = sum(1 for e in history if isinstance(e, OrderPlaced))
    # Pruning drops old days, so the buckets hold at most what happened.
    assert sum(b.logins for b in state.activity) <= logins
    assert sum(b.orders for b in state.activity) <= orders


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
    assert _decided(coarse) == _decided(fine)
    # The same facts are counted; how they are grouped into outcomes follows the ticks.
    assert _facts(coarse) == _facts(fine)


def _decided(records: list[dict]) -> list[dict]:
    return [r for r in records if r["kind"] != "tally"]


def _facts(records: list[dict]) -> Counter[tuple]:
    return Counter(tuple(f) for r in records if r["kind"] == "tally" for f in r["facts"])


@SETTINGS
@given(histories())
def test_state_survives_its_serialized_form(events: list[Event]) -> None:
    from lifecycle.state import CustomerState

    state, _ = run(sorted_history(events), Engine(CFG), UNTIL)
    assert CustomerState.from_bytes(state.to_bytes()) == state


# The stage graph as the README documents it; a change to either must change both.
DOCUMENTED_STAGE_GRAPH = {
    "prospect": {"new"},
    "new": {"active", "at_risk"},
    "active": {"at_risk"},
    "at_risk": {"lapsed", "reactivated"},
    "lapsed": {"reactivated"},
    "reactivated": {"active", "at_risk"},
}


def test_the_stage_graph_is_the_documented_one() -> None:
    assert {k: set(v) for k, v in TRANSITIONS.items()} == DOCUMENTED_STAGE_GRAPH


DST_ZONES = [
    "Europe/Stockholm",
    "America/New_York",
    "America/Havana",  # DST changes at midnight: some days start at 01:00
    "America/Santiago",
    "Asia/Beirut",  # falls back from 00:00 to 23:00 the day before
    "Australia/Lord_Howe",  # half-hour DST
    "Pacific/Chatham",
]
_days_2020s = st.integers(date(2020, 1, 1).toordinal(), date(2030, 12, 31).toordinal())


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(DST_ZONES), _days_2020s)
@example("America/Havana", date(2026, 3, 8).toordinal())  # midnight skipped
@example("America/Havana", date(2026, 11, 1).toordinal())  # midnight twice
@example("Asia/Beirut", date(2025, 10, 26).toordinal())  # back from 00:00 to 23:00
@example("Europe/Stockholm", date(2026, 3, 29).toordinal())
def test_start_of_local_day_is_the_first_instant_of_that_day(name: str, day: int) -> None:
    from lifecycle.localtime import local_day, start_of_local_day, zone

    tz = zone(name)
    start = start_of_local_day(day, tz)
    assert local_day(start, tz) == day
    # In UTC: arithmetic on a datetime in a ZoneInfo zone is wall-clock arithmetic.
    assert local_day(start.astimezone(UTC) - timedelta(microseconds=1), tz) < day


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(DST_ZONES), st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1)))
def test_activity_is_bucketed_on_the_customers_local_day(name: str, naive: datetime) -> None:
    from zoneinfo import ZoneInfo

    from lifecycle.customer.apply import apply
    from lifecycle.state import CustomerState
    from tests.factories import event

    at = naive.replace(tzinfo=UTC)
    state = CustomerState.new("c")
    signup = event("customer.signed_up", "c", at - timedelta(days=1), timezone=name)
    state, _ = apply(state, signup, CFG)
    state, _ = apply(state, event("customer.logged_in", "c", at), CFG)
    assert [b.day for b in state.activity] == [at.astimezone(ZoneInfo(name)).date().toordinal()]


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(DST_ZONES),
    _days_2020s,
    st.lists(st.integers(0, 9 * 24 * 60), min_size=2, max_size=6),
)
def test_an_engagement_due_time_is_a_local_midnight_across_dst_changes(
    name: str, day: int, minutes: list[int]
) -> None:
    from lifecycle.detection.detectors import detector_timers
    from lifecycle.localtime import local_day, start_of_local_day, zone
    from lifecycle.state import CustomerState
    from tests.factories import event

    tz = zone(name)
    start = start_of_local_day(day, tz)
    engine = Engine(CFG)
    state: CustomerState | None = engine.handle_event(
        None, event("customer.signed_up", "c", start, timezone=name)
    ).state
    for n, minute in enumerate(sorted(minutes)):
        login = event(
            "customer.logged_in", "c", start + timedelta(minutes=minute), event_id=f"l{n}"
        )
        state = engine.handle_event(state, login).state
    assert state is not None
    timers = [t for t in detector_timers(state, CFG) if t.name == "engagement_declining"]
    for timer in timers:
        if timer.when == state.clock:
            continue  # declining already: due now, not at a midnight
        due_day = local_day(timer.when, tz)
        assert timer.when == start_of_local_day(due_day, tz)
        assert local_day(timer.when.astimezone(UTC) - timedelta(microseconds=1), tz) < due_day
