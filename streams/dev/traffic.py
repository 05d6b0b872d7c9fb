"""Shop traffic for the demo: a few months of a small shop's history, ending now.

Deterministic for a seed. The personas are chosen so every shipped campaign has someone to
talk to: new signups who never buy, first and second orders, loyal regulars who go quiet
(win-back, declining engagement), big spenders (tiers), unhappy support contacts, NPS
detractors, a withdrawn consent and an address that bounces.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

__all__ = ["PERSONAS", "Traffic", "generate"]

PERSONAS = (
    "browser",  # signs up, never buys
    "one_timer",  # buys once
    "regular",  # buys on a cadence, still active
    "lapsing",  # was a regular, stopped buying and visiting
    "big_spender",  # crosses spend tiers
    "unhappy",  # low CSAT after a ticket, repeated tickets
    "detractor",  # answers NPS with a low score
)
#: The seed markets; Norwegian profiles say ``no`` or ``nb-NO``, as shops store either.
_LOCALES = (
    ("en-GB", "Europe/London"),
    ("sv-SE", "Europe/Stockholm"),
    ("pl-PL", "Europe/Warsaw"),
    ("nb-NO", "Europe/Oslo"),
    ("fi-FI", "Europe/Helsinki"),
    ("no", "Europe/Oslo"),
)
_FIRST = {
    "en-GB": ["Alex", "Sam", "Jo"],
    "sv-SE": ["Åsa", "Björn", "Märta"],
    "pl-PL": ["Łukasz", "Zofia", "Kasia"],
    "nb-NO": ["Ingrid", "Håkon", "Sølvi"],
    "fi-FI": ["Aino", "Mikko", "Päivi"],
    "no": ["Kari", "Øyvind"],
}
_LAST = {
    "en-GB": ["Taylor", "Reed"],
    "sv-SE": ["Öberg", "Lindqvist"],
    "pl-PL": ["Wiśniewska", "Żak"],
    "nb-NO": ["Bjørnstad", "Haugen"],
    "fi-FI": ["Mäkinen", "Virtanen"],
    "no": ["Aasen", "Dahl"],
}
_CURRENCIES = {"sv-SE": "SEK", "pl-PL": "PLN", "nb-NO": "NOK", "no": "NOK", "fi-FI": "EUR"}


@dataclass(frozen=True)
class Traffic:
    topic: str  # customers | orders | logins | support
    key: str | None
    event: dict[str, Any]


def generate(now: datetime, customers: int, *, seed: int = 7, days: int = 120) -> list[Traffic]:
    """About ``customers`` customers' events over the ``days`` before ``now``, in time order."""
    rng = random.Random(seed)
    traffic: list[Traffic] = []
    for n in range(customers):
        persona = PERSONAS[n % len(PERSONAS)]
        traffic.extend(_customer(rng, now, days, n, persona))
    traffic.sort(key=lambda t: t.event["occurred_at"])
    return traffic


def _customer(
    rng: random.Random, now: datetime, days: int, n: int, persona: str
) -> Iterator[Traffic]:
    customer_id = f"demo-{n:04d}"
    locale, timezone = _LOCALES[n % len(_LOCALES)]
    counter = iter(range(10_000))

    def emit(
        source: str, type_: str, at: datetime, /, record_key: str | None = None, **fields: Any
    ) -> Traffic:
        event = {
            "event_id": f"{customer_id}-{next(counter)}",
            "type": type_,
            "customer_id": customer_id,
            "occurred_at": at.isoformat(timespec="seconds"),
            **fields,
        }
        # Shops key their topics by anything: order id, session, or nothing at all.
        return Traffic(source, record_key, event)

    signup = now - timedelta(days=rng.uniform(days * 0.5, days), hours=rng.uniform(0, 24))
    if persona == "browser":
        signup = now - timedelta(days=rng.uniform(1, 20))
    name = f"{rng.choice(_FIRST[locale])} {rng.choice(_LAST[locale])}"
    email = f"{customer_id}@example.com" if n % 23 else f"bounce-{customer_id}@example.com"
    yield emit(
        "customers",
        "customer.signed_up",
        signup,
        record_key=f"signup-form-{n}",
        email=email,
        name=name,
        locale=locale,
        timezone=timezone,
        marketing_consent=n % 10 != 3,
    )
    orders: list[datetime] = []
    if persona == "one_timer":
        orders = [signup + timedelta(days=rng.uniform(0.5, 10))]
    elif persona in ("regular", "big_spender"):
        cadence = rng.uniform(9, 16)
        at = signup + timedelta(days=rng.uniform(1, 4))
        while at < now - timedelta(days=1):
            orders.append(at)
            at += timedelta(days=cadence * rng.uniform(0.8, 1.2))
    elif persona == "lapsing":
        cadence = rng.uniform(7, 10)
        at = signup + timedelta(days=1)
        stop = signup + timedelta(days=rng.uniform(35, 45))
        while at < stop:
            orders.append(at)
            at += timedelta(days=cadence)
    elif persona in ("unhappy", "detractor"):
        orders = [
            signup + timedelta(days=rng.uniform(1, 5)),
            signup + timedelta(days=rng.uniform(20, 30)),
        ]
    for index, at in enumerate(orders):
        total = Decimal(rng.randint(19, 90) if persona != "big_spender" else rng.randint(150, 400))
        order_id = f"{customer_id}-o{index}"
        yield emit(
            "orders",
            "order.placed",
            at,
            record_key=order_id,
            order_id=order_id,
            total=f"{total}.00",
            currency=_CURRENCIES.get(locale, "GBP"),
            items=[{"sku": f"sku-{rng.randint(1, 40)}", "quantity": 1, "price": f"{total}.00"}],
        )
    last_visit = (
        now if persona != "lapsing" else (orders[-1] if orders else signup) + timedelta(days=3)
    )
    at = signup + timedelta(hours=2)
    while at < last_visit:
        yield emit(
            "logins", "customer.logged_in", at, record_key=None, channel=rng.choice(["web", "app"])
        )
        at += timedelta(
            days=rng.uniform(1, 4)
            if persona in ("regular", "lapsing", "big_spender")
            else rng.uniform(5, 15)
        )
    if persona == "unhappy":
        for k in range(3):
            opened = signup + timedelta(days=30 + 9 * k)
            yield emit(
                "support",
                "support.ticket_opened",
                opened,
                record_key=f"t-{n}-{k}",
                ticket_id=f"t-{n}-{k}",
                topic="delivery",
            )
            yield emit(
                "support",
                "support.ticket_resolved",
                opened + timedelta(days=1),
                record_key=f"t-{n}-{k}",
                ticket_id=f"t-{n}-{k}",
                csat=1 + k % 2,
                ces=6,
            )
    if persona == "detractor":
        yield emit(
            "support",
            "survey.nps",
            signup + timedelta(days=35),
            score=rng.randint(0, 5),
            comment="Slow delivery",
        )
    if n % 10 == 7:
        yield emit(
            "customers",
            "consent.changed",
            signup + timedelta(days=40),
            marketing_consent=False,
            source="preference_center",
        )
