"""Per-customer state: a value, replaced (never mutated) by the core's pure functions.

Only facts that cannot be derived from other fields are stored; rates, scores and
"days since" figures are computed from the state and a ``now`` in
:mod:`lifecycle.customer.attributes`. The serialized form is compact JSON without defaults,
deflated against a fixed dictionary (:mod:`lifecycle.state_codec`); plain JSON written by
earlier versions still decodes.

Mapping fields default through a factory: pydantic deep-copies a ``{}`` default for each
instance that leaves the field out, which is every decode of most states (the compact
form omits empty fields), and a factory is one call.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal, NamedTuple

from pydantic import Field

from lifecycle.state_codec import stored_form, stored_json
from lifecycle.values import FrozenModel

__all__ = [
    "STAGES",
    "ActivityDay",
    "CustomerState",
    "Fact",
    "JourneyState",
    "OrderStats",
    "Profile",
    "SendRecord",
    "Stage",
    "SupportStats",
    "Tally",
]

Stage = Literal["prospect", "new", "active", "at_risk", "lapsed", "reactivated"]
STAGES: tuple[Stage, ...] = ("prospect", "new", "active", "at_risk", "lapsed", "reactivated")


class Profile(FrozenModel):
    email: str | None = None
    name: str | None = None
    locale: str | None = None
    timezone: str | None = None
    marketing_consent: bool = False
    consent_changed_at: datetime | None = None
    signed_up_at: datetime | None = None
    #: Marketing mail is suppressed after a hard bounce until the address changes.
    suppressed_reason: str | None = None


class OrderStats(FrozenModel):
    count: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    last_order_id: str | None = None
    last_total: Decimal | None = None
    currency: str | None = None
    gross_spend: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)
    #: Distinct local calendar days with an order; BG/NBD's x is this minus one.
    purchase_days: int = 0
    #: Order totals on the first purchase day (None in a state from before it was kept):
    #: ``gross_spend`` minus this is the spend of the repeat purchases, the Gamma-Gamma
    #: spend model's ``x * m_x``.
    first_day_spend: Decimal | None = None
    first_purchase_day: date | None = None
    last_purchase_day: date | None = None
    #: The most recent distinct purchase days (date ordinals, ascending, at most
    #: ``apply.RECENT_PURCHASE_DAYS``), so a late order on a day already counted is not
    #: counted again whatever the arrival order. See
    #: :func:`lifecycle.customer.apply.is_new_purchase_day`.
    recent_purchase_days: tuple[int, ...] = ()
    #: Welford running mean/M2 of the days between purchases on distinct days, in order.
    interval_count: int = 0
    interval_mean_days: float = 0.0
    interval_m2: float = 0.0
    #: Fingerprints of recent order ids (see :mod:`lifecycle.customer.fingerprints`), so a replayed
    #: order under a new event id is not counted twice.
    recent_orders: str = ""

    @property
    def lifetime_value(self) -> Decimal:
        return max(Decimal(0), self.gross_spend - self.refunded)


class ActivityDay(NamedTuple):
    """Activity on one local calendar day (proleptic ordinal, see ``date.toordinal``).

    A tuple, so it serializes as ``[day, logins, orders]``: there can be dozens per customer.
    """

    day: int
    logins: int = 0
    orders: int = 0


class SupportStats(FrozenModel):
    open_tickets: tuple[str, ...] = ()
    #: Local days on which tickets were opened, pruned to the repeated-tickets window.
    ticket_days: tuple[int, ...] = ()
    last_csat: int | None = None
    last_ces: int | None = None
    last_nps: int | None = None
    last_nps_at: datetime | None = None


class JourneyState(FrozenModel):
    """Where one customer is in one campaign (owned by :mod:`lifecycle.campaigns`).

    ``step`` is the index of the next instruction of the campaign's compiled program;
    ``wake_at`` is when it runs (a wait, a quiet-hours or priority deferral). Entry and
    conversion facts stay after the journey ends: re-entry rules and conversion
    windows need them.
    """

    entries: int = 0
    active: bool = False
    variant: str | None = None
    step: int = 0
    entered_at: datetime | None = None
    #: What started this entry (event id or due time); part of every message id in it.
    cause: str | None = None
    wake_at: datetime | None = None
    exited_at: datetime | None = None
    exit_reason: str | None = None
    converted_at: datetime | None = None
    #: End of the conversion window. Set at the entry's first treatment (its first send,
    #: or for the control its first holdout, which passes the same checks at the same
    #: moment), so both arms are measured from the moment the message went or would
    #: have gone; None before that, or without a conversion goal.
    conversion_deadline: datetime | None = None
    #: Order totals placed inside the conversion window: the revenue attributed to
    #: this entry (the report's revenue per entry).
    revenue: Decimal = Decimal(0)
    #: For a best-time send at ``step``: it is scheduled (for ``wake_at``), and whether the
    #: activity profile chose the time (``optimised``) or the fallback did. Cleared once
    #: the step is done.
    send_timing: Literal["optimised", "fallback"] | None = None
    #: The ``send_timing`` of the send that opened the conversion window, so conversions
    #: can be told apart by it (None: not a best-time send).
    treated_send_timing: Literal["optimised", "fallback"] | None = None
    #: The trigger (event type or signal name) and its signal data, for templates.
    trigger: str | None = None
    data: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


class SendRecord(FrozenModel):
    """A message handed to delivery, or a holdout standing in for one; kept only as long
    as a frequency cap can count it."""

    at: datetime
    campaign: str
    category: Literal["marketing", "transactional"]


class Tally(FrozenModel):
    """What the counters need to remember about one customer (see
    :mod:`lifecycle.measurement.tally`); a few integers, omitted while empty."""

    #: Month of signup (or of the first order, without a signup), as ``year * 12 +
    #: month - 1``; fixed once set, so a customer never moves between cohorts.
    cohort: int | None = None
    #: UTC day (``date.toordinal``) of the order before the latest one.
    order_day_before_last: int | None = None
    #: Boundary days (see :func:`lifecycle.measurement.periods.boundary_day`) of the
    #: recent changes of "is a customer", oldest first, kept while a period can hold them.
    status_changes: tuple[int, ...] = ()


#: One counted fact: a short code and its values (see :mod:`lifecycle.measurement.tally`).
Fact = tuple[str | int | None, ...]


class CustomerState(FrozenModel):
    customer_id: str
    #: The latest time this state has been brought up to (event or due time); never goes back.
    clock: datetime | None = None
    first_seen_at: datetime | None = None
    profile: Profile = Profile()
    orders: OrderStats = OrderStats()
    activity: tuple[ActivityDay, ...] = ()
    last_login_at: datetime | None = None
    #: Decayed activity by local hour of the week, packed ``hour << 8 | weight``, and the
    #: decay period it is in (see :mod:`lifecycle.customer.active_hours`).
    active_hours: tuple[int, ...] = ()
    active_hours_period: int = 0
    support: SupportStats = SupportStats()
    stage: Stage = "prospect"
    stage_since: datetime | None = None
    milestones: tuple[str, ...] = ()
    #: ``last_at`` of the order after which a one-shot decline signal already fired.
    overdue_signalled_for: datetime | None = None
    churn_signalled_for: datetime | None = None
    engagement_decline_signalled: bool = False
    anniversaries_signalled: int = 0
    #: Fingerprints of the last ``dedupe_window`` event ids.
    recent_events: str = ""
    journeys: dict[str, JourneyState] = Field(default_factory=dict)
    sends: tuple[SendRecord, ...] = ()
    #: When the engine next has to look at this customer without an event (None: never).
    next_due_at: datetime | None = None
    tally: Tally = Tally()
    #: What this write of the state adds to the counters (set by the engine on every
    #: write, empty when nothing counts): the state's changelog record is the journal
    #: the counters are recovered from (:mod:`streams.counters`).
    facts: tuple[Fact, ...] = ()

    @classmethod
    def new(cls, customer_id: str) -> CustomerState:
        return cls(customer_id=customer_id)

    def to_bytes(self) -> bytes:
        return stored_form(self.model_dump_json(exclude_defaults=True).encode())

    @classmethod
    def from_bytes(cls, raw: bytes) -> CustomerState:
        return cls.model_validate_json(stored_json(raw))
