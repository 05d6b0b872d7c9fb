from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from lifecycle.config import EngineConfig
from lifecycle.customer.apply import apply
from lifecycle.state import CustomerState
from tests.factories import event, ts

CFG = EngineConfig()


def run(*events, state=None, cfg=CFG):
    state = state or CustomerState.new(events[0].customer_id)
    signals = []
    for e in events:
        state, fired = apply(state, e, cfg)
        signals.extend(fired)
    return state, signals


def names(signals):
    return [s.name for s in signals]


def test_signup_fills_the_profile_and_consent() -> None:
    state, signals = run(
        event(
            "customer.signed_up",
            "c",
            "2026-01-01T10:00:00+01:00",
            email="ada@example.com",
            name="Ada",
            locale="sv-SE",
            timezone="Europe/Stockholm",
            marketing_consent=True,
        )
    )
    assert state.profile.email == "ada@example.com"
    assert state.profile.marketing_consent is True
    assert state.profile.signed_up_at == ts("2026-01-01T10:00:00+01:00")
    assert state.stage == "prospect"
    assert signals == []


def test_same_event_id_is_applied_once() -> None:
    order = event("order.placed", "c", "2026-01-05T12:00:00Z", total="40")
    once, _ = run(order)
    twice, signals = run(order, state=once)
    assert twice == once
    assert signals == []


def test_same_order_id_under_a_new_event_id_is_counted_once() -> None:
    first = event("order.placed", "c", "2026-01-05T12:00:00Z", order_id="o-1", total="40")
    again = event("order.placed", "c", "2026-01-05T12:00:01Z", order_id="o-1", total="40")
    state, _ = run(first, again)
    assert state.orders.count == 1
    assert state.orders.gross_spend == Decimal(40)


def test_first_and_second_order_milestones_and_stage_moves() -> None:
    state, signals = run(
        event("customer.signed_up", "c", "2026-01-01T10:00:00Z"),
        event("order.placed", "c", "2026-01-05T12:00:00Z", total="40"),
        event("order.placed", "c", "2026-01-20T12:00:00Z", total="40"),
    )
    assert names(signals) == ["first_order", "stage_changed", "second_order", "stage_changed"]
    assert [(s.data["from"], s.data["to"]) for s in signals if s.name == "stage_changed"] == [
        ("prospect", "new"),
        ("new", "active"),
    ]
    assert state.stage == "active"
    assert state.milestones == ("first_order", "second_order")


def test_order_count_and_spend_tier_milestones_fire_once() -> None:
    cfg = EngineConfig.model_validate(
        {"milestones": {"order_counts": [3], "spend_tiers": [["silver", "100"], ["gold", "250"]]}}
    )
    orders = [
        event("order.placed", "c", f"2026-01-{d:02d}T12:00:00Z", total="60")
        for d in (1, 5, 9, 13, 17)
    ]
    state, signals = run(*orders, cfg=cfg)
    reached = [
        (s.name, s.data) for s in signals if s.name in ("order_count_reached", "tier_reached")
    ]
    assert reached == [
        ("tier_reached", {"tier": "silver", "threshold": "100"}),
        ("order_count_reached", {"orders": 3}),
        ("tier_reached", {"tier": "gold", "threshold": "250"}),
    ]
    # A refund takes spend back under a tier; reaching it again is not a new milestone.
    state, signals = run(
        event("order.refunded", "c", "2026-01-18T12:00:00Z", order_id="x", amount="200"),
        event("order.placed", "c", "2026-01-19T12:00:00Z", total="200"),
        state=state,
        cfg=cfg,
    )
    assert "tier_reached" not in names(signals)


def test_refunds_never_take_lifetime_value_below_zero() -> None:
    state, _ = run(
        event("order.placed", "c", "2026-01-05T12:00:00Z", total="40"),
        event("order.refunded", "c", "2026-01-06T12:00:00Z", order_id="o", amount="30"),
        event("order.refunded", "c", "2026-01-07T12:00:00Z", order_id="o", amount="30"),
    )
    assert state.orders.lifetime_value == Decimal(0)
    assert state.orders.refunded == Decimal(40)


def test_interval_statistics_follow_distinct_purchase_days() -> None:
    state, _ = run(
        event("order.placed", "c", "2026-01-01T09:00:00Z"),
        event("order.placed", "c", "2026-01-01T18:00:00Z"),  # same day: one purchase day
        event("order.placed", "c", "2026-01-11T09:00:00Z"),
        event("order.placed", "c", "2026-01-31T09:00:00Z"),
    )
    assert state.orders.count == 4
    assert state.orders.purchase_days == 3
    assert state.orders.interval_count == 2
    assert abs(state.orders.interval_mean_days - (9.625 + 20) / 2) < 1e-9


