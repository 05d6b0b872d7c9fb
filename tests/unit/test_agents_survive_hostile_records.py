"""Hostile records through the agents' own code: each ends processed or dead-lettered and
counted, the agent never raises, and the record after it is still handled.

Fakes stand in for Faust (a list of records as the stream, dicts as tables, topics that
keep what is sent); the real broker path is in tests/integration/test_hostile_delivery.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle.campaigns import CampaignSet
from lifecycle.mail.ledger import LedgerEntry, RetryRecord
from lifecycle.processing import Engine, encode_tick
from streams.agents import EngineAgent, OutboxAgent, RetryAgent
from streams.agents.ticker import TICK_KEY
from streams.dead_letter import DeadLetters
from streams.metrics import WorkerMetrics
from streams.settings import Settings
from streams.tables import RawTableStore, TableStateStore, WriteBehind
from tests.factories import event_dict
from tests.unit.test_delivery_attempts import FakeTopic, make_delivery, message

HOSTILE_BYTES = [
    b"",
    b"\xff\xfe not utf-8",
    b"[" * 50_000 + b"]" * 50_000,  # deep nesting
    b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    b'{"type": "order.placed", "total": ' + b"9" * 5000 + b"}",  # a huge integer
    b'{"type": "lifecycle.tick", "at": "9999-12-31T23:59:59+00:00"}',  # overflows later
    b'{"type": "lifecycle.tick", "at": "0001-01-01T00:00:00+00:00"}',
    b"null",
    b"1e999999",
    json.dumps({"message": {"x": 1}, "attempt": 2}).encode(),
]


class FakeTable(dict):  # type: ignore[type-arg]
    """What the stores use of a Faust table: a dict of bytes."""


class FakeEvent:
    """What the agents use of a Faust event: its message (and, like Faust's, a weakref)."""

    def __init__(self, message: SimpleNamespace) -> None:
        self.message = message


def record(value: bytes, offset: int, *, key: bytes = b"c1", partition: int = 0) -> Any:
    source = SimpleNamespace(
        key=key,
        value=value,
        partition=partition,
        topic="customer-events",
        offset=offset,
        acked=False,
    )
    return FakeEvent(source)


class FakeStream:
    """A list of records; ``take_events`` yields them in batches of ``batch``."""

    def __init__(self, records: Iterable[Any], batch: int = 3) -> None:
        self.records = list(records)
        self.batch = batch

    async def events(self) -> Any:
        for one in self.records:
            yield one

    async def take_events(self, max_: int, within: float) -> Any:
        size = min(max_, self.batch)
        for start in range(0, len(self.records), size):
            yield self.records[start : start + size]


def dead_letter_offsets(topic: FakeTopic) -> list[int]:
    return [int(h["lifecycle.source-offset"]) for h in topic.headers]


def counted(metrics: WorkerMetrics, name: str) -> float:
    return sum(
        sample.value
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name == name
    )


def engine_agent(
    states: FakeTable | None = None,
    *,
    campaigns: CampaignSet | None = None,
    **options: Any,
) -> tuple[EngineAgent, SimpleNamespace]:
    """An engine agent over fakes (``kit``: its outbox, dead letters, metrics and states);
    ``options`` go to EngineAgent as they are (max_send_delay, clock, ...)."""
    s = Settings()
    kit = SimpleNamespace(
        outbox=FakeTopic(),
        dead_letter=FakeTopic(),
        metrics=WorkerMetrics(),
        states=FakeTable() if states is None else states,
        split_counts=FakeTable(),
    )
    behind = WriteBehind()
    agent = EngineAgent(
        Engine(s.engine, campaigns),
        states=TableStateStore(kit.states, write_behind=behind),  # type: ignore[arg-type]
        split_counts=RawTableStore(kit.split_counts, behind),  # type: ignore[arg-type]
        write_behind=behind,
        outbox=kit.outbox,  # type: ignore[arg-type]
        dead_letters=DeadLetters(kit.dead_letter),  # type: ignore[arg-type]
        metrics=kit.metrics,
        max_event_bytes=s.max_event_bytes,
        due_bucket_seconds=s.due_bucket_seconds,
        partitions=1,
        **options,
    )
    return agent, kit


def signup(customer: str, at: datetime) -> bytes:
    body = event_dict(
        "customer.signed_up",
        customer,
        at,
        email=f"{customer}@example.com",
        name="Kim",
        marketing_consent=True,
        timezone="UTC",
    )
    return json.dumps(body).encode()


@pytest.mark.asyncio
async def test_every_hostile_engine_record_is_dead_lettered_and_the_next_is_processed() -> None:
    agent, kit = engine_agent()
    now = datetime.now(UTC)
    records = [record(v, n) for n, v in enumerate(HOSTILE_BYTES)]
    records.append(record(signup("c-ok", now), len(records), key=b"c-ok"))
    async with asyncio.timeout(30):
        await agent.run(FakeStream(records))  # type: ignore[arg-type]
    processed = counted(kit.metrics, "lifecycle_events_processed_total")
    ticks = counted(kit.metrics, "lifecycle_ticks_total")
    dead = dead_letter_offsets(kit.dead_letter)
    # Each record exactly one of: dead-lettered (at its own offset) or processed.
    assert len(dead) == len(set(dead))
    assert len(dead) + processed + ticks == len(records)
    assert counted(kit.metrics, "lifecycle_events_dead_lettered_total") == len(dead)
    assert {0, 1, 2, 3, 4, 7, 8, 9} <= set(dead)  # all but the two ticks (no one is due)
    assert len(records) - 1 not in dead  # the valid sign-up after them went through
    assert b"c-ok" in kit.states
    for headers in kit.dead_letter.headers:
        assert headers["lifecycle.reason"]
        assert headers["lifecycle.reason-kind"] in {
            "invalid",
            "engine_error",
            "empty",
            "not_utf8",
        } | {
            "not_json",
            "not_object",
            "unknown_type",
            "oversized",
        }


@pytest.mark.asyncio
async def test_an_engine_bug_dead_letters_the_event_without_quoting_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    agent, kit = engine_agent()

    address = "-".join(("secret", "address@example.com"))  # not in any source line

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError(address)

    agent.engine.handle_event = broken  # type: ignore[method-assign]
    now = datetime.now(UTC)
    records = [record(signup("c1", now), 0), record(signup("c2", now), 1, key=b"c2")]
    await agent.run(FakeStream(records))  # type: ignore[arg-type]
    assert dead_letter_offsets(kit.dead_letter) == [0, 1]
    assert {h["lifecycle.reason-kind"] for h in kit.dead_letter.headers} == {"engine_error"}
    assert kit.dead_letter.headers[0]["lifecycle.reason"] == "engine error: KeyError"
    assert counted(kit.metrics, "lifecycle_events_dead_lettered_total") == 2
    assert address not in caplog.text  # the stack is logged, not the message
    assert "engine failed on customer-events[0]@0: KeyError" in caplog.text


@pytest.mark.asyncio
async def test_an_unreadable_state_fails_its_events_and_leaves_the_due_walk_to_the_others() -> None:
    agent, kit = engine_agent()
    start = datetime.now(UTC) - timedelta(days=1)
    await agent.run(
        FakeStream([record(signup("c-bad", start), 0), record(signup("c-ok", start), 1)])
    )  # type: ignore[arg-type]
    assert {b"c-bad", b"c-ok"} <= set(kit.states)
    kit.states[b"c-bad"] = b'{"customer_id": "c-bad", "version": "from the future"}'
    # Far enough ahead that every due time of both customers has passed.
    later = start + timedelta(days=800)
    records = [
        record(json.dumps(event_dict("customer.logged_in", "c-bad", later)).encode(), 2),
        record(encode_tick(later), 3, key=TICK_KEY),
        record(encode_tick(later + timedelta(days=1)), 4, key=TICK_KEY),
    ]
    await agent.run(FakeStream(records))  # type: ignore[arg-type]
    # The event needing the bad state is dead-lettered; the stored bytes stay as they were.
    assert kit.dead_letter.headers[0]["lifecycle.source-offset"] == "2"
    assert "does not decode" in kit.dead_letter.headers[0]["lifecycle.reason"]
    assert kit.states[b"c-bad"].startswith(b'{"customer_id": "c-bad", "version"')
    # The first tick dead-letters the bad state once and takes it out of the due index;
    # the good customer's due work is done, and the next tick does not trip over it again.
    bad_state = [
        (h, v)
        for h, (k, v, _) in zip(kit.dead_letter.headers, kit.dead_letter.records, strict=True)
        if k == b"c-bad" and h["lifecycle.source-offset"] == "3"
    ]
    assert len(bad_state) == 1
    assert bad_state[0][1] == kit.states[b"c-bad"]
    assert len(kit.dead_letter.records) == 2
    assert counted(kit.metrics, "lifecycle_ticks_total") == 2
    assert counted(kit.metrics, "lifecycle_due_customers_total") >= 1
    assert counted(kit.metrics, "lifecycle_events_dead_lettered_total") == 2


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.binary(max_size=300)
    | st.recursive(
        st.none() | st.integers() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
    ).map(lambda v: json.dumps(v).encode())
)
def test_arbitrary_bytes_end_processed_or_dead_lettered_in_engine_and_delivery(
    value: bytes,
) -> None:
    async def through_both() -> None:
        agent, kit = engine_agent()
        await agent.run(FakeStream([record(value, 0)]))  # type: ignore[arg-type]
        handled = counted(kit.metrics, "lifecycle_events_processed_total") + counted(
            kit.metrics, "lifecycle_ticks_total"
        )
        assert handled + len(kit.dead_letter.records) == 1
        for make in (OutboxAgent, RetryAgent):
            delivery, ledger, sender, worker = make_delivery()
            sender.close = _no_op  # type: ignore[attr-defined]
            await make(delivery).run(FakeStream([record(value, 0)]))  # type: ignore[arg-type]
            dead = worker.topics.dead_letter
            assert len(dead.records) == 1 or (sender.sent or ledger.entries)
            assert counted(worker.metrics, "lifecycle_events_dead_lettered_total") + counted(
                worker.metrics, "lifecycle_emails_dead_lettered_total"
            ) == len(dead.records)

    asyncio.run(through_both())


