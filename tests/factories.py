"""Small builders for contract events, so tests read like histories."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from typing import Any

from lifecycle.events import Event, parse_event

__all__ = ["event", "event_dict", "ts"]

_ids = itertools.count(1)


def ts(text: str) -> datetime:
    """'2026-03-29T01:30:00+01:00' -> aware datetime (an offset is required)."""
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None, "test timestamps need an offset"
    return value


def event_dict(type_: str, customer_id: str, at: str | datetime, **fields: Any) -> dict[str, Any]:
    occurred = at if isinstance(at, str) else at.isoformat()
    body: dict[str, Any] = {
        "event_id": fields.pop("event_id", f"ev-{next(_ids)}"),
        "type": type_,
        "customer_id": customer_id,
        "occurred_at": occurred,
    }
    if type_ == "order.placed":
        body.setdefault("currency", "SEK")
        fields.setdefault("order_id", f"o-{next(_ids)}")
        fields.setdefault("total", "100")
    if type_ == "order.refunded":
        body.setdefault("currency", "SEK")
    if type_ in ("support.ticket_opened", "support.ticket_resolved"):
        fields.setdefault("ticket_id", f"t-{next(_ids)}")
    body.update(fields)
    return body


def event(type_: str, customer_id: str, at: str | datetime, **fields: Any) -> Event:
    return parse_event(json.dumps(event_dict(type_, customer_id, at, **fields)).encode())