def test_purchase_days_are_the_customers_local_days() -> None:
    # 23:30 and 00:30 UTC are the same day in New York but two days in UTC.
    signup = event("customer.signed_up", "c", "2026-01-01T00:00:00Z", timezone="America/New_York")
    state, _ = run(
        signup,
        event("order.placed", "c", "2026-01-05T23:30:00Z"),
        event("order.placed", "c", "2026-01-06T00:30:00Z"),
    )
    assert state.orders.purchase_days == 1


def test_consent_is_decided_by_timestamp_not_arrival_order() -> None:
    withdrawn = event("consent.changed", "c", "2026-02-01T10:00:00Z", marketing_consent=False)
    signup = event("customer.signed_up", "c", "2026-01-01T10:00:00Z", marketing_consent=True)
    state, _ = run(withdrawn, signup)  # the older signup arrives last
    assert state.profile.marketing_consent is False
    regranted = event("consent.changed", "c", "2026-03-01T10:00:00Z", marketing_consent=True)
    state, _ = run(regranted, state=state)
    assert state.profile.marketing_consent is True


def _link_click(clicked: str, issued: str):
    return event(
        "consent.changed",
        "c",
        clicked,
        marketing_consent=False,
        source="unsubscribe_link",
        link_issued_at=issued,
    )


def test_an_old_unsubscribe_link_does_not_undo_a_later_resubscribe() -> None:
    signup = event("customer.signed_up", "c", "2026-01-01T10:00:00Z", marketing_consent=True)
    out = event("consent.changed", "c", "2026-02-01T10:00:00Z", marketing_consent=False)
    back_in = event("consent.changed", "c", "2026-03-01T10:00:00Z", marketing_consent=True)
    # A link mailed on 15 January, clicked on 10 March: after the re-subscribe.
    click = _link_click("2026-03-10T10:00:00Z", "2026-01-15T10:00:00Z")
    for order in ((signup, out, back_in, click), (signup, out, click, back_in)):
        state, _ = run(*order)
        assert state.profile.marketing_consent is True, [e.event_id for e in order]


def test_a_link_sent_after_the_latest_opt_in_unsubscribes() -> None:
    signup = event("customer.signed_up", "c", "2026-01-01T10:00:00Z", marketing_consent=True)
    back_in = event("consent.changed", "c", "2026-03-01T10:00:00Z", marketing_consent=True)
    click = _link_click("2026-03-10T10:00:00Z", "2026-03-05T10:00:00Z")
    for order in ((signup, back_in, click), (click, back_in, signup)):
        state, _ = run(*order)
        assert state.profile.marketing_consent is False


def test_a_click_is_never_dated_after_it_happened() -> None:
    click = _link_click("2026-03-10T10:00:00Z", "2026-03-10T09:58:00Z")
    later_opt_in = event("consent.changed", "c", "2026-03-10T10:00:01Z", marketing_consent=True)
    for order in ((click, later_opt_in), (later_opt_in, click)):
        state, _ = run(*order)
        assert state.profile.marketing_consent is True


def test_a_link_sent_within_minutes_of_an_opt_in_still_unsubscribes() -> None:
    # The link's time has whole seconds, and the sending worker's clock may be behind the
    # shop's: a link stamped up to five minutes before an opt-in still counts as after it.
    signup = event("customer.signed_up", "c", "2026-03-10T10:00:00.900Z", marketing_consent=True)
    for issued in ("2026-03-10T10:00:00Z", "2026-03-10T09:55:01Z"):
        click = _link_click("2026-03-11T10:00:00Z", issued)
        for order in ((signup, click), (click, signup)):
            state, _ = run(*order)
            assert state.profile.marketing_consent is False, issued
    click = _link_click("2026-03-11T10:00:00Z", "2026-03-10T09:55:00Z")
    state, _ = run(signup, click)
    assert state.profile.marketing_consent is True


def test_clock_never_goes_back_and_late_facts_still_count() -> None:
    state, _ = run(
        event("order.placed", "c", "2026-03-01T12:00:00Z", total="50"),
        event("order.placed", "c", "2026-01-01T12:00:00Z", total="20"),  # late
    )
    assert state.clock == ts("2026-03-01T12:00:00Z")
    assert state.orders.first_at == ts("2026-01-01T12:00:00Z")
    assert state.orders.last_at == ts("2026-03-01T12:00:00Z")
    assert state.orders.count == 2
    assert state.orders.gross_spend == Decimal(70)


