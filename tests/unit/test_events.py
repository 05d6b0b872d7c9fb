from __future__ import annotations

import json
from decimal import Decimal

import pytest

from lifecycle.events import (
    EVENT_TYPES,
    MONEY_PATTERN,
    OrderPlaced,
    dump_event,
    event_json_schema,
    parse_event,
    validate_event,
)
from lifecycle.exceptions import EventError
from tests.factories import event_dict


def _raw(body: object) -> bytes:
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("raw", "kind", "fragment"),
    [
        (b"", "empty", "empty record"),
        (b"\xff\xfe\x00garbage", "not_utf8", "UTF-8"),
        (b"{not json", "not_json", "not JSON"),
        (b"[1, 2]", "not_object", "not a JSON object"),
        (b'"text"', "not_object", "not a JSON object"),
    ],
)
def test_undecodable_records_are_refused_with_a_kind(raw: bytes, kind: str, fragment: str) -> None:
    with pytest.raises(EventError) as info:
        parse_event(raw)
    assert info.value.kind == kind
    assert fragment in info.value.reason


def test_oversized_record_is_refused_before_parsing() -> None:
    body = _raw(
        event_dict("customer.logged_in", "c-1", "2026-11-02T14:03:11+01:00", channel="x" * 400)
    )
    parse_event(body, max_bytes=len(body))
    with pytest.raises(EventError) as info:
        parse_event(body, max_bytes=len(body) - 1)
    assert info.value.kind == "oversized"
    assert str(len(body)) in info.value.reason


def test_unknown_type_names_the_type_and_lists_the_known_ones() -> None:
    body = event_dict("customer.logged_in", "c-1", "2026-11-02T14:03:11+01:00")
    body["type"] = "cart.abandoned"
    with pytest.raises(EventError) as info:
        parse_event(_raw(body))
    assert info.value.kind == "unknown_type"
    assert "'cart.abandoned'" in info.value.reason
    assert all(t in info.value.reason for t in EVENT_TYPES)


@pytest.mark.parametrize(
    "occurred_at",
    ["2026-11-02T14:03:11", "2026-11-02", 1793000000, "yesterday"],
)
def test_timestamps_must_be_iso_strings_with_an_offset(occurred_at: object) -> None:
    body = event_dict("customer.logged_in", "c-1", "2026-11-02T14:03:11+01:00")
    body["occurred_at"] = occurred_at
    with pytest.raises(EventError) as info:
        parse_event(_raw(body))
    assert "occurred_at" in info.value.reason


def test_money_is_decimal_and_dumps_as_a_string() -> None:
    body = event_dict("order.placed", "c-1", "2026-11-02T14:03:11+01:00", total="59.90")
    event = parse_event(_raw(body))
    assert isinstance(event, OrderPlaced)
    assert event.total == Decimal("59.90")
    dumped = json.loads(dump_event(event))
    assert dumped["total"] == "59.90"
    assert parse_event(dump_event(event)) == event


def test_a_json_number_for_money_is_read_through_its_decimal_text() -> None:
    body = event_dict("order.placed", "c-1", "2026-11-02T14:03:11+01:00")
    body["total"] = 0.1
    event = parse_event(_raw(body))
    assert isinstance(event, OrderPlaced)
    assert event.total == Decimal("0.1")


@pytest.mark.parametrize(
    ("type_", "fields", "where"),
    [
        ("order.placed", {"total": "-1"}, "total"),
        ("order.placed", {"currency": "kronor"}, "currency"),
        ("support.ticket_resolved", {"csat": 6}, "csat"),
        ("support.ticket_resolved", {"ces": 0}, "ces"),
        ("survey.nps", {"score": 11}, "score"),
        ("customer.signed_up", {"email": "not-an-address"}, "email"),
        ("customer.signed_up", {"timezone": "Europe/Atlantis"}, "timezone"),
        ("customer.signed_up", {"locale": "not a locale"}, "locale"),
    ],
)
def test_field_rules_name_the_field(type_: str, fields: dict[str, object], where: str) -> None:
    body = event_dict(type_, "c-1", "2026-11-02T14:03:11+01:00", **fields)
    if type_ == "survey.nps":
        body.setdefault("score", 5)
    with pytest.raises(EventError) as info:
        parse_event(_raw(body))
    assert where in info.value.reason
    assert info.value.kind == "invalid"


