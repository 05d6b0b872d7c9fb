"""Send-time optimisation: the activity profile, best-time sends on planted activity
patterns, quiet hours, the fallback, and the loader's errors for bad options."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifecycle.campaigns.context import CampaignRules, RuntimeContext, ShopInfo
from lifecycle.campaigns.journeys.campaign_set import CampaignSet
from lifecycle.campaigns.loading.compiler import compile_campaigns
from lifecycle.campaigns.model import SendStep
from lifecycle.config import EngineConfig
from lifecycle.customer import (
    EVENT_WEIGHT,
    decayed_event_count,
    hour_of_week,
    profile_weights,
    record_activity,
)
from lifecycle.exceptions import CampaignErrors
from lifecycle.measurement import (
    CampaignInfo,
    Totals,
    build_report,
    render_html,
    render_text,
    report_data,
)
from lifecycle.processing import Engine, Replay, sorted_history
from tests.factories import event

from .support import Journeys, simple_templates, utc

STOCKHOLM = ZoneInfo("Europe/Stockholm")
TEMPLATES = simple_templates("a", "b")

TIMED = """\
id: timed
category: marketing
trigger: {event: customer.updated}
steps:
  - send: {template: a, at: best_time, within: WITHIN}
"""


def timed(within: str = "24h") -> Any:
    return compile_campaigns({"timed.yaml": TIMED.replace("WITHIN", within)}, TEMPLATES)


def local(text: str) -> datetime:
    """A Stockholm wall-clock time ('2026-05-04 19:20') as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=STOCKHOLM)


def signup(customer: str, at: datetime) -> Any:
    return event(
        "customer.signed_up",
        customer,
        at,
        email=f"{customer}@example.com",
        timezone="Europe/Stockholm",
        marketing_consent=True,
    )


def logins(customer: str, times: list[datetime]) -> list[Any]:
    return [event("customer.logged_in", customer, at) for at in times]


def nudge(customer: str, at: datetime) -> Any:
    return event("customer.updated", customer, at, name="Ann")


def weekdays_at(hour: int, minute: int, weeks: int = 3) -> list[datetime]:
    """Every weekday of the weeks from Monday 13 April 2026 at hour:minute, Stockholm."""
    start = local("2026-04-13 00:00")
    return [
        (start + timedelta(days=day)).replace(hour=hour, minute=minute)
        for day in range(7 * weeks)
        if (start + timedelta(days=day)).weekday() < 5
    ]


def run_one(history: list[Any], within: str = "24h") -> Journeys:
    return Journeys(timed(within)).run(history, until=utc("2026-06-01T00:00:00+00:00"))


# -- the profile --------------------------------------------------------------------------


def test_the_profile_counts_hours_of_the_week_on_the_customers_clock() -> None:
    hours, period = (), 0
    for at in (local("2026-05-04 19:05"), local("2026-05-04 19:55"), local("2026-05-09 08:00")):
        hours, period = record_activity(hours, period, at, half_life_days=28)
    monday_19, saturday_8 = 0 * 24 + 19, 5 * 24 + 8
    assert profile_weights(hours) == {monday_19: 2 * EVENT_WEIGHT, saturday_8: EVENT_WEIGHT}
    assert hours == (monday_19 << 8 | 32, saturday_8 << 8 | 16)  # plain ints, ascending
    assert hour_of_week(local("2026-05-10 23:30")) == 167


def test_old_activity_counts_half_per_half_life_and_late_events_less() -> None:
    first = local("2026-01-05 12:00")
    hours, period = record_activity((), 0, first, half_life_days=7)
    # Four half-lives later a new event halves the old weight four times.
    later = first + timedelta(days=28)
    hours, period = record_activity(hours, period, later, half_life_days=7)
    weights = profile_weights(hours)
    assert weights[hour_of_week(first)] == EVENT_WEIGHT + (EVENT_WEIGHT >> 4)  # 16 + 16/16
    # A late event from two periods before adds a quarter.
    late = later.replace(hour=6) - timedelta(days=14)
    hours, period = record_activity(hours, period, late, half_life_days=7)
    assert profile_weights(hours)[6] == EVENT_WEIGHT >> 2
    held = (17 + 4) / EVENT_WEIGHT
    assert decayed_event_count(hours, period, period) == pytest.approx(held)
    # The next period counts it whole (its events may be a day old); the one after, half.
    assert decayed_event_count(hours, period, period + 1) == pytest.approx(held)
    assert decayed_event_count(hours, period, period + 2) == pytest.approx(held / 2)


