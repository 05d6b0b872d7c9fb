"""The pipeline benchmark's event mix: one shop's history, generated deterministically.

``customers`` customers each sign up once (on ``customers``), at a uniform time in the first
half of the ``days`` before ``now``; then ``events`` further events, each for a customer
drawn at random and at a uniform time between that customer's signup and ``now``: about
70% logins, 20% orders and 10% support (ticket opened, ticket resolved with a CSAT, NPS
answer). Records are keyed as a shop keys them: orders by order id, logins by session id,
support with no key, signups by the signup form's id. All in time order.

With ``recent_share``, that share of the customers instead sign up within the last two
hours, in a time zone where it is early afternoon now (:func:`daytime_zone`), so their
welcome email and first-order thank-you are decided recently and outside quiet hours:
sent, not expired, which is what lets a duplicate send show (the scale section).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["MixRecord", "SOURCES", "daytime_zone", "describe", "generate"]

#: The source topic settings the mix writes to (``LIFECYCLE_TOPIC_<NAME>``).
SOURCES = ("customers", "orders", "logins", "support")
_LOCALES = (("en-GB", "Europe/London", "GBP"), ("sv-SE", "Europe/Stockholm", "SEK"))


@dataclass(frozen=True)
class MixRecord:
    source: str
    key: bytes | None
    value: bytes
    type: str


def daytime_zone(now: datetime) -> str:
    """An IANA zone (``Etc/GMT-N`` is UTC+N) where ``now`` is between 13:00 and 14:00.

    Quiet hours (21:00-08:00 by default) are then hours away on the customer's clock, so
    an immediate marketing send goes at once whenever the benchmark runs."""
    offset = (13 - now.astimezone(UTC).hour + 12) % 24 - 12  # -12..11 hours from UTC
    if offset == 0:
        return "Etc/GMT"
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def generate(
    now: datetime,
    customers: int,
    events: int,
    *,
    days: int = 120,
    seed: int = 11,
    recent_share: float = 0.0,
) -> list[MixRecord]:
    rng = random.Random(seed)
    signups: list[datetime] = []
    rows: list[tuple[datetime, MixRecord]] = []
    serial = 0

    def record(source: str, key: str | None, customer: int, at: datetime, **fields: object) -> None:
        nonlocal serial
        serial += 1
        body = {
            "event_id": f"e-{serial}",
            "customer_id": f"c-{customer}",
            "occurred_at": at.isoformat(timespec="seconds"),
            **fields,
        }
        value = json.dumps(body, separators=(",", ":")).encode()
        rows.append(
            (at, MixRecord(source, key.encode() if key else None, value, str(fields["type"])))
        )

    recent = round(customers * recent_share)
    for n in range(customers):
        locale, timezone, _ = _LOCALES[n % len(_LOCALES)]
        if n < recent:
            timezone = daytime_zone(now)
            at = now - timedelta(seconds=rng.uniform(600, 7200))
        else:
            at = now - timedelta(days=days) + timedelta(seconds=rng.uniform(0, days * 86400 / 2))
        signups.append(at)
        record(
            "customers",
            f"signup-form-{rng.randrange(10**9)}",
            n,
            at,
            type="customer.signed_up",
            email=f"c-{n}@example.com",
            name=f"Customer {n}",
            locale=locale,
            timezone=timezone,
            marketing_consent=n % 10 != 3,
        )
    for _ in range(events):
        n = rng.randrange(customers)
        start = signups[n]
        at = start + timedelta(seconds=rng.uniform(60, max(120.0, (now - start).total_seconds())))
        draw = rng.random()
        if draw < 0.70:
            record(
                "logins",
                f"session-{rng.randrange(10**12):x}",
                n,
                at,
                type="customer.logged_in",
                channel=rng.choice(("web", "app")),
            )
        elif draw < 0.90:
            order_id = f"o-{serial}"
            total = rng.randint(19, 400)
            record(
                "orders",
                order_id,
                n,
                at,
                type="order.placed",
                order_id=order_id,
                total=f"{total}.00",
                currency=_LOCALES[n % len(_LOCALES)][2],
                items=[{"sku": f"sku-{rng.randint(1, 60)}", "quantity": 1, "price": f"{total}.00"}],
            )
        elif draw < 0.94:
            record(
                "support",
                None,
                n,
                at,
                type="support.ticket_opened",
                ticket_id=f"t-{n}",
                topic="delivery",
            )
        elif draw < 0.98:
            record(
                "support",
                None,
                n,
                at,
                type="support.ticket_resolved",
                ticket_id=f"t-{n}",
                csat=rng.randint(1, 5),
            )
        else:
            record("support", None, n, at, type="survey.nps", score=rng.randint(0, 10))
    rows.sort(key=lambda row: row[0])
    return [r for _, r in rows]


def describe(mix: list[MixRecord]) -> str:
    by_source = Counter(r.source for r in mix)
    total = len(mix)
    return ", ".join(f"{s} {by_source[s]} ({100 * by_source[s] / total:.0f}%)" for s in SOURCES)