def test_every_type_in_the_contract_parses() -> None:
    examples = {
        "customer.signed_up": {
            "email": "ada@example.com",
            "locale": "sv_SE",
            "marketing_consent": True,
        },
        "customer.updated": {"name": "Åsa Öberg"},
        "consent.changed": {"marketing_consent": False},
        "order.placed": {"items": [{"sku": "a", "quantity": 2, "price": "10.00"}]},
        "order.refunded": {"order_id": "o-1", "amount": "5"},
        "customer.logged_in": {},
        "support.ticket_opened": {},
        "support.ticket_resolved": {"csat": 2, "ces": 6},
        "survey.nps": {"score": 9},
        "email.bounced": {"email": "a@example.com", "reason": "550 no such user"},
        "email.clicked": {"message_id": "<abc@shop.example>", "url": "https://shop.example/x"},
    }
    assert set(examples) == set(EVENT_TYPES)
    for type_, fields in examples.items():
        event = parse_event(_raw(event_dict(type_, "c-1", "2026-11-02T14:03:11Z", **fields)))
        assert event.type == type_


def test_locale_underscores_are_normalised_to_tags() -> None:
    body = event_dict("customer.signed_up", "c-1", "2026-11-02T14:03:11Z", locale="sv_SE")
    assert parse_event(_raw(body)).locale == "sv-SE"  # type: ignore[union-attr]


def test_unknown_fields_are_ignored_so_producers_can_add_their_own() -> None:
    body = event_dict(
        "customer.logged_in", "c-1", "2026-11-02T14:03:11Z", device="ios", utm={"a": 1}
    )
    assert parse_event(_raw(body)).type == "customer.logged_in"


def test_json_schema_covers_every_type() -> None:
    schema = event_json_schema()
    text = json.dumps(schema)
    for type_ in EVENT_TYPES:
        assert f'"{type_}"' in text
    assert schema["discriminator"]["propertyName"] == "type"


def test_a_naive_datetime_built_in_python_is_refused() -> None:
    from datetime import UTC, datetime

    body = event_dict("customer.logged_in", "c", "2026-01-01T00:00:00Z")
    with pytest.raises(EventError, match="occurred_at: has no UTC offset"):
        validate_event({**body, "occurred_at": datetime(2026, 1, 1, 12)})
    aware = validate_event({**body, "occurred_at": datetime(2026, 1, 1, 12, tzinfo=UTC)})
    assert aware.occurred_at.utcoffset() is not None


@pytest.mark.parametrize(
    ("type_", "fields", "where"),
    [
        ("survey.nps", {"score": True}, "score"),
        ("survey.nps", {"score": "7"}, "score"),
        ("support.ticket_resolved", {"csat": True}, "csat"),
        ("support.ticket_resolved", {"ces": False}, "ces"),
        ("order.placed", {"items": [{"sku": "s", "quantity": True}]}, "quantity"),
    ],
)
def test_scores_and_quantities_are_strict_integers(
    type_: str, fields: dict[str, object], where: str
) -> None:
    with pytest.raises(EventError, match=where):
        validate_event(event_dict(type_, "c", "2026-01-01T00:00:00Z", **fields))


def test_integer_scores_still_parse() -> None:
    nps = validate_event(event_dict("survey.nps", "c", "2026-01-01T00:00:00Z", score=0))
    assert nps.score == 0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("59.90", True),
        ("0", True),
        ("12345678901234.1234", True),
        ("-1", False),
        ("1.2.3", False),
        ("abc", False),
        ("1.23456", False),
        ("", False),
    ],
)
def test_the_schema_pattern_for_money_text_agrees_with_the_parser(text: str, valid: bool) -> None:
    import re

    schema = event_json_schema()
    total = schema["$defs"]["OrderPlaced"]["properties"]["total"]
    [pattern] = [alt["pattern"] for alt in total["anyOf"] if alt.get("type") == "string"]
    assert pattern == MONEY_PATTERN
    assert bool(re.match(pattern, text)) is valid
    body = event_dict("order.placed", "c", "2026-01-01T00:00:00Z", total=text)
    if valid:
        assert validate_event(body).total == Decimal(text)  # type: ignore[union-attr]
    else:
        with pytest.raises(EventError, match="total"):
            validate_event(body)
