"""Attributes computed from state: RFM, ticket window, order value, purchase cadence."""

from __future__ import annotations

import statistics
from datetime import timedelta
from decimal import Decimal

import pytest

from lifecycle.config import EngineConfig
from lifecycle.customer.apply import apply
from lifecycle.customer.attributes import ATTRIBUTES, attribute_values, rfm_segment
from lifecycle.state import CustomerState
from tests.factories import event, ts

CFG = EngineConfig()
T0 = ts("2026-01-01T12:00:00Z")


def fold(*events, cfg=CFG):
    state = CustomerState.new("c")
    for e in events:
        state, _ = apply(state, e, cfg)
    return state


def orders(*specs):
    """(day offset, total) pairs as order events."""
    return [
        event("order.placed", "c", T0 + timedelta(days=d), total=str(total)) for d, total in specs
    ]


def values(state, now, cfg=CFG):
    return attribute_values(state, now, cfg)


def test_rfm_defaults_are_the_documented_breakpoints() -> None:
    rfm = CFG.rfm
    assert rfm.recency_days == (30, 90, 180, 365)
    assert rfm.frequency_orders == (2, 3, 5, 10)
    assert rfm.monetary == (Decimal(100), Decimal(300), Decimal(1000), Decimal(3000))


@pytest.mark.parametrize(
    ("days_since", "score"),
    [(0, 5), (29.9, 5), (30, 4), (89, 4), (90, 3), (180, 2), (364, 2), (365, 1), (1000, 1)],
)
def test_recency_score_falls_at_each_breakpoint(days_since: float, score: int) -> None:
    state = fold(*orders((0, 50)))
    assert values(state, T0 + timedelta(days=days_since))["rfm_recency"] == score


@pytest.mark.parametrize(("count", "score"), [(1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (10, 5)])
def test_frequency_score_counts_orders(count: int, score: int) -> None:
    state = fold(*orders(*[(d, 1) for d in range(count)]))
    assert values(state, T0 + timedelta(days=count))["rfm_frequency"] == score


@pytest.mark.parametrize(
    ("spend", "score"), [(99, 1), (100, 2), (299, 2), (300, 3), (1000, 4), (3000, 5)]
)
def test_monetary_score_uses_lifetime_value(spend: int, score: int) -> None:
    state = fold(*orders((0, spend)))
    assert values(state, T0)["rfm_monetary"] == score


def test_refunds_lower_the_monetary_score() -> None:
    state = fold(
        *orders((0, 350)),
        event("order.refunded", "c", T0 + timedelta(days=1), order_id="o", amount="100"),
    )
    assert values(state, T0 + timedelta(days=1))["rfm_monetary"] == 2


def test_no_orders_scores_zero_and_segment_no_orders() -> None:
    got = values(CustomerState.new("c"), T0)
    assert (got["rfm_recency"], got["rfm_frequency"], got["rfm_monetary"]) == (0, 0, 0)
    assert got["rfm_segment"] == "no_orders"


@pytest.mark.parametrize(
    ("r", "f", "segment"),
    [
        (5, 5, "champions"),
        (4, 4, "champions"),
        (3, 3, "loyal"),
        (5, 3, "loyal"),
        (4, 1, "promising"),
        (2, 3, "at_risk"),
        (1, 5, "at_risk"),
        (2, 2, "hibernating"),
        (3, 2, "needs_attention"),
        (3, 1, "needs_attention"),
    ],
)
def test_rfm_segment_grid(r: int, f: int, segment: str) -> None:
    assert rfm_segment(r, f, 1) == segment


def test_a_recent_frequent_customer_is_a_champion_end_to_end() -> None:
    state = fold(*orders(*[(d * 7, 400) for d in range(6)]))
    got = values(state, T0 + timedelta(days=40))
    assert (got["rfm_recency"], got["rfm_frequency"], got["rfm_monetary"]) == (5, 4, 4)
    assert got["rfm_segment"] == "champions"


def test_tickets_90d_counts_the_configured_window() -> None:
    cfg = EngineConfig.model_validate({"support": {"repeated_tickets_window_days": 10}})
    state = fold(
        event("support.ticket_opened", "c", T0),
        event("support.ticket_opened", "c", T0 + timedelta(days=5)),
        event("support.ticket_opened", "c", T0 + timedelta(days=8)),
        cfg=cfg,
    )
    assert values(state, T0 + timedelta(days=8), cfg)["tickets_90d"] == 3
    # Day 0 leaves a 10-day window on day 10; day 5 on day 15.
    assert values(state, T0 + timedelta(days=10), cfg)["tickets_90d"] == 2
    assert values(state, T0 + timedelta(days=15), cfg)["tickets_90d"] == 1
    assert values(state, T0 + timedelta(days=18), cfg)["tickets_90d"] == 0
    assert "SUPPORT__REPEATED_TICKETS_WINDOW_DAYS" in ATTRIBUTES["tickets_90d"].description


def test_average_order_value_is_net_of_refunds_per_order() -> None:
    assert values(CustomerState.new("c"), T0)["average_order_value"] is None
    state = fold(*orders((0, "10.00"), (1, "20.00"), (2, "30.01")))
    assert values(state, T0)["average_order_value"] == Decimal("20.00")
    refunded = fold(
        *orders((0, "10.00"), (1, "20.00")),
        event("order.refunded", "c", T0 + timedelta(days=2), order_id="o", amount="5"),
    )
    assert values(refunded, T0)["average_order_value"] == Decimal("12.50")


def test_interval_mean_and_stddev_follow_the_purchase_days() -> None:
    gaps = [3, 10, 4, 9]
    days = [0]
    for gap in gaps:
        days.append(days[-1] + gap)
    state = fold(*orders(*[(d, 10) for d in days]))
    got = values(state, T0 + timedelta(days=days[-1]))
    assert got["mean_days_between_orders"] == round(statistics.mean(gaps), 2)
    assert got["purchase_interval_stddev_days"] == round(statistics.stdev(gaps), 2)


def test_interval_stddev_needs_two_intervals() -> None:
    one = fold(*orders((0, 10), (5, 10)))
    assert values(one, T0)["mean_days_between_orders"] == 5.0
    assert values(one, T0)["purchase_interval_stddev_days"] is None
    same_day = fold(*orders((0, 10), (0, 10), (0, 10)))
    assert values(same_day, T0)["purchase_interval_stddev_days"] is None
    assert "purchase_interval_stddev_days" in ATTRIBUTES
