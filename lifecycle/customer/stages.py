"""The lifecycle stage graph. Every move is a ``stage_changed`` signal.

::

    prospect -> new -> active -> at_risk -> lapsed
                 |                 |  ^        |
                 +--> at_risk      v  |        v
                              reactivated <----+
                                   |
                                   +--> active

Orders move a customer forward (``prospect -> new`` on the first, ``new -> active`` on the
second, ``at_risk``/``lapsed -> reactivated`` on a return, ``reactivated -> active`` on the
next); time without orders moves them to ``at_risk`` and then ``lapsed``.
"""

from __future__ import annotations

from datetime import datetime

from lifecycle.signals import Signal
from lifecycle.state import CustomerState, Stage

__all__ = ["TRANSITIONS", "change_stage", "stage_after_order"]

TRANSITIONS: dict[Stage, frozenset[Stage]] = {
    "prospect": frozenset({"new"}),
    "new": frozenset({"active", "at_risk"}),
    "active": frozenset({"at_risk"}),
    "at_risk": frozenset({"lapsed", "reactivated"}),
    "lapsed": frozenset({"reactivated"}),
    "reactivated": frozenset({"active", "at_risk"}),
}


def change_stage(
    state: CustomerState, to: Stage, at: datetime, cause: str
) -> tuple[CustomerState, list[Signal]]:
    if to not in TRANSITIONS[state.stage]:
        raise ValueError(f"no stage transition {state.stage} -> {to}")
    signal = Signal(
        name="stage_changed",
        kind="stage",
        at=at,
        cause=cause,
        data={"from": state.stage, "to": to},
    )
    return state.model_copy(update={"stage": to, "stage_since": at}), [signal]


def stage_after_order(state: CustomerState, order_at: datetime) -> Stage | None:
    """The stage an order moves the customer to, if any (``state`` already counts the order)."""
    stage = state.stage
    if stage == "prospect":
        return "new"
    if stage == "new" and state.orders.count >= 2:
        return "active"
    if stage in ("at_risk", "lapsed"):
        # A late order from before the customer slipped away is history, not a return.
        if state.stage_since is None or order_at >= state.stage_since:
            return "reactivated"
        return None
    if stage == "reactivated" and state.stage_since is not None and order_at > state.stage_since:
        return "active"
    return None