def test_the_profile_stays_bounded_however_much_activity() -> None:
    hours, period = (), 0
    at = local("2026-05-04 00:00")
    for minute in range(0, 60 * 24 * 7 * 3, 7):  # an event every 7 minutes for three weeks
        hours, period = record_activity(
            hours, period, at + timedelta(minutes=minute), half_life_days=365
        )
    assert len(hours) == 168
    assert all(0 < entry & 0xFF <= 255 for entry in hours)
    # As JSON: at most 168 integers below 43008, whatever the history.
    assert len(",".join(map(str, hours))) < 168 * 6


# -- planted patterns -----------------------------------------------------------------------


def scheduled(run: Journeys, customer: str) -> Any:
    (decision,) = [d for d in run.decisions("timed", customer) if d.outcome == "scheduled"]
    return decision


def test_an_evening_reader_gets_the_mail_at_their_evening_hour() -> None:
    history = [
        signup("eve", local("2026-04-01 12:00")),
        *logins("eve", weekdays_at(19, 20)),
        *logins("eve", [local("2026-04-22 08:10")]),  # one morning visit does not win
        nudge("eve", local("2026-05-05 09:30")),  # a Tuesday morning
    ]
    run = run_one(history)
    decision = scheduled(run, "eve")
    assert decision.deferred_until == local("2026-05-05 19:00").astimezone(UTC)
    assert decision.send_time == "optimised"
    assert decision.detail == "optimised: Tue 19:00 local"
    (sent,) = [d for d in run.decisions("timed", "eve") if d.outcome == "send"]
    assert sent.at == local("2026-05-05 19:00").astimezone(UTC)
    assert sent.send_time == "optimised"
    assert sent.message is not None
    assert sent.message.send_time == "optimised"
    assert sent.to_record()["send_time"] == "optimised"
    assert scheduled(run, "eve").to_record()["deferred_until"] == "2026-05-05T17:00:00+00:00"


def test_the_hour_of_the_week_beats_the_hour_of_the_day() -> None:
    # Weekday evenings at 19, but Saturday mornings at 09: on a Saturday, 09 wins.
    saturdays = [local("2026-04-18 09:15"), local("2026-04-25 09:40"), local("2026-05-02 09:05")]
    history = [
        signup("sat", local("2026-04-01 12:00")),
        *logins("sat", weekdays_at(19, 20)),
        *logins("sat", saturdays),
        nudge("sat", local("2026-05-08 22:30")),  # Friday night
    ]
    decision = scheduled(run_one(history), "sat")
    assert decision.deferred_until == local("2026-05-09 09:00").astimezone(UTC)


def test_orders_and_clicks_count_as_activity() -> None:
    history = [
        signup("buyer", local("2026-04-01 12:00")),
        *[event("order.placed", "buyer", at) for at in weekdays_at(12, 30, weeks=1)],
        *[event("email.clicked", "buyer", at, campaign="x") for at in weekdays_at(12, 5, weeks=1)],
        nudge("buyer", local("2026-05-05 08:30")),
    ]
    decision = scheduled(run_one(history), "buyer")
    assert decision.deferred_until == local("2026-05-05 12:00").astimezone(UTC)
    assert decision.send_time == "optimised"


def test_the_window_bounds_the_choice() -> None:
    history = [
        signup("eve", local("2026-04-01 12:00")),
        *logins("eve", weekdays_at(19, 20)),
        *logins("eve", weekdays_at(11, 0, weeks=1)),  # a weaker late-morning habit
        nudge("eve", local("2026-05-05 09:30")),
    ]
    # Within 3 hours 19:00 is out of reach; the best hour inside is 11:00.
    decision = scheduled(run_one(history, within="3h"), "eve")
    assert decision.deferred_until == local("2026-05-05 11:00").astimezone(UTC)


