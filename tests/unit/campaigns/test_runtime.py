"""Journey rules on small inline campaigns: entries, waits, exits, re-entry, priority,
caps, quiet hours, consent, holdout, conversion, and determinism."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from lifecycle.campaigns.context import CampaignRules, FrequencyCap, RuntimeContext
from lifecycle.campaigns.journeys.assignment import assign_variant
from lifecycle.campaigns.journeys.campaign_set import CampaignSet
from lifecycle.campaigns.loading.compiler import compile_campaigns
from lifecycle.campaigns.model import Split, Variant
from lifecycle.config import EngineConfig
from lifecycle.mail.outbox import derive_message_id
from lifecycle.state import CustomerState, JourneyState, Profile
from tests.factories import event

from .support import Journeys, simple_templates, utc

TEMPLATES = simple_templates("a", "b", "c")


def campaigns(*yaml_texts: str, templates: dict[str, str] | None = None) -> CampaignSet:
    sources = {}
    for text in yaml_texts:
        text = textwrap.dedent(text)
        campaign_id = text.split("id: ", 1)[1].split("\n", 1)[0]
        sources[f"{campaign_id}.yaml"] = text
    return compile_campaigns(sources, templates or TEMPLATES)


def signup(customer: str, at: str, **fields: Any) -> Any:
    profile = {
        "email": f"{customer}@example.com",
        "name": "Anna Berg",
        "timezone": "Europe/Stockholm",
        "marketing_consent": True,
    }
    profile.update(fields)
    return event(
        "customer.signed_up", customer, at, **{k: v for k, v in profile.items() if v is not None}
    )


ONBOARD = """\
    id: onboard
    category: marketing
    trigger: {event: customer.signed_up}
    exit_on: [order.placed]
    steps:
      - send: a
      - wait: 2d
      - send: b
    """


def test_a_journey_sends_its_steps_after_its_waits() -> None:
    history = [signup("c1", "2026-05-04T10:00:00+02:00")]
    run = Journeys(campaigns(ONBOARD)).run(history, until=utc("2026-05-10T00:00:00+00:00"))
    assert run.sends() == [
        ("2026-05-04T08:00:00+00:00", "c1", "onboard", 1, "a"),
        ("2026-05-06T08:00:00+00:00", "c1", "onboard", 3, "b"),
    ]
    assert run.actions() == [
        ("2026-05-04T08:00:00+00:00", "onboard", "default", "entered", None),
        ("2026-05-06T08:00:00+00:00", "onboard", "default", "completed", None),
    ]
    first = run.message("onboard", 1)
    assert first.message_id == derive_message_id("c1", "onboard", 1, history[0].event_id)
    assert (first.to_address, first.to_name, first.subject) == (
        "c1@example.com",
        "Anna Berg",
        "Hello Anna",
    )
    assert run.states["c1"].journeys["onboard"].active is False
    assert run.campaigns.next_wake(run.states["c1"]) is None


def test_records_have_the_documented_shape() -> None:
    run = Journeys(campaigns(ONBOARD)).run([signup("c1", "2026-05-04T10:00:00+02:00")])
    entered, sent = run.outputs[0].to_record(), run.outputs[1].to_record()
    assert entered == {
        "kind": "journey",
        "at": "2026-05-04T08:00:00+00:00",
        "customer_id": "c1",
        "campaign": "onboard",
        "variant": "default",
        "action": "entered",
        "entry": 1,
        "cause": entered["cause"],
    }
    assert set(sent) == {
        "kind", "at", "customer_id", "campaign", "variant", "step", "outcome", "template",
        "cause", "category", "message_id", "locale",
    }  # fmt: skip
    assert (sent["outcome"], sent["step"], sent["template"]) == ("send", 1, "a")


def test_an_exit_event_ends_the_journey_at_once() -> None:
    history = [
        signup("c1", "2026-05-04T10:00:00+02:00"),
        event("order.placed", "c1", "2026-05-05T12:00:00+02:00"),
    ]
    run = Journeys(campaigns(ONBOARD)).run(history, until=utc("2026-05-10T00:00:00+00:00"))
    assert run.sends() == [("2026-05-04T08:00:00+00:00", "c1", "onboard", 1, "a")]
    assert run.outcomes()[-1] == ("2026-05-05T10:00:00+00:00", "onboard", 3, "exited")
    assert run.actions()[-1] == (
        "2026-05-05T10:00:00+00:00",
        "onboard",
        "default",
        "exited",
        "exit_on:order.placed",
    )
    assert run.campaigns.next_wake(run.states["c1"]) is None


def test_reentry_after_a_period_up_to_a_maximum() -> None:
    texts = """\
        id: visit
        category: marketing
        trigger: customer.logged_in
        reentry: {after: 7d, max_entries: 2}
        steps:
          - send: a
        """
    days = ["2026-05-01", "2026-05-04", "2026-05-09", "2026-05-30"]
    history = [signup("c1", "2026-04-01T12:00:00+02:00")] + [
        event("customer.logged_in", "c1", f"{day}T12:00:00+02:00") for day in days
    ]
    run = Journeys(campaigns(texts)).run(history)
    assert run.sends() == [
        ("2026-05-01T10:00:00+00:00", "c1", "visit", 1, "a"),
        ("2026-05-09T10:00:00+00:00", "c1", "visit", 1, "a"),
    ]
    assert run.states["c1"].journeys["visit"].entries == 2


def test_without_reentry_a_customer_enters_once() -> None:
    texts = """\
        id: visit
        category: marketing
        trigger: customer.logged_in
        steps:
          - send: a
        """
    history = [signup("c1", "2026-04-01T12:00:00+02:00")] + [
        event("customer.logged_in", "c1", f"2026-05-0{d}T12:00:00+02:00") for d in (1, 5)
    ]
    assert len(Journeys(campaigns(texts)).run(history).sends()) == 1


def test_a_new_entry_that_loses_on_priority_is_dropped() -> None:
    high = """\
        id: high
        category: marketing
        priority: 80
        trigger: customer.logged_in
        steps:
          - send: a
        """
    low = high.replace("id: high", "id: low").replace("priority: 80", "priority: 10")
    low = low.replace("send: a", "send: b").replace(
        "steps:", "reentry: {after: 1d}\n        steps:"
    )
    history = [
        signup("c1", "2026-04-01T12:00:00+02:00"),
        event("customer.logged_in", "c1", "2026-05-01T12:00:00+02:00"),
        event("customer.logged_in", "c1", "2026-05-03T12:00:00+02:00"),
    ]
    run = Journeys(campaigns(high, low)).run(history)
    assert run.outcomes() == [
        ("2026-05-01T10:00:00+00:00", "high", 1, "send"),
        ("2026-05-01T10:00:00+00:00", "low", 1, "lower_priority"),
        ("2026-05-03T10:00:00+00:00", "low", 1, "send"),
    ]
    dropped = run.decisions("low")[0]
    assert dropped.detail == "entry dropped for high (priority 80)"
    assert dropped.deferred_until is None
    # the dropped entry left no trace: no journey record, and the later entry is the first
    assert [a[3] for a in run.actions("low")] == ["entered", "completed"]
    assert run.states["c1"].journeys["low"].entries == 1


def test_a_journey_step_that_loses_on_priority_is_deferred() -> None:
    steady = """\
        id: steady
        category: marketing
        priority: 10
        trigger: {event: customer.signed_up}
        steps:
          - wait: 1d
          - send: a
        """
    urgent = (
        steady.replace("id: steady", "id: urgent")
        .replace("priority: 10", "priority: 90")
        .replace("send: a", "send: b")
    )
    run = Journeys(campaigns(steady, urgent)).run(
        [signup("c1", "2026-05-04T10:00:00+02:00")], until=utc("2026-05-10T00:00:00+00:00")
    )
    assert run.outcomes() == [
        ("2026-05-05T08:00:00+00:00", "urgent", 2, "send"),
        ("2026-05-05T08:00:00+00:00", "steady", 2, "lower_priority"),
        ("2026-05-06T08:00:00+00:00", "steady", 2, "send"),
    ]
    deferred = run.decisions("steady")[0]
    assert deferred.deferred_until == utc("2026-05-06T10:00:00+02:00")
    assert deferred.detail == "urgent (priority 90)"


def test_a_holdout_winner_takes_the_moment_like_a_real_send() -> None:
    held = """\
        id: held
        category: marketing
        priority: 80
        trigger: customer.logged_in
        split:
          control: 50%
          variants: {v: 50%}
        steps:
          - send: a
        """
    other = """\
        id: other
        category: marketing
        priority: 10
        trigger: customer.logged_in
        steps:
          - send: b
        """
    split = Split(variants=(Variant(name="v", weight=5000),), control=5000, salt="held")
    customer = next(
        c for c in (f"c{n}" for n in range(100)) if assign_variant(split, c) == "control"
    )
    history = [
        signup(customer, "2026-04-01T12:00:00+02:00"),
        event("customer.logged_in", customer, "2026-05-01T12:00:00+02:00"),
    ]
    run = Journeys(campaigns(held, other)).run(history)
    assert run.outcomes() == [
        ("2026-05-01T10:00:00+00:00", "held", 1, "holdout"),
        ("2026-05-01T10:00:00+00:00", "other", 1, "lower_priority"),
    ]
    # The holdout counts toward caps like the send it stands in for.
    [held_back] = run.states[customer].sends
    assert (held_back.campaign, held_back.category) == ("held", "marketing")


def test_transactional_mail_ignores_marketing_conflicts_consent_and_quiet_hours() -> None:
    receipt = """\
        id: receipt
        category: transactional
        priority: 10
        trigger: first_order
        steps:
          - send: a
        """
    promo = receipt.replace("id: receipt", "id: promo").replace(
        "category: transactional\n        priority: 10", "category: marketing\n        priority: 90"
    )
    history = [
        signup("c1", "2026-04-01T12:00:00+02:00", marketing_consent=False),
        event("order.placed", "c1", "2026-05-01T23:30:00+02:00"),
    ]
    run = Journeys(campaigns(receipt, promo)).run(history)
    assert run.outcomes() == [
        ("2026-05-01T21:30:00+00:00", "promo", 0, "no_consent"),
        ("2026-05-01T21:30:00+00:00", "receipt", 1, "send"),
    ]


def test_the_global_cap_counts_every_campaign_of_the_category() -> None:
    first = """\
        id: first
        category: marketing
        trigger: {event: customer.signed_up}
        steps:
          - send: a
        """
    second = """\
        id: second
        category: marketing
        trigger: first_order
        steps:
          - send: b
          - wait: 2d
          - send: c
        """
    history = [
        signup("c1", "2026-05-04T09:00:00+02:00"),
        event("order.placed", "c1", "2026-05-04T15:00:00+02:00"),
    ]
    run = Journeys(campaigns(first, second)).run(history, until=utc("2026-05-10T00:00:00Z"))
    assert run.outcomes() == [
        ("2026-05-04T07:00:00+00:00", "first", 1, "send"),
        ("2026-05-04T13:00:00+00:00", "second", 1, "capped"),
        ("2026-05-06T13:00:00+00:00", "second", 3, "send"),
    ]
    assert run.decisions("second")[0].detail == "marketing: 1 per 1 day"


def test_a_campaign_cap_limits_that_campaign_only() -> None:
    visit = """\
        id: visit
        category: marketing
        trigger: customer.logged_in
        reentry: {after: 1h}
        cap: {messages: 2, per: 30d}
        steps:
          - send: a
        """
    ctx = RuntimeContext(rules=CampaignRules(caps={"marketing": (), "transactional": ()}))
    logins = [
        event("customer.logged_in", "c1", f"2026-05-{d:02d}T12:00:00+02:00") for d in (1, 2, 3, 31)
    ]
    run = Journeys(campaigns(visit), ctx=ctx).run(
        [signup("c1", "2026-04-01T12:00:00+02:00"), *logins]
    )
    assert [o[3] for o in run.outcomes()] == ["send", "send", "capped", "send"]
    assert run.decisions()[2].detail == "campaign: 2 per 30 days"


def test_quiet_hours_defer_to_the_local_morning_across_the_dst_change() -> None:
    texts = """\
        id: nudge
        category: marketing
        trigger: customer.logged_in
        steps:
          - send: a
        """
    history = [
        signup("c1", "2026-03-01T12:00:00+01:00"),
        event("customer.logged_in", "c1", "2026-03-28T22:30:00+01:00"),
    ]
    run = Journeys(campaigns(texts)).run(history, until=utc("2026-03-30T00:00:00Z"))
    assert run.outcomes() == [
        ("2026-03-28T21:30:00+00:00", "nudge", 1, "quiet_hours"),
        ("2026-03-29T06:00:00+00:00", "nudge", 1, "send"),  # 08:00 CEST, the new offset
    ]
    assert run.decisions()[0].deferred_until == utc("2026-03-29T08:00:00+02:00")
    # deferred and then sent: one message, one id
    assert run.message("nudge", 1).message_id == derive_message_id(
        "c1", "nudge", 1, history[1].event_id
    )


@pytest.mark.parametrize(
    ("fallback", "expected"),
    [("Europe/Stockholm", "2026-03-29T06:00:00+00:00"), ("UTC", "2026-03-29T08:00:00+00:00")],
)
def test_quiet_hours_use_the_fallback_zone_for_customers_without_one(
    fallback: str, expected: str
) -> None:
    texts = "id: nudge\ncategory: marketing\ntrigger: customer.logged_in\nsteps:\n  - send: a\n"
    ctx = RuntimeContext(engine=EngineConfig(fallback_timezone=fallback))
    history = [
        signup("c1", "2026-03-01T12:00:00+01:00", timezone=None),
        event("customer.logged_in", "c1", "2026-03-28T23:30:00+00:00"),
    ]
    run = Journeys(campaigns(texts), ctx=ctx).run(history, until=utc("2026-03-30T00:00:00Z"))
    assert run.sends()[0][0] == expected


def test_consent_withdrawn_mid_journey_ends_it() -> None:
    history = [
        signup("c1", "2026-05-04T10:00:00+02:00"),
        event("consent.changed", "c1", "2026-05-05T09:00:00+02:00", marketing_consent=False),
    ]
    run = Journeys(campaigns(ONBOARD)).run(history, until=utc("2026-05-10T00:00:00Z"))
    assert run.outcomes() == [
        ("2026-05-04T08:00:00+00:00", "onboard", 1, "send"),
        ("2026-05-05T07:00:00+00:00", "onboard", 3, "no_consent"),
    ]
    assert run.actions()[-1][3:] == ("exited", "no_consent")


def test_without_consent_a_marketing_journey_never_starts() -> None:
    run = Journeys(campaigns(ONBOARD)).run(
        [signup("c1", "2026-05-04T10:00:00+02:00", marketing_consent=False)]
    )
    assert run.outcomes() == [("2026-05-04T08:00:00+00:00", "onboard", 0, "no_consent")]
    assert run.actions() == []
    assert run.states["c1"].journeys == {}


def test_no_address_and_suppressed_skip_the_send_but_not_the_journey() -> None:
    history = [
        signup("c1", "2026-05-04T10:00:00+02:00", email=None),
        signup("c2", "2026-05-04T10:00:00+02:00"),
        event(
            "email.bounced", "c2", "2026-05-05T10:00:00+02:00",
            email="c2@example.com", reason="550 no such user",
        ),
    ]  # fmt: skip
    run = Journeys(campaigns(ONBOARD)).run(history, until=utc("2026-05-10T00:00:00Z"))
    assert run.outcomes(customer="c1") == [
        ("2026-05-04T08:00:00+00:00", "onboard", 1, "no_address"),
        ("2026-05-06T08:00:00+00:00", "onboard", 3, "no_address"),
    ]
    assert run.outcomes(customer="c2") == [
        ("2026-05-04T08:00:00+00:00", "onboard", 1, "send"),
        ("2026-05-06T08:00:00+00:00", "onboard", 3, "suppressed"),
    ]
    assert run.decisions(customer="c2")[1].detail == "550 no such user"


def test_a_template_that_fails_for_one_customer_is_recorded_and_the_journey_goes_on() -> None:
    templates = {
        **TEMPLATES,
        "templates/a/en.yaml": "subject: s\ntext: 'Per order: {{ 100 / orders_count }}'\n",
    }
    run = Journeys(campaigns(ONBOARD, templates=templates)).run(
        [signup("c1", "2026-05-04T10:00:00+02:00")], until=utc("2026-05-10T00:00:00Z")
    )
    assert [o[3] for o in run.outcomes()] == ["render_error", "send"]
    failed = run.decisions()[0]
    assert failed.detail == "templates/a/en.yaml:2: text: division by zero"
    assert failed.message is None


def test_exit_when_is_checked_each_time_the_journey_runs() -> None:
    texts = """\
        id: onboard
        category: marketing
        trigger: {event: customer.signed_up}
        exit_when: orders_count >= 1
        steps:
          - send: a
          - wait: 2d
          - send: b
        """
    # an order event with no exit_on: the condition ends the journey at its next step
    history = [
        signup("c1", "2026-05-04T10:00:00+02:00"),
        event("order.placed", "c1", "2026-05-05T12:00:00+02:00"),
    ]
    run = Journeys(campaigns(texts)).run(history, until=utc("2026-05-10T00:00:00Z"))
    assert run.outcomes() == [
        ("2026-05-04T08:00:00+00:00", "onboard", 1, "send"),
        ("2026-05-06T08:00:00+00:00", "onboard", 3, "exited"),
    ]
    assert run.actions()[-1][4] == "exit_when:orders_count >= 1"


def test_a_removed_or_disabled_campaign_ends_running_journeys() -> None:
    state = (
        Journeys(campaigns(ONBOARD)).run([signup("c1", "2026-05-04T10:00:00+02:00")]).states["c1"]
    )
    wake = utc("2026-05-06T08:00:00Z")
    assert state.journeys["onboard"].wake_at == wake
    other = campaigns(ONBOARD.replace("id: onboard", "id: other"))
    _, removed = other.wake(state, wake)
    assert [r.to_record()["reason"] for r in removed] == ["campaign_removed"]
    disabled = campaigns(ONBOARD.replace("exit_on:", "enabled: false\n    exit_on:"))
    after, outputs = disabled.wake(state, wake)
    assert [o.to_record().get("outcome", o.to_record().get("action")) for o in outputs] == [
        "exited",
        "exited",
    ]
    assert after.journeys["onboard"].exit_reason == "campaign_disabled"


#: Campaign ``test``: half held out, conversion an order within 7 days; steps follow.
HALF_HELD_OUT = """\
    id: test
    category: marketing
    trigger: customer.logged_in
    conversion: {event: order.placed, within: 7d}
    split:
      control: 50%
      variants: {v: 50%}
    steps:
