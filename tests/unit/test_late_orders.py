"""Late and out-of-order orders: the facts do not depend on arrival order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.config import EngineConfig
from lifecycle.customer.apply import RECENT_PURCHASE_DAYS, apply
from lifecycle.processing.engine import Engine
from lifecycle.state import CustomerState
from tests.factories import event, ts

CFG = EngineConfig()
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def fold(events, state=None):
    state = state or CustomerState.new("c")
    for e in events:
        state, _ = apply(state, e, CFG)
    return state


def test_a_late_order_on_a_day_already_counted_is_not_a_new_purchase_day() -> None:
    a = event("order.placed", "c", "2026-01-01T10:00:00Z", order_id="o1")
    b = event("order.placed", "c", "2026-01-05T10:00:00Z", order_id="o2")
    c = event("order.placed", "c", "2026-01-10T10:00:00Z", order_id="o3")
    late = event("order.placed", "c", "2026-01-05T18:00:00Z", order_id="o4")  # b's day
    assert fold([a, b, late, c]).orders.purchase_days == 3
    assert fold([a, b, c, late]).orders.purchase_days == 3
    assert fold([late, c, b, a]).orders.purchase_days == 3


def test_a_late_order_on_a_new_middle_day_is_a_new_purchase_day() -> None:
    days = ["2026-01-01", "2026-01-05", "2026-01-10"]
    state = fold([event("order.placed", "c", f"{d}T10:00:00Z") for d in days])
    state = fold([event("order.placed", "c", "2026-01-07T10:00:00Z")], state)
    assert state.orders.purchase_days == 4


def test_a_late_order_older_than_the_remembered_days_is_not_counted_as_a_new_day() -> None:
    # The documented bound: the first day and the last RECENT_PURCHASE_DAYS days are known;
    # a late order between them cannot be told from a forgotten day, so it adds no day.
    n = RECENT_PURCHASE_DAYS + 5
    orders = [event("order.placed", "c", T0 + timedelta(days=2 * k)) for k in range(n)]
    state = fold(orders)
    assert state.orders.purchase_days == n
    assert len(state.orders.recent_purchase_days) == RECENT_PURCHASE_DAYS
    forgotten_day = fold([event("order.placed", "c", T0 + timedelta(days=2))], state)
    assert forgotten_day.orders.purchase_days == n  # the day was counted already: exact
    gap_day = fold([event("order.placed", "c", T0 + timedelta(days=3))], state)
    assert gap_day.orders.purchase_days == n  # a new day, but out of the window: undercounted
    assert gap_day.orders.count == n + 1  # the order itself always counts
    recent_gap = fold([event("order.placed", "c", T0 + timedelta(days=2 * n - 3))], state)
    assert recent_gap.orders.purchase_days == n + 1  # inside the window: exact


def test_a_state_saved_before_days_were_remembered_still_counts_new_days() -> None:
    days = ["2026-01-01", "2026-01-05", "2026-01-10"]
    state = fold([event("order.placed", "c", f"{d}T10:00:00Z") for d in days])
    legacy = state.model_copy(
        update={"orders": state.orders.model_copy(update={"recent_purchase_days": ()})}
    )
    assert (
        fold([event("order.placed", "c", "2026-01-10T20:00:00Z")], legacy).orders.purchase_days == 3
    )
    assert (
        fold([event("order.placed", "c", "2026-01-12T20:00:00Z")], legacy).orders.purchase_days == 4
    )
    assert (
        fold([event("order.placed", "c", "2025-12-12T20:00:00Z")], legacy).orders.purchase_days == 4
    )


_orders = st.lists(
    st.tuples(st.integers(0, 20), st.integers(0, 23), st.integers(1, 500)),
    min_size=1,
    max_size=12,
)


@settings(max_examples=80, deadline=None)
@given(_orders, st.randoms(use_true_random=False))
def test_any_arrival_order_gives_the_same_order_facts(specs, rnd) -> None:
    # Fewer distinct days than RECENT_PURCHASE_DAYS: inside the documented bound.
    events = [
        event("order.placed", "c", T0 + timedelta(days=d, hours=h), total=str(total))
        for d, h, total in specs
    ]
    shuffled = list(events)
    rnd.shuffle(shuffled)
    a, b = fold(events).orders, fold(shuffled).orders
    assert (a.count, a.gross_spend, a.first_at, a.last_at, a.purchase_days) == (
        b.count,
        b.gross_spend,
        b.first_at,
        b.last_at,
        b.purchase_days,
    )
    assert a.purchase_days == len({d for d, _, _ in specs})  # UTC customer: one day per date
    assert a.first_purchase_day == b.first_purchase_day
    assert a.last_purchase_day == b.last_purchase_day


def test_a_late_order_before_a_fired_no_order_timer_retracts_nothing() -> None:
    engine = Engine(
        EngineConfig.model_validate({"milestones": {"no_order_after_signup_days": [3, 7]}})
    )
    signup = ts("2026-01-01T10:00:00Z")
    state = engine.handle_event(None, event("customer.signed_up", "c", signup)).state
    outcome = engine.handle_due(state, signup + timedelta(days=4))
    assert [s.name for s in outcome.signals] == ["no_order_after_signup"]
    # An order placed on day 2 arrives only now: the day-3 signal stays fired.
    late = engine.handle_event(
        outcome.state, event("order.placed", "c", signup + timedelta(days=2))
    )
    assert "no_order_after_signup:3" in late.state.milestones
    assert [s.name for s in late.signals if s.name == "no_order_after_signup"] == []
    assert late.state.orders.count == 1
    # The day-7 timer no longer applies: the customer has ordered.
    after = engine.handle_due(late.state, signup + timedelta(days=30))
    assert [s for s in after.signals if s.name == "no_order_after_signup"] == []


def test_a_late_order_before_a_fired_overdue_timer_retracts_nothing() -> None:
    cfg = EngineConfig.model_validate({"overdue": {"factor": 2.0, "min_intervals": 2}})
    engine = Engine(cfg)
    state = None
    for d in (0, 10, 20):
        state = engine.handle_event(
            state, event("order.placed", "c", ts("2026-01-01T12:00:00Z") + timedelta(days=d))
        ).state
    assert state is not None
    fired = engine.handle_due(state, ts("2026-03-01T00:00:00Z"))
    assert [s.name for s in fired.signals].count("purchase_overdue") == 1
    # A late order on day 15 (before the last order) changes no cadence or recency fact
    # the overdue timer used: it stays fired and does not fire again.
    late = engine.handle_event(fired.state, event("order.placed", "c", ts("2026-01-16T12:00:00Z")))
    assert late.state.overdue_signalled_for == fired.state.overdue_signalled_for
    assert late.state.orders.purchase_days == 4
    again = engine.handle_due(late.state, ts("2026-06-01T00:00:00Z"))
    assert [s.name for s in late.signals + again.signals].count("purchase_overdue") == 0