def test_quiet_hours_are_never_chosen() -> None:
    # Active late at night (22:00-23:00, inside the default quiet hours 21-08) and, less,
    # at 20:00: 20:00 is chosen, not the stronger night hour.
    history = [
        signup("owl", local("2026-04-01 12:00")),
        *logins("owl", weekdays_at(22, 30)),
        *logins("owl", weekdays_at(20, 10, weeks=1)),
        nudge("owl", local("2026-05-05 09:30")),
    ]
    decision = scheduled(run_one(history), "owl")
    assert decision.deferred_until == local("2026-05-05 20:00").astimezone(UTC)


def test_activity_only_in_quiet_hours_falls_back() -> None:
    history = [
        signup("night", local("2026-04-01 12:00")),
        *logins("night", weekdays_at(2, 0)),
        nudge("night", local("2026-05-05 11:30")),
    ]
    run = run_one(history)
    decision = scheduled(run, "night")
    assert decision.send_time == "fallback"
    assert decision.deferred_until == local("2026-05-06 10:00").astimezone(UTC)
    (sent,) = [d for d in run.decisions("timed", "night") if d.outcome == "send"]
    assert sent.at == local("2026-05-06 10:00").astimezone(UTC)
    assert sent.send_time == "fallback"


def test_too_little_history_falls_back_to_the_configured_hour() -> None:
    history = [
        signup("new", local("2026-05-01 12:00")),
        *logins("new", [local("2026-05-04 19:00")] * 1),
        nudge("new", local("2026-05-05 07:30")),
    ]
    decision = scheduled(run_one(history), "new")
    assert decision.send_time == "fallback"
    assert decision.deferred_until == local("2026-05-05 10:00").astimezone(UTC)
    # The fallback hour outside the window: at once, and quiet hours still hold.
    late = [signup("late", local("2026-05-01 12:00")), nudge("late", local("2026-05-05 22:30"))]
    run = run_one(late, within="2h")
    decision = scheduled(run, "late")
    assert decision.send_time == "fallback"
    assert decision.deferred_until == local("2026-05-05 22:30").astimezone(UTC)
    outcomes = [(d.outcome, d.at) for d in run.decisions("timed", "late")]
    assert ("quiet_hours", local("2026-05-05 22:30").astimezone(UTC)) in outcomes
    assert ("send", local("2026-05-06 08:00").astimezone(UTC)) in outcomes


def test_faded_history_falls_back() -> None:
    # The evening habit was four months ago: under 5 events' worth remains.
    old = [at - timedelta(days=120) for at in weekdays_at(19, 20)]
    history = [signup("gone", local("2025-12-01 12:00")), *logins("gone", old)]
    history.append(nudge("gone", local("2026-05-05 09:30")))
    assert scheduled(run_one(history), "gone").send_time == "fallback"


def test_the_choice_is_the_same_in_every_run() -> None:
    history = [
        signup("eve", local("2026-04-01 12:00")),
        *logins("eve", weekdays_at(19, 20)),
        nudge("eve", local("2026-05-05 09:30")),
    ]
    first = [d.to_record() for d in run_one(history).decisions()]
    again = [d.to_record() for d in run_one(list(reversed(history))).decisions()]
    assert first == again


# -- loading --------------------------------------------------------------------------------


def compiled_step(send: str) -> SendStep:
    source = TIMED.replace("{template: a, at: best_time, within: WITHIN}", send)
    campaigns = compile_campaigns({"timed.yaml": source}, TEMPLATES)
    (step,) = campaigns.campaigns[0].steps
    assert isinstance(step, SendStep)
    return step


def test_the_long_form_compiles() -> None:
    step = compiled_step("{template: a, at: best_time, within: 2d}")
    assert (step.templates, step.at, step.within) == ({"default": "a"}, "best_time", timedelta(2))
    assert compiled_step("{template: a, at: best_time}").within == timedelta(hours=24)
    assert compiled_step("{template: a}").at == "now"


def load_errors(send: str) -> list[str]:
    source = textwrap.dedent(TIMED).replace("{template: a, at: best_time, within: WITHIN}", send)
    with pytest.raises(CampaignErrors) as caught:
        compile_campaigns({"timed.yaml": source}, TEMPLATES)
    return [str(e) for e in caught.value.errors]


