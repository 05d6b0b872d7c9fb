"""What one engine outcome adds to the counters: a few facts, from the state before and after.

The engine calls :func:`tally` for every input that changes a customer (an event or a due
time) and stores the facts in the new state (``CustomerState.facts``) together with the
little the counters must remember (``CustomerState.tally``). A fact is a short list, a
code and values, that :func:`lifecycle.measurement.aggregates.expand` turns into counter
increments; days are ``date.toordinal()`` integers of the UTC day (see
:mod:`~lifecycle.measurement.periods`). The codes:

``["p", day]``
    a new customer record (stage ``prospect``), dated by its boundary day
``["s", day, from, to, new_d, new_w, new_m, first_bits]``
    a stage change at its boundary day. When it changes whether the customer is *a
    customer* (stage new, active or reactivated, the definition of
    :mod:`~lifecycle.measurement.retention`), ``new_*`` is the change (+1, -1 or 0) of
    the customer's count in N of the day, week and month that hold the change, and bit
    0/1/2 of ``first_bits`` says whether that N is "first-time" (first order inside the
    period) or "reactivated" for the day/week/month
``["o", day, amount, buyer_bits, repeat_bits, cohort_month_offset]``
    an order in that day: bit 0/1/2 set when it is the customer's first (buyer) or
    second (repeat buyer) order of the day/week/month; the offset from the cohort month
    when it is the first order of its month (else -1)
``["c", cohort_month]``
    the customer joins the cohort of that month (``year * 12 + month - 1``)
``["n", day, score]``, ``["q", day, csat, ces]``
    an NPS answer; a resolved ticket's CSAT and CES (None when not given)
``["je", day, campaign, variant, entry]``, ``["jd", day, campaign, variant, outcome]``,
``["jt", day, campaign, variant]``, ``["jc", day, campaign, variant]``
    a journey entry, a decision, an entry's first treatment (its conversion window
    opened), a conversion
``["js", day, campaign, variant, send_time]``, ``["jst", ...]``, ``["jsc", ...]``
    for best-time sends (``send_time`` ``optimised`` or ``fallback``): a send, an entry
    whose first treatment was one, and the conversion of such an entry
``["jr", day, campaign, variant, revenue, revenue_squares]``
    revenue attributed to an entry went from ``a`` to ``a + b``: ``b`` and ``(a + b)² - a²``
    (decimal strings), so the sums give revenue per entry and its variance exactly
``["jw", day, campaign, variant, window, share]``, ``["jn", day, campaign, window]``
    an adaptive split fixed its shares for the window starting at ``window`` (ISO time)
    in one partition: a ``jw`` per variant with its share in basis points, one ``jn``
    (the partition counted once), dated by the window's start
``["e", day, campaign, variant, state]``
    an email's final delivery state (``sent``, ``failed``, ``expired``), counted by
    delivery from the ledger (:func:`delivery_fact`), dated by the day it was decided;
    a send decided already past delivery's maximum delay (an unrendered message, see
    :class:`~lifecycle.mail.OutboxMessage`) never reaches the outbox, and its ``expired``
    is counted here, with the decision

N needs "was this person a customer at the start of the period"; a change at ``t`` knows
the status just before ``t``, and the status at the period's start differs from it by the
parity of the changes between (``Tally.status_changes`` keeps their boundary days for as
long as a month can hold them). Buyers and repeat buyers need the days of the last two
orders (``OrderStats.last_at`` and ``Tally.order_day_before_last``). A late order (dated
before the customer's latest) counts as an order and as revenue in its own day, but as a
buyer or repeat buyer of no period: the two latest order days cannot tell.

Pure: the same history gives the same facts in the worker and in ``lifecycle replay``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

from lifecycle.campaigns import AllocationRecord, Decision, JourneyOutput, JourneyRecord
from lifecycle.events import Event, NpsSurveyAnswered, OrderPlaced, SupportTicketResolved
from lifecycle.measurement.periods import (
    GRANULARITIES,
    boundary_day,
    day_of,
    month_index,
    period_label,
)
from lifecycle.signals import Signal
from lifecycle.state import CustomerState, Fact, JourneyState, Tally

__all__ = ["CUSTOMER_STAGES", "delivery_fact", "tally"]

#: The events that count whatever else happens.
_COUNTED_EVENTS = (OrderPlaced, NpsSurveyAnswered, SupportTicketResolved)
#: The decisions that open an entry's conversion window (its first treatment).
_TREATMENTS = frozenset({"send", "holdout", "render_error"})

#: The stages in which someone is "a customer" (see :mod:`~lifecycle.measurement.retention`).
CUSTOMER_STAGES = frozenset({"new", "active", "reactivated"})


def _period_starts(day: int) -> tuple[int, int, int]:
    """First days of the day, ISO week and month that hold ``day``."""
    value = date.fromordinal(day)
    return day, day - value.weekday(), value.replace(day=1).toordinal()


def _stage_facts(signals: Sequence[Signal], after: CustomerState, changes: list[int]) -> list[Fact]:
    facts: list[Fact] = []
    first_order = after.orders.first_at
    first_day = None if first_order is None else boundary_day(first_order)
    for signal in signals:
        if signal.name != "stage_changed":
            continue
        source, target = str(signal.data["from"]), str(signal.data["to"])
        day = boundary_day(signal.at)
        was, now = source in CUSTOMER_STAGES, target in CUSTOMER_STAGES
        new_counts = [0, 0, 0]
        first_bits = 0
        if was != now:
            for index, start in enumerate(_period_starts(day)):
                flips_since_start = sum(1 for d in changes if d >= start)
                at_start = was != (flips_since_start % 2 == 1)
                if not at_start:
                    new_counts[index] = 1 if now else -1
                if first_day is not None and first_day >= start:
                    first_bits |= 1 << index
            changes.append(day)
        facts.append(("s", day, source, target, *new_counts, first_bits))
    return facts


def _order_fact(
    event: OrderPlaced, before: CustomerState | None, cohort: int | None
) -> tuple[Fact, int | None]:
    """The order's fact and the new ``order_day_before_last``."""
    day = day_of(event.occurred_at)
    last_at = None if before is None else before.orders.last_at
    earlier = None if before is None else before.tally.order_day_before_last
    if last_at is not None and event.occurred_at < last_at:
        # A late order: not the latest, so neither of the two latest order days.
        return ("o", day, str(event.total), 0, 0, -1), earlier
    last = None if last_at is None else day_of(last_at)
    buyer = repeat = 0
    for index, granularity in enumerate(GRANULARITIES):
        label = period_label(day, granularity)
        same_as_last = last is not None and period_label(last, granularity) == label
        same_as_earlier = earlier is not None and period_label(earlier, granularity) == label
        if not same_as_last:
            buyer |= 1 << index
        elif not same_as_earlier:
            repeat |= 1 << index
    offset = -1
    if buyer & 4 and cohort is not None and month_index(day) >= cohort:
        offset = month_index(day) - cohort
    return ("o", day, str(event.total), buyer, repeat, offset), last


