"""What triggers can listen to: signal names with their data, and event types with fields.

One table for the loader (unknown names and keys are errors with the nearest valid
one), the JSON Schema (editor completion) and the marketer guide.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel

from lifecycle.events import EVENT_TYPES, Event
from lifecycle.signals import MILESTONE_SIGNALS, SIGNAL_NAMES

__all__ = [
    "EVENT_FIELDS",
    "EVENT_TYPES",
    "MILESTONE_SIGNALS",
    "ORDER_CAUSED_SIGNALS",
    "SIGNAL_DATA",
    "SIGNAL_DESCRIPTIONS",
    "SIGNAL_NAMES",
    "UNHAPPY_REASONS",
    "DataKey",
]

DataType = Literal["number", "string", "stage", "reason", "tier", "bool"]


class DataKey(BaseModel):
    name: str
    type: DataType
    description: str


UNHAPPY_REASONS: tuple[str, ...] = ("low_csat", "high_effort", "nps_detractor", "repeated_tickets")


def _k(name: str, type_: DataType, description: str) -> DataKey:
    return DataKey(name=name, type=type_, description=description)


SIGNAL_DATA: dict[str, tuple[DataKey, ...]] = {
    "first_order": (),
    "second_order": (),
    "order_count_reached": (_k("orders", "number", "The order count reached, e.g. 5."),),
    "tier_reached": (
        _k("tier", "tier", "The spend tier reached, e.g. gold."),
        _k("threshold", "string", "The tier's spend threshold."),
    ),
    "signup_anniversary": (_k("years", "number", "Years since signup."),),
    "no_order_after_signup": (_k("days", "number", "Days since signup without an order."),),
    "engagement_declining": (
        _k("short_window_events", "number", "Logins and orders in the short window."),
        _k("baseline_events", "number", "Logins and orders in the baseline window."),
    ),
    "purchase_overdue": (
        _k("mean_interval_days", "number", "The customer's usual days between orders."),
        _k("days_since_last_order", "number", "Days since the latest order."),
    ),
    "churn_risk": (_k("p_alive", "number", "Probability the customer is still active."),),
    "support_unhappy": (
        _k("reason", "reason", "low_csat, high_effort, nps_detractor or repeated_tickets."),
        _k("csat", "number", "The CSAT answer (reason low_csat)."),
        _k("ces", "number", "The CES answer (reason high_effort)."),
        _k("score", "number", "The NPS answer (reason nps_detractor)."),
        _k("tickets", "number", "Tickets in the window (reason repeated_tickets)."),
    ),
    "stage_changed": (
        _k("from", "stage", "The stage before."),
        _k("to", "stage", "The stage after."),
    ),
}
assert set(SIGNAL_DATA) == set(SIGNAL_NAMES), "every signal needs its data documented"

SIGNAL_DESCRIPTIONS: dict[str, str] = {
    "first_order": "The customer placed their first order.",
    "second_order": "The customer placed their second order.",
    "order_count_reached": "The customer's order count reached a milestone (5, 10, 25, ...).",
    "tier_reached": "Lifetime spend crossed a tier threshold.",
    "signup_anniversary": "A year (two, three, ...) since signup.",
    "no_order_after_signup": "Some days after signup with still no order.",
    "engagement_declining": "Logins and orders fell against the customer's own baseline.",
    "purchase_overdue": "No order for twice the customer's usual time between orders.",
    "churn_risk": "The churn model's P(alive) fell below its threshold.",
    "support_unhappy": "An unhappy support outcome (low CSAT, high effort, NPS detractor, "
    "repeated tickets).",
    "stage_changed": "The customer moved between lifecycle stages.",
}

#: Signals emitted by an ``order.placed`` event, so the triggering order is at hand.
ORDER_CAUSED_SIGNALS: frozenset[str] = frozenset(
    {"first_order", "second_order", "order_count_reached", "tier_reached"}
)


def _event_models() -> dict[str, type[BaseModel]]:
    """Event type -> model, read from the contract's union so new types need no edit here."""
    union = get_args(Event)[0]
    models: dict[str, type[BaseModel]] = {}
    for model in get_args(union):
        (name,) = get_args(model.model_fields["type"].annotation)
        models[name] = model
    return models


_EVENT_MODELS = _event_models()
assert set(_EVENT_MODELS) == set(EVENT_TYPES), "EVENT_TYPES and the Event union disagree"

_NOT_MATCHABLE = {
    "event_id",
    "customer_id",
    "occurred_at",
    "type",
    "items",
    "comment",
    "email",
    "message_id",
    "url",
}

#: Fields of each event type that ``with:`` may match on.
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    name: tuple(f for f in model.model_fields if f not in _NOT_MATCHABLE)
    for name, model in _EVENT_MODELS.items()
}