@pytest.mark.parametrize(
    ("send", "message"),
    [
        (
            "{template: a, at: best_tme}",
            "timed.yaml:5:29: unknown send time 'best_tme' in send.at;",
        ),
        ("{template: a, at: best_time, within: 10d}", "timed.yaml:5:48: send.within must be"),
        ("{template: a, at: best_time, within: 0h}", "timed.yaml:5:48: send.within must be"),
        ("{template: a, within: 2h}", "timed.yaml:5:33: 'within' is the window of a best-time"),
        ("{at: best_time}", "timed.yaml:5:11: send needs a template"),
        ("{tempalte: a, at: best_time}", "timed.yaml:5:12: unknown key 'tempalte' in send;"),
        ("{template: nope, at: best_time}", "timed.yaml:5:22: unknown template 'nope'"),
    ],
)
def test_bad_options_are_located_errors(send: str, message: str) -> None:
    found = load_errors(send)
    assert any(line.startswith(message) for line in found), found


# -- counters and the report ----------------------------------------------------------------

MEASURED = """\
id: timed
category: marketing
trigger: {event: customer.updated}
conversion: {event: order.placed, within: 7d}
steps:
  - send: {template: a, at: best_time, within: 24h}
"""


def test_the_report_shows_conversion_by_optimised_and_fallback_sends() -> None:
    campaigns = compile_campaigns({"timed.yaml": MEASURED}, TEMPLATES)
    history: list[Any] = []
    for customer, habit, buys in (
        ("eve-1", True, True),
        ("eve-2", True, False),
        ("new-1", False, True),
        ("new-2", False, False),
    ):
        history.append(signup(customer, local("2026-04-01 12:00")))
        if habit:
            history.extend(logins(customer, weekdays_at(19, 20)))
        history.append(nudge(customer, local("2026-05-05 09:30")))
        if buys:
            history.append(event("order.placed", customer, local("2026-05-07 12:00")))
    ctx = RuntimeContext(rules=CampaignRules(shop=ShopInfo(name="Shop")))
    engine = Engine(EngineConfig(), CampaignSet(campaigns.campaigns, campaigns.templates, ctx))
    totals = Totals()
    for outcome, _ in Replay(engine).outcomes(
        sorted_history(history), until=utc("2026-06-01T00:00:00+00:00")
    ):
        totals.add_facts(outcome.state.facts)
    report = build_report(totals.values, [CampaignInfo("timed", "Timed", {"default": 1.0})])
    (result,) = report.campaigns
    assert [(r.send_time, r.sends, r.treated, r.conversions) for r in result.send_times] == [
        ("optimised", 2, 2, 1),
        ("fallback", 2, 2, 1),
    ]
    assert result.send_times[0].conversion_rate == 0.5
    text = render_text(report)
    assert "Best-time sends" in text
    assert any(
        line.split()[:6] == ["timed", "optimised", "2", "2", "1", "50.0%"]
        for line in text.splitlines()
    ), text
    html = render_html(report)
    assert 'data-path="campaigns.0.send_times.1.conversion_rate"' in html
    assert report_data(report)["campaigns"][0]["send_times"][1]["send_time"] == "fallback"


def reference_profile(times: list[datetime], half_life_days: int) -> tuple[dict[int, int], int]:
    """The documented rules, written plainly: halve per period passed, cap at 255."""
    weights: dict[int, int] = {}
    period = 0
    for at in times:
        event_period = at.toordinal() // half_life_days
        if not weights:
            period = event_period
        elif event_period > period:
            shift = event_period - period
            weights = {h: w >> shift for h, w in weights.items() if w >> shift}
            period = event_period
        added = EVENT_WEIGHT >> min(period - event_period, 16) if event_period < period else 16
        if not added:
            continue
        hour = at.weekday() * 24 + at.hour
        if weights.get(hour, 0) + added > 255:
            weights = {h: w >> 1 for h, w in weights.items() if w >> 1}
        weights[hour] = weights.get(hour, 0) + added
    return weights, period


@given(
    st.lists(st.integers(min_value=0, max_value=24 * 120), min_size=1, max_size=80),
    st.sampled_from([1, 7, 28]),
)
def test_the_profile_follows_its_documented_rules(offsets: list[int], half_life: int) -> None:
    start = local("2026-01-05 00:00")
    times = [start + timedelta(hours=h) for h in offsets]  # any order: late events too
    hours, period = (), 0
    for at in times:
        hours, period = record_activity(hours, period, at, half_life_days=half_life)
    weights, expected_period = reference_profile(times, half_life)
    assert profile_weights(hours) == weights
    assert period == expected_period
    assert list(hours) == sorted(hours)
