"""Counters and the report: hand-computed examples, and a replayed history checked against
figures computed from the events themselves (tests/support/expected_report.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from lifecycle.events import Event, parse_event
from lifecycle.measurement import (
    CounterKey,
    Totals,
    build_report,
    day_of,
    report_data,
)
from lifecycle.processing import Engine, Replay, sorted_history
from lifecycle.processing.replay import outcome_records
from streams.campaign_loading import load_campaign_set
from streams.cli.report import campaign_infos
from streams.dev.traffic import generate
from streams.settings import Settings
from tests.factories import event
from tests.support.expected_report import (
    expected_campaigns,
    expected_cohorts,
    expected_retention,
)
from tests.support.worker_env import ROOT

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def replayed(events: list[Event], until: datetime, campaigns: bool = True):
    settings = Settings(campaigns_dir=ROOT / "campaigns")
    campaign_set = load_campaign_set(settings) if campaigns else None
    replay = Replay(Engine(settings.engine, campaign_set), tick=timedelta(hours=1))
    totals = Totals()
    records = []
    for outcome, _ in replay.outcomes(sorted_history(events), until=until):
        if not outcome.duplicate:
            totals.add_facts(outcome.state.facts)
        records.extend(outcome_records(outcome))
    return totals, records, campaign_set, settings


def test_the_seed_example_gives_78_percent_through_the_report() -> None:
    """50 000 customers at the start of March, 1 000 first-time customers in March, 40 000
    at its end: (40 000 - 1 000) / 50 000 = 78%, the articles' formula (not their 81%)."""
    feb = datetime(2026, 2, 28, tzinfo=UTC).date().toordinal()
    mar = datetime(2026, 3, 15, tzinfo=UTC).date().toordinal()
    day = lambda d: datetime.fromordinal(d).date().isoformat()  # noqa: E731
    totals = {
        CounterKey.of("customers", day(feb)): 50_000,
        CounterKey.of("customers", day(mar)): -10_000,
        CounterKey.of("new_customers", "2026-02", group="first_time"): 50_000,
        CounterKey.of("new_customers", "2026-03", group="first_time"): 1_000,
    }
    [february, march] = build_report(totals, granularity="month").retention
    assert february.period == "2026-02"
    figures = march.figures
    assert (figures.customers_at_start, figures.new_customers, figures.customers_at_end) == (
        50_000,
        1_000,
        40_000,
    )
    assert figures.retention_rate == 78.0
    assert figures.churn_rate == 22.0
    assert figures.lost_customers == 11_000
    assert figures.expected_lifespan == pytest.approx(100 / 22)


def test_a_hand_computed_history() -> None:
    """Ann orders 5 and 20 Jan and 2 Apr (lost in March, back in April); Bo orders once on
    10 Feb. With the 60-day threshold:

    - Jan: S 0; Ann first-time (two orders: a repeat buyer); E 1
    - Feb: S 1 (Ann); Bo first-time; E 2; retention (2 - 1) / 1 = 100%
    - Mar: S 2; Ann is lost on 21 Mar (20 Jan + 60 days); E 1 (Bo); retention 50%, churn 50%
    - Apr: S 1 (Bo); Ann reactivated on 2 Apr, Bo lost on 11 Apr; E 1; retention 0%
    """
    events = [
        event("customer.signed_up", "ann", "2026-01-02T09:00:00+00:00"),
        event("order.placed", "ann", "2026-01-05T10:00:00+00:00", total="100"),
        event("order.placed", "ann", "2026-01-20T10:00:00+00:00", total="50.50"),
        event("order.placed", "bo", "2026-02-10T10:00:00+00:00", total="30"),
        event("survey.nps", "bo", "2026-02-11T10:00:00+00:00", score=10),
        event("survey.nps", "ann", "2026-02-12T10:00:00+00:00", score=3),
        event("order.placed", "ann", "2026-04-02T10:00:00+00:00", total="20"),
    ]
    totals, _, _, _ = replayed(events, datetime(2026, 5, 1, tzinfo=UTC), campaigns=False)
    rows = {r.period: r for r in build_report(totals.values, granularity="month").retention}
    got = {
        period: (
            f.customers_at_start,
            f.first_time_customers,
            f.reactivated_customers,
            f.customers_at_end,
            f.lost_customers,
            f.retention_rate,
        )
        for period, f in ((p, r.figures) for p, r in rows.items())
    }
    assert got["2026-01"] == (0, 1, 0, 1, 0, None)
    assert got["2026-02"] == (1, 1, 0, 2, 0, 100.0)
    assert got["2026-03"] == (2, 0, 0, 1, 1, 50.0)
    assert got["2026-04"] == (1, 0, 1, 1, 1, 0.0)
    january = rows["2026-01"].figures
    assert (january.orders, january.buyers, january.revenue) == (2, 1, 150.5)
    assert january.repeat_purchase_rate == 100.0
    assert january.average_order_value == 75.25
    assert rows["2026-02"].figures.nps == 0.0  # one promoter, one detractor
    assert rows["2026-03"].stages["at_risk"] == 1
    assert rows["2026-03"].stages["new"] == 1
    assert rows["2026-04"].stages["reactivated"] == 1
    [cohort_jan, cohort_feb] = build_report(totals.values).cohorts
    assert (cohort_jan.cohort, cohort_jan.size, cohort_jan.active) == ("2026-01", 1, (1, 0, 0, 1))
    assert (cohort_feb.cohort, cohort_feb.size, cohort_feb.active) == ("2026-02", 1, (1, 0, 0))


