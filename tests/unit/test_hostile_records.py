"""Hostile records through the decode path: an Event, or an EventError with a reason and a
kind, nothing else, for any bytes whatever (issue 10, item 2).

The generated inputs go through ``parse_event`` (the ingest agents) and
``parse_engine_record`` (the engine agent, which re-checks the internal topic).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lifecycle.events import (
    EARLIEST_TIMESTAMP,
    EVENT_TYPES,
    LATEST_TIMESTAMP,
    MAX_JSON_DEPTH,
    dump_event,
    parse_event,
)
from lifecycle.exceptions import EventError
from lifecycle.processing import Tick, parse_engine_record
from tests.factories import event_dict

KINDS = {"empty", "oversized", "not_utf8", "not_json", "not_object", "unknown_type", "invalid"}
BIG = 1 << 20  # max_bytes for the generated records: the size limit is tested on its own
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_refusal(error: EventError) -> None:
    assert isinstance(error.reason, str)
    assert error.reason
    assert error.kind in KINDS, error.kind
    assert len(error.reason) < 1200  # it goes into a dead-letter header


def outcome(raw: bytes) -> object:
    """What the ingest decode path makes of ``raw``; fails the test on anything else."""
    try:
        event = parse_event(raw, max_bytes=BIG)
    except EventError as exc:
        check_refusal(exc)
        return exc
    # An accepted event is one the rest of the worker can carry: it re-encodes to the
    # canonical form, which parses back to the same event, inside the time range.
    again = parse_event(dump_event(event), max_bytes=BIG)
    assert again == event
    assert EARLIEST_TIMESTAMP <= event.occurred_at < LATEST_TIMESTAMP
    return event


def engine_outcome(raw: bytes) -> object:
    try:
        return parse_engine_record(raw, max_bytes=BIG)
    except EventError as exc:
        check_refusal(exc)
        return exc


# -- arbitrary bytes and arbitrary JSON -------------------------------------------------

# Every code point, surrogates included (json.dumps writes those as \ud800 escapes).
any_text = st.text(st.characters(exclude_categories=()), max_size=30)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | any_text,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(any_text | st.sampled_from(["type", "event_id"]), children, max_size=4)
    ),
    max_leaves=20,
)


@SETTINGS
@given(st.binary(max_size=300))
@example(b"\xff\xfe{}")
@example(b"\xed\xa0\x80")  # a UTF-8 encoded surrogate: not UTF-8
@example(b"[" * 100_000)
def test_arbitrary_bytes_decode_to_an_event_or_an_event_error(raw: bytes) -> None:
    outcome(raw)
    engine_outcome(raw)


@SETTINGS
@given(json_values)
def test_arbitrary_json_decodes_to_an_event_or_an_event_error(value: Any) -> None:
    raw = json.dumps(value, allow_nan=True).encode()
    outcome(raw)
    engine_outcome(raw)


# -- JSON shaped like our events, with hostile field values ------------------------------

AT = "2026-11-02T14:03:11+01:00"
FIELDS = (
    "event_id",
    "type",
    "customer_id",
    "occurred_at",
    "email",
    "name",
    "locale",
    "timezone",
    "marketing_consent",
    "order_id",
    "total",
    "amount",
    "currency",
    "items",
    "ticket_id",
    "csat",
    "ces",
    "score",
    "comment",
    "message_id",
    "link_issued_at",
    "at",
)

# Raw JSON text for one field value: things json.dumps cannot even write.
hostile_fragments = st.one_of(
    st.sampled_from(
        [
            "9" * 5000,
            "-" + "9" * 4301,
            "1" + "0" * 400 + ".5",
            "1e999999",
            "-1e400",
            "1e-999999",
            "NaN",
            "Infinity",
            "-Infinity",
            "[" * 5000 + "]" * 5000,
            '{"a":' * 3000 + "1" + "}" * 3000,
            "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1),
            '"\\ud800"',
            '"\\udfff\\ud800"',
            '"a\\u0000b"',
            '"\\u202e\\u2066"',
            '"x\\r\\nBcc: eve@example.com"',
            '"' + "x" * 70_000 + '"',
            '"1e999999999"',
            '"NaN"',
            '"-0"',
            '"0001-01-01T00:00:00+01:00"',
            '"9999-12-31T23:59:59-01:00"',
            '"1969-12-31T23:59:59Z"',
            '"2200-01-01T00:00:00Z"',
            '"2199-12-31T23:59:59-23:59"',
            '"2026-11-02T14:03:11"',
            '"john.@example.com"',
            '".john@example.com"',
            '"jo..hn@example.com"',
            '"\\"john doe\\"@example.com"',
            '"john@[192.0.2.1]"',
            '"john@-example.com"',
            '"john@example..com"',
            '"john@example.123"',
            '"=?utf-8?q?x=0D=0Ay?=@example.com"',
            '"' + "a" * 65 + '@example.com"',
            '"john@' + "a" * 64 + '.com"',
            '"Europe"',
            '"../../etc/passwd"',
            '"Europe/Stockholm\\u0000"',
            '"UTC\\ud800"',
            "true",
            "null",
            "{}",
            "[]",
            '[{"sku": null}]',
            '[{"sku": "a", "quantity": 1e999}]',
        ]
    ),
    json_values.map(lambda v: json.dumps(v, allow_nan=True)),
)


def _base(kind: str) -> dict[str, Any]:
    if kind == "lifecycle.tick":
        return {"type": "lifecycle.tick", "at": AT}
    body = event_dict(kind, "c-1", AT)
    if kind == "email.bounced":
        body.update(email="kund@example.com", reason="550 5.1.1 no such user")
    if kind == "survey.nps":
        body["score"] = 7
    if kind == "consent.changed":
        body["marketing_consent"] = False
    return body


@st.composite
def hostile_events(draw: st.DrawFn) -> bytes:
    body = _base(draw(st.sampled_from([*EVENT_TYPES, "lifecycle.tick"])))
    replaced = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3))
    fragments = {field: draw(hostile_fragments) for field in replaced}
    keep_original = draw(st.booleans())  # a field given twice: a duplicate key
    kept = {k: v for k, v in body.items() if keep_original or k not in fragments}
    text = json.dumps(kept)[:-1]
    for field, fragment in fragments.items():
        text += f', "{field}": {fragment}'
    return (text + "}").encode()


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_events())
def test_event_shaped_json_with_hostile_values_is_an_event_or_an_event_error(raw: bytes) -> None:
    outcome(raw)
    engine_outcome(raw)


# -- the examples of the issue, each with its kind -------------------------------------


def _with(
    field: str, fragment: str, kind: str = "customer.signed_up", *, twice: bool = False
) -> bytes:
    text = json.dumps({k: v for k, v in _base(kind).items() if twice or k != field})[:-1]
    return (text + f', "{field}": {fragment}}}').encode()


@pytest.mark.parametrize(
    ("raw", "kind", "fragment"),
    [
        (b"[" * 100_000, "not_json", "nested deeper"),
        (_with("name", "[" * 40 + "]" * 40), "not_json", "nested deeper"),
        (_with("x", "9" * 5000), "not_json", "longer than 40"),
        (_with("total", "1e999", "order.placed"), "not_json", "out of range"),
        (_with("total", "NaN", "order.placed"), "not_json", "NaN"),
        (_with("x", "-Infinity"), "not_json", "Infinity"),
        (_with("type", '"order.placed"', twice=True), "not_json", "'type' is given twice"),
        (_with("x", '"\\ud800"'), "not_json", "surrogate"),
        (_with("event_id", '"e\\u0000"'), "invalid", "event_id"),
        (_with("customer_id", '"c\\u202e1"'), "invalid", "customer_id"),
        (_with("customer_id", '"' + "c" * 201 + '"'), "invalid", "customer_id"),
        (_with("occurred_at", '"0001-01-01T00:00:00+01:00"'), "invalid", "supported range"),
        (_with("occurred_at", '"9999-12-31T23:59:59-01:00"'), "invalid", "supported range"),
        (_with("occurred_at", '"1969-12-31T23:59:59Z"'), "invalid", "supported range"),
        (_with("occurred_at", '"2200-01-01T00:00:00Z"'), "invalid", "supported range"),
        (_with("email", '"john.@example.com"'), "invalid", "dot-atom"),
        (_with("timezone", '"Europe"'), "invalid", "time zone"),
        (_with("timezone", '"../../etc/passwd"'), "invalid", "time zone"),
        (_with("at", '"0001-01-01T00:00:00+01:00"', "lifecycle.tick"), "invalid", "range"),
    ],
)
def test_each_class_of_hostile_record_is_refused_with_its_kind(
    raw: bytes, kind: str, fragment: str
) -> None:
    with pytest.raises(EventError) as info:
        parse_engine_record(raw, max_bytes=BIG)
    assert info.value.kind == kind
    assert fragment in info.value.reason


def test_the_edges_of_the_time_range_are_accepted() -> None:
    for at in ("1970-01-01T00:00:00Z", "1970-01-01T01:00:00+01:00", "2199-12-31T23:59:59Z"):
        event = parse_event(json.dumps(event_dict("customer.logged_in", "c-1", at)).encode())
        assert event.occurred_at.isoformat()[:4] in ("1970", "2199")
    raw = b'{"type": "lifecycle.tick", "at": "2199-12-31T23:59:59Z"}'
    tick = parse_engine_record(raw, max_bytes=BIG)
    assert isinstance(tick, Tick)


# -- bounded CPU ------------------------------------------------------------------------

LIMIT = 512 * 1024  # the largest LIFECYCLE_MAX_EVENT_BYTES


def _filled(unit: str, *, prefix: str = '{"a": [', suffix: str = "0]}") -> bytes:
    count = (LIMIT - len(prefix) - len(suffix)) // len(unit)
    return (prefix + unit * count + suffix).encode()


@pytest.mark.parametrize(
    "raw",
    [
        _filled("[", prefix="", suffix=""),
        _filled("9" * 40 + ","),
        _filled("1" * 39 + "e9,"),
        _filled('"\\ud7ff\\ue000",'),
        _filled('{"k": 1},'),
        _filled("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH + ","),
        ('{"a": "' + "\\u0000" * (LIMIT // 6 - 2) + '"}').encode(),
    ],
    ids=["brackets", "long-ints", "floats", "escapes", "objects", "deep-lists", "nul-escapes"],
)
def test_a_largest_record_costs_bounded_cpu(raw: bytes) -> None:
    assert len(raw) <= LIMIT
    started = time.process_time()
    outcome(raw)
    # Linear work: well under a second even on a busy 2-core machine. A quadratic step
    # (int() of long digit strings, a regex that backtracks) would take minutes.
    assert time.process_time() - started < 3.0