def test_late_signals_carry_the_clock_time() -> None:
    state, _ = run(event("customer.logged_in", "c", "2026-03-01T12:00:00Z"))
    state, signals = run(event("survey.nps", "c", "2026-02-01T12:00:00Z", score=2), state=state)
    assert [s.at for s in signals] == [ts("2026-03-01T12:00:00Z")]


def test_email_change_lifts_a_bounce_suppression() -> None:
    state = CustomerState.new("c").model_copy(
        update={
            "profile": CustomerState.new("c").profile.model_copy(
                update={"email": "old@x.se", "suppressed_reason": "550"}
            )
        }
    )
    state, _ = run(
        event("customer.updated", "c", "2026-01-01T00:00:00Z", email="new@x.se"), state=state
    )
    assert state.profile.email == "new@x.se"
    assert state.profile.suppressed_reason is None


def test_update_with_null_clears_only_named_fields() -> None:
    state, _ = run(
        event("customer.signed_up", "c", "2026-01-01T00:00:00Z", email="a@x.se", name="Ada"),
        event("customer.updated", "c", "2026-01-02T00:00:00Z", name=None),
    )
    assert state.profile.name is None
    assert state.profile.email == "a@x.se"


def test_unhappy_support_outcomes() -> None:
    cfg = CFG
    state, signals = run(
        event("support.ticket_opened", "c", "2026-01-01T10:00:00Z", ticket_id="t1"),
        event(
            "support.ticket_resolved", "c", "2026-01-02T10:00:00Z", ticket_id="t1", csat=2, ces=7
        ),
        event("survey.nps", "c", "2026-01-03T10:00:00Z", score=6),
        event("survey.nps", "c", "2026-01-04T10:00:00Z", score=7),
        event("support.ticket_opened", "c", "2026-01-20T10:00:00Z"),
        event("support.ticket_opened", "c", "2026-02-20T10:00:00Z"),
        event("support.ticket_opened", "c", "2026-02-21T10:00:00Z"),
        cfg=cfg,
    )
    reasons = [s.data["reason"] for s in signals if s.name == "support_unhappy"]
    assert reasons == ["low_csat", "high_effort", "nps_detractor", "repeated_tickets"]
    assert state.support.open_tickets != ()
    assert state.support.last_nps == 7


def test_resolving_an_unknown_ticket_never_goes_negative() -> None:
    state, _ = run(event("support.ticket_resolved", "c", "2026-01-02T10:00:00Z", ticket_id="nope"))
    assert state.support.open_tickets == ()


def test_the_same_open_ticket_announced_again_is_not_a_repeated_contact() -> None:
    again = [
        event("support.ticket_opened", "c", f"2026-01-0{day}T10:00:00Z", ticket_id="t-1")
        for day in (2, 3, 4)
    ]
    state, signals = run(*again)
    assert state.support.open_tickets == ("t-1",)
    assert len(state.support.ticket_days) == 1
    assert "support_unhappy" not in names(signals)
    # Three different tickets on those days are a repeated contact.
    distinct = [
        event("support.ticket_opened", "c", f"2026-01-0{day}T10:00:00Z", ticket_id=f"t-{day}")
        for day in (2, 3, 4)
    ]
    _, signals = run(*distinct)
    assert "support_unhappy" in names(signals)


def test_activity_is_pruned_to_the_windows() -> None:
    cfg = EngineConfig.model_validate(
        {"engagement": {"short_window_days": 7, "long_window_days": 14}}
    )
    start = ts("2026-01-01T12:00:00Z")
    logins = [event("customer.logged_in", "c", start + timedelta(days=d)) for d in range(60)]
    state, _ = run(*logins, cfg=cfg)
    assert len(state.activity) == 21
    assert all(bucket.logins == 1 for bucket in state.activity)


def test_a_hard_bounce_of_the_current_address_suppresses_it() -> None:
    signup = event("customer.signed_up", "c", "2026-01-01T00:00:00Z", email="Ada@x.se")
    stale = event("email.bounced", "c", "2026-01-02T00:00:00Z", email="old@x.se", reason="550")
    soft = event(
        "email.bounced",
        "c",
        "2026-01-02T00:00:00Z",
        email="ada@x.se",
        reason="452",
        permanent=False,
    )
    state, _ = run(signup, stale, soft)
    assert state.profile.suppressed_reason is None
    hard = event(
        "email.bounced", "c", "2026-01-03T00:00:00Z", email="ada@x.se", reason="550 5.1.1 unknown"
    )
    state, _ = run(hard, state=state)
    assert state.profile.suppressed_reason == "550 5.1.1 unknown"
