"""The inbound event contract: what the shop sends us, validated once at the edge.

Every event is a JSON object with ``event_id``, ``type``, ``customer_id`` and
``occurred_at`` plus the fields of its type. Money is a decimal (a JSON string is
the canonical form; a JSON number is accepted and read through its shortest
decimal representation). Timestamps are ISO 8601 strings that carry an offset.
Fields the contract does not know are ignored, so producers can add their own.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)

from lifecycle.exceptions import EventError

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "EVENT_TYPES",
    "MONEY_PATTERN",
    "ConsentChanged",
    "CustomerLoggedIn",
    "CustomerSignedUp",
    "CustomerUpdated",
    "EmailBounced",
    "Event",
    "NpsSurveyAnswered",
    "OrderItem",
    "OrderPlaced",
    "OrderRefunded",
    "SupportTicketOpened",
    "SupportTicketResolved",
    "decode_json_object",
    "dump_event",
    "event_json_schema",
    "parse_event",
    "validate_event",
]

DEFAULT_MAX_EVENT_BYTES = 64 * 1024

_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


def _require_offset_string(value: Any) -> Any:
    # Epoch numbers and naive strings are ambiguous about the zone; the contract wants
    # the producer to say which instant it means.
    if isinstance(value, datetime):
        # A datetime built in Python (not parsed from JSON) must be aware too.
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("has no UTC offset; add one, e.g. +01:00 or Z")
        return value
    if not isinstance(value, str):
        raise ValueError(
            "must be an ISO 8601 string with an offset, e.g. 2026-11-02T14:03:11+01:00"
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("is not an ISO 8601 timestamp, e.g. 2026-11-02T14:03:11+01:00") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("has no UTC offset; add one, e.g. +01:00 or Z")
    return parsed


def _check_email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("is not an email address")
    return value


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("is not an IANA time zone name, e.g. Europe/Stockholm") from None
    return value


def _normalise_locale(value: str) -> str:
    if not _LOCALE.match(value):
        raise ValueError("is not a locale tag, e.g. sv-SE or pl")
    return value.replace("_", "-")


Timestamp = Annotated[AwareDatetime, BeforeValidator(_require_offset_string)]
Email = Annotated[str, Field(max_length=254), AfterValidator(_check_email)]
TimeZoneName = Annotated[str, Field(max_length=64), AfterValidator(_check_timezone)]
Locale = Annotated[str, Field(max_length=35), AfterValidator(_normalise_locale)]
Identifier = Annotated[str, Field(min_length=1, max_length=200)]
#: Money as text in the canonical form: digits, optionally a point and up to 4 decimals.
MONEY_PATTERN = r"^[0-9]{1,14}(\.[0-9]{1,4})?$"
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=18, decimal_places=4, allow_inf_nan=False),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": MONEY_PATTERN},
            ]
        }
    ),
]
#: Counts and scores: JSON integers only (``true`` is not 1, ``"7"`` is not 7).
StrictCount = Annotated[int, Field(strict=True)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
ShortText = Annotated[str, Field(max_length=500)]


class _EventBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)

    event_id: Identifier
    customer_id: Identifier
    occurred_at: Timestamp


class CustomerSignedUp(_EventBase):
    type: Literal["customer.signed_up"]
    email: Email | None = None
    name: ShortText | None = None
    locale: Locale | None = None
    timezone: TimeZoneName | None = None
    marketing_consent: bool = False


class CustomerUpdated(_EventBase):
    """Only the fields present change; ``null`` clears a field."""

    type: Literal["customer.updated"]
    email: Email | None = None
    name: ShortText | None = None
    locale: Locale | None = None
    timezone: TimeZoneName | None = None


class ConsentChanged(_EventBase):
    type: Literal["consent.changed"]
    marketing_consent: bool
    source: ShortText | None = None


class OrderItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    sku: Identifier
    name: ShortText | None = None
    quantity: Annotated[StrictCount, Field(ge=1, le=100_000)] = 1
    price: Money | None = None


class OrderPlaced(_EventBase):
    type: Literal["order.placed"]
    order_id: Identifier
    total: Money
    currency: Currency
    items: Annotated[list[OrderItem], Field(max_length=500)] = []


class OrderRefunded(_EventBase):
    type: Literal["order.refunded"]
    order_id: Identifier
    amount: Money
    currency: Currency


class CustomerLoggedIn(_EventBase):
    type: Literal["customer.logged_in"]
    channel: ShortText | None = None


class SupportTicketOpened(_EventBase):
    type: Literal["support.ticket_opened"]
    ticket_id: Identifier
    topic: ShortText | None = None


class SupportTicketResolved(_EventBase):
    type: Literal["support.ticket_resolved"]
    ticket_id: Identifier
    csat: Annotated[StrictCount, Field(ge=1, le=5)] | None = None
    ces: Annotated[StrictCount, Field(ge=1, le=7)] | None = None


class NpsSurveyAnswered(_EventBase):
    type: Literal["survey.nps"]
    score: Annotated[StrictCount, Field(ge=0, le=10)]
    comment: Annotated[str, Field(max_length=2000)] | None = None


class EmailBounced(_EventBase):
    """A delivery to ``email`` failed. Sent by the worker's own delivery agent, and by any
    email service the shop uses, so bounces from everywhere suppress marketing mail."""

    type: Literal["email.bounced"]
    email: Email
    reason: ShortText
    permanent: bool = True
    message_id: Annotated[str, Field(max_length=300)] | None = None


Event: TypeAlias = Annotated[
    CustomerSignedUp
    | CustomerUpdated
    | ConsentChanged
    | OrderPlaced
    | OrderRefunded
    | CustomerLoggedIn
    | SupportTicketOpened
    | SupportTicketResolved
    | NpsSurveyAnswered
    | EmailBounced,
    Field(discriminator="type"),
]

EVENT_TYPES: tuple[str, ...] = (
    "customer.signed_up",
    "customer.updated",
    "consent.changed",
    "order.placed",
    "order.refunded",
    "customer.logged_in",
    "support.ticket_opened",
    "support.ticket_resolved",
    "survey.nps",
    "email.bounced",
)

_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in item["loc"]) or "event"
        message = item["msg"]
        if item["type"] == "union_tag_invalid":
            tag = item.get("ctx", {}).get("tag", "?")
            message = f"unknown event type {tag!r}; expected one of {', '.join(EVENT_TYPES)}"
            where = "type"
        elif item["type"] == "union_tag_not_found":
            message = "is missing; every event needs a 'type'"
            where = "type"
        parts.append(f"{where}: {message.removeprefix('Value error, ')}")
    return "; ".join(parts)


def parse_event(raw: bytes, *, max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> Event:
    """Decode and validate one record value, or raise :class:`EventError` with the reason."""
    return validate_event(decode_json_object(raw, max_bytes=max_bytes))


def decode_json_object(raw: bytes, *, max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> dict[str, Any]:
    if not raw:
        raise EventError("empty record", "empty")
    if len(raw) > max_bytes:
        raise EventError(f"record is {len(raw)} bytes; the limit is {max_bytes}", "oversized")
    try:
        # Decoded explicitly: json.loads(bytes) would guess UTF-16/32 from the first bytes.
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise EventError("not UTF-8 text", "not_utf8") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EventError(
            f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", "not_json"
        ) from None
    if not isinstance(data, dict):
        raise EventError(f"not a JSON object but a {type(data).__name__}", "not_object")
    return data


def validate_event(data: dict[str, Any]) -> Event:
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        unknown = any(e["type"] == "union_tag_invalid" for e in exc.errors())
        raise EventError(_describe(exc), "unknown_type" if unknown else "invalid") from None


def dump_event(event: Event) -> bytes:
    """The canonical JSON form: money as strings, times as ISO 8601 with offset."""
    return event.model_dump_json(exclude_none=True).encode()


def event_json_schema() -> dict[str, Any]:
    """The JSON Schema of the contract, for producers and editors."""
    schema = _ADAPTER.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Lifecycle worker event"
    return schema
