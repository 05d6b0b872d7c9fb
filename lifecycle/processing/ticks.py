"""Ticks: the passage of time as a record on the customer-events topic.

The ticker writes one to every partition; the engine handles it like an event, in the
partition that owns the customers, and wakes the customers due by its time.

Invariant: :func:`parse_engine_record` raises nothing but
:class:`~lifecycle.exceptions.EventError` for any bytes (the decoding rules are
:func:`lifecycle.events.decode_json_object`'s), and a tick's time is in the event
contract's range, so waking customers at it cannot overflow either.
"""

from __future__ import annotations

import json
from datetime import datetime

from pydantic import BaseModel, ConfigDict, ValidationError

from lifecycle.events import Event, Timestamp, decode_json_object, validate_event
from lifecycle.exceptions import EventError

__all__ = ["TICK_TYPE", "Tick", "encode_tick", "parse_engine_record"]

TICK_TYPE = "lifecycle.tick"


class Tick(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: Timestamp


def encode_tick(at: datetime) -> bytes:
    return json.dumps({"type": TICK_TYPE, "at": at.isoformat()}).encode()


def parse_engine_record(raw: bytes, *, max_bytes: int) -> Event | Tick:
    """Records on the internal topic were validated at ingest, but are checked again:
    the topic is writable by anyone with access to the cluster."""
    data = decode_json_object(raw, max_bytes=max_bytes)
    if data.get("type") == TICK_TYPE:
        try:
            return Tick.model_validate(data)
        except ValidationError as exc:
            error = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(p) for p in error["loc"]) or "tick"
            message = error["msg"].removeprefix("Value error, ")
            raise EventError(f"bad tick: {where}: {message}") from None
    return validate_event(data)
