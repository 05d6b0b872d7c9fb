"""A simulated shop for the demo: a few thousand customers living through ~120 days.

Seeded and deterministic: every customer draws from a generator of their own
(``Random(f"{seed}:{customer_id}")``), so their plan does not depend on how many other
customers there are or in which order anything is asked. The shop opens on day 0.

Behaviours (shares of the customers; see :data:`BEHAVIOURS`):

* ``loyal``: sign up in the first month, order every 10-24 days (each gap 75-125 % of
  their own cadence), visit every 2-5 days; some answer NPS 9-10.
* ``one_time``: one order in the first week after signup, a few visits, then nothing.
* ``declining``: start at a 6-10 day cadence, each gap 25 % longer than the one before,
  visits thinning out alike, and stop after 3-6 orders. One in five comes back by itself
  25-80 days after their last order; the others come back only if an email persuades
  them (:mod:`streams.dev.responses`). These are the win-back campaign's audience.
* ``bad_support``: a regular whose 1-3 support tickets end with CSAT 1-2 or CES 6-7;
  afterwards they order half as often, and half of them stop.
* ``detractor``: two to four orders and an NPS answer of 0-6 with a comment.
* ``new_signup``: sign up at any time during the window; a third order within 20 days.

Everyone has a locale of the shipped set (en, sv, pl, nb, fi) and a time zone (London,
New York, Sydney, Stockholm, Warsaw, Oslo, Helsinki); 88 % give marketing consent at
signup and 2 % withdraw it later. For 4 % the mailbox closes 5-60 days after signup
(:attr:`SimCustomer.mailbox_closes_at`): from then on the demo's mail sink refuses it
with a 550, a hard bounce, and the worker stops sending them marketing mail.

**One event per customer per time slot** (``slot_days`` days). The shop's topics are read
by separate ingest agents, so one customer's events on two topics may reach the engine
in either order (README, "Ordering across topics"). The demo feeds the broker a slot at
a time and waits until the slot is processed, so with at most one event per customer and
slot every customer's events reach the engine in time order, and ``lifecycle replay`` of
the history decides exactly what the worker decided. A second event planned for a busy
slot moves to the customer's next free slot (a login is dropped instead).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

__all__ = ["BEHAVIOURS", "LOCALES", "PlannedEvent", "Shop", "SimCustomer"]

#: Behaviour and its share of the customers.
BEHAVIOURS: tuple[tuple[str, float], ...] = (
    ("loyal", 0.08),
    ("one_time", 0.05),
    # Most: the win-back's audience, so that its 10 % holdout passes the report's minimum
    # of 100 entries per arm at the default 2,000 customers (README, the simulated shop).
    ("declining", 0.70),
    ("bad_support", 0.07),
    ("detractor", 0.04),
    ("new_signup", 0.06),
)
#: (locale, time zone, currency): every shipped locale, several time zones.
LOCALES: tuple[tuple[str, str, str], ...] = (
    ("en-GB", "Europe/London", "GBP"),
    ("en-US", "America/New_York", "USD"),
    ("en-AU", "Australia/Sydney", "AUD"),
    ("sv-SE", "Europe/Stockholm", "SEK"),
    ("pl-PL", "Europe/Warsaw", "PLN"),
    ("nb-NO", "Europe/Oslo", "NOK"),
    ("fi-FI", "Europe/Helsinki", "EUR"),
)
_NAMES = {
    "en": (["Alex", "Sam", "Jo", "Chris", "Robin"], ["Taylor", "Reed", "Moss", "Hale"]),
    "sv": (["Åsa", "Björn", "Märta", "Linnéa"], ["Öberg", "Lindqvist", "Åkesson"]),
    "pl": (["Łukasz", "Zofia", "Kasia", "Paweł"], ["Wiśniewska", "Żak", "Nowak"]),
    "nb": (["Ingrid", "Øystein", "Solveig", "Håkon"], ["Bjørnstad", "Hålien", "Berg"]),
    "fi": (["Aino", "Väinö", "Eevi", "Jyrki"], ["Mäkinen", "Järvinen", "Lähteenmäki"]),
}
_TOPICS = {
    "customer.signed_up": "customers",
    "consent.changed": "customers",
    "order.placed": "orders",
    "customer.logged_in": "logins",
    "support.ticket_opened": "support",
    "support.ticket_resolved": "support",
    "survey.nps": "support",
}


@dataclass(frozen=True)
class PlannedEvent:
    """One shop event: the source topic (short name), the record key, the JSON value."""

    topic: str
    key: str | None
    event: dict[str, Any]


@dataclass
class SimCustomer:
    id: str
    behaviour: str
    locale: str
    timezone: str
    currency: str
    email: str
    signup_at: datetime
    #: The time the customer stopped buying of their own accord (None: never stops).
    stopped_at: datetime | None = None
    #: From this time on mail to the address is refused (None: it never is).
    mailbox_closes_at: datetime | None = None
    orders: int = 0
    responses: int = 0
    events: int = 0
    spend_range: tuple[int, int] = (20, 90)
    busy_slots: set[int] = field(default_factory=set)

    def lapsed(self, at: datetime) -> bool:
        """Has this customer stopped buying by ``at`` (what a win-back could change)?"""
        return self.stopped_at is not None and at >= self.stopped_at

    def has_ordered(self) -> bool:
        return self.orders > 0


class Shop:
    """``Shop(start, customers, days, seed)``; then :meth:`day` for each day in turn."""

    def __init__(
        self, start: datetime, customers: int, days: int, *, seed: int = 7, slot_days: int = 1
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if slot_days < 1:
            raise ValueError("slot_days must be at least 1")
        self.start = start
        self.days = days
        self.seed = seed
        self.slot_days = slot_days
        #: Slots already handed out by :meth:`slot`: nothing may be planned in them any more.
        self.frozen = 0
        self.customers: dict[str, SimCustomer] = {}
        self.by_email: dict[str, SimCustomer] = {}
        self._planned: dict[int, dict[str, PlannedEvent]] = {}
        for n in range(customers):
            self._plan(n)

    # -- the clock -------------------------------------------------------------------

    @property
    def slots(self) -> int:
        return -(-self.days // self.slot_days)

    def day_start(self, day: int) -> datetime:
        return self.start + timedelta(days=day)

    def slot_end(self, slot: int) -> datetime:
        return self.day_start(min((slot + 1) * self.slot_days, self.days))

    def slot_of(self, at: datetime) -> int:
        return (at - self.start) // timedelta(days=self.slot_days)

    def slot(self, slot: int) -> list[PlannedEvent]:
        """The events of time slot ``slot`` (``slot_days`` days), in time order; from now on
        nothing more can be planned in it or before it."""
        self.frozen = max(self.frozen, slot + 1)
        events = sorted(
            self._planned.pop(slot, {}).values(), key=lambda p: str(p.event["occurred_at"])
        )
        for planned in events:
            if planned.event["type"] == "order.placed":
                self.customers[planned.event["customer_id"]].orders += 1
        return events

    def respond_with_order(self, customer: SimCustomer, at: datetime, rng: random.Random) -> bool:
        """Plan an order of ``customer`` at ``at`` or in their next free slot after the slots
        already handed out (False: past the end of the simulation)."""
        customer.responses += 1
        customer.stopped_at = None  # persuaded back; their next absence is a new one
        event = self._order_event(customer, at, rng, f"r{customer.responses}")
        return self._place(customer, at, event, movable=True)

    # -- planning --------------------------------------------------------------------

    def _plan(self, n: int) -> None:
        customer_id = f"c-{n:05d}"
        rng = random.Random(f"{self.seed}:{customer_id}")
        behaviour = _choose(rng, BEHAVIOURS)
        locale, timezone, currency = LOCALES[rng.randrange(len(LOCALES))]
        opening = min(30.0, self.days * 0.25)
        signup_day = (
            rng.uniform(0, self.days * 0.9)
            if behaviour == "new_signup"
            else rng.uniform(0, opening)
        )
        customer = SimCustomer(
            id=customer_id,
            behaviour=behaviour,
            locale=locale,
            timezone=timezone,
            currency=currency,
            email=f"{customer_id}@shop-customers.example",
            signup_at=self._at(signup_day),
        )
        self.customers[customer_id] = customer
        self.by_email[customer.email] = customer
        first, last = _NAMES[locale[:2]]
        self._place(
            customer,
            customer.signup_at,
            self._event(
                customer,
                "customer.signed_up",
                customer.signup_at,
                key=f"signup-form-{n}",
                email=customer.email,
                name=f"{rng.choice(first)} {rng.choice(last)}",
                locale=locale,
                timezone=timezone,
                marketing_consent=rng.random() < 0.88,
            ),
        )
        s = signup_day
        plan = getattr(self, f"_plan_{behaviour}")
        plan(customer, rng, s)
        if rng.random() < 0.02:
            at = self._at(s + rng.uniform(10, 60))
            self._place(
                customer,
                at,
                self._event(
                    customer,
                    "consent.changed",
                    at,
                    marketing_consent=False,
                    source="preference_center",
                ),
            )
        # Drawn last, so the rest of every customer's plan is what it was without it.
        if rng.random() < 0.04:
            customer.mailbox_closes_at = self._at(s + rng.uniform(5, 60))

    def closed_mailboxes(self, by: datetime) -> list[str]:
        """The addresses whose mailbox has closed by ``by``."""
        return [
            c.email
            for c in self.customers.values()
            if c.mailbox_closes_at is not None and c.mailbox_closes_at <= by
        ]

    def _plan_loyal(self, c: SimCustomer, rng: random.Random, s: float) -> None:
        c.spend_range = (30, 120)
        cadence = rng.uniform(10, 24)
        self._orders(c, rng, s + rng.uniform(0.5, 3), lambda _k: cadence * rng.uniform(0.75, 1.25))
        self._logins(c, rng, s + 1, self.days, lambda _k: rng.uniform(2, 5))
        if rng.random() < 0.3:
            self._nps(c, rng, s + rng.uniform(20, 60), rng.randint(9, 10), "Great shop")

    def _plan_one_time(self, c: SimCustomer, rng: random.Random, s: float) -> None:
        self._orders(c, rng, s + rng.uniform(0.3, 8), lambda _k: self.days, limit=1)
        self._logins(c, rng, s + 1, s + 15, lambda _k: rng.uniform(3, 7))

    def _plan_declining(self, c: SimCustomer, rng: random.Random, s: float) -> None:
        c.spend_range = (30, 100)
        cadence = rng.uniform(6, 10)
        count = rng.randint(3, 6)
        last = self._orders(
            c, rng, s + rng.uniform(0.5, 2), lambda k: cadence * 1.25**k, limit=count
        )
        c.stopped_at = self._at(last + cadence * 1.25**count)
        self._logins(c, rng, s + 1, last + rng.uniform(5, 15), lambda k: 1.5 * 1.15**k)
        if rng.random() < 0.2:  # comes back by itself
            self._orders(c, rng, last + rng.uniform(25, 80), lambda _k: self.days, limit=1)

    def _plan_bad_support(self, c: SimCustomer, rng: random.Random, s: float) -> None:
        cadence = rng.uniform(12, 20)
        first_ticket = s + rng.uniform(10, 40)
        self._orders(c, rng, s + rng.uniform(0.5, 3), lambda _k: cadence, until=first_ticket)
        for k in range(rng.randint(1, 3)):
            opened = first_ticket + 9 * k
            ticket = f"t-{c.id}-{k}"
            self._place(
                c,
                self._at(opened),
                self._event(c, "support.ticket_opened", self._at(opened), key=ticket,
                            ticket_id=ticket, topic=rng.choice(["delivery", "refund", "damaged"])),
            )  # fmt: skip
            resolved = self._at(opened + rng.uniform(1, 3))
            bad = {"csat": rng.randint(1, 2)} if rng.random() < 0.7 else {"ces": rng.randint(6, 7)}
            self._place(
                c,
                resolved,
                self._event(c, "support.ticket_resolved", resolved, key=ticket, ticket_id=ticket,
                            **bad),
            )  # fmt: skip
        if rng.random() < 0.5:
            c.stopped_at = self._at(first_ticket + cadence)
        else:
            self._orders(c, rng, first_ticket + cadence * 2, lambda _k: cadence * 2)
        self._logins(c, rng, s + 1, first_ticket + 20, lambda _k: rng.uniform(3, 6))

    def _plan_detractor(self, c: SimCustomer, rng: random.Random, s: float) -> None:
        cadence = rng.uniform(12, 25)
        last = self._orders(
            c, rng, s + rng.uniform(1, 5), lambda _k: cadence, limit=rng.randint(2, 4)
        )
        comment = rng.choice(["Slow delivery", "Wrong size twice", "Support never answered"])
        self._nps(c, rng, last + rng.uniform(2, 10), rng.randint(0, 6), comment)
        self._logins(c, rng, s + 1, last + 20, lambda _k: rng.uniform(4, 8))

    def _plan_new_signup(self, c: SimCustomer, rng: random.Random, s: float) -> None:
        if rng.random() < 0.33:
            self._orders(c, rng, s + rng.uniform(1, 20), lambda _k: self.days, limit=1)
        self._logins(c, rng, s + 1, s + 8, lambda _k: rng.uniform(2, 6))

    # -- building blocks -------------------------------------------------------------

    def _at(self, day: float) -> datetime:
        # Whole seconds: the history file and the broker carry the same timestamps.
        return (self.start + timedelta(days=day)).replace(microsecond=0)

    def _orders(
        self,
        c: SimCustomer,
        rng: random.Random,
        first: float,
        gap: Any,
        *,
        limit: int | None = None,
        until: float | None = None,
    ) -> float:
        """Plan orders from day ``first``, ``gap(k)`` days apart; return the last one's day."""
        at, k, last = first, 0, first
        end = self.days if until is None else min(until, self.days)
        while at < end and (limit is None or k < limit):
            when = self._at(at)
            placed = self._place(c, when, self._order_event(c, when, rng, f"o{k}"), movable=True)
            if placed:
                last = at
            at += gap(k)
            k += 1
        return last

    def _order_event(
        self, c: SimCustomer, at: datetime, rng: random.Random, suffix: str
    ) -> PlannedEvent:
        low, high = c.spend_range
        total = f"{rng.randint(low, high)}.{rng.choice(['00', '50', '90', '95'])}"
        order_id = f"{c.id}-{suffix}"
        return self._event(
            c,
            "order.placed",
            at,
            key=order_id,
            order_id=order_id,
            total=total,
            currency=c.currency,
            items=[{"sku": f"sku-{rng.randint(1, 60)}", "quantity": 1, "price": total}],
        )

    def _logins(
        self, c: SimCustomer, rng: random.Random, first: float, end: float, gap: Any
    ) -> None:
        at, k = first, 0
        while at < min(end, self.days):
            when = self._at(at)
            self._place(
                c,
                when,
                self._event(c, "customer.logged_in", when, channel=rng.choice(["web", "app"])),
                movable=False,
            )
            at += gap(k)
            k += 1

    def _nps(
        self, c: SimCustomer, rng: random.Random, day: float, score: int, comment: str
    ) -> None:
        at = self._at(day)
        self._place(c, at, self._event(c, "survey.nps", at, score=score, comment=comment))

    def _event(
        self, c: SimCustomer, type_: str, at: datetime, /, key: str | None = None, **fields: Any
    ) -> PlannedEvent:
        c.events += 1
        event = {
            "event_id": f"{c.id}-{c.events}",
            "type": type_,
            "customer_id": c.id,
            "occurred_at": at.isoformat(),
            **fields,
        }
        # Shops key their topics by anything: order id, form, or nothing at all.
        return PlannedEvent(_TOPICS[type_], key, event)

    def _place(
        self, c: SimCustomer, at: datetime, planned: PlannedEvent, *, movable: bool = True
    ) -> bool:
        """File ``planned`` in its slot, or (``movable``) the customer's next free slot."""
        slot = self.slot_of(at)
        while slot in c.busy_slots or slot < self.slot_of(c.signup_at) or slot < self.frozen:
            if not movable:
                return False
            slot += 1
            at += timedelta(days=self.slot_days)
        if at >= self.day_start(self.days):
            return False
        if at != self._at_text(planned):
            planned = PlannedEvent(
                planned.topic, planned.key, {**planned.event, "occurred_at": at.isoformat()}
            )
        c.busy_slots.add(slot)
        self._planned.setdefault(slot, {})[c.id] = planned
        return True

    @staticmethod
    def _at_text(planned: PlannedEvent) -> datetime:
        return datetime.fromisoformat(str(planned.event["occurred_at"]))

    def __iter__(self) -> Iterator[SimCustomer]:
        return iter(self.customers.values())


def _choose(rng: random.Random, shares: tuple[tuple[str, float], ...]) -> str:
    point, total = rng.random(), 0.0
    for name, share in shares:
        total += share
        if point < total:
            return name
    return shares[-1][0]