async def _no_op() -> None:
    return None


# -- delivery: outbox and retry records ---------------------------------------------------


def outbox_record(value: bytes, offset: int, *, topic: str = "outbox", key: bytes = b"c1") -> Any:
    source = SimpleNamespace(
        key=key, value=value, partition=1, topic=topic, offset=offset, acked=False
    )
    return FakeEvent(source)


@pytest.mark.asyncio
async def test_hostile_outbox_records_are_dead_lettered_and_counted_and_sending_goes_on() -> None:
    delivery, ledger, sender, worker = make_delivery()
    sender.close = _no_op  # type: ignore[attr-defined]
    crashing = message(2).model_copy(update={"to_address": "john.@example.com"})
    control = message(3).model_copy(update={"to_address": "kim\u0000@example.com"})
    good = message(4)
    values = [*HOSTILE_BYTES, crashing.to_json_bytes(), control.to_json_bytes()]
    records = [outbox_record(v, n) for n, v in enumerate(values)]
    records.append(outbox_record(good.to_json_bytes(), len(records)))
    async with asyncio.timeout(30):
        await OutboxAgent(delivery).run(FakeStream(records))  # type: ignore[arg-type]
    dead = worker.topics.dead_letter
    offsets = [int(h["lifecycle.source-offset"]) for h in dead.headers]
    assert offsets == list(range(len(values)))  # each bad one once, in order
    assert len(sender.sent) == 1
    assert good.message_id.encode() in sender.sent[0]
    undecodable = counted(worker.metrics, "lifecycle_events_dead_lettered_total")
    given_up = counted(worker.metrics, "lifecycle_emails_dead_lettered_total")
    assert undecodable == len(HOSTILE_BYTES)
    assert given_up == 2
    by_offset = dict(zip(offsets, dead.headers, strict=True))
    crash = by_offset[len(HOSTILE_BYTES)]
    assert crash["lifecycle.reason-kind"] == "unbuildable"
    assert "john" not in crash["lifecycle.reason"]  # no address in the reason
    assert ledger.entries[crashing.message_id.encode()].state == "failed"
    assert ledger.entries[good.message_id.encode()].state == "sent"


