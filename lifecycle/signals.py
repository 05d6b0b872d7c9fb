"""Signals: what the core noticed about a customer, with when and why.

A signal is emitted by an event (``cause`` is its ``event_id``) or by the passage of time
(``cause`` is ``due:<ISO time>``). Campaigns trigger on signals; counters count them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DECLINE_SIGNALS",
    "MILESTONE_SIGNALS",
    "SIGNAL_NAMES",
    "Signal",
    "SignalKind",
    "due_cause",
]

SignalKind = Literal["milestone", "decline", "stage"]

MILESTONE_SIGNALS: tuple[str, ...] = (
    "first_order",
    "second_order",
    "order_count_reached",
    "tier_reached",
    "signup_anniversary",
    "no_order_after_signup",
)
DECLINE_SIGNALS: tuple[str, ...] = (
    "engagement_declining",
    "purchase_overdue",
    "churn_risk",
    "support_unhappy",
)
SIGNAL_NAMES: tuple[str, ...] = (*MILESTONE_SIGNALS, *DECLINE_SIGNALS, "stage_changed")

Detail = str | int | float | bool | None


class Signal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: SignalKind
    at: datetime
    cause: str
    data: dict[str, Detail] = Field(default_factory=dict)


def due_cause(at: datetime) -> str:
    """The cause string for something that happened because a due time passed."""
    return f"due:{at.astimezone(UTC).isoformat()}"
