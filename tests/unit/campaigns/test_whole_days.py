"""``days_since_last_order`` counts whole days, in conditions and in messages."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lifecycle.config import EngineConfig
from lifecycle.customer.apply import apply
from lifecycle.customer.attributes import ATTRIBUTES
from lifecycle.state import CustomerState
from tests.factories import event, ts

from .support import Journeys, shipped_campaigns, utc
from .test_shipped_campaigns import customer_in, order, signup


def _after_one_order(at: str) -> CustomerState:
    cfg = EngineConfig()
    state, _ = apply(CustomerState.new("c1"), event("order.placed", "c1", at), cfg)
    return state


@pytest.mark.parametrize(
    ("elapsed", "days"),
    [
        (timedelta(0), 0),
        (timedelta(hours=23, minutes=59), 0),
        (timedelta(days=1), 1),
        (timedelta(days=20, hours=22), 20),  # the win-back case: not 20.9167, not 21
    ],
)
def test_days_since_last_order_is_whole_days_rounded_down(elapsed: timedelta, days: int) -> None:
    state = _after_one_order("2026-01-25T12:00:00+01:00")
    value = ATTRIBUTES["days_since_last_order"].get(
        state, ts("2026-01-25T12:00:00+01:00") + elapsed, EngineConfig()
    )
    assert value == days
    assert type(value) is int


def test_no_orders_means_no_value() -> None:
    value = ATTRIBUTES["days_since_last_order"].get(
        CustomerState.new("c1"), ts("2026-01-25T12:00:00+01:00"), EngineConfig()
    )
    assert value is None


@pytest.mark.parametrize(
    ("locale", "line"),
    [
        ("en", "20 days ago"),
        ("sv", "för 20 dagar sedan"),
        ("pl", "(20 dni temu)"),
    ],
)
def test_the_winback_mail_says_how_many_whole_days(locale: str, line: str) -> None:
    shipped = shipped_campaigns()
    customer = customer_in(shipped, "winback", "gentle")
    history = [
        signup(customer, "2025-10-01T10:00:00+02:00", locale=locale),
        order(customer, "2026-01-05T12:00:00+01:00"),
        order(customer, "2026-01-15T12:00:00+01:00"),
        order(customer, "2026-01-25T12:00:00+01:00"),
    ]
    run = Journeys(shipped).run(history, until=utc("2026-02-16T00:00:00Z"))
    # overdue 14 Feb 12:00, sent 15 Feb 10:00: 20 days and 22 hours after the last order
    message = run.message("winback", 2, customer)
    assert run.sends("winback")[0][4] == "winback-gentle"
    assert line in message.text
    assert "20." not in message.text


def test_every_days_since_attribute_is_whole_days() -> None:
    cfg = EngineConfig()
    at = "2026-01-25T12:00:00+01:00"
    state, _ = apply(
        CustomerState.new("c1"), event("customer.signed_up", "c1", at, email="a@shop.test"), cfg
    )
    state, _ = apply(state, event("customer.logged_in", "c1", at), cfg)
    state, _ = apply(state, event("order.placed", "c1", at), cfg)
    later = ts(at) + timedelta(days=4, hours=23)
    for name in ("days_in_stage", "days_since_signup", "days_since_last_login"):
        value = ATTRIBUTES[name].get(state, later, cfg)
        assert (value, type(value)) == (4, int), name