def _journey_facts(
    outputs: Sequence[JourneyOutput],
    before: CustomerState | None,
    after: CustomerState,
    day: int,
    *,
    order: bool,
) -> list[Fact]:
    """Facts of the journey records and decisions, and of what changed in the journeys
    (an entry's first treatment, its attributed revenue, which only an order at ``day``
    changes)."""
    facts: list[Fact] = []
    treated_on: dict[str, int] = {}
    for output in outputs:
        at = day_of(output.at)
        if isinstance(output, JourneyRecord):
            if output.action == "entered":
                facts.append(("je", at, output.campaign, output.variant, output.entry))
            elif output.action == "converted":
                facts.append(("jc", at, output.campaign, output.variant))
                converted = after.journeys.get(output.campaign)
                if converted is not None and converted.treated_send_timing is not None:
                    timing = converted.treated_send_timing
                    facts.append(("jsc", at, output.campaign, output.variant, timing))
        elif isinstance(output, Decision):
            facts.append(("jd", at, output.campaign, output.variant, output.outcome))
            if output.outcome in _TREATMENTS:
                treated_on.setdefault(output.campaign, at)
            if output.outcome == "send" and output.send_time is not None:
                facts.append(("js", at, output.campaign, output.variant, output.send_time))
        elif isinstance(output, AllocationRecord):
            window, starts = (
                output.window_start.astimezone(UTC).isoformat(),
                day_of(output.window_start),
            )
            facts.append(("jn", starts, output.campaign, window))
            for variant, share in output.weights:
                facts.append(("jw", starts, output.campaign, variant, window, share))
    old_journeys = {} if before is None else before.journeys
    # Only a treatment decision opens a window, and only an order adds revenue.
    touched = after.journeys if order else {c: after.journeys[c] for c in treated_on}
    for campaign, journey in touched.items():
        old = old_journeys.get(campaign)
        same_entry = old is not None and old.entries == journey.entries
        variant = journey.variant or "control"
        if journey.conversion_deadline is not None and not (same_entry and _treated(old)):
            # Dated by the treatment itself, which may be a due time before this event.
            treated_day = treated_on.get(campaign, day)
            facts.append(("jt", treated_day, campaign, variant))
            if journey.treated_send_timing is not None:
                timing = journey.treated_send_timing
                facts.append(("jst", treated_day, campaign, variant, timing))
        previous = old.revenue if same_entry and old is not None else Decimal(0)
        if journey.revenue != previous:
            gained = journey.revenue - previous
            squares = journey.revenue * journey.revenue - previous * previous
            facts.append(("jr", day, campaign, variant, str(gained), str(squares)))
    return facts


