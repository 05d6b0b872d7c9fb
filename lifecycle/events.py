"""The inbound event contract: what the shop sends us, validated once at the edge.

Every event is a JSON object with ``event_id``, ``type``, ``customer_id`` and
``occurred_at`` plus the fields of its type. Money is a decimal (a JSON string is
the canonical form; a JSON number is accepted and read through its shortest
decimal representation). Timestamps are ISO 8601 strings that carry an offset.
Fields the contract does not know are ignored, so producers can add their own.

Invariants:

* :func:`parse_event`, :func:`decode_json_object`, :func:`validate_event` (and the
  engine's ``parse_engine_record``) raise nothing but :class:`EventError`, with a
  ``reason`` and a ``kind``, whatever the input: bytes that are not UTF-8, JSON nested
  deeper than :data:`MAX_JSON_DEPTH`, numbers longer than :data:`MAX_NUMBER_CHARS`
  characters (Python's int parsing is quadratic) or out of a double's range, ``NaN`` and
  ``Infinity``, a key given twice in one object (which of two ``type`` values would a
  reader believe?), lone surrogates (``"\\ud800"``) anywhere, wrong types anywhere.
  A hypothesis test feeds arbitrary bytes and JSON through them.
* The work per record is linear in its size (at most ``max_bytes``): one ``json``
  pass, one walk of the result, one validation; no recursion deeper than the depth
  limit, no number conversion of unbounded length.
* What is accepted is what the core can handle: ``occurred_at`` from
  :data:`EARLIEST_TIMESTAMP` (1970, inclusive) to :data:`LATEST_TIMESTAMP` (2200,
  exclusive), so every date the engine derives (anniversaries, timers, waits of at
  most ten years) stays far inside ``datetime``'s range; identifiers of 1-200
  characters without control or invisible format characters; email addresses as in
  :mod:`lifecycle.addresses` (dot-atom, what the email package and SMTP accept).
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
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

from lifecycle.addresses import ascii_address
from lifecycle.exceptions import EventError

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "EARLIEST_TIMESTAMP",
    "LATEST_TIMESTAMP",
    "MAX_IDENTIFIER_LENGTH",
    "MAX_JSON_DEPTH",
    "MAX_NUMBER_CHARS",
    "EVENT_TYPES",
    "MONEY_PATTERN",
    "ConsentChanged",
    "CustomerLoggedIn",
    "CustomerSignedUp",
    "CustomerUpdated",
    "EmailBounced",
    "EmailClicked",
    "Event",
    "NpsSurveyAnswered",
    "OrderItem",
    "OrderPlaced",
    "OrderRefunded",
    "SupportTicketOpened",
    "SupportTicketResolved",
    "Timestamp",
    "decode_json_object",
    "dump_event",
    "event_json_schema",
    "parse_event",
    "validate_event",
]

DEFAULT_MAX_EVENT_BYTES = 64 * 1024
#: Objects and arrays nest at most this deep (an event itself needs three levels).
MAX_JSON_DEPTH = 32
#: A JSON number is at most this many characters (money has at most 14 + 4 digits).
MAX_NUMBER_CHARS = 40
#: The contract's time range: ``EARLIEST_TIMESTAMP <= occurred_at < LATEST_TIMESTAMP``.
EARLIEST_TIMESTAMP = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIMESTAMP = datetime(2200, 1, 1, tzinfo=UTC)
MAX_IDENTIFIER_LENGTH = 200
#: An unsubscribe link counts as issued this much after the time it carries: the time has
#: whole seconds, and the worker that sent it may run behind the shop's clock (the same
#: five minutes the token check allows). An unsubscribe that is ignored is worse than a
#: re-subscribe within minutes of a mail being undone.
LINK_TIME_TOLERANCE = timedelta(minutes=5)
_MAX_TIMESTAMP_CHARS = 64
_MAX_REASON_CHARS = 1000

_LOCALE = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*")
_TIME_ZONE = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# Control characters (C0, DEL, C1), line and paragraph separators, surrogates, and the
# invisible format characters that can disguise an id in a log line or a report:
# soft hyphen, zero-width and joiners, bidi marks, embeddings, overrides and isolates,
# word joiner and invisible operators, the byte order mark, interlinear annotation.
# A fixed list rather than unicodedata, so every Python version decides alike.
_NOT_IN_IDENTIFIERS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e"
    "\u2060-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff]"
)


def _check_timestamp_range(value: datetime) -> datetime:
    # The year is checked on its own first: comparing aware datetimes converts them to
    # UTC, which overflows for year 1 with a positive offset or 9999 with a negative one.
    if not EARLIEST_TIMESTAMP.year - 1 <= value.year <= LATEST_TIMESTAMP.year or not (
        EARLIEST_TIMESTAMP <= value < LATEST_TIMESTAMP
    ):
        raise ValueError(
            "is outside the supported range: from 1970-01-01T00:00:00Z up to, "
            "not including, 2200-01-01T00:00:00Z"
        )
    return value


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
    if len(value) > _MAX_TIMESTAMP_CHARS:
        raise ValueError(f"is longer than {_MAX_TIMESTAMP_CHARS} characters")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("is not an ISO 8601 timestamp, e.g. 2026-11-02T14:03:11+01:00") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("has no UTC offset; add one, e.g. +01:00 or Z")
    return parsed


def _check_email(value: str) -> str:
    ascii_address(value)  # the ValueError says what is wrong, without the address
    return value


def _check_identifier(value: str) -> str:
    if _NOT_IN_IDENTIFIERS.search(value):
        raise ValueError("contains a control or invisible format character")
    return value


def _check_timezone(value: str) -> str:
    # The name becomes a path in the tz database: only the characters zone names use.
    if not _TIME_ZONE.fullmatch(value):
        raise ValueError("is not an IANA time zone name, e.g. Europe/Stockholm")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a directory of the database ("Europe"), or one that cannot be read.
        raise ValueError("is not an IANA time zone name, e.g. Europe/Stockholm") from None
    return value


def _normalise_locale(value: str) -> str:
    if not _LOCALE.fullmatch(value):
        raise ValueError("is not a locale tag, e.g. sv-SE or pl")
    return value.replace("_", "-")


#: An aware time in the contract's range (also used for ticks on the internal topic).
Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_require_offset_string),
    AfterValidator(_check_timestamp_range),
]
Email = Annotated[str, Field(max_length=254), AfterValidator(_check_email)]
TimeZoneName = Annotated[str, Field(max_length=64), AfterValidator(_check_timezone)]
Locale = Annotated[str, Field(max_length=35), AfterValidator(_normalise_locale)]
Identifier = Annotated[
    str, Field(min_length=1, max_length=MAX_IDENTIFIER_LENGTH), AfterValidator(_check_identifier)
]
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
    """A consent statement. ``link_issued_at`` is set by the unsubscribe route: the click
    speaks for when the link was sent, so a link from before a later opt-in cannot undo it
    (:mod:`lifecycle.customer.apply`, with :data:`LINK_TIME_TOLERANCE`)."""

    type: Literal["consent.changed"]
    marketing_consent: bool
    source: ShortText | None = None
    link_issued_at: Timestamp | None = None


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
    message_id: Annotated[str, Field(max_length=300), AfterValidator(_check_identifier)] | None = (
        None
    )


class EmailClicked(_EventBase):
    """The customer clicked a link in an email (from the shop's click tracking or an ESP
    webhook). Counts as the customer's own activity for send-time optimisation; opens
    are not taken, since mail privacy proxies fetch images for the reader."""

    type: Literal["email.clicked"]
    message_id: Annotated[str, Field(max_length=300), AfterValidator(_check_identifier)] | None = (
        None
    )
    campaign: Identifier | None = None
    url: Annotated[str, Field(max_length=2000)] | None = None


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
    | EmailBounced
    | EmailClicked,
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
    "email.clicked",
)

_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in item["loc"]) or "event"
        message = item["msg"]
        if item["type"] == "union_tag_invalid":
            tag = str(item.get("ctx", {}).get("tag", "?"))
            if len(tag) > 40:
                tag = tag[:40] + "..."
            message = f"unknown event type {tag!r}; expected one of {', '.join(EVENT_TYPES)}"
            where = "type"
        elif item["type"] == "union_tag_not_found":
            message = "is missing; every event needs a 'type'"
            where = "type"
        parts.append(f"{where}: {message.removeprefix('Value error, ')}")
    reason = "; ".join(parts)
    # A reason goes into a dead-letter header: a record with thousands of broken fields
    # must not make a header larger than the record.
    return reason if len(reason) <= _MAX_REASON_CHARS else reason[:_MAX_REASON_CHARS] + "..."


def parse_event(raw: bytes, *, max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> Event:
    """Decode and validate one record value, or raise :class:`EventError` with the reason."""
    return validate_event(decode_json_object(raw, max_bytes=max_bytes))


def _refuse_constant(name: str) -> Any:
    raise EventError(f"not JSON: {name} is not a JSON number", "not_json")


def _checked_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise EventError(
            f"not JSON this worker reads: a number longer than {MAX_NUMBER_CHARS} characters",
            "not_json",
        )
    return int(text)


def _checked_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise EventError(
            f"not JSON this worker reads: a number longer than {MAX_NUMBER_CHARS} characters",
            "not_json",
        )
    value = float(text)
    if not math.isfinite(value):
        raise EventError("not JSON this worker reads: a number out of range", "not_json")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            shown = ascii(key[:40])
            raise EventError(
                f"not JSON this worker reads: the key {shown} is given twice", "not_json"
            )
        seen.add(key)
    raise AssertionError("unreachable: a shorter dict means a repeated key")  # pragma: no cover


def _too_deep(data: dict[str, Any] | list[Any]) -> bool:
    """Whether containers nest deeper than :data:`MAX_JSON_DEPTH`, level by level."""
    level: list[Any] = [data]
    for _ in range(MAX_JSON_DEPTH):
        below: list[Any] = []
        for container in level:
            items = container.values() if isinstance(container, dict) else container
            below.extend(item for item in items if isinstance(item, dict | list))
        if not below:
            return False
        level = below
    return True


def _strings(data: Any) -> list[str]:
    """Every key and string value, without recursion (the depth is checked already)."""
    found: list[str] = []
    pending: list[Any] = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            found.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return found


def _check_decoded(text: str, data: dict[str, Any]) -> None:
    # Both walks run only when the text could hold what they look for, so an ordinary
    # event costs two scans of its text at C speed.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _too_deep(data):
        raise EventError(
            f"not JSON this worker reads: nested deeper than {MAX_JSON_DEPTH} levels",
            "not_json",
        )
    # Valid UTF-8 holds no surrogates; only a \ud800-\udfff escape can make one, and a
    # well-formed pair of them decodes to one character outside the BMP.
    if _SURROGATE_ESCAPE.search(text) and any(_SURROGATE.search(s) for s in _strings(data)):
        raise EventError(
            "not JSON this worker reads: a string holds a lone surrogate "
            "(\\ud800-\\udfff), which is not Unicode text",
            "not_json",
        )


def decode_json_object(raw: bytes, *, max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> dict[str, Any]:
    """One JSON object from a record value, or :class:`EventError` (see the invariants)."""
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
        data = json.loads(
            text,
            parse_int=_checked_int,
            parse_float=_checked_float,
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_keys,
        )
    except json.JSONDecodeError as exc:
        raise EventError(
            f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", "not_json"
        ) from None
    except RecursionError:
        raise EventError(
            f"not JSON this worker reads: nested deeper than {MAX_JSON_DEPTH} levels",
            "not_json",
        ) from None
    if not isinstance(data, dict):
        raise EventError(f"not a JSON object but a {type(data).__name__}", "not_object")
    _check_decoded(text, data)
    return data


def validate_event(data: dict[str, Any]) -> Event:
    """The event in ``data``, or :class:`EventError`; nothing else escapes."""
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        unknown = any(e["type"] == "union_tag_invalid" for e in exc.errors())
        raise EventError(_describe(exc), "unknown_type" if unknown else "invalid") from None
    except (ArithmeticError, LookupError, TypeError, ValueError, RecursionError) as exc:
        # A validator that raised something pydantic does not wrap (an overflow deep in a
        # library, say): still the record's fault, still a dead letter, never a crash.
        raise EventError(f"could not be validated: {type(exc).__name__}", "invalid") from None


def dump_event(event: Event) -> bytes:
    """The canonical JSON form: money as strings, times as ISO 8601 with offset."""
    return event.model_dump_json(exclude_none=True).encode()


def event_json_schema() -> dict[str, Any]:
    """The JSON Schema of the contract, for producers and editors."""
    schema = _ADAPTER.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Lifecycle worker event"
    return schema
