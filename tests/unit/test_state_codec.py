"""The stored form of a customer state: every field round-trips, old JSON still reads.

The strategies are built from the model's own fields (recursively), so a field someone adds
to ``CustomerState`` or to a model inside it is generated and checked here without a change
to this file or to the codec.
"""

from __future__ import annotations

import json
import types
import typing
import zlib
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal, get_args, get_origin

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from lifecycle.events import parse_event
from lifecycle.processing import Engine, Replay, sorted_history
from lifecycle.state import CustomerState
from lifecycle.state_codec import DICTIONARY_V1, FORMAT_V1, stored_json
from streams.campaign_loading import load_campaign_set
from streams.dev.traffic import generate
from streams.settings import Settings

_TIMES = st.builds(
    lambda seconds, offset: (
        datetime(2020, 1, 1, tzinfo=timezone(timedelta(minutes=offset)))
        + timedelta(seconds=seconds)
    ),
    st.integers(0, 10 * 365 * 86400),
    st.sampled_from([0, 60, 120, -300, 330]),
)
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_SCALARS: dict[Any, st.SearchStrategy[Any]] = {
    str: _TEXT,
    int: st.integers(-(2**40), 2**40),
    float: st.floats(allow_nan=False, allow_infinity=False, width=64),
    bool: st.booleans(),
    type(None): st.none(),
    datetime: _TIMES,
    date: st.dates(date(2000, 1, 1), date(2100, 1, 1)),
    Decimal: st.decimals(
        allow_nan=False, allow_infinity=False, places=2, min_value=-(10**9), max_value=10**9
    ),
}


def strategy_for(annotation: Any) -> st.SearchStrategy[Any]:
    """Values of a field's type, read from the type itself."""
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return st.sampled_from(args)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([strategy_for(a) for a in args])
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(strategy_for(args[0]), max_size=4).map(tuple)
        return st.tuples(*(strategy_for(a) for a in args))
    if origin is dict:
        return st.dictionaries(_TEXT, strategy_for(args[1]), max_size=3)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return model_strategy(annotation)
    if (
        isinstance(annotation, type)
        and issubclass(annotation, tuple)
        and hasattr(annotation, "_fields")
    ):
        hints = typing.get_type_hints(annotation)
        return st.builds(annotation, *(strategy_for(hints[name]) for name in annotation._fields))
    raise AssertionError(f"no strategy for {annotation!r}: teach strategy_for this type")


def model_strategy(model: type[BaseModel]) -> st.SearchStrategy[Any]:
    fields = {name: strategy_for(info.annotation) for name, info in model.model_fields.items()}
    return st.fixed_dictionaries(fields).map(lambda values: model(**values))


STATES = model_strategy(CustomerState)


@settings(max_examples=200, deadline=None)
@given(STATES)
def test_every_field_round_trips(state: CustomerState) -> None:
    raw = state.to_bytes()
    assert raw[0] == FORMAT_V1
    assert CustomerState.from_bytes(raw) == state


@pytest.mark.parametrize("name", sorted(CustomerState.model_fields))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_each_field_alone_round_trips(name: str, data: st.DataObject) -> None:
    """One field set, the others at their defaults: a field that the encoding drops or
    confuses with a default fails here by name."""
    value = data.draw(strategy_for(CustomerState.model_fields[name].annotation))
    fields = {"customer_id": "c-1", name: value}
    state = CustomerState(**fields)
    decoded = CustomerState.from_bytes(state.to_bytes())
    assert getattr(decoded, name) == getattr(state, name)


@settings(max_examples=100, deadline=None)
@given(STATES)
def test_plain_json_of_earlier_versions_still_decodes(state: CustomerState) -> None:
    old = state.model_dump_json(exclude_defaults=True).encode()
    assert CustomerState.from_bytes(old) == state


@settings(max_examples=100, deadline=None)
@given(STATES)
def test_states_deflated_with_the_full_window_still_decode(state: CustomerState) -> None:
    # Version 1 states were first written with a 32 KiB window and the default hash; the
    # encoder's smaller window must not make those unreadable.
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15, 8, zdict=DICTIONARY_V1)
    body = state.model_dump_json(exclude_defaults=True).encode()
    old = bytes((FORMAT_V1,)) + deflate.compress(body) + deflate.flush()
    assert CustomerState.from_bytes(old) == state


def test_states_of_a_shop_are_as_small_as_with_the_full_window() -> None:
    engine = Engine(Settings().engine, load_campaign_set(Settings()))
    replay = Replay(engine, tick=timedelta(hours=1))
    now = datetime(2026, 11, 1, tzinfo=UTC)
    raw = (json.dumps(t.event).encode() for t in generate(now, 150, seed=3))
    for _ in replay.outcomes(sorted_history(parse_event(r) for r in raw)):
        pass
    stored = list(replay.states.data.values())
    full_window = 0
    for value in stored:
        deflate = zlib.compressobj(6, zlib.DEFLATED, -15, 8, zdict=DICTIONARY_V1)
        full_window += 1 + len(deflate.compress(stored_json(value)) + deflate.flush())
    assert len(stored) > 100
    assert sum(map(len, stored)) <= full_window * 1.01


def test_field_names_are_not_spelled_out_in_the_bytes() -> None:
    state = CustomerState(customer_id="c-1", engagement_decline_signalled=True)
    assert b"engagement_decline_signalled" in state.model_dump_json().encode()
    assert b"engagement_decline_signalled" not in state.to_bytes()


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x01",
        b"\x01garbage",
        b"\x02{}",
        bytes((FORMAT_V1,)) + zlib.compress(b"{}"),
    ],
)
def test_bytes_that_are_no_state_raise_value_error(raw: bytes) -> None:
    # ValueError whatever the damage: the store reads it as an unreadable state.
    with pytest.raises(ValueError, match=r"(?i)state|json|eof"):
        CustomerState.from_bytes(raw)


def test_the_version_1_dictionary_never_changes() -> None:
    """States on disk and in changelogs were deflated against it: a change makes them
    unreadable. A better dictionary is a new format byte beside this one."""
    assert zlib.adler32(DICTIONARY_V1) == EXPECTED_DICTIONARY_ADLER32


EXPECTED_DICTIONARY_ADLER32 = 4182756114