def _treated(journey: JourneyState | None) -> bool:
    return journey is not None and journey.conversion_deadline is not None


def tally(
    before: CustomerState | None,
    after: CustomerState,
    *,
    signals: Sequence[Signal],
    outputs: Sequence[JourneyOutput],
    event: Event | None,
) -> CustomerState:
    """``after`` with the facts of this change and the updated ``tally``.

    ``before`` is the state the engine started from (None: a new customer); ``after``
    the state it produced, with the ``signals`` and ``outputs`` on the way.
    """
    clock = after.clock
    assert clock is not None, "the engine sets the clock before anything is counted"
    memory = after.tally
    if (
        before is not None
        and not signals
        and not outputs
        and memory.cohort is not None
        and not isinstance(event, _COUNTED_EVENTS)
    ):
        # Most inputs (a login, a quiet due time) count nothing: no work, no copy.
        return after if not after.facts else after.model_copy(update={"facts": ()})
    facts: list[Fact] = []
    if before is None:
        facts.append(("p", boundary_day(clock)))
    cohort = memory.cohort
    if cohort is None:
        joined = after.profile.signed_up_at or after.orders.first_at
        if joined is not None:
            cohort = month_index(day_of(joined))
            facts.append(("c", cohort))
    changes = list(memory.status_changes)
    facts.extend(_stage_facts(signals, after, changes))
    order_day_before_last = memory.order_day_before_last
    if isinstance(event, OrderPlaced) and (
        before is None or after.orders.count > before.orders.count
    ):
        fact, order_day_before_last = _order_fact(event, before, cohort)
        facts.append(fact)
    elif isinstance(event, NpsSurveyAnswered):
        facts.append(("n", day_of(event.occurred_at), event.score))
    elif isinstance(event, SupportTicketResolved) and (
        event.csat is not None or event.ces is not None
    ):
        facts.append(("q", day_of(event.occurred_at), event.csat, event.ces))
    order = isinstance(event, OrderPlaced)
    facts.extend(_journey_facts(outputs, before, after, day_of(clock), order=order))
    facts.extend(
        delivery_fact(
            decided_at=o.message.decided_at,
            campaign=o.message.campaign_id,
            variant=o.message.variant,
            state="expired",
        )
        for o in outputs
        if o.message is not None and not o.message.rendered
    )
    if len(changes) > len(memory.status_changes):
        # Keep the changes a period of any kind that holds the latest one can see.
        oldest_start = min(_period_starts(changes[-1]))
        changes = [d for d in changes if d >= oldest_start]
    kept = tuple(changes)
    updated = memory
    if (cohort, order_day_before_last, kept) != (
        memory.cohort,
        memory.order_day_before_last,
        memory.status_changes,
    ):
        updated = Tally(
            cohort=cohort, order_day_before_last=order_day_before_last, status_changes=kept
        )
    final = tuple(facts)
    if updated == after.tally and final == after.facts:
        return after
    return after.model_copy(update={"tally": updated, "facts": final})


def delivery_fact(*, decided_at: datetime, campaign: str, variant: str | None, state: str) -> Fact:
    """The fact of an email's final delivery state (``sent``, ``failed``, ``expired``)."""
    return ("e", day_of(decided_at), campaign, variant or "control", state)
