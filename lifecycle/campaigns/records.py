"""What the runtime reports: a decision per message considered, a record per journey move.

Both (together :data:`JourneyOutput`) carry ``message`` (the outbox message of a send, else
None) and ``to_record()``, the stable JSON shape ``lifecycle replay`` prints and counters read:

* ``{"kind": "decision", "at", "customer_id", "campaign", "variant", "step", "outcome",
  "template", "cause", "category"}`` plus ``message_id`` for sends, ``deferred_until``
  for deferrals, ``detail`` where there is more to say and ``send_time``
  (``optimised``/``fallback``) for the decisions of a best-time send. ``outcome`` is ``send`` or
  the reason nothing was sent (see :data:`OUTCOMES`).
* ``{"kind": "journey", "at", "customer_id", "campaign", "variant", "action", "entry",
  "cause"}`` plus ``reason`` for exits. ``action`` is ``entered``, ``exited``,
  ``completed`` or ``converted``; control (holdout) customers get the same records, so
  conversion can be compared between variants and control.
* ``{"kind": "allocation", "at", "customer_id", "campaign", "partition", "window_start",
  "window_end", "settled_before", "weights": {variant: share}, "control", "counts":
  {variant: {"treated", "converted"}}}``: an adaptive split fixed its shares for a window
  (in that partition) at this customer's moment. Shares are fractions (0.45 is 45%).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from lifecycle.mail import Category, OutboxMessage

__all__ = [
    "OUTCOMES",
    "AllocationRecord",
    "Decision",
    "DecisionOutcome",
    "JourneyAction",
    "JourneyOutput",
    "JourneyRecord",
]

DecisionOutcome = Literal[
    "send",
    "holdout",
    "no_consent",
    "no_address",
    "suppressed",
    "quiet_hours",
    "capped",
    "lower_priority",
    "exited",
    "render_error",
    "scheduled",
]
#: Every outcome, with what it means.
OUTCOMES: dict[str, str] = {
    "send": "The message was rendered and handed to delivery.",
    "holdout": "The customer is in the control group: measured, never messaged.",
    "no_consent": "Marketing without marketing consent; the journey ends (or never starts).",
    "no_address": "No email address on file; the journey goes on.",
    "suppressed": "The address hard-bounced; no marketing mail until it changes.",
    "quiet_hours": "Inside quiet hours on the customer's clock; deferred to their end.",
    "capped": "A frequency cap (global per category, or the campaign's) is full; skipped.",
    "lower_priority": "Another campaign with higher priority messaged the customer at the "
    "same moment; a journey step is deferred, a new entry is dropped.",
    "exited": "The journey ended (exit event, exit condition, campaign removed) before this step.",
    "render_error": "The template failed for this customer; the journey goes on.",
    "scheduled": "A best-time send was timed (deferred_until; detail and send_time say "
    "whether the customer's activity chose it, optimised, or the fallback hour did).",
}

JourneyAction = Literal["entered", "exited", "completed", "converted"]


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class Decision:
    at: datetime
    customer_id: str
    campaign: str
    variant: str
    step: int
    outcome: DecisionOutcome
    template: str | None
    cause: str
    category: Category
    message: OutboxMessage | None = None
    deferred_until: datetime | None = None
    detail: str | None = None
    #: For best-time sends: ``optimised`` or ``fallback`` (see ``SendStep.at``).
    send_time: Literal["optimised", "fallback"] | None = None

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "kind": "decision",
            "at": _iso(self.at),
            "customer_id": self.customer_id,
            "campaign": self.campaign,
            "variant": self.variant,
            "step": self.step,
            "outcome": self.outcome,
            "template": self.template,
            "cause": self.cause,
            "category": self.category,
        }
        if self.message is not None:
            record["message_id"] = self.message.message_id
            record["locale"] = self.message.locale
        if self.deferred_until is not None:
            record["deferred_until"] = _iso(self.deferred_until)
        if self.detail is not None:
            record["detail"] = self.detail
        if self.send_time is not None:
            record["send_time"] = self.send_time
        return record


@dataclass(frozen=True)
class JourneyRecord:
    at: datetime
    customer_id: str
    campaign: str
    variant: str
    action: JourneyAction
    entry: int
    cause: str
    reason: str | None = None

    @property
    def message(self) -> OutboxMessage | None:
        return None

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "kind": "journey",
            "at": _iso(self.at),
            "customer_id": self.customer_id,
            "campaign": self.campaign,
            "variant": self.variant,
            "action": self.action,
            "entry": self.entry,
            "cause": self.cause,
        }
        if self.reason is not None:
            record["reason"] = self.reason
        return record


@dataclass(frozen=True)
class AllocationRecord:
    """An adaptive split's shares, fixed for one window at this moment."""

    at: datetime
    customer_id: str
    campaign: str
    partition: int
    window_start: datetime
    window_end: datetime
    settled_before: datetime
    #: Basis points of all customers, per variant, in the split's order.
    weights: tuple[tuple[str, int], ...]
    control: int
    #: (treated, converted) per variant, the counts the shares came from.
    counts: tuple[tuple[str, int, int], ...]

    @property
    def message(self) -> OutboxMessage | None:
        return None

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": "allocation",
            "at": _iso(self.at),
            "customer_id": self.customer_id,
            "campaign": self.campaign,
            "partition": self.partition,
            "window_start": _iso(self.window_start),
            "window_end": _iso(self.window_end),
            "settled_before": _iso(self.settled_before),
            "weights": {name: points / 10_000 for name, points in self.weights},
            "control": self.control / 10_000,
            "counts": {
                name: {"treated": treated, "converted": converted}
                for name, treated, converted in self.counts
            },
        }


#: Everything the journey runtime reports.
JourneyOutput = Decision | JourneyRecord | AllocationRecord
