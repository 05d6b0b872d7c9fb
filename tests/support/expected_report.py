"""Report figures computed straight from an event history and the replayed decisions.

Independent of the counters: no facts, no totals, no stage signals. Who is a customer
comes from each customer's order times and the definition (``is_customer_at``); orders,
buyers, surveys and cohorts from the events; campaign figures from the replay's journey
and decision records, with attributed revenue from the orders inside each entry's window
(from its first send, render error or holdout to ``within`` later).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from lifecycle.events import Event, NpsSurveyAnswered, OrderPlaced, SupportTicketResolved
from lifecycle.measurement import flow_group, is_customer_at, period_range, periods_between

__all__ = ["expected_campaigns", "expected_cohorts", "expected_retention", "replayed_totals"]


def replayed_totals(
    history: Iterable[Mapping[str, Any]], until: datetime, *, settings: Any, tick: timedelta
) -> dict[Any, Any]:
    """The counter totals of ``Replay`` over a history of contract dicts (what the live
    worker's counters must equal), without zero totals."""
    from lifecycle.events import parse_event
    from lifecycle.measurement import Totals
    from lifecycle.processing import Engine, Replay, sorted_history
    from streams.campaign_loading import load_campaign_set

    engine = Engine(settings.engine, load_campaign_set(settings))
    replay = Replay(engine, tick=tick, partitions=settings.partitions)
    events = sorted_history(parse_event(json.dumps(e).encode()) for e in history)
    totals = Totals()
    for outcome, _ in replay.outcomes(events, until=until):
        if not outcome.duplicate:
            totals.add_facts(outcome.state.facts)
    return {key: value for key, value in totals.values.items() if value}


def _midnight(day: int) -> datetime:
    return datetime.fromordinal(day).replace(tzinfo=UTC)


def _day(at: datetime) -> int:
    return at.astimezone(UTC).date().toordinal()


def _latest(times: Sequence[datetime], at: datetime) -> datetime | None:
    """The latest order at or before ``at``."""
    return max((t for t in times if t <= at), default=None)


def expected_retention(
    events: Sequence[Event], granularity: str, window: timedelta, until: datetime
) -> dict[str, dict[str, Any]]:
    """Period -> the figures, for every period that ends by ``until``."""
    orders: dict[str, list[OrderPlaced]] = defaultdict(list)
    for event in events:
        if isinstance(event, OrderPlaced):
            orders[event.customer_id].append(event)
    days = [_day(e.occurred_at) for e in events]
    result = {}
    for label in periods_between(min(days), _day(until), granularity):  # type: ignore[arg-type]
        start_day, end_day = period_range(label)
        start, end = _midnight(start_day), _midnight(end_day)
        if end > until:
            break
        groups: Counter[str] = Counter()
        per_customer: Counter[str] = Counter()
        revenue = Decimal(0)
        for customer, placed in orders.items():
            times = sorted(o.occurred_at for o in placed)
            group = flow_group(
                first_order_at=times[0],
                customer_at_start=is_customer_at(_latest(times, start), start, window),
                customer_at_end=is_customer_at(_latest(times, end), end, window),
                start=start,
            )
            if group is not None:
                groups[group] += 1
            for order in placed:
                if start <= order.occurred_at < end:
                    per_customer[customer] += 1
                    revenue += order.total
        surveys: dict[str, Counter[int]] = {"nps": Counter(), "csat": Counter(), "ces": Counter()}
        for event in events:
            if not start <= event.occurred_at < end:
                continue
            if isinstance(event, NpsSurveyAnswered):
                surveys["nps"][event.score] += 1
            elif isinstance(event, SupportTicketResolved):
                if event.csat is not None:
                    surveys["csat"][event.csat] += 1
                if event.ces is not None:
                    surveys["ces"][event.ces] += 1
        result[label] = {
            "customers_at_start": groups["retained"] + groups["lost"],
            "first_time_customers": groups["first_time"],
            "reactivated_customers": groups["reactivated"],
            "customers_at_end": groups["retained"] + groups["first_time"] + groups["reactivated"],
            "lost_customers": groups["lost"],
            "orders": sum(per_customer.values()),
            "buyers": len(per_customer),
            "repeat_buyers": sum(1 for n in per_customer.values() if n >= 2),
            "revenue": revenue,
            "surveys": {name: dict(counts) for name, counts in surveys.items()},
        }
    return result


def expected_cohorts(events: Sequence[Event]) -> tuple[dict[str, int], dict[tuple[str, int], int]]:
    """Cohort sizes, and (cohort, months since) -> customers who ordered in that month.
    A customer's cohort is the month of their signup or first order, whichever came first."""
    joined: dict[str, datetime] = {}
    order_months: dict[str, set[int]] = defaultdict(set)
    for event in events:
        if event.type in ("customer.signed_up", "order.placed"):
            joined.setdefault(event.customer_id, event.occurred_at)
        if isinstance(event, OrderPlaced):
            at = event.occurred_at.astimezone(UTC)
            order_months[event.customer_id].add(at.year * 12 + at.month - 1)
    sizes: Counter[str] = Counter()
    active: Counter[tuple[str, int]] = Counter()
    for customer, at in joined.items():
        at = at.astimezone(UTC)
        month = at.year * 12 + at.month - 1
        label = f"{at.year:04d}-{at.month:02d}"
        sizes[label] += 1
        for ordered in order_months[customer]:
            if ordered >= month:
                active[(label, ordered - month)] += 1
    return dict(sizes), dict(active)


def expected_campaigns(
    records: Iterable[Mapping[str, Any]],
    events: Sequence[Event],
    windows: Mapping[str, timedelta],
) -> dict[tuple[str, str], dict[str, Any]]:
    """(campaign, arm) -> entries, assigned, treated, conversions, decisions, revenue and
    the sum of squared revenue per entry, from replay records and the orders."""
    arms: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    decisions: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    current: dict[tuple[str, str], dict[str, Any]] = {}
    entries = []
    for record in records:
        if record["kind"] not in ("journey", "decision"):
            continue
        key = (record["campaign"], record["variant"])
        customer = (record["customer_id"], record["campaign"])
        at = datetime.fromisoformat(record["at"])
        if record["kind"] == "journey":
            if record["action"] == "entered":
                arms[key]["entries"] += 1
                arms[key]["assigned"] += record["entry"] == 1
                current[customer] = {"arm": key, "treated_at": None}
                entries.append(current[customer])
            elif record["action"] == "converted":
                arms[key]["conversions"] += 1
            continue
        decisions[key][record["outcome"]] += 1
        entry = current.get(customer)
        if (
            entry is not None
            and entry["treated_at"] is None
            and record["outcome"] in ("send", "holdout", "render_error")
            and record["campaign"] in windows
        ):
            entry["treated_at"] = at
            entry["customer"] = record["customer_id"]
            arms[key]["treated"] += 1
    orders: dict[str, list[OrderPlaced]] = defaultdict(list)
    for event in events:
        if isinstance(event, OrderPlaced):
            orders[event.customer_id].append(event)
    for entry in entries:
        treated = entry["treated_at"]
        if treated is None:
            continue
        campaign = entry["arm"][0]
        deadline = treated + windows[campaign]
        revenue = sum(
            (o.total for o in orders[entry["customer"]] if treated < o.occurred_at <= deadline),
            start=Decimal(0),
        )
        arms[entry["arm"]]["revenue"] += revenue  # type: ignore[assignment]
        arms[entry["arm"]]["revenue_squares"] += revenue * revenue  # type: ignore[assignment]
    names = ("entries", "assigned", "treated", "conversions", "revenue", "revenue_squares")
    return {
        key: {**{name: arms[key][name] for name in names}, "decisions": dict(decisions[key])}
        for key in arms.keys() | decisions.keys()
    }
