"""The shipped campaigns (campaigns/*.yaml) on realistic histories: who gets what, when.

Every history runs through the real replay engine (``lifecycle.processing.replay.Replay``, what
``lifecycle replay`` runs), and each test asserts the complete list of messages sent to
anyone in it, from every campaign, worked out from the campaign files by hand (the
comments say how), so a send nobody expected fails the test.

Customers live in Europe/Stockholm (CET, UTC+1; CEST, UTC+2 from 30 March 2025 and
29 March 2026) and the operator settings are the defaults: marketing at most 1 a day and
3 a week, quiet hours 21:00-08:00 for marketing, a lost priority conflict retries a day
later. Facts used throughout: a customer who signs up with consent and no orders gets
welcome-1 at once, welcome-2 a day later at the next 10:00, and welcome-3 two days after
that at 10:00 (help if they never logged in, else picks); a first order gets the
transactional thank-you at once and, unless they order again, the second-order nudge 14
days later on the next weekday 10:00.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lifecycle.campaigns.context import CampaignRules, RuntimeContext, ShopInfo
from lifecycle.campaigns.journeys.assignment import assign_variant
from lifecycle.campaigns.journeys.campaign_set import CampaignSet
from tests.factories import event, ts

from .support import Journeys, shipped_campaigns, utc

STOCKHOLM = ZoneInfo("Europe/Stockholm")


@pytest.fixture(scope="module")
def shipped() -> CampaignSet:
    return shipped_campaigns()


def journeys(shipped: CampaignSet) -> Journeys:
    ctx = RuntimeContext(
        rules=CampaignRules(
            shop=ShopInfo(name="Nordic Socks", url="https://nordicsocks.example"),
        )
    )
    return Journeys(shipped, ctx=ctx)


def signup(customer: str, at: str, **fields: Any) -> Any:
    profile: dict[str, Any] = {
        "email": f"{customer}@example.com",
        "name": "Anna Berg",
        "locale": "en",
        "timezone": "Europe/Stockholm",
        "marketing_consent": True,
    }
    profile.update(fields)
    return event("customer.signed_up", customer, at, **profile)


def order(customer: str, at: str, total: str = "100.00", **fields: Any) -> Any:
    return event("order.placed", customer, at, total=total, currency="SEK", **fields)


def customer_in(shipped: CampaignSet, campaign: str, variant: str) -> str:
    split = shipped.by_id[campaign].split
    return next(
        c for c in (f"cust-{n}" for n in range(1000)) if assign_variant(split, c) == variant
    )


# -- welcome ---------------------------------------------------------------------------


def test_welcome_sends_three_emails_to_a_new_customer(shipped: CampaignSet) -> None:
    run = journeys(shipped).run(
        [signup("c1", "2026-03-02T10:00:00+01:00")], until=utc("2026-03-20T00:00:00Z")
    )
    assert run.all_sends() == [
        ("2026-03-02T09:00:00+00:00", "c1", "welcome", 1, "welcome-1"),
        ("2026-03-03T09:00:00+00:00", "c1", "welcome", 4, "welcome-2"),
        ("2026-03-05T09:00:00+00:00", "c1", "welcome", 8, "welcome-3-help"),
    ]
    assert run.actions("welcome")[-1][3] == "completed"
    first = run.message("welcome", 1)
    assert first.subject == "Welcome to Nordic Socks, Anna!"
    assert "You get this email because you signed up" in first.text


def test_welcome_picks_the_third_email_by_whether_they_came_back(shipped: CampaignSet) -> None:
    history = [
        signup("c1", "2026-03-02T10:00:00+01:00", locale="sv-SE"),
        event("customer.logged_in", "c1", "2026-03-04T19:00:00+01:00"),
    ]
    run = journeys(shipped).run(history, until=utc("2026-03-20T00:00:00Z"))
    assert run.all_sends() == [
        ("2026-03-02T09:00:00+00:00", "c1", "welcome", 1, "welcome-1"),
        ("2026-03-03T09:00:00+00:00", "c1", "welcome", 4, "welcome-2"),
        ("2026-03-05T09:00:00+00:00", "c1", "welcome", 9, "welcome-3-picks"),
    ]
    assert run.message("welcome", 9).subject == "Anna, här är kundernas favoriter"


def test_welcome_stops_at_the_first_order_and_the_thank_you_takes_over(
    shipped: CampaignSet,
) -> None:
    history = [
        signup("c1", "2026-03-02T10:00:00+01:00"),
        order("c1", "2026-03-04T12:00:00+01:00", order_id="o-1"),
    ]
    run = journeys(shipped).run(history, until=utc("2026-03-20T00:00:00Z"))
    assert run.all_sends() == [
        ("2026-03-02T09:00:00+00:00", "c1", "welcome", 1, "welcome-1"),
        ("2026-03-03T09:00:00+00:00", "c1", "welcome", 4, "welcome-2"),
        ("2026-03-04T11:00:00+00:00", "c1", "thank-you-first-order", 1, "thank-you-first-order"),
        # and, from the first order on, the second-order nudge (14 days, a weekday 10:00)
        ("2026-03-19T09:00:00+00:00", "c1", "second-order-nudge", 3, "second-order-nudge"),
    ]
    assert run.outcomes("welcome")[-1] == ("2026-03-04T11:00:00+00:00", "welcome", 7, "exited")
    assert [a[3:] for a in run.actions("welcome")] == [
        ("entered", None),
        ("converted", "first_order"),
        ("exited", "exit_on:order.placed"),
    ]


def test_welcome_waits_for_morning_after_a_late_signup(shipped: CampaignSet) -> None:
    run = journeys(shipped).run(
        [signup("c1", "2026-03-02T22:30:00+01:00")], until=utc("2026-03-10T00:00:00Z")
    )
    # welcome-1 waits for 08:00; the waits then count from when it was sent
    assert run.all_sends() == [
        ("2026-03-03T07:00:00+00:00", "c1", "welcome", 1, "welcome-1"),
        ("2026-03-04T09:00:00+00:00", "c1", "welcome", 4, "welcome-2"),
        ("2026-03-06T09:00:00+00:00", "c1", "welcome", 8, "welcome-3-help"),
    ]
    assert run.outcomes("welcome")[:3] == [
        ("2026-03-02T21:30:00+00:00", "welcome", 1, "quiet_hours"),
        ("2026-03-03T07:00:00+00:00", "welcome", 1, "send"),
        ("2026-03-04T09:00:00+00:00", "welcome", 4, "send"),
    ]


def test_welcome_ends_when_consent_is_withdrawn(shipped: CampaignSet) -> None:
    history = [
        signup("c1", "2026-03-02T10:00:00+01:00"),
        event("consent.changed", "c1", "2026-03-02T18:00:00+01:00", marketing_consent=False),
    ]
    run = journeys(shipped).run(history, until=utc("2026-03-20T00:00:00Z"))
    assert run.outcomes() == [
        ("2026-03-02T09:00:00+00:00", "welcome", 1, "send"),
        ("2026-03-02T17:00:00+00:00", "welcome", 4, "no_consent"),
    ]
    assert run.all_sends() == [("2026-03-02T09:00:00+00:00", "c1", "welcome", 1, "welcome-1")]


def test_no_welcome_without_consent(shipped: CampaignSet) -> None:
    run = journeys(shipped).run(
        [signup("c1", "2026-03-02T10:00:00+01:00", marketing_consent=False)],
        until=utc("2026-03-20T00:00:00Z"),
    )
    assert run.outcomes() == [("2026-03-02T09:00:00+00:00", "welcome", 0, "no_consent")]
    assert run.all_sends() == []


# -- first-order thank-you ------------------------------------------------------------


def test_thank_you_is_transactional_immediate_and_lists_the_order(
    shipped: CampaignSet,
) -> None:
    items = [
        {"sku": "wool-1", "name": "Wool socks <3-pack>", "quantity": 2, "price": "49.50"},
        {"sku": "gift-1", "quantity": 1, "price": "30.00"},
    ]
    history = [
        signup("c1", "2025-12-01T10:00:00+01:00", locale="sv-SE", marketing_consent=False),
        order("c1", "2026-03-04T23:30:00+01:00", total="129.00", order_id="o-77", items=items),
        order("c1", "2026-03-10T12:00:00+01:00"),
    ]
    run = journeys(shipped).run(history, until=utc("2026-03-12T00:00:00Z"))
    # no consent: no welcome, no nudge; 229 kr is below the silver tier (250)
    assert run.all_sends() == [
        ("2026-03-04T22:30:00+00:00", "c1", "thank-you-first-order", 1, "thank-you-first-order")
    ]
    message = run.message("thank-you-first-order", 1)
    assert (message.category, message.locale) == ("transactional", "sv")
    assert message.subject == "Tack för din första beställning (o-77)"
    assert "Order o-77, 4 mars 2026" in message.text
    assert "- 2 st Wool socks <3-pack>, 49,50\xa0kr" in message.text
    assert "Totalt: 129,00\xa0kr" in message.text
    assert "2 st Wool socks &lt;3-pack&gt;" in message.html
    assert "avregistreringslänken" not in message.text  # no marketing footer


# -- second-order nudge --------------------------------------------------------------


def test_second_order_nudge_two_weeks_later_on_a_weekday_morning(shipped: CampaignSet) -> None:
    history = [
        signup("c1", "2025-12-01T10:00:00+01:00"),
        order("c1", "2026-03-06T14:00:00+01:00", order_id="o-1"),  # a Friday
    ]
    run = journeys(shipped).run(history, until=utc("2026-04-01T00:00:00Z"))
    # 14 days later is Friday 20 March 14:00; the next weekday 10:00 is Monday the 23rd
    assert run.all_sends() == [
        ("2025-12-01T09:00:00+00:00", "c1", "welcome", 1, "welcome-1"),
        ("2025-12-02T09:00:00+00:00", "c1", "welcome", 4, "welcome-2"),
        ("2025-12-04T09:00:00+00:00", "c1", "welcome", 8, "welcome-3-help"),
        ("2026-03-06T13:00:00+00:00", "c1", "thank-you-first-order", 1, "thank-you-first-order"),
        ("2026-03-23T09:00:00+00:00", "c1", "second-order-nudge", 3, "second-order-nudge"),
    ]
    assert "(o-1)" in run.message("second-order-nudge", 3).text


def test_second_order_nudge_is_not_sent_when_they_order_again(shipped: CampaignSet) -> None:
    history = [
        signup("c1", "2025-12-01T10:00:00+01:00"),
        order("c1", "2026-03-06T14:00:00+01:00"),
        order("c1", "2026-03-12T09:00:00+01:00"),
    ]
    run = journeys(shipped).run(history, until=utc("2026-04-01T00:00:00Z"))
    assert run.all_sends() == [
        ("2025-12-01T09:00:00+00:00", "c1", "welcome", 1, "welcome-1"),
        ("2025-12-02T09:00:00+00:00", "c1", "welcome", 4, "welcome-2"),
        ("2025-12-04T09:00:00+00:00", "c1", "welcome", 8, "welcome-3-help"),
        ("2026-03-06T13:00:00+00:00", "c1", "thank-you-first-order", 1, "thank-you-first-order"),
    ]
    assert run.outcomes("second-order-nudge") == [
        ("2026-03-12T08:00:00+00:00", "second-order-nudge", 3, "exited")
    ]
    assert run.decisions("second-order-nudge")[0].template == "second-order-nudge"
    # Ordering again before the nudge went out is no conversion of the nudge: the
    # conversion window opens at the first send (or holdout).
    assert [a[3:] for a in run.actions("second-order-nudge")] == [
        ("entered", None),
        ("exited", "exit_on:order.placed"),
    ]


# -- loyalty tier up --------------------------------------------------------------------


def test_tier_up_congratulates_each_tier_once_within_its_cap(shipped: CampaignSet) -> None:
    history = [
        signup("c1", "2025-12-01T10:00:00+01:00", locale="pl-PL"),
        order("c1", "2026-03-10T12:00:00+01:00", total="300.00"),  # silver
        order("c1", "2026-03-20T12:00:00+01:00", total="800.00"),  # gold, 10 days later
        order("c1", "2026-05-04T12:00:00+02:00", total="4000.00"),  # platinum
    ]
    run = journeys(shipped).run(history, until=utc("2026-05-05T00:00:00Z"))
    # the second order (20 March) ends the nudge; two orders are too few for a rhythm
    assert run.all_sends() == [
        ("2025-12-01T09:00:00+00:00", "c1", "welcome", 1, "welcome-1"),
        ("2025-12-02T09:00:00+00:00", "c1", "welcome", 4, "welcome-2"),
        ("2025-12-04T09:00:00+00:00", "c1", "welcome", 8, "welcome-3-help"),
        ("2026-03-10T11:00:00+00:00", "c1", "thank-you-first-order", 1, "thank-you-first-order"),
        ("2026-03-10T11:00:00+00:00", "c1", "tier-up", 1, "tier-up"),
        ("2026-05-04T10:00:00+00:00", "c1", "tier-up", 1, "tier-up"),
    ]
    assert run.outcomes("tier-up") == [
        ("2026-03-10T11:00:00+00:00", "tier-up", 1, "send"),
        ("2026-03-20T11:00:00+00:00", "tier-up", 1, "capped"),
        ("2026-05-04T10:00:00+00:00", "tier-up", 1, "send"),
    ]
    assert run.decisions("tier-up")[1].detail == "campaign: 1 per 30 days"
    subjects = [d.message.subject for d in run.decisions("tier-up") if d.message is not None]
    assert subjects == ["Masz teraz poziom Srebrny, Anna!", "Masz teraz poziom Platynowy, Anna!"]
    assert "przekroczyły 300,00\xa0SEK" in run.decisions("tier-up")[0].message.text
    assert run.states["c1"].journeys["tier-up"].entries == 3


def test_tier_up_late_at_night_waits_for_morning_across_the_dst_change(
    shipped: CampaignSet,
) -> None:
    history = [
        signup("c1", "2025-12-01T10:00:00+01:00"),
        order("c1", "2026-03-28T22:30:00+01:00", total="300.00"),
    ]
    run = journeys(shipped).run(history, until=utc("2026-03-30T00:00:00Z"))
    assert run.all_sends() == [
        ("2025-12-01T09:00:00+00:00", "c1", "welcome", 1, "welcome-1"),
        ("2025-12-02T09:00:00+00:00", "c1", "welcome", 4, "welcome-2"),
        ("2025-12-04T09:00:00+00:00", "c1", "welcome", 8, "welcome-3-help"),
        ("2026-03-28T21:30:00+00:00", "c1", "thank-you-first-order", 1, "thank-you-first-order"),
        ("2026-03-29T06:00:00+00:00", "c1", "tier-up", 1, "tier-up"),
    ]
    assert run.outcomes("tier-up") == [
        ("2026-03-28T21:30:00+00:00", "tier-up", 1, "quiet_hours"),
        ("2026-03-29T06:00:00+00:00", "tier-up", 1, "send"),  # 08:00 CEST
    ]
    # the thank-you is transactional: sent at once, quiet hours or not
    assert run.sends("thank-you-first-order")[0][0] == "2026-03-28T21:30:00+00:00"


def test_tier_up_is_capped_by_the_global_daily_marketing_cap(shipped: CampaignSet) -> None:
    history = [
        signup("c1", "2026-03-02T09:00:00+01:00"),
        order("c1", "2026-03-02T15:00:00+01:00", total="300.00"),
    ]
    run = journeys(shipped).run(history, until=utc("2026-03-03T00:00:00Z"))
    assert run.all_sends() == [
        ("2026-03-02T08:00:00+00:00", "c1", "welcome", 1, "welcome-1"),
        ("2026-03-02T14:00:00+00:00", "c1", "thank-you-first-order", 1, "thank-you-first-order"),
    ]
    assert run.outcomes("tier-up") == [("2026-03-02T14:00:00+00:00", "tier-up", 1, "capped")]
    assert run.decisions("tier-up")[0].detail == "marketing: 1 per 1 day"


# -- win-back (A/B with holdout) ----------------------------------------------------------


def _before_winback(customer: str) -> list[Any]:
    """What a customer with :func:`_winback_history` gets before win-back: the welcome
    series (signup 1 October, 10:00 CEST), the thank-you for the first order, and the
    silver tier-up at the third (300 kr); the second order ends the nudge."""
    return [
        ("2025-10-01T08:00:00+00:00", customer, "welcome", 1, "welcome-1"),
        ("2025-10-02T08:00:00+00:00", customer, "welcome", 4, "welcome-2"),
        ("2025-10-04T08:00:00+00:00", customer, "welcome", 8, "welcome-3-help"),
        (
            "2026-01-05T11:00:00+00:00",
            customer,
            "thank-you-first-order",
            1,
            "thank-you-first-order",
        ),
        ("2026-01-25T11:00:00+00:00", customer, "tier-up", 1, "tier-up"),
    ]


def _winback_history(customer: str) -> list[Any]:
    return [
        signup(customer, "2025-10-01T10:00:00+02:00"),
        order(customer, "2026-01-05T12:00:00+01:00"),
        order(customer, "2026-01-15T12:00:00+01:00"),
        order(customer, "2026-01-25T12:00:00+01:00"),
    ]


def test_winback_variants_and_holdout(shipped: CampaignSet) -> None:
    gentle = customer_in(shipped, "winback", "gentle")
    discount = customer_in(shipped, "winback", "discount")
    control = customer_in(shipped, "winback", "control")
    history = [
        *_winback_history(gentle),
        *_winback_history(discount),
        *_winback_history(control),
        order(control, "2026-02-18T12:00:00+01:00"),  # comes back without a message
    ]
    run = journeys(shipped).run(history, until=utc("2026-03-01T00:00:00Z"))
    # overdue at twice their 10-day rhythm: 14 Feb 12:00; first mail the next 10:00
    expected = [*_before_winback(control)]
    for customer, first in ((gentle, "winback-gentle"), (discount, "winback-discount")):
        expected += [
            *_before_winback(customer),
            ("2026-02-15T09:00:00+00:00", customer, "winback", 2, first),
            ("2026-02-20T09:00:00+00:00", customer, "winback", 4, "winback-reminder"),
        ]
    assert run.all_sends() == sorted(expected)
    assert run.outcomes("winback", control) == [
        ("2026-02-15T09:00:00+00:00", "winback", 2, "holdout"),
        ("2026-02-18T11:00:00+00:00", "winback", 4, "exited"),
    ]
    assert [a[2:] for a in run.actions("winback", control)] == [
        ("control", "entered", None),
        ("control", "converted", "order.placed"),
        ("control", "exited", "exit_on:order.placed"),
    ]
    offer = run.message("winback", 2, discount)
    assert offer.subject == "15% off your next order, Anna"
    assert "COMEBACK15" in offer.text
    assert "COMEBACK15" in offer.html
    assert "COMEBACK15" not in run.message("winback", 2, gentle).text
    assert "COMEBACK15" in run.message("winback", 4, discount).text
    assert "COMEBACK15" not in run.message("winback", 4, gentle).text


def test_winback_does_not_reenter_within_90_days(shipped: CampaignSet) -> None:
    gentle = customer_in(shipped, "winback", "gentle")
    history = [*_winback_history(gentle), order(gentle, "2026-03-01T12:00:00+01:00")]
    run = journeys(shipped).run(history, until=utc("2026-05-01T00:00:00Z"))
    # 1 March is past the 14-day conversion window; the new order makes them overdue
    # again on 7 April, only 52 days after entering, so they do not enter again.
    # Their four orders are activity too: on 15 March the last 14 days hold none against
    # 4 in the 56 days before (a baseline big enough to count), so re-engagement starts:
    # 10:00 that day, then 7 days on (Sunday 22nd) the next Tuesday-Thursday 10:00.
    assert run.all_sends() == [
        *_before_winback(gentle),
        ("2026-02-15T09:00:00+00:00", gentle, "winback", 2, "winback-gentle"),
        ("2026-02-20T09:00:00+00:00", gentle, "winback", 4, "winback-reminder"),
        ("2026-03-15T09:00:00+00:00", gentle, "reengagement", 2, "reengage-1"),
        ("2026-03-24T09:00:00+00:00", gentle, "reengagement", 5, "reengage-2"),
    ]
    assert [a[3] for a in run.actions("winback")] == ["entered", "completed"]
    assert run.states[gentle].journeys["winback"].entries == 1
    assert run.states[gentle].overdue_signalled_for == ts("2026-03-01T12:00:00+01:00")


def test_winback_reenters_after_90_days_at_most_three_times(shipped: CampaignSet) -> None:
    gentle = customer_in(shipped, "winback", "gentle")
    history = [
        signup(gentle, "2025-10-01T10:00:00+02:00"),
        # 30 kr orders: lifetime value reaches 50 at the second, never a spend tier
        *(order(gentle, f"2026-01-{day:02d}T12:00:00+01:00", total="30.00") for day in (5, 15, 25)),
        order(gentle, "2026-04-05T12:00:00+02:00", total="30.00"),
        order(gentle, "2026-06-20T12:00:00+02:00", total="30.00"),
        order(gentle, "2026-10-01T12:00:00+02:00", total="30.00"),
    ]
    run = journeys(shipped).run(history, until=utc("2027-02-01T00:00:00Z"))
    # Overdue at twice the mean gap after the latest order:
    #   3 orders, gaps 10+10, mean 10: 25 Jan + 20 d = 14 Feb 12:00, entry 1
    #   + gap 70 (5 Apr), mean 30: 5 Apr + 60 d = 4 Jun 12:00, 110 days on: entry 2
    #   + gap 76 (20 Jun), mean 41.5: 20 Jun + 83 d = 11 Sep 12:00, 99 days on: entry 3
    #   + gap 103 (1 Oct), mean 53.8: mid January 2027, but max_entries is 3
    # Each entry mails at the next 10:00 and five days later. Three orders in three
    # weeks never make a 56-day baseline of 4 events, so activity never "declines".
    # The first anniversary (1 Oct 10:00) mails at once: they have ordered.
    assert run.all_sends() == [
        ("2025-10-01T08:00:00+00:00", gentle, "welcome", 1, "welcome-1"),
        ("2025-10-02T08:00:00+00:00", gentle, "welcome", 4, "welcome-2"),
        ("2025-10-04T08:00:00+00:00", gentle, "welcome", 8, "welcome-3-help"),
        ("2026-01-05T11:00:00+00:00", gentle, "thank-you-first-order", 1, "thank-you-first-order"),
        ("2026-02-15T09:00:00+00:00", gentle, "winback", 2, "winback-gentle"),
        ("2026-02-20T09:00:00+00:00", gentle, "winback", 4, "winback-reminder"),
        ("2026-06-05T08:00:00+00:00", gentle, "winback", 2, "winback-gentle"),
        ("2026-06-10T08:00:00+00:00", gentle, "winback", 4, "winback-reminder"),
        ("2026-09-12T08:00:00+00:00", gentle, "winback", 2, "winback-gentle"),
        ("2026-09-17T08:00:00+00:00", gentle, "winback", 4, "winback-reminder"),
        ("2026-10-01T08:00:00+00:00", gentle, "signup-anniversary", 2, "anniversary"),
    ]
    assert [a[3] for a in run.actions("winback")] == ["entered", "completed"] * 3
    assert run.states[gentle].journeys["winback"].entries == 3
    # the fourth overdue did fire; the campaign turned it away
    assert run.states[gentle].overdue_signalled_for == ts("2026-10-01T12:00:00+02:00")


# -- re-engagement ---------------------------------------------------------------------


#: What the fading customer gets besides re-engagement (see :func:`_fading_customer`).
FADING = [
    ("2026-01-01T11:00:00+00:00", "c1", "welcome", 1, "welcome-1"),
    ("2026-01-02T11:00:00+00:00", "c1", "thank-you-first-order", 1, "thank-you-first-order"),
    ("2026-01-19T09:00:00+00:00", "c1", "second-order-nudge", 3, "second-order-nudge"),
]


def _fading_customer(customer: str) -> list[Any]:
    """Signs up 1 Jan (welcome-1 at once), orders the next day (welcome ends before
    welcome-2; thank-you at once; nudge 14 days on, Friday 16th, so Monday 19th 10:00),
    then logs in every third day until 27 February."""
    logins = [
        event("customer.logged_in", customer, f"2026-{m:02d}-{d:02d}T19:00:00+01:00")
        for m, days in ((1, range(3, 32, 3)), (2, range(3, 29, 3)))
        for d in days
    ]
    return [
        signup(customer, "2026-01-01T12:00:00+01:00"),
        order(customer, "2026-01-02T12:00:00+01:00"),
        *logins,
    ]


def test_reengagement_when_activity_falls_below_the_customers_own_baseline(
    shipped: CampaignSet,
) -> None:
    run = journeys(shipped).run(_fading_customer("c1"), until=utc("2026-03-25T00:00:00Z"))
    # logins every third day until 27 Feb: on 7 March the last 14 days hold 2 logins
    # against 18 events in the 56 days before (2/14 < 0.5 * 18/56), so it is declining;
    # the second mail waits 7 days (Saturday 14th) and then for a Tuesday-Thursday 10:00
    assert run.all_sends() == [
        ("2026-01-01T11:00:00+00:00", "c1", "welcome", 1, "welcome-1"),
        ("2026-01-02T11:00:00+00:00", "c1", "thank-you-first-order", 1, "thank-you-first-order"),
        ("2026-01-19T09:00:00+00:00", "c1", "second-order-nudge", 3, "second-order-nudge"),
        ("2026-03-07T09:00:00+00:00", "c1", "reengagement", 2, "reengage-1"),
        ("2026-03-17T09:00:00+00:00", "c1", "reengagement", 5, "reengage-2"),
    ]


def test_reengagement_ends_when_they_come_back(shipped: CampaignSet) -> None:
    history = [
        *_fading_customer("c1"),
        event("customer.logged_in", "c1", "2026-03-10T20:00:00+01:00"),
    ]
    run = journeys(shipped).run(history, until=utc("2026-03-25T00:00:00Z"))
    assert run.all_sends() == [
        ("2026-01-01T11:00:00+00:00", "c1", "welcome", 1, "welcome-1"),
        ("2026-01-02T11:00:00+00:00", "c1", "thank-you-first-order", 1, "thank-you-first-order"),
        ("2026-01-19T09:00:00+00:00", "c1", "second-order-nudge", 3, "second-order-nudge"),
        ("2026-03-07T09:00:00+00:00", "c1", "reengagement", 2, "reengage-1"),
    ]
    assert run.outcomes("reengagement") == [
        ("2026-03-07T09:00:00+00:00", "reengagement", 2, "send"),
        ("2026-03-10T19:00:00+00:00", "reengagement", 5, "exited"),
    ]
    assert [a[3:] for a in run.actions("reengagement")][1:] == [
        ("converted", "customer.logged_in"),
        ("exited", "exit_on:customer.logged_in"),
    ]


def _logins(customer: str, first: str, last: str, every_days: int = 3) -> list[Any]:
    """A login at 19:00 local every ``every_days`` days from ``first`` to ``last``."""
    start, end = ts(f"{first}T19:00:00+01:00"), ts(f"{last}T19:00:00+01:00")
    at, found = start, []
    while at <= end:
        # 19:00 wall clock in Stockholm, whichever offset applies that day
        local = at.astimezone(STOCKHOLM).replace(hour=19)
        found.append(event("customer.logged_in", customer, local.isoformat()))
        at += timedelta(days=every_days)
    return found


def test_reengagement_leaves_a_customer_who_lapses_meanwhile_to_winback(
    shipped: CampaignSet,
) -> None:
    history = [
        signup("c1", "2025-09-01T12:00:00+02:00"),
        order("c1", "2025-09-11T12:00:00+02:00"),
        *_logins("c1", "2026-01-03", "2026-01-30"),
        *_logins("c1", "2026-02-03", "2026-02-27"),
    ]
    run = journeys(shipped).run(history, until=utc("2026-03-25T00:00:00Z"))
    # The same logins as the fading customer, without a January order: on 7 March the
    # last 14 days hold 2 logins against 17 in the 56 days before (2 < 17/8), so they
    # enter (at_risk, not yet lapsed) and get reengage-1 at 10:00. 180 days after their
    # only order (10 March 10:00 UTC) they are lapsed. exit_when is checked each time the
    # journey runs a step, so when the 7-day wait ends (14 March 10:00) it ends the
    # journey, before reengage-2. Before that: welcome (signup Monday 1 Sep 12:00 CEST),
    # the thank-you, and the nudge 14 days after the order (Thursday 25th 12:00) on
    # Friday 10:00.
    assert run.all_sends() == [
        ("2025-09-01T10:00:00+00:00", "c1", "welcome", 1, "welcome-1"),
        ("2025-09-03T08:00:00+00:00", "c1", "welcome", 4, "welcome-2"),
        ("2025-09-05T08:00:00+00:00", "c1", "welcome", 8, "welcome-3-help"),
        ("2025-09-11T10:00:00+00:00", "c1", "thank-you-first-order", 1, "thank-you-first-order"),
        ("2025-09-26T08:00:00+00:00", "c1", "second-order-nudge", 3, "second-order-nudge"),
        ("2026-03-07T09:00:00+00:00", "c1", "reengagement", 2, "reengage-1"),
    ]
    assert [a[3:] for a in run.actions("reengagement")] == [
        ("entered", None),
        ("exited", "exit_when:stage == lapsed"),
    ]
    assert run.actions("reengagement")[1][0] == "2026-03-14T09:00:00+00:00"
    assert run.states["c1"].stage == "lapsed"


def test_reengagement_reenters_when_activity_falls_again_after_60_days(
    shipped: CampaignSet,
) -> None:
    history = [
        *_fading_customer("c1"),
        *_logins("c1", "2026-03-20", "2026-05-22"),  # back, then quiet again
    ]
    run = journeys(shipped).run(history, until=utc("2026-06-15T00:00:00Z"))
    # First entry 7 March as above. Logins every third day from 20 March re-arm the
    # detector (short-window rate back over 0.8 of the baseline) and keep it quiet. The
    # last login is 22 May; on 30 May the last 14 days hold 2 (19th, 22nd) against 19
    # in the 56 days before (2 < 19/8); on the 29th they held 3. That is 84 days after
    # the first entry (reentry: after 60d), and still before they lapse (1 July), so
    # reengage-1 goes at 10:00 CEST, and reengage-2 seven days later (Saturday 6 June)
    # on the next Tuesday, 9 June, 10:00.
    assert run.all_sends() == [
        *FADING,
        ("2026-03-07T09:00:00+00:00", "c1", "reengagement", 2, "reengage-1"),
        ("2026-03-17T09:00:00+00:00", "c1", "reengagement", 5, "reengage-2"),
        ("2026-05-30T08:00:00+00:00", "c1", "reengagement", 2, "reengage-1"),
        ("2026-06-09T08:00:00+00:00", "c1", "reengagement", 5, "reengage-2"),
    ]
    assert run.states["c1"].journeys["reengagement"].entries == 2


# -- service recovery and NPS ------------------------------------------------------------


def test_service_recovery_an_hour_after_a_low_csat_even_without_consent(
    shipped: CampaignSet,
) -> None:
    history = [
        signup("c1", "2025-12-01T10:00:00+01:00", marketing_consent=False),
        event("support.ticket_resolved", "c1", "2026-05-01T15:00:00+02:00", csat=1),
        event("support.ticket_resolved", "c1", "2026-05-10T15:00:00+02:00", ces=7),
        event("support.ticket_resolved", "c1", "2026-06-05T15:00:00+02:00", csat=2),
    ]
    run = journeys(shipped).run(history, until=utc("2026-06-06T00:00:00Z"))
    # the second (high effort) case is within 30 days of the first, so no new entry
    assert run.all_sends() == [
        ("2026-05-01T14:00:00+00:00", "c1", "service-recovery", 2, "service-recovery"),
        ("2026-06-05T14:00:00+00:00", "c1", "service-recovery", 2, "service-recovery"),
    ]


def test_an_nps_detractor_answer_replaces_a_pending_service_recovery(
    shipped: CampaignSet,
) -> None:
    history = [
        signup("c1", "2025-12-01T10:00:00+01:00", locale="sv"),
        event("support.ticket_resolved", "c1", "2026-05-01T15:00:00+02:00", csat=1),
        event("survey.nps", "c1", "2026-05-01T15:20:00+02:00", score=3),
    ]
    run = journeys(shipped).run(history, until=utc("2026-05-02T00:00:00Z"))
    assert run.all_sends() == [
        ("2025-12-01T09:00:00+00:00", "c1", "welcome", 1, "welcome-1"),
        ("2025-12-02T09:00:00+00:00", "c1", "welcome", 4, "welcome-2"),
        ("2025-12-04T09:00:00+00:00", "c1", "welcome", 8, "welcome-3-help"),
        ("2026-05-01T13:20:00+00:00", "c1", "nps-detractor", 1, "nps-follow-up"),
    ]
    assert [o for o in run.outcomes() if o[0] >= "2026"] == [
        ("2026-05-01T13:20:00+00:00", "service-recovery", 2, "exited"),
        ("2026-05-01T13:20:00+00:00", "nps-detractor", 1, "send"),
    ]
    assert "Tack för att du gav oss 3 av 10." in run.message("nps-detractor", 1).text


def test_nps_follow_up_only_for_detractors_and_at_once(shipped: CampaignSet) -> None:
    history = [
        signup("c1", "2025-12-01T10:00:00+01:00"),
        signup("c2", "2025-12-01T10:00:00+01:00"),
        event("survey.nps", "c1", "2026-05-01T22:15:00+02:00", score=6),
        event("survey.nps", "c2", "2026-05-01T22:15:00+02:00", score=9),
    ]
    run = journeys(shipped).run(history, until=utc("2026-05-02T00:00:00Z"))
    assert run.all_sends() == [
        ("2025-12-01T09:00:00+00:00", "c1", "welcome", 1, "welcome-1"),
        ("2025-12-01T09:00:00+00:00", "c2", "welcome", 1, "welcome-1"),
        ("2025-12-02T09:00:00+00:00", "c1", "welcome", 4, "welcome-2"),
        ("2025-12-02T09:00:00+00:00", "c2", "welcome", 4, "welcome-2"),
        ("2025-12-04T09:00:00+00:00", "c1", "welcome", 8, "welcome-3-help"),
        ("2025-12-04T09:00:00+00:00", "c2", "welcome", 8, "welcome-3-help"),
        ("2026-05-01T20:15:00+00:00", "c1", "nps-detractor", 1, "nps-follow-up"),
    ]
    assert "Thank you for rating us 6 out of 10." in run.message("nps-detractor", 1).text


# -- signup anniversary -----------------------------------------------------------------


def test_signup_anniversary_every_year_for_customers_who_bought(shipped: CampaignSet) -> None:
    history = [
        signup("c1", "2025-06-15T14:00:00+02:00"),
        order("c1", "2025-07-01T12:00:00+02:00"),
        signup("c2", "2025-06-15T14:00:00+02:00"),  # never bought: not in the audience
    ]
    run = journeys(shipped).run(history, until=utc("2027-06-20T00:00:00Z"))
    # the anniversary is at 14:00; the mail waits for the next 10:00, the day after.
    # Both get the welcome series (signup 15 June 2025 14:00 CEST); c1's first order
    # (Tuesday 1 July) brings the thank-you and the nudge on Wednesday 16 July 10:00.
    assert run.all_sends() == [
        ("2025-06-15T12:00:00+00:00", "c1", "welcome", 1, "welcome-1"),
        ("2025-06-15T12:00:00+00:00", "c2", "welcome", 1, "welcome-1"),
        ("2025-06-17T08:00:00+00:00", "c1", "welcome", 4, "welcome-2"),
        ("2025-06-17T08:00:00+00:00", "c2", "welcome", 4, "welcome-2"),
        ("2025-06-19T08:00:00+00:00", "c1", "welcome", 8, "welcome-3-help"),
        ("2025-06-19T08:00:00+00:00", "c2", "welcome", 8, "welcome-3-help"),
        ("2025-07-01T10:00:00+00:00", "c1", "thank-you-first-order", 1, "thank-you-first-order"),
        ("2025-07-16T08:00:00+00:00", "c1", "second-order-nudge", 3, "second-order-nudge"),
        ("2026-06-16T08:00:00+00:00", "c1", "signup-anniversary", 2, "anniversary"),
        ("2027-06-16T08:00:00+00:00", "c1", "signup-anniversary", 2, "anniversary"),
    ]
    subjects = [
        d.message.subject for d in run.decisions("signup-anniversary") if d.message is not None
    ]
    assert subjects == ["One year together, Anna!", "2 years together, Anna!"]


# -- priority between shipped campaigns -----------------------------------------------------


def test_winback_outranks_the_anniversary_on_the_same_morning(shipped: CampaignSet) -> None:
    customer = customer_in(shipped, "winback", "gentle")
    history = [
        signup(customer, "2025-03-20T06:00:00+01:00"),
        order(customer, "2026-02-08T06:00:00+01:00"),
        order(customer, "2026-02-18T06:00:00+01:00"),
        order(customer, "2026-02-28T06:00:00+01:00"),
    ]
    run = journeys(shipped).run(history, until=utc("2026-03-23T00:00:00Z"))
    # overdue (twice the 10-day rhythm) and the first anniversary: both 20 March 06:00,
    # both wait for 10:00; win-back (priority 40) sends, the anniversary (20) waits a day
    # Before: the welcome series (signup 06:00, so welcome-1 at 08:00), the thank-you
    # (transactional, 06:00 is fine), the nudge ended by the second order, and the
    # silver tier-up at the third order, after the quiet hours end at 08:00.
    assert run.all_sends() == [
        ("2025-03-20T07:00:00+00:00", customer, "welcome", 1, "welcome-1"),
        ("2025-03-21T09:00:00+00:00", customer, "welcome", 4, "welcome-2"),
        ("2025-03-23T09:00:00+00:00", customer, "welcome", 8, "welcome-3-help"),
        (
            "2026-02-08T05:00:00+00:00",
            customer,
            "thank-you-first-order",
            1,
            "thank-you-first-order",
        ),
        ("2026-02-28T07:00:00+00:00", customer, "tier-up", 1, "tier-up"),
        ("2026-03-20T09:00:00+00:00", customer, "winback", 2, "winback-gentle"),
        ("2026-03-21T09:00:00+00:00", customer, "signup-anniversary", 2, "anniversary"),
    ]
    morning = [o for o in run.outcomes() if o[0] >= "2026-03-20"]
    assert morning == [
        ("2026-03-20T09:00:00+00:00", "winback", 2, "send"),
        ("2026-03-20T09:00:00+00:00", "signup-anniversary", 2, "lower_priority"),
        ("2026-03-21T09:00:00+00:00", "signup-anniversary", 2, "send"),
    ]