"""


def test_holdout_customers_are_measured_but_never_messaged() -> None:
    texts = (
        HALF_HELD_OUT
        + """\
          - send: a
          - wait: 1d
          - send: b
        """
    )
    control, treated = one_of_each_arm()
    history = []
    for customer in (control, treated):
        history += [
            *signed_up_and_logged_in(customer),
            event("order.placed", customer, "2026-05-05T12:00:00+02:00"),
            event("order.placed", customer, "2026-05-20T12:00:00+02:00"),  # after the window
        ]
    run = Journeys(campaigns(texts)).run(history)
    assert run.outcomes(customer=control) == [
        ("2026-05-01T10:00:00+00:00", "test", 1, "holdout"),
        ("2026-05-02T10:00:00+00:00", "test", 3, "holdout"),
    ]
    assert all(d.message is None for d in run.decisions(customer=control))
    for customer, variant in ((control, "control"), (treated, "v")):
        assert run.actions(customer=customer) == [
            ("2026-05-01T10:00:00+00:00", "test", variant, "entered", None),
            ("2026-05-02T10:00:00+00:00", "test", variant, "completed", None),
            ("2026-05-05T10:00:00+00:00", "test", variant, "converted", "order.placed"),
        ]
    assert [s[3] for s in run.sends(customer=treated)] == [1, 3]


def test_triggers_match_signal_data() -> None:
    texts = """\
        id: sorry
        category: transactional
        trigger: {signal: support_unhappy, with: {reason: low_csat}}
        reentry: {after: 1h}
        steps:
          - send: a
        """
    history = [
        signup("c1", "2026-04-01T12:00:00+02:00"),
        event("support.ticket_resolved", "c1", "2026-05-01T12:00:00+02:00", csat=5),
        event("support.ticket_resolved", "c1", "2026-05-02T12:00:00+02:00", ces=7),
        event("support.ticket_resolved", "c1", "2026-05-03T12:00:00+02:00", csat=1),
    ]
    run = Journeys(campaigns(texts)).run(history)
    assert run.sends() == [("2026-05-03T10:00:00+00:00", "c1", "sorry", 1, "a")]
    assert run.states["c1"].journeys["sorry"].data == {"reason": "low_csat", "csat": 1}


def test_stage_triggers_match_the_transition() -> None:
    texts = """\
        id: slipping
        category: marketing
        trigger: {stage: at_risk, from: active}
        steps:
          - send: a
        """
    orders = [event("order.placed", "c1", f"2026-01-{d:02d}T12:00:00+01:00") for d in (5, 15)]
    history = [signup("c1", "2026-01-01T12:00:00+01:00"), *orders]
    run = Journeys(campaigns(texts)).run(history, until=utc("2026-04-01T00:00:00Z"))
    # active after the second order; at risk 60 days later, at that order's time of day
    assert run.sends() == [("2026-03-16T11:00:00+00:00", "c1", "slipping", 1, "a")]


def test_the_same_history_always_gives_the_same_records() -> None:
    history = [
        signup("c1", "2026-05-04T22:10:00+02:00"),
        event("customer.logged_in", "c1", "2026-05-05T12:00:00+02:00"),
        signup("c2", "2026-05-04T10:00:00+02:00"),
        event("order.placed", "c2", "2026-05-07T10:00:00+02:00"),
    ]
    one = Journeys(campaigns(ONBOARD)).run(history, until=utc("2026-05-12T00:00:00Z"))
    two = Journeys(campaigns(ONBOARD)).run(history, until=utc("2026-05-12T00:00:00Z"))
    records = [o.to_record() for o in one.outputs]
    assert records == [o.to_record() for o in two.outputs]
    assert len({r["message_id"] for r in records if "message_id" in r}) == len(one.sends())


def test_state_survives_serialization_between_calls() -> None:
    set_ = campaigns(ONBOARD)
    ctx = RuntimeContext()
    run = Journeys(set_, ctx=ctx).run([signup("c1", "2026-05-04T10:00:00+02:00")])
    state = CustomerState.from_bytes(run.states["c1"].to_bytes())
    assert state == run.states["c1"]
    wake = set_.next_wake(state)
    assert wake is not None
    after, outputs = set_.wake(state, wake)
    assert [o.to_record()["outcome"] for o in outputs[:1]] == ["send"]
    assert after.journeys["onboard"].active is False


def test_old_send_records_are_pruned_to_the_longest_cap_window() -> None:
    texts = """\
        id: visit
        category: marketing
        trigger: customer.logged_in
        reentry: {after: 1h}
        steps:
          - send: a
        """
    ctx = RuntimeContext(
        rules=CampaignRules(caps={"marketing": (FrequencyCap(messages=10, per=timedelta(days=7)),)})
    )
    logins = [
        event("customer.logged_in", "c1", f"2026-05-{d:02d}T12:00:00+02:00") for d in range(1, 31)
    ]
    run = Journeys(campaigns(texts), ctx=ctx).run(
        [signup("c1", "2026-04-01T12:00:00+02:00"), *logins]
    )
    assert len(run.sends()) == 30
    kept = run.states["c1"].sends
    assert [s.at for s in kept] == [utc(f"2026-05-{d:02d}T12:00:00+02:00") for d in range(24, 31)]


def test_a_journey_of_a_customer_is_not_disturbed_by_unrelated_state() -> None:
    # A journey state left by an old version of a campaign with fewer steps ends cleanly.
    set_ = campaigns(ONBOARD)
    state = CustomerState.new("c1").model_copy(
        update={
            "profile": Profile(email="c1@example.com", marketing_consent=True),
            "journeys": {
                "onboard": JourneyState(
                    entries=1, active=True, variant="default", step=99,
                    wake_at=utc("2026-05-06T08:00:00Z"), cause="e1",
                )
            }
        }
    )  # fmt: skip
    after, outputs = set_.wake(state, utc("2026-05-06T08:00:00Z"))
    assert [o.to_record()["action"] for o in outputs] == ["completed"]
    assert after.journeys["onboard"].active is False


def test_a_holdout_counts_toward_the_frequency_cap_like_a_send() -> None:
    """Control and treated customers must meet the same later caps, or the comparison
    would credit the campaign with what the control group got from other campaigns."""
    held = """\
        id: held
        category: marketing
        trigger: customer.signed_up
        split:
          control: 50%
          variants: {v: 50%}
        steps:
          - send: a
        """
    later = """\
        id: later
        category: marketing
        trigger: customer.logged_in
        steps:
          - send: b
        """
    split = Split(variants=(Variant(name="v", weight=5000),), control=5000, salt="held")
    by_group: dict[str, str] = {}
    for customer in (f"c{n}" for n in range(100)):
        by_group.setdefault(assign_variant(split, customer), customer)
    ctx = RuntimeContext(
        rules=CampaignRules(
            caps={
                "marketing": (FrequencyCap(messages=1, per=timedelta(days=1)),),
                "transactional": (),
            }
        )
    )
    for group, customer in sorted(by_group.items()):
        history = [
            signup(customer, "2026-05-01T09:00:00+02:00"),
            event("customer.logged_in", customer, "2026-05-01T12:00:00+02:00"),
        ]
        run = Journeys(campaigns(held, later), ctx=ctx).run(history)
        first = "holdout" if group == "control" else "send"
        assert run.outcomes() == [
            ("2026-05-01T07:00:00+00:00", "held", 1, first),
            ("2026-05-01T10:00:00+00:00", "later", 1, "capped"),
        ], group


def one_of_each_arm() -> tuple[str, str]:
    """A customer the 50/50 split of campaign ``test`` holds out, and one it treats."""
    split = Split(variants=(Variant(name="v", weight=5000),), control=5000, salt="test")
    ids = [f"c{n}" for n in range(100)]
    control = next(c for c in ids if assign_variant(split, c) == "control")
    return control, next(c for c in ids if assign_variant(split, c) == "v")


def signed_up_and_logged_in(customer: str) -> list[Any]:
    return [
        signup(customer, "2026-04-01T12:00:00+02:00"),
        event("customer.logged_in", customer, "2026-05-01T12:00:00+02:00"),
    ]


def test_the_conversion_window_opens_at_the_first_send_or_holdout() -> None:
    """Both arms are measured from the moment the message went (or, for the control, would
    have gone): an order before it converts nobody; orders inside it are the entry's revenue."""
    texts = (
        HALF_HELD_OUT
        + """\
          - wait: 1d
          - send: a
        """
    )
    control, treated = one_of_each_arm()
    history = []
    for customer in (control, treated):
        history += [
            *signed_up_and_logged_in(customer),
            # before the send, one day later: neither a conversion nor revenue
            event("order.placed", customer, "2026-05-01T18:00:00+02:00", total="70"),
            event("order.placed", customer, "2026-05-04T12:00:00+02:00", total="30"),
            event("order.placed", customer, "2026-05-06T12:00:00+02:00", total="12.50"),
            event("order.placed", customer, "2026-05-20T12:00:00+02:00", total="99"),  # after it
        ]
    run = Journeys(campaigns(texts)).run(history)
    for customer, variant, first in ((control, "control", "holdout"), (treated, "v", "send")):
        assert run.outcomes(customer=customer) == [("2026-05-02T10:00:00+00:00", "test", 2, first)]
        assert run.actions(customer=customer) == [
            ("2026-05-01T10:00:00+00:00", "test", variant, "entered", None),
            ("2026-05-02T10:00:00+00:00", "test", variant, "completed", None),
            ("2026-05-04T10:00:00+00:00", "test", variant, "converted", "order.placed"),
        ]
        journey = run.states[customer].journeys["test"]
        assert journey.conversion_deadline == utc("2026-05-09T10:00:00Z")
        assert journey.revenue == Decimal("42.50")