@pytest.fixture(scope="module")
def traffic():
    raw = [item.event for item in generate(NOW, 140, seed=5, days=200)]
    events = [parse_event(json.dumps(e).encode()) for e in raw]
    # Customers who slipped away come back (the generated shop has none who do).
    last_orders: dict[str, datetime] = {}
    for e in events:
        if e.type == "order.placed":
            last_orders[e.customer_id] = e.occurred_at
    comeback = NOW - timedelta(days=12, hours=3)
    returning = sorted(c for c, at in last_orders.items() if comeback - at > timedelta(days=70))
    assert len(returning) >= 3
    events += [
        event("order.placed", customer, comeback + timedelta(minutes=n), total="42.50")
        for n, customer in enumerate(returning[::2])
    ]
    assert len({e.event_id for e in events}) == len(events)
    until = datetime(2026, 6, 1, tzinfo=UTC)
    totals, records, campaign_set, settings = replayed(events, until)
    return events, until, totals, records, campaign_set, settings


@pytest.mark.parametrize("granularity", ["day", "week", "month"])
def test_retention_equals_the_figures_computed_from_the_events(traffic, granularity) -> None:
    events, until, totals, _, _, settings = traffic
    window = timedelta(days=settings.engine.stages.at_risk_after_days)
    expected = expected_retention(events, granularity, window, until)
    report = build_report(totals.values, granularity=granularity)
    assert report.notes == ()
    rows = {row.period: row.figures for row in report.retention}
    compared = 0
    for period, want in expected.items():
        if period not in rows:
            # The report runs from the first to the last day anything was counted.
            assert period < min(rows) or period > max(rows), period
            assert want["orders"] == 0
            assert want["first_time_customers"] == 0
            continue
        f = rows[period]
        got = {
            "customers_at_start": f.customers_at_start,
            "first_time_customers": f.first_time_customers,
            "reactivated_customers": f.reactivated_customers,
            "customers_at_end": f.customers_at_end,
            "lost_customers": f.lost_customers,
            "orders": f.orders,
            "buyers": f.buyers,
            "repeat_buyers": round(f.repeat_purchase_rate * f.buyers / 100)
            if f.repeat_purchase_rate is not None
            else 0,
            "revenue": Decimal(str(f.revenue)).quantize(Decimal("0.0001")),
        }
        want = {**want, "revenue": want["revenue"].quantize(Decimal("0.0001"))}
        surveys = want.pop("surveys")
        assert got == want, period
        assert f.nps == _nps(surveys["nps"]), period
        compared += 1
    assert compared >= 5
    months = build_report(totals.values, granularity="month").retention
    assert sum(r.figures.lost_customers for r in months) > 0
    assert sum(r.figures.reactivated_customers for r in months) > 0


def _nps(counts: dict[int, int]) -> float | None:
    answers = sum(counts.values())
    if not answers:
        return None
    return (
        (sum(n for s, n in counts.items() if s >= 9) - sum(n for s, n in counts.items() if s <= 6))
        * 100
        / answers
    )


def test_cohorts_equal_the_figures_computed_from_the_events(traffic) -> None:
    events, _, totals, _, _, _ = traffic
    sizes, active = expected_cohorts(events)
    rows = build_report(totals.values).cohorts
    assert {row.cohort: row.size for row in rows} == sizes
    got = {(row.cohort, k): n for row in rows for k, n in enumerate(row.active) if n}
    assert got == active


def test_campaign_results_equal_the_figures_computed_from_the_records(traffic) -> None:
    events, _, totals, records, campaign_set, _ = traffic
    windows = {c.id: c.conversion.within for c in campaign_set.campaigns if c.conversion}
    expected = expected_campaigns(records, events, windows)
    report = build_report(totals.values, campaign_infos(campaign_set))
    got = {
        (arm.campaign, arm.arm): {
            "entries": arm.entries,
            "assigned": arm.assigned,
            "treated": arm.treated,
            "conversions": arm.conversions,
            "decisions": dict(arm.decisions),
            "revenue": arm.revenue,
            "revenue_squares": arm.revenue_squares,
        }
        for result in report.campaigns
        for arm in result.arms
    }
    assert got == expected
    want = expected
    assert sum(v["conversions"] for v in want.values()) > 5
    assert sum(v["revenue"] for v in want.values()) > 0


def test_the_report_json_has_the_documented_shape(traffic) -> None:
    _, _, totals, _, campaign_set, _ = traffic
    data = report_data(build_report(totals.values, campaign_infos(campaign_set)))
    assert set(data) == {"granularity", "retention", "cohorts", "campaigns", "notes"}
    json.dumps(data)  # plain JSON values only
    [winback] = [c for c in data["campaigns"] if c["campaign"] == "winback"]
    assert winback["arms"][0]["arm"] == "control"
    experiment = winback["experiment"]
    assert {c["variant"] for c in experiment["comparisons"]} <= {"gentle", "discount"}
    assert set(experiment["sample_ratio"]["expected"]) == {"control", "gentle", "discount"}


def test_a_late_order_counts_as_an_order_but_not_as_a_buyer() -> None:
    events = [
        event("order.placed", "ann", "2026-01-20T10:00:00+00:00", total="10"),
        event("order.placed", "ann", "2026-01-05T10:00:00+00:00", total="5"),
    ]
    settings = Settings(campaigns_dir=ROOT / "campaigns")
    engine = Engine(settings.engine)
    state = None
    totals = Totals()
    for e in events:  # in arrival order, not sorted: the second one is late
        outcome = engine.handle_event(state, e)
        state = outcome.state
        totals.add_facts(state.facts)
    january = build_report(totals.values).retention[0].figures
    assert (january.orders, january.buyers, january.revenue) == (2, 1, 15.0)
    assert day_of(events[1].occurred_at) < day_of(events[0].occurred_at)
