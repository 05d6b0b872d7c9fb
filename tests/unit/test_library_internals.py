"""The private names of our libraries that we use still exist, in the shape used.

Faust's, aiokafka's and aiosmtplib's are used in streams/internals; pydantic's instance
slots in lifecycle/values.py (the fast shallow copy of the core's values).

Everything here fails loudly on an upgrade of faust-streaming, aiokafka or aiosmtplib that
renames, removes or reshapes one of them, instead of the worker failing in production. The
integration tests exercise the same code paths against a real broker and SMTP server.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
from pathlib import Path
from types import SimpleNamespace

import aiosmtplib
import aiosmtplib.protocol
import faust.tables.base
import faust.tables.table
import faust.transport.consumer
import faust.types.tuples
import pytest
from faust.transport.drivers import aiokafka as aiokafka_driver
from hypothesis import given, settings
from hypothesis import strategies as st

import streams
from lifecycle.state import CustomerState
from tests.unit.test_state_codec import STATES

STREAMS = Path(streams.__file__).parent


def _parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


def test_faust_consumer_fetch_internals() -> None:
    consumer = aiokafka_driver.Consumer
    assert inspect.iscoroutinefunction(consumer._getmany)
    assert _parameters(consumer._getmany) == ["self", "active_partitions", "timeout"]
    assert _parameters(consumer._is_changelog_tp) == ["self", "tp"]
    # The consumer thread is kept in ``_thread``, and it can seek and wait.
    thread_consumer = faust.transport.consumer.ThreadDelegateConsumer
    assert "_thread" in thread_consumer.__annotations__
    assert _parameters(thread_consumer._new_consumer_thread) == ["self"]
    assert inspect.iscoroutinefunction(aiokafka_driver.AIOKafkaConsumerThread.seek_wait)
    assert _parameters(aiokafka_driver.AIOKafkaConsumerThread.seek_wait) == ["self", "partitions"]
    # What RebalanceSafeConsumer overrides or calls, by the signatures it overrides them with.
    assert _parameters(consumer.getmany) == ["self", "timeout"]
    assert inspect.iscoroutinefunction(consumer.seek_to_committed)
    assert inspect.iscoroutinefunction(consumer.perform_seek)
    assert aiokafka_driver.Transport.Consumer is consumer


@pytest.mark.asyncio
async def test_faust_consumer_thread_creates_the_consumer_the_fetch_wait_is_set_on() -> None:
    import aiokafka

    from streams.internals.rebalance_safe_consumer import FAUST_FETCH_MAX_WAIT_MS

    thread = aiokafka_driver.AIOKafkaConsumerThread
    assert _parameters(thread._create_worker_consumer) == ["self", "transport"]
    assert _parameters(thread.__init__)[:2] == ["self", "consumer"]
    # Faust still passes the value we replace, and aiokafka still keeps it here until start().
    source = inspect.getsource(thread._create_worker_consumer)
    assert f"fetch_max_wait_ms={FAUST_FETCH_MAX_WAIT_MS}" in source
    consumer = aiokafka.AIOKafkaConsumer(fetch_max_wait_ms=123)
    assert consumer._fetch_max_wait_ms == 123
    assert "self._fetch_max_wait_ms" in inspect.getsource(aiokafka.AIOKafkaConsumer.start)
    await consumer.stop()  # never started: only closes its client


@pytest.mark.asyncio
async def test_the_consumer_faust_creates_takes_the_max_poll_records_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from streams.app import build_faust_app
    from streams.settings import load_settings

    monkeypatch.setenv("LIFECYCLE_KAFKA_MAX_POLL_RECORDS", "321")
    app = build_faust_app(load_settings())
    consumer = app.consumer._thread._create_worker_consumer(app.transport)
    try:
        # What aiokafka's getmany() is bounded by, and Faust's fetcher passes it on.
        assert consumer._max_poll_records == 321
        assert "max_records=_consumer._max_poll_records" in inspect.getsource(
            aiokafka_driver.AIOKafkaConsumerThread.getmany
        )
    finally:
        await consumer.stop()


def test_faust_producer_methods_the_draining_producer_overrides() -> None:
    producer = aiokafka_driver.Producer
    assert _parameters(producer.send_soon) == ["self", "fut"]
    assert inspect.iscoroutinefunction(producer.send)
    assert _parameters(producer.send)[:7] == [
        "self",
        "topic",
        "key",
        "value",
        "partition",
        "timestamp",
        "headers",
    ]
    assert inspect.iscoroutinefunction(producer.flush)
    assert _parameters(producer.__post_init__) == ["self"]
    # Faust commits right after this flush (the reason the override exists).
    commit = inspect.getsource(faust.transport.consumer.Consumer._commit_offsets)
    assert "await self.app.producer.flush()" in commit


def test_faust_producer_gives_its_aiokafka_producer_and_aiokafka_takes_batches() -> None:
    import aiokafka
    from aiokafka.producer.message_accumulator import BatchBuilder

    assert _parameters(aiokafka_driver.Producer._ensure_producer) == ["self"]
    source = inspect.getsource(aiokafka_driver.Producer._ensure_producer)
    assert "return self._producer" in source
    producer = aiokafka.AIOKafkaProducer
    assert inspect.iscoroutinefunction(producer.partitions_for)
    assert _parameters(producer.create_batch) == ["self"]
    assert inspect.iscoroutinefunction(producer.send_batch)
    assert _parameters(producer.send_batch) == ["self", "batch", "topic", "partition"]
    assert _parameters(BatchBuilder.append) == ["self", "timestamp", "key", "value", "headers"]
    assert callable(BatchBuilder.close)


def test_faust_table_changelog_internals() -> None:
    collection = faust.tables.base.Collection
    assert _parameters(collection._on_changelog_sent) == ["self", "fut"]
    assert _parameters(collection.partition_for_key) == ["self", "key"]
    # put_tracked: the public call Faust's own on_key_set makes, and the future it returns.
    assert _parameters(collection.send_changelog)[:4] == ["self", "partition", "key", "value"]
    on_key_set = inspect.getsource(faust.tables.table.Table.on_key_set)
    assert "fut = self.send_changelog(self.partition_for_key(key), key, value)" in on_key_set
    assert isinstance(inspect.getattr_static(collection, "changelog_topic"), property)
    assert isinstance(inspect.getattr_static(collection, "data"), property)


@pytest.mark.asyncio
async def test_aiosmtplib_protocol_internals() -> None:
    protocol = aiosmtplib.protocol.SMTPProtocol(loop=asyncio.get_running_loop())
    assert protocol._command_lock is None  # created when the connection is made
    assert inspect.iscoroutinefunction(protocol._drain_helper)
    assert _parameters(protocol._drain_helper) == []
    assert "timeout" in _parameters(protocol.read_response)
    assert _parameters(protocol.write) == ["data"]
    normalize = aiosmtplib.protocol.normalize_message_line_endings
    assert normalize(b"a\nb\r\nc\rd") == b"a\r\nb\r\nc\r\nd\r\n"  # CRLF line ends, CRLF last


def test_aiosmtplib_protocol_creates_its_command_lock_on_connection() -> None:
    source = inspect.getsource(aiosmtplib.protocol.SMTPProtocol.connection_made)
    assert "self._command_lock = asyncio.Lock()" in source


#: Documented public API whose name starts with an underscore: os._exit ends a process
#: at once, without cleanup (the demo's second Ctrl-C).
_PUBLIC_DESPITE_UNDERSCORE = {("os", "_exit")}


def _private_uses(tree: ast.AST) -> set[str]:
    """Names starting with one underscore read off anything but ``self``/``cls``, as an
    attribute or through ``getattr``/``hasattr`` with a literal name."""
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr", "setattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and node.args[1].value.startswith("_")
            and not node.args[1].value.startswith("__")
        ):
            found.add(node.args[1].value)
        if not isinstance(node, ast.Attribute):
            continue
        name = node.attr
        if not name.startswith("_") or name.startswith("__"):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
            continue
        if isinstance(owner, ast.Name) and (owner.id, name) in _PUBLIC_DESPITE_UNDERSCORE:
            continue
        found.add(name)
    return found


def test_library_private_names_are_used_only_behind_the_fence() -> None:
    """Outside streams/internals, no module reaches into another object's private names
    (other than our own objects' ``self._x``, and ``super()._x`` of a class we extend)."""
    offenders = {}
    for path in STREAMS.rglob("*.py"):
        relative = path.relative_to(STREAMS)
        if relative.parts[0] == "internals":
            continue
        names = _private_uses(ast.parse(path.read_text()))
        if names:
            offenders[str(relative)] = sorted(names)
    assert offenders == {}


def test_faust_current_event_context_variable() -> None:
    import contextvars

    import faust.streams

    assert isinstance(faust.streams._current_event, contextvars.ContextVar)
    source = inspect.getsource(faust.streams.current_event)
    assert "_current_event.get(" in source
    # Tables take the partition of the current event for every write.
    assert "current_event()" in inspect.getsource(faust.tables.base.Collection.partition_for_key)


def test_faust_skips_the_ack_of_a_message_already_flagged_acked() -> None:
    """streams.internals.batch_acks withholds a record by flagging ``Message.acked``."""
    from faust.types.tuples import ConsumerMessage

    from streams.internals import withhold_unhandled

    acked: list[int] = []
    consumer = SimpleNamespace(ack=lambda message: acked.append(message.offset) or True)
    messages = [ConsumerMessage("t", 0, n, 0.0, 0, None, b"k", b"v", None) for n in range(2)]
    records = [SimpleNamespace(message=m) for m in messages]
    assert withhold_unhandled(records, {id(records[0])}) == 1  # type: ignore[arg-type]
    for message in messages:  # what take_events does for each record as the batch ends
        message.ack(consumer)  # type: ignore[arg-type]
    assert acked == [0]
    assert "if not self.acked" in inspect.getsource(faust.types.tuples.Message.ack)


def test_faust_producer_buffer_bound_is_the_max_messages_the_conductor_waits_on() -> None:
    import faust.transport.conductor
    import faust.transport.producer

    from streams.internals.draining_producer import BUFFERED_RECORDS

    buffer = faust.transport.producer.ProducerBuffer
    assert buffer.max_messages == 100  # the stock bound DrainingProducer raises
    assert "self.size > self.max_messages" in inspect.getsource(buffer.wait_until_ebb)
    assert "producer.buffer.wait_until_ebb" in inspect.getsource(faust.transport.conductor)
    assert BUFFERED_RECORDS > 500  # more than one default engine batch's state writes


def test_pydantic_instances_still_keep_the_four_slots_the_fast_copy_sets() -> None:
    import pydantic

    assert pydantic.BaseModel.__slots__ == (
        "__dict__",
        "__pydantic_fields_set__",
        "__pydantic_extra__",
        "__pydantic_private__",
    )


def _slots(model: object) -> tuple[object, ...]:
    return (
        type(model),
        model.__dict__,
        model.__pydantic_fields_set__,  # type: ignore[attr-defined]
        model.__pydantic_extra__,  # type: ignore[attr-defined]
        model.__pydantic_private__,  # type: ignore[attr-defined]
    )


@settings(max_examples=100, deadline=None)
@given(STATES, st.sampled_from([None, {}, {"clock": None}, {"customer_id": "c-2", "stage": "new"}]))
def test_the_fast_model_copy_is_pydantics_own(
    state: CustomerState, update: dict[str, object] | None
) -> None:
    import pydantic

    # Decoded from its stored form, a state has only its non-default fields set.
    for original in (state, CustomerState.from_bytes(state.to_bytes())):
        ours = original.model_copy(update=update)
        theirs = pydantic.BaseModel.model_copy(original, update=update)
        assert _slots(ours) == _slots(theirs)
        assert ours == theirs
    # A copy shares nothing mutable with its original.
    assert ours.__dict__ is not state.__dict__
    assert ours.__pydantic_fields_set__ is not state.__pydantic_fields_set__
    nested = state.profile.model_copy(update={"name": "x"})
    assert _slots(nested) == _slots(
        pydantic.BaseModel.model_copy(state.profile, update={"name": "x"})
    )
