"""``apply(state, event, config) -> (state, signals)``: one event folded into one customer.

Rules that tests pin down:

* An ``event_id`` seen among the customer's last ``dedupe_window`` events is ignored, and so
  is an ``order.placed`` whose ``order_id`` was already counted.
* Time never goes back. The state's ``clock`` is the latest time it has been brought to;
  an event older than the clock (late or out of order) is still applied to the facts it
  carries (counts, spend, first/last times by their own timestamps, activity on its own
  day), but signals it causes carry the clock's time, timers that already fired stay
  fired, and a late order does not reactivate a customer who slipped away after it.
* Several orders on one local day count as one purchase day, in any arrival order, as
  long as the late order's day is among the customer's last ``RECENT_PURCHASE_DAYS``
  distinct purchase days (or before the first, or after the last). A late order dated
  between the first purchase day and that window cannot be told apart from one on a
  forgotten day; it is counted as an order (count, spend) but not as a new purchase day.
  The state stays bounded; the cost is an undercount of ``purchase_days`` in that case.
* Consent is decided by timestamp: a consent statement older than the one on file is
  ignored, whatever order they arrive in. A ``consent.changed`` made from an unsubscribe
  link (``link_issued_at`` set) is dated when the link was issued (plus
  ``LINK_TIME_TOLERANCE``, five minutes: whole seconds, and the sending worker's clock
  may run behind the shop's), not when it was clicked: an opt-out through a link sent
  before a later opt-in is older than that opt-in and does not undo it, in either
  arrival order; a link sent after the opt-in unsubscribes as before.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import lifecycle.customer.active_hours as active_hours
import lifecycle.customer.activity as activity
import lifecycle.customer.fingerprints as fingerprints
from lifecycle.config import EngineConfig
from lifecycle.customer.stages import change_stage, stage_after_order
from lifecycle.events import (
    LINK_TIME_TOLERANCE,
    ConsentChanged,
    CustomerLoggedIn,
    CustomerSignedUp,
    CustomerUpdated,
    EmailBounced,
    EmailClicked,
    Event,
    NpsSurveyAnswered,
    OrderPlaced,
    OrderRefunded,
    SupportTicketOpened,
    SupportTicketResolved,
)
from lifecycle.localtime import local_day, zone
from lifecycle.signals import Signal
from lifecycle.state import CustomerState, OrderStats, Profile

__all__ = ["RECENT_PURCHASE_DAYS", "apply", "is_duplicate", "is_new_purchase_day"]

_DAY = timedelta(days=1)
_RECENT_ORDERS = 32
_MAX_OPEN_TICKETS = 50
#: How many of the latest distinct purchase days a state remembers (about 4 bytes each).
RECENT_PURCHASE_DAYS = 32


def is_duplicate(state: CustomerState, event: Event) -> bool:
    if fingerprints.contains(state.recent_events, event.event_id):
        return True
    return isinstance(event, OrderPlaced) and fingerprints.contains(
        state.orders.recent_orders, event.order_id
    )


def apply(
    state: CustomerState, event: Event, cfg: EngineConfig
) -> tuple[CustomerState, list[Signal]]:
    if is_duplicate(state, event):
        return state, []
    now = event.occurred_at if state.clock is None else max(state.clock, event.occurred_at)
    recent = fingerprints.remember(state.recent_events, event.event_id, cfg.dedupe_window)
    state = state.model_copy(
        update={
            "clock": now,
            "recent_events": recent,
            "first_seen_at": min(state.first_seen_at or event.occurred_at, event.occurred_at),
        }
    )
    signals: list[Signal] = []
    match event:
        case CustomerSignedUp():
            state = _signed_up(state, event)
        case CustomerUpdated():
            state = _updated(state, event)
        case ConsentChanged():
            stated_at = event.occurred_at
            if event.link_issued_at is not None:
                stated_at = min(stated_at, event.link_issued_at + LINK_TIME_TOLERANCE)
            state = _consent(state, event.marketing_consent, stated_at)
        case OrderPlaced():
            state, signals = _order(state, event, now, cfg)
        case OrderRefunded():
            orders = state.orders
            refunded = min(orders.gross_spend, orders.refunded + event.amount)
            state = state.model_copy(
                update={"orders": orders.model_copy(update={"refunded": refunded})}
            )
        case CustomerLoggedIn():
            state = _login(state, event, cfg)
        case SupportTicketOpened():
            state, signals = _ticket_opened(state, event, now, cfg)
        case SupportTicketResolved():
            state, signals = _ticket_resolved(state, event, now, cfg)
        case NpsSurveyAnswered():
            state, signals = _nps(state, event, now, cfg)
        case EmailBounced():
            state = _bounced(state, event)
        case EmailClicked():
            pass  # only the customer's own activity, below
    if isinstance(event, _OWN_ACTIVITY):
        state = _active_hour(state, event, cfg)
    return state, signals


#: Events that show when the customer is around to read mail (send-time optimisation).
_OWN_ACTIVITY = (CustomerLoggedIn, OrderPlaced, EmailClicked)


def _active_hour(state: CustomerState, event: Event, cfg: EngineConfig) -> CustomerState:
    tz = zone(state.profile.timezone, cfg.fallback_timezone)
    hours, period = active_hours.record_activity(
        state.active_hours,
        state.active_hours_period,
        event.occurred_at.astimezone(tz),
        half_life_days=cfg.send_time.half_life_days,
    )
    return state.model_copy(update={"active_hours": hours, "active_hours_period": period})


def _signed_up(state: CustomerState, event: CustomerSignedUp) -> CustomerState:
    profile = state.profile
    signed_up_at = min(profile.signed_up_at or event.occurred_at, event.occurred_at)
    changes: dict[str, object] = {"signed_up_at": signed_up_at}
    # Fields already set by a (possibly earlier-arriving) update win over the signup form.
    for field in ("email", "name", "locale", "timezone"):
        value = getattr(event, field)
        if value is not None and getattr(profile, field) is None:
            changes[field] = value
    state = state.model_copy(update={"profile": profile.model_copy(update=changes)})
    state = _consent(state, event.marketing_consent, event.occurred_at)
    if state.stage_since is None:
        state = state.model_copy(update={"stage_since": event.occurred_at})
    return state


def _updated(state: CustomerState, event: CustomerUpdated) -> CustomerState:
    changes = {
        field: getattr(event, field)
        for field in event.model_fields_set
        if field in Profile.model_fields
    }
    if "email" in changes and changes["email"] != state.profile.email:
        changes["suppressed_reason"] = None  # a new address gets a fresh chance
    return state.model_copy(update={"profile": state.profile.model_copy(update=changes)})


def _consent(state: CustomerState, granted: bool, at: datetime) -> CustomerState:
    profile = state.profile
    if profile.consent_changed_at is not None and at < profile.consent_changed_at:
        return state
    profile = profile.model_copy(update={"marketing_consent": granted, "consent_changed_at": at})
    return state.model_copy(update={"profile": profile})


def _order(
    state: CustomerState, event: OrderPlaced, now: datetime, cfg: EngineConfig
) -> tuple[CustomerState, list[Signal]]:
    tz = zone(state.profile.timezone, cfg.fallback_timezone)
    before = state.orders
    at = event.occurred_at
    day = local_day(at, tz)
    orders = _count_order(before, event, day)
    state = state.model_copy(
        update={
            "orders": orders,
            "activity": activity.prune(
                activity.add_activity(state.activity, day, orders=1),
                local_day(now, tz),
                cfg.engagement,
            ),
        }
    )
    state, signals = _order_milestones(state, now, event.event_id, cfg)
    target = stage_after_order(state, at)
    if target is not None:
        state, moved = change_stage(state, target, now, event.event_id)
        signals.extend(moved)
    return _recover_engagement(state, now, cfg), signals


def _count_order(before: OrderStats, event: OrderPlaced, day: int) -> OrderStats:
    at = event.occurred_at
    changes: dict[str, object] = {
        "count": before.count + 1,
        "gross_spend": before.gross_spend + event.total,
        "first_at": at if before.first_at is None else min(before.first_at, at),
        "recent_orders": fingerprints.remember(
            before.recent_orders, event.order_id, _RECENT_ORDERS
        ),
        "currency": before.currency or event.currency,
    }
    in_order = before.last_at is None or at >= before.last_at
    if in_order:
        changes.update(last_at=at, last_order_id=event.order_id, last_total=event.total)
    first = before.first_purchase_day
    if first is not None and day == first.toordinal() and before.first_day_spend is not None:
        changes["first_day_spend"] = before.first_day_spend + event.total
    if is_new_purchase_day(before, day):
        as_date = date.fromordinal(day)
        changes["purchase_days"] = before.purchase_days + 1
        changes["recent_purchase_days"] = _remember_day(before, day)
        if first is None or as_date < first:
            changes["first_purchase_day"] = as_date
            # A late order before the first day makes the old first day a repeat one.
            changes["first_day_spend"] = event.total
        if before.last_purchase_day is None or as_date > before.last_purchase_day:
            changes["last_purchase_day"] = as_date
        if in_order and before.last_at is not None:
            # Welford: mean and M2 of the intervals, learned from in-order purchases only.
            interval = (at - before.last_at) / _DAY
            n = before.interval_count + 1
            delta = interval - before.interval_mean_days
            mean = before.interval_mean_days + delta / n
            changes.update(
                interval_count=n,
                interval_mean_days=mean,
                interval_m2=before.interval_m2 + delta * (interval - mean),
            )
    return before.model_copy(update=changes)


def _known_days(orders: OrderStats) -> tuple[int, ...]:
    """The remembered purchase days; a state from before they were kept knows its last."""
    if orders.recent_purchase_days or orders.last_purchase_day is None:
        return orders.recent_purchase_days
    return (orders.last_purchase_day.toordinal(),)


def is_new_purchase_day(orders: OrderStats, day: int) -> bool:
    """Whether an order on local day ``day`` (ordinal) adds a purchase day.

    The remembered days are the latest distinct purchase days, so every counted day at or
    after the oldest of them is among them. A day before that and after the first purchase
    day is new only if every counted day is remembered; otherwise it cannot be told apart
    from a forgotten one, and it is taken as already counted.
    """
    first = orders.first_purchase_day
    if first is None:
        return True
    known = _known_days(orders)
    first_day = first.toordinal()
    if day == first_day or day in known:
        return False
    if day < first_day or not known or day > known[0]:
        return True
    return orders.purchase_days <= len(set(known) | {first_day})


def _remember_day(orders: OrderStats, day: int) -> tuple[int, ...]:
    return tuple(sorted({*_known_days(orders), day}))[-RECENT_PURCHASE_DAYS:]


def _order_milestones(
    state: CustomerState, now: datetime, cause: str, cfg: EngineConfig
) -> tuple[CustomerState, list[Signal]]:
    count = state.orders.count
    candidates: list[tuple[str, str, dict[str, str | int | float | bool | None]]] = []
    if count == 1:
        candidates.append(("first_order", "first_order", {}))
    if count == 2:
        candidates.append(("second_order", "second_order", {}))
    if count in cfg.milestones.order_counts:
        candidates.append((f"orders:{count}", "order_count_reached", {"orders": count}))
    value = state.orders.lifetime_value
    for tier, threshold in cfg.milestones.spend_tiers:
        if value >= threshold:
            data: dict[str, str | int | float | bool | None] = {
                "tier": tier,
                "threshold": str(threshold),
            }
            candidates.append((f"tier:{tier}", "tier_reached", data))
    return _reach(state, candidates, now, cause)


def _reach(
    state: CustomerState,
    candidates: list[tuple[str, str, dict[str, str | int | float | bool | None]]],
    now: datetime,
    cause: str,
) -> tuple[CustomerState, list[Signal]]:
    """Record milestones not reached before; each fires its signal once in a lifetime."""
    milestones = list(state.milestones)
    signals = []
    for key, name, data in candidates:
        if key in milestones:
            continue
        milestones.append(key)
        signals.append(Signal(name=name, kind="milestone", at=now, cause=cause, data=data))
    if signals:
        state = state.model_copy(update={"milestones": tuple(milestones)})
    return state, signals


def _login(state: CustomerState, event: CustomerLoggedIn, cfg: EngineConfig) -> CustomerState:
    tz = zone(state.profile.timezone, cfg.fallback_timezone)
    assert state.clock is not None
    days = activity.add_activity(state.activity, local_day(event.occurred_at, tz), logins=1)
    last = state.last_login_at
    state = state.model_copy(
        update={
            "activity": activity.prune(days, local_day(state.clock, tz), cfg.engagement),
            "last_login_at": event.occurred_at if last is None else max(last, event.occurred_at),
        }
    )
    return _recover_engagement(state, state.clock or event.occurred_at, cfg)


def _recover_engagement(state: CustomerState, now: datetime, cfg: EngineConfig) -> CustomerState:
    """After new activity, a customer flagged as declining is re-armed once recovered."""
    if not state.engagement_decline_signalled:
        return state
    tz = zone(state.profile.timezone, cfg.fallback_timezone)
    counts = activity.window_counts(state.activity, local_day(now, tz), cfg.engagement)
    if not activity.has_recovered(*counts, cfg.engagement):
        return state
    return state.model_copy(update={"engagement_decline_signalled": False})


def _unhappy(
    now: datetime, cause: str, reason: str, **data: str | int | float | bool | None
) -> Signal:
    return Signal(
        name="support_unhappy", kind="decline", at=now, cause=cause, data={"reason": reason, **data}
    )


def _ticket_opened(
    state: CustomerState, event: SupportTicketOpened, now: datetime, cfg: EngineConfig
) -> tuple[CustomerState, list[Signal]]:
    support = state.support
    if event.ticket_id in support.open_tickets:
        # The same open ticket announced again (a status update, a resent event) is not
        # another contact: it must not count towards repeated tickets.
        return state, []
    tz = zone(state.profile.timezone, cfg.fallback_timezone)
    window = cfg.support.repeated_tickets_window_days
    today = local_day(now, tz)
    opened_day = local_day(event.occurred_at, tz)
    days = tuple(sorted(d for d in (*support.ticket_days, opened_day) if d > today - window))
    open_tickets = (*support.open_tickets, event.ticket_id)[-_MAX_OPEN_TICKETS:]
    support = support.model_copy(update={"open_tickets": open_tickets, "ticket_days": days})
    state = state.model_copy(update={"support": support})
    signals = []
    if len(days) == cfg.support.repeated_tickets and opened_day > today - window:
        signals.append(_unhappy(now, event.event_id, "repeated_tickets", tickets=len(days)))
    return state, signals


def _ticket_resolved(
    state: CustomerState, event: SupportTicketResolved, now: datetime, cfg: EngineConfig
) -> tuple[CustomerState, list[Signal]]:
    support = state.support
    changes: dict[str, object] = {
        "open_tickets": tuple(t for t in support.open_tickets if t != event.ticket_id)
    }
    signals = []
    if event.csat is not None:
        changes["last_csat"] = event.csat
        if event.csat <= cfg.support.low_csat_max:
            signals.append(_unhappy(now, event.event_id, "low_csat", csat=event.csat))
    if event.ces is not None:
        changes["last_ces"] = event.ces
        if event.ces >= cfg.support.high_ces_min:
            signals.append(_unhappy(now, event.event_id, "high_effort", ces=event.ces))
    support = support.model_copy(update=changes)
    return state.model_copy(update={"support": support}), signals


def _nps(
    state: CustomerState, event: NpsSurveyAnswered, now: datetime, cfg: EngineConfig
) -> tuple[CustomerState, list[Signal]]:
    support = state.support
    if support.last_nps_at is not None and event.occurred_at < support.last_nps_at:
        return state, []  # an older answer arriving late does not replace a newer one
    support = support.model_copy(update={"last_nps": event.score, "last_nps_at": event.occurred_at})
    signals = []
    if event.score <= cfg.support.nps_detractor_max:
        signals.append(_unhappy(now, event.event_id, "nps_detractor", score=event.score))
    return state.model_copy(update={"support": support}), signals


def _bounced(state: CustomerState, event: EmailBounced) -> CustomerState:
    """A hard bounce of the address on file suppresses marketing mail to it."""
    current = state.profile.email
    if not event.permanent or current is None or current.lower() != event.email.lower():
        return state
    profile = state.profile.model_copy(update={"suppressed_reason": event.reason[:200]})
    return state.model_copy(update={"profile": profile})