@pytest.mark.asyncio
async def test_a_sender_bug_gives_the_message_up_and_the_next_one_is_sent() -> None:
    delivery, ledger, sender, worker = make_delivery()
    sender.close = _no_op  # type: ignore[attr-defined]
    real_send = sender.send
    calls = 0

    async def send_with_a_bug(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise AttributeError("'NoneType' object has no attribute 'write'")
        return await real_send(*args, **kwargs)

    sender.send = send_with_a_bug  # type: ignore[method-assign]
    first, second = message(1), message(2)
    records = [outbox_record(first.to_json_bytes(), 0), outbox_record(second.to_json_bytes(), 1)]
    await OutboxAgent(delivery).run(FakeStream(records))  # type: ignore[arg-type]
    [headers] = worker.topics.dead_letter.headers
    assert headers["lifecycle.reason-kind"] == "delivery_error"
    assert headers["lifecycle.reason"] == "delivery error: AttributeError"
    assert ledger.entries[first.message_id.encode()].state == "failed"
    assert ledger.entries[second.message_id.encode()].state == "sent"
    assert worker.metrics.emails_dead_lettered.labels("delivery_error")._value.get() == 1


@pytest.mark.asyncio
async def test_when_giving_up_fails_too_the_record_itself_is_dead_lettered() -> None:
    delivery, ledger, sender, worker = make_delivery()
    sender.close = _no_op  # type: ignore[attr-defined]

    def broken_put(key: bytes, entry: LedgerEntry) -> None:
        raise OSError("disk full")

    ledger.put = broken_put  # type: ignore[method-assign]
    bad = message(1).model_copy(update={"to_address": "john.@example.com"})
    records = [outbox_record(bad.to_json_bytes(), 7)]
    await OutboxAgent(delivery).run(FakeStream(records))  # type: ignore[arg-type]
    kinds = [h["lifecycle.reason-kind"] for h in worker.topics.dead_letter.headers]
    # The unbuildable message's own dead letter, then the record's, as the last resort.
    assert kinds[-1] == "delivery_error"
    assert worker.topics.dead_letter.headers[-1]["lifecycle.source-offset"] == "7"
    assert counted(worker.metrics, "lifecycle_events_dead_lettered_total") == 1


def retry_value(m: Any, *, attempt: int = 2, not_before: datetime | None = None) -> bytes:
    when = not_before or datetime.now(UTC)
    return RetryRecord(message=m, attempt=attempt, not_before=when).to_bytes()


@pytest.mark.asyncio
async def test_hostile_retry_records_are_dead_lettered_and_a_due_one_is_sent() -> None:
    delivery, ledger, sender, worker = make_delivery()
    sender.close = _no_op  # type: ignore[attr-defined]
    good = message(5)
    far = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    values = [
        *HOSTILE_BYTES,
        retry_value(message(6).model_copy(update={"to_address": "john.@example.com"})),
        retry_value(message(7), attempt=10**30),
    ]
    records = [outbox_record(v, n, topic="outbox-retry") for n, v in enumerate(values)]
    records.append(
        outbox_record(retry_value(message(8), not_before=far), len(records), topic="outbox-retry")
    )
    records.append(outbox_record(retry_value(good), len(records), topic="outbox-retry"))
    async with asyncio.timeout(30):
        await RetryAgent(delivery, sleep=_no_sleep).run(FakeStream(records))  # type: ignore[arg-type]
    offsets = [int(h["lifecycle.source-offset"]) for h in worker.topics.dead_letter.headers]
    assert set(range(len(HOSTILE_BYTES) + 1)) <= set(offsets)
    assert len(offsets) == len(set(offsets))
    assert ledger.entries[good.message_id.encode()].state == "sent"
    # The year-9999 one is simply not due: put back unchanged, never dead-lettered.
    assert len(values) not in offsets
    assert any(
        value == records[len(values)].message.value
        for _, value, _ in worker.topics.outbox_retry.records
    )


async def _no_sleep(seconds: float) -> None:
    return None


@pytest.mark.asyncio
async def test_a_prune_tick_on_the_retry_topic_prunes_and_is_not_a_dead_letter() -> None:
    delivery, _, sender, worker = make_delivery()
    sender.close = _no_op  # type: ignore[attr-defined]
    pruned: list[int] = []
    delivery.prune = lambda partition: pruned.append(partition) or 0  # type: ignore[method-assign]
    tick = outbox_record(encode_tick(datetime.now(UTC)), 0, topic="outbox-retry", key=TICK_KEY)
    await RetryAgent(delivery).run(FakeStream([tick]))  # type: ignore[arg-type]
    assert pruned == [1]
    assert worker.topics.dead_letter.records == []


@pytest.mark.asyncio
async def test_a_broken_expiry_index_does_not_stop_sending(
    caplog: pytest.LogCaptureFixture,
) -> None:
    delivery, ledger, sender, worker = make_delivery()
    sender.close = _no_op  # type: ignore[attr-defined]
    delivery.expiry_store.index[b"expiry:1:dir"] = b"not json"
    m = message(1)
    await OutboxAgent(delivery).run(FakeStream([outbox_record(m.to_json_bytes(), 0)]))  # type: ignore[arg-type]
    assert "pruning the ledger of partition 1 failed" in caplog.text
    assert ledger.entries[m.message_id.encode()].state in {"sent", "failed"}
    assert counted(worker.metrics, "lifecycle_emails_dead_lettered_total") + len(sender.sent) == 1
