"""The contract's time range is one the core can always compute in (issue 10, item 3).

Events from 1970 up to the last second before 2200, in the zones furthest from UTC, with
the largest settings the configuration allows and campaigns whose waits, re-entry,
conversion window and cap are the longest a campaign file can hold, go through the
engine, its detectors and the campaign runtime; every due time they ask for is computed,
and the customer is woken at the last instant a tick can carry. Nothing may overflow.
"""

from __future__ import annotations

import json
from datetime import UTC, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle.campaigns.journeys.campaign_set import CampaignSet
from lifecycle.config import EngineConfig
from lifecycle.detection import detector_timers
from lifecycle.events import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, Event, parse_event
from lifecycle.localtime import MAX_DURATION
from lifecycle.processing.engine import Engine
from lifecycle.processing.replay import sorted_history
from lifecycle.state import CustomerState
from tests.unit.campaigns.support import (
    Journeys,
    compile_inline,
    shipped_campaigns,
    simple_templates,
)

LAST = LATEST_TIMESTAMP - timedelta(seconds=1)
LONGEST = f"{MAX_DURATION.days}d"
LONGEST_CAMPAIGN = f"""
id: longest
category: marketing
trigger: [{{event: customer.signed_up}}, first_order, signup_anniversary, churn_risk]
reentry: {{after: {LONGEST}, max_entries: 3}}
conversion: {{event: order.placed, within: {LONGEST}}}
cap: {{messages: 2, per: {LONGEST}}}
steps:
  - wait: {LONGEST}
  - send: hello
  - wait_until: "23:59"
  - wait: {LONGEST}
  - send: hello
  - wait: 1h
  - send: {{template: hello, at: best_time, within: 7d}}
"""

LARGEST = EngineConfig.model_validate(
    {
        "stages": {"at_risk_after_days": 3649, "lapsed_after_days": 3650},
        "milestones": {"no_order_after_signup_days": [3650]},
        "overdue": {"factor": 20, "min_intervals": 1, "min_days": 3650},
        "engagement": {"short_window_days": 365, "long_window_days": 730},
        "churn": {
            "enabled": True,
            "time_unit": "week",
            "r": 1e-6,
            "alpha": 1e6,
            "a": 1e-6,
            "b": 1e6,
            "threshold": 1e-9,
        },
        "spend": {
            "enabled": True,
            "p": 1e6,
            "q": 1.000001,
            "gamma": 1e6,
            "horizon_months": 120,
            "annual_discount_rate": 0,
        },
        "send_time": {"half_life_days": 1, "min_events": 1},
        "support": {"repeated_tickets_window_days": 3650},
    }
)
CONFIGS = [EngineConfig(), LARGEST]
ZONES = ["UTC", "Pacific/Kiritimati", "Etc/GMT+12", "Pacific/Pago_Pago", "Asia/Kathmandu"]
OFFSETS = [
    UTC,
    timezone(timedelta(hours=23, minutes=59)),
    timezone(-timedelta(hours=23, minutes=59)),
]

# Times anywhere in the range, but mostly within a few years of either edge.
_span = int((LAST - EARLIEST_TIMESTAMP).total_seconds())
_near = 5 * 366 * 86400
instants = st.one_of(
    st.integers(0, _near),
    st.integers(_span - _near, _span),
    st.integers(0, _span),
).map(lambda s: EARLIEST_TIMESTAMP + timedelta(seconds=s))


@st.composite
def edge_histories(draw: st.DrawFn) -> list[Event]:
    zone = draw(st.sampled_from(ZONES))
    times = sorted(draw(st.lists(instants, min_size=1, max_size=8)))
    items = []
    for n, at in enumerate(times):
        written = at.astimezone(draw(st.sampled_from(OFFSETS))).isoformat()
        base = {"event_id": f"e{n}", "customer_id": "c", "occurred_at": written}
        kind = draw(st.sampled_from(["signup", "order", "order", "login", "ticket", "nps"]))
        if n == 0 or kind == "signup":
            items.append(
                {
                    **base,
                    "type": "customer.signed_up",
                    "email": "c@example.com",
                    "timezone": zone,
                    "marketing_consent": True,
                }
            )
        elif kind == "order":
            items.append(
                {
                    **base,
                    "type": "order.placed",
                    "order_id": f"o{n}",
                    "total": "10",
                    "currency": "EUR",
                }
            )
        elif kind == "login":
            items.append({**base, "type": "customer.logged_in"})
        elif kind == "ticket":
            items.append({**base, "type": "support.ticket_opened", "ticket_id": f"t{n}"})
        else:
            items.append({**base, "type": "survey.nps", "score": 0})
    return [parse_event(json.dumps(item).encode()) for item in items]


def drive(engine: Engine, events: list[Event]) -> CustomerState:
    state: CustomerState | None = None
    for event in sorted_history(events):
        state = engine.handle_event(state, event).state
        engine.next_due(state)
        for timer in detector_timers(state, engine.config):
            assert timer.when.year <= 9999
    assert state is not None
    # The last instant a tick can carry: everything due before it runs, now.
    state = engine.handle_due(state, LAST).state
    engine.next_due(state)
    json.loads(state.model_dump_json())  # and the state can still be stored
    return state


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(edge_histories(), st.sampled_from(CONFIGS))
def test_detectors_never_overflow_inside_the_contract_range(
    events: list[Event], cfg: EngineConfig
) -> None:
    drive(Engine(cfg), events)


_longest = compile_inline({"longest.yaml": LONGEST_CAMPAIGN}, simple_templates("hello"))
_shipped = shipped_campaigns()


@SETTINGS
@given(edge_histories(), st.sampled_from(CONFIGS), st.sampled_from(["shipped", "longest"]))
def test_campaigns_never_overflow_inside_the_contract_range(
    events: list[Event], cfg: EngineConfig, which: str
) -> None:
    campaigns = _shipped if which == "shipped" else _longest
    ctx = Journeys(campaigns).ctx.model_copy(update={"engine": cfg})
    drive(Engine(cfg, CampaignSet(campaigns.campaigns, campaigns.templates, ctx)), events)


def test_the_edges_themselves() -> None:
    first = EARLIEST_TIMESTAMP.isoformat()
    last = LAST.astimezone(timezone(-timedelta(hours=23, minutes=59))).isoformat()
    events = [
        parse_event(json.dumps(item).encode())
        for item in (
            {"event_id": "s", "type": "customer.signed_up", "customer_id": "c",
             "occurred_at": first, "email": "c@example.com", "timezone": "Etc/GMT+12",
             "marketing_consent": True},
            {"event_id": "o1", "type": "order.placed", "customer_id": "c", "occurred_at": first,
             "order_id": "o1", "total": "1", "currency": "EUR"},
            {"event_id": "o2", "type": "order.placed", "customer_id": "c", "occurred_at": last,
             "order_id": "o2", "total": "1", "currency": "EUR"},
        )
    ]  # fmt: skip
    for cfg in CONFIGS:
        ctx = Journeys(_longest).ctx.model_copy(update={"engine": cfg})
        runtime = CampaignSet(_longest.campaigns, _longest.templates, ctx)
        state = drive(Engine(cfg, runtime), events)
        assert state.orders.count == 2
        assert state.anniversaries_signalled >= 229
