"""Retention arithmetic against hand-computed examples (the retention articles' included), and
the definition of "a customer" against the stages the engine actually reaches."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lifecycle.config import EngineConfig
from lifecycle.events import Event, parse_event
from lifecycle.measurement import (
    CustomerFlow,
    PeriodActivity,
    SurveyCounts,
    average_ces,
    churn_rate,
    cohort_triangle,
    csat_score,
    flow_group,
    is_customer_at,
    net_promoter_score,
    period_figures,
    retention_rate,
)
from lifecycle.processing import Engine

# --- the articles' example -------------------------------------------------------------


def test_the_articles_example_follows_the_formula_not_its_arithmetic() -> None:
    """50 000 at start, 1 000 new, 40 000 at end: (40 000 - 1 000) / 50 000 = 78%. The
    Finnish article computes 40 000 / (50 000 - 1 000) = 81.6% and calls it 81%."""
    flow = CustomerFlow.from_totals(start=50_000, new=1_000, end=40_000)
    assert retention_rate(flow) == 78.0
    assert retention_rate(flow) != pytest.approx(40_000 / 49_000 * 100, abs=1)
    assert flow.lost == 11_000
    assert churn_rate(flow) == 22.0


def test_inconsistent_totals_are_refused() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        CustomerFlow.from_totals(start=100, new=10, end=200)  # 190 kept of 100
    with pytest.raises(ValueError, match="do not fit"):
        CustomerFlow.from_totals(start=100, new=50, end=20)  # -30 kept


# --- a whole period by hand ------------------------------------------------------------


def test_a_period_computed_by_hand() -> None:
    flow = CustomerFlow(retained=800, lost=200, first_time=150, reactivated=50)
    activity = PeriodActivity(orders=500, buyers=400, repeat_buyers=60, revenue=Decimal("25000"))
    surveys = SurveyCounts(
        nps={10: 30, 9: 20, 8: 25, 7: 5, 6: 10, 0: 10},  # 100 answers: 50 promoters, 20 detr.
        csat={5: 40, 4: 30, 3: 10, 2: 10, 1: 10},
        ces={1: 10, 2: 20, 7: 10},
    )
    figures = period_figures(flow, activity, surveys)
    assert (figures.customers_at_start, figures.new_customers, figures.customers_at_end) == (
        1000,
        200,
        1000,
    )
    assert figures.lost_customers == 200
    assert figures.retention_rate == 80.0  # (1000 - 200) / 1000
    assert figures.churn_rate == 20.0  # 200 / 1000
    assert figures.repeat_purchase_rate == 15.0  # 60 / 400
    assert figures.purchase_frequency == 1.25  # 500 / 400
    assert figures.average_order_value == 50.0  # 25 000 / 500
    assert figures.expected_lifespan == 5.0  # 1 / 0.20 periods
    assert figures.customer_lifetime_value == 312.5  # 50 x 1.25 x 5
    assert figures.nps == 30.0  # 50% - 20%
    assert figures.csat == 70.0  # (40 + 30) / 100
    assert figures.average_ces == 3.0  # (10 + 40 + 70) / 40
    assert figures.notes == ()


def test_an_empty_period_has_no_figures_and_says_why() -> None:
    figures = period_figures(
        CustomerFlow(retained=0, lost=0, first_time=0),
        PeriodActivity(orders=0, buyers=0, repeat_buyers=0, revenue=0),
    )
    for name in (
        "retention_rate",
        "churn_rate",
        "repeat_purchase_rate",
        "purchase_frequency",
        "average_order_value",
        "expected_lifespan",
        "customer_lifetime_value",
        "nps",
        "csat",
        "average_ces",
    ):
        assert getattr(figures, name) is None, name
    assert any("no customers at the start" in note for note in figures.notes)
    assert any("no orders" in note for note in figures.notes)
    assert any("NPS: no answers" in note for note in figures.notes)


def test_without_churn_there_is_no_lifespan_and_no_clv() -> None:
    figures = period_figures(
        CustomerFlow(retained=10, lost=0, first_time=2),
        PeriodActivity(orders=12, buyers=10, repeat_buyers=2, revenue=600),
    )
    assert figures.retention_rate == 100.0
    assert figures.churn_rate == 0.0
    assert figures.expected_lifespan is None
    assert figures.customer_lifetime_value is None
    assert any("no customer was lost" in note for note in figures.notes)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_retention_and_churn_add_up_to_100(
    retained: int, lost: int, first_time: int, reactivated: int
) -> None:
    flow = CustomerFlow(retained, lost, first_time, reactivated)
    assert flow.at_end == flow.at_start - flow.lost + flow.new
    retention, churn = retention_rate(flow), churn_rate(flow)
    if flow.at_start == 0:
        assert retention is None
        assert churn is None
    else:
        assert retention is not None
        assert churn is not None
        assert retention + churn == pytest.approx(100)


def test_scores_on_their_edges() -> None:
    assert net_promoter_score({9: 1, 6: 1}) == 0.0  # 9 promotes, 6 detracts
    assert net_promoter_score({7: 3, 8: 1}) == 0.0  # passives only
    assert net_promoter_score({0: 2}) == -100.0
    assert net_promoter_score({10: 5}) == 100.0
    assert csat_score({3: 1, 4: 1}) == 50.0
    assert average_ces({}) is None
    with pytest.raises(ValueError, match="nps score 11"):
        SurveyCounts(nps={11: 1}, csat={}, ces={})
    with pytest.raises(ValueError, match="csat score 0"):
        SurveyCounts(nps={}, csat={0: 1}, ces={})


@pytest.mark.parametrize(
    ("orders", "buyers", "repeat", "words"),
    [
        (5, 6, 0, "6 buyers > 5 orders"),
        (10, 4, 5, "5 repeat buyers > 4 buyers"),
        (5, 4, 2, "need two orders each"),
        (-1, 0, 0, "orders cannot be negative"),
    ],
)
def test_impossible_order_counts_are_refused(
    orders: int, buyers: int, repeat: int, words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        PeriodActivity(orders=orders, buyers=buyers, repeat_buyers=repeat, revenue=0)


# --- cohorts ---------------------------------------------------------------------------


def test_the_cohort_triangle() -> None:
    rows = cohort_triangle(
        sizes={"2026-02": 50, "2025-12": 200, "2026-01": 0, "2026-04": 9},
        active={("2025-12", 0): 200, ("2025-12", 1): 80, ("2025-12", 2): 50, ("2026-02", 0): 40},
        through="2026-02",
    )
    assert [row.cohort for row in rows] == ["2025-12", "2026-01", "2026-02"]  # April: later
    december, january, february = rows
    assert december.active == (200, 80, 50)
    assert december.rates == (100.0, 40.0, 25.0)
    assert january.active == (0, 0)
    assert january.rates == (None, None)  # an empty cohort has no rate
    assert february.active == (40,)
    assert february.rates == (80.0,)


def test_the_cohort_triangle_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match="3 active > 2"):
        cohort_triangle({"2026-01": 2}, {("2026-01", 0): 3}, "2026-01")
    with pytest.raises(ValueError, match="YYYY-MM"):
        cohort_triangle({"2026-13": 2}, {}, "2026-12")


# --- who is a customer -----------------------------------------------------------------

WINDOW = timedelta(days=60)
JAN, FEB = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)


def group(first: datetime | None, last_before_start: datetime | None, last_before_end):
    return flow_group(
        first_order_at=first,
        customer_at_start=is_customer_at(last_before_start, JAN, WINDOW),
        customer_at_end=is_customer_at(last_before_end, FEB, WINDOW),
        start=JAN,
    )


def test_the_four_groups_of_january() -> None:
    dec1, dec20, jan10 = datetime(2025, 12, 1), datetime(2025, 12, 20), datetime(2026, 1, 10)
    dec1, dec20, jan10 = (d.replace(tzinfo=UTC) for d in (dec1, dec20, jan10))
    jan15, jun1 = datetime(2026, 1, 15, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)
    nov1 = datetime(2025, 11, 1, tzinfo=UTC)
    assert group(dec1, dec1, dec1) == "lost"  # Dec 1 + 60 days = Jan 30: gone by Feb 1
    assert group(dec20, dec20, jan10) == "retained"
    assert group(jan15, None, jan15) == "first_time"
    assert group(jun1, jun1, jan10) == "reactivated"
    assert group(nov1, nov1, nov1) is None  # gone at Dec 31, before the period
    assert group(None, None, None) is None
    # The at-risk instant itself is no longer a customer, as the stage moves then.
    assert not is_customer_at(dec1, dec1 + WINDOW, WINDOW)
    assert is_customer_at(dec1, dec1 + WINDOW - timedelta(microseconds=1), WINDOW)
    assert not is_customer_at(jan15, jan10, WINDOW)  # no order yet at that time


AT_RISK_DAYS = 20
CFG = EngineConfig.model_validate(
    {"stages": {"at_risk_after_days": AT_RISK_DAYS, "lapsed_after_days": 50}}
)
START = datetime(2026, 1, 1, tzinfo=UTC)


def _orders(minutes: list[int]) -> list[Event]:
    items = [
        {
            "event_id": "signup",
            "type": "customer.signed_up",
            "customer_id": "c-1",
            "occurred_at": START.isoformat(),
        }
    ]
    for n, minute in enumerate(sorted(minutes)):
        items.append(
            {
                "event_id": f"e{n}",
                "type": "order.placed",
                "customer_id": "c-1",
                "occurred_at": (START + timedelta(minutes=minute)).isoformat(),
                "order_id": f"o{n}",
                "total": "10",
                "currency": "SEK",
            }
        )
    return [parse_event(json.dumps(item).encode()) for item in items]


DAY = 24 * 60


@settings(max_examples=60, deadline=None)
@example(order_minutes=[0, DAY], look_minutes=[10 * DAY, 21 * DAY + 1, 80 * DAY])  # at risk
@example(order_minutes=[0, 30 * DAY, 31 * DAY], look_minutes=[29 * DAY, 30 * DAY, 32 * DAY])
@given(
    st.lists(st.integers(0, 150 * 24 * 60), max_size=8),
    st.lists(st.integers(0, 200 * 24 * 60), min_size=1, max_size=6),
)
def test_a_customer_is_exactly_one_whose_stage_is_new_active_or_reactivated(
    order_minutes: list[int], look_minutes: list[int]
) -> None:
    """The README's definition agrees with the stage machine at any time looked at."""
    events = _orders(order_minutes)
    stages = []
    for look in sorted(look_minutes):
        at = START + timedelta(minutes=look)
        engine = Engine(CFG)
        state = None
        for event in events:
            if event.occurred_at <= at:
                state = engine.handle_event(state, event).state
        assert state is not None
        state = engine.handle_due(state, at).state
        last = state.orders.last_at
        expected = is_customer_at(last, at, timedelta(days=AT_RISK_DAYS))
        assert (state.stage in ("new", "active", "reactivated")) == expected, (state.stage, at)
        stages.append(state.stage)
    if order_minutes == [0, DAY]:  # the explicit example sees both sides of the line
        assert stages == ["active", "at_risk", "lapsed"]
    if order_minutes == [0, 30 * DAY, 31 * DAY]:
        assert stages == ["at_risk", "reactivated", "active"]
