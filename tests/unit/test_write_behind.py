"""The engine's batches: writes held until the batch's outbox records are acknowledged.

Fakes stand in for Faust (dicts as tables, a topic whose futures the test resolves); the
broker path is every integration test, and the SIGKILL tests show nothing is lost.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import faust.streams
import pytest

from lifecycle.processing import Engine
from streams.agents import EngineAgent
from streams.dead_letter import DeadLetters
from streams.internals import acting_for
from streams.metrics import WorkerMetrics
from streams.settings import Settings
from streams.tables import RawTableStore, TableStateStore, WriteBehind
from tests.unit.campaigns.support import shipped_campaigns
from tests.unit.test_agents_survive_hostile_records import (
    FakeStream,
    FakeTable,
    counted,
    record,
    signup,
)
from tests.unit.test_delivery_attempts import FakeTopic


class PartitionRecordingTable(FakeTable):
    """Records each write's key and the partition of Faust's current event."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[tuple[bytes, int | None]] = []

    def __setitem__(self, key: bytes, value: bytes) -> None:
        event = faust.streams.current_event()
        self.written.append((key, None if event is None else event.message.partition))
        super().__setitem__(key, value)


def test_reads_see_held_writes_and_the_table_gets_them_in_order_for_their_event() -> None:
    table = PartitionRecordingTable()
    behind = WriteBehind()
    store = RawTableStore(table, behind)  # type: ignore[arg-type]
    store.put(b"k", b"old")  # not holding: straight to the table
    first, second = record(b"", 1, partition=3), record(b"", 2, partition=5)
    behind.begin()
    behind.working_for(first)
    store.put(b"k", b"v1")
    store.put(b"gone", b"x")
    behind.working_for(second)
    store.delete(b"gone")
    store.put(b"k", b"v2")
    assert store.get(b"k") == b"v2"
    assert store.get(b"gone") is None
    assert table == {b"k": b"old"}  # nothing written yet

    assert behind.write() == []
    assert table == {b"k": b"v2"}
    # Only each key's last write lands ("gone" was never in the table: nothing to delete).
    assert table.written == [(b"k", None), (b"k", 5)]
    assert not behind.holding
    assert store.get(b"k") == b"v2"


def test_every_write_with_counted_facts_lands_even_when_a_later_one_replaces_it() -> None:
    tracked: list[tuple[object, ...]] = []

    class Journal:
        def track(self, future: object, facts: tuple[object, ...]) -> None:
            tracked.append(facts)

    class Table(PartitionRecordingTable):
        """put_tracked's side of a Faust table: a changelog send, and the store behind."""

        def __init__(self) -> None:
            super().__init__()
            self.data: dict[bytes, bytes] = {}

        def partition_for_key(self, key: bytes) -> int:
            event = faust.streams.current_event()
            assert event is not None
            return int(event.message.partition)

        def send_changelog(self, partition: int, key: bytes, value: bytes) -> object:
            self.written.append((key, partition))
            return object()

    table = Table()
    behind = WriteBehind()
    behind.begin()
    for n, facts in enumerate([("a",), (), ("b",), ()]):
        behind.working_for(record(b"", n, partition=n))
        behind.hold(table, b"c1", f"v{n}".encode(), journal=Journal(), facts=facts)  # type: ignore[arg-type]
    assert behind.write() == []
    assert tracked == [("a",), ("b",)]  # both counted writes, then the last one
    assert table.written == [(b"c1", 0), (b"c1", 2), (b"c1", 3)]
    assert table == {b"c1": b"v3"}


def test_a_write_that_raises_is_reported_with_its_event_and_the_others_still_land() -> None:
    class Refusing(FakeTable):
        def __setitem__(self, key: bytes, value: bytes) -> None:
            if key == b"bad":
                raise RuntimeError("refused")
            super().__setitem__(key, value)

    table = Refusing()
    behind = WriteBehind()
    store = RawTableStore(table, behind)  # type: ignore[arg-type]
    behind.begin()
    for n, key in enumerate([b"a", b"bad", b"c"]):
        event = record(b"", n)
        behind.working_for(event)
        store.put(key, b"v")
    failed = behind.write()
    assert [(e.message.offset, str(exc)) for e, exc in failed] == [(1, "refused")]
    assert table == {b"a": b"v", b"c": b"v"}


def test_the_current_event_fence_sets_and_restores_faust_current_event() -> None:
    outer, inner = record(b"", 1), record(b"", 2)
    assert faust.streams.current_event() is None
    with acting_for(outer):
        assert faust.streams.current_event() is outer
        with acting_for(inner):
            assert faust.streams.current_event() is inner
        assert faust.streams.current_event() is outer
    assert faust.streams.current_event() is None


class GatedTopic(FakeTopic):
    """Keeps every send's future pending until the test settles it; records order."""

    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log
        self.pending: list[asyncio.Future[None]] = []

    async def send(self, **kwargs: Any) -> asyncio.Future[None]:  # type: ignore[override]
        await super().send(**kwargs)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        self.log.append("outbox")
        return future


class LoggingTable(FakeTable):
    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.log.append("state")
        super().__setitem__(key, value)


def _agent(log: list[str]) -> tuple[EngineAgent, GatedTopic, LoggingTable, FakeTopic, Any]:
    s = Settings()
    outbox, dead, states = GatedTopic(log), FakeTopic(), LoggingTable(log)
    behind = WriteBehind()
    metrics = WorkerMetrics()
    agent = EngineAgent(
        Engine(s.engine, shipped_campaigns()),
        states=TableStateStore(states, write_behind=behind),  # type: ignore[arg-type]
        split_counts=RawTableStore(FakeTable(), behind),  # type: ignore[arg-type]
        write_behind=behind,
        outbox=outbox,  # type: ignore[arg-type]
        dead_letters=DeadLetters(dead),  # type: ignore[arg-type]
        metrics=metrics,
        max_event_bytes=s.max_event_bytes,
        due_bucket_seconds=s.due_bucket_seconds,
        partitions=1,
        batch_size=10,
    )
    return agent, outbox, states, dead, metrics


def _midday() -> datetime:
    """Today at noon UTC: the signups' welcome email goes at once, outside quiet hours
    (whatever the hour the test runs at)."""
    return datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


async def _until_handed_over(outbox: GatedTopic, count: int) -> None:
    async with asyncio.timeout(10):
        while len(outbox.pending) < count:
            await asyncio.sleep(0)


def _login(customer: str, at: datetime, n: int) -> bytes:
    return json.dumps(
        {
            "event_id": f"login-{customer}-{n}",
            "type": "customer.logged_in",
            "customer_id": customer,
            "occurred_at": at.isoformat(),
        }
    ).encode()


@pytest.mark.asyncio
async def test_no_state_is_written_before_the_batch_outbox_is_acknowledged() -> None:
    log: list[str] = []
    agent, outbox, states, dead, metrics = _agent(log)
    now = _midday()
    records = [
        record(signup("c1", now), 0, key=b"c1"),  # the welcome email goes at once
        record(_login("c1", now + timedelta(minutes=1), 1), 1, key=b"c1"),
        record(signup("c2", now), 2, key=b"c2"),
    ]
    run = asyncio.create_task(agent.run(FakeStream(records, batch=3)))  # type: ignore[arg-type]
    await _until_handed_over(outbox, 2)  # both welcome emails handed to the producer
    for _ in range(20):  # the agent is parked on the acknowledgements
        await asyncio.sleep(0)
    assert not run.done()
    assert "state" not in log
    assert dict(states) == {}
    for future in outbox.pending:
        future.set_result(None)
    await run
    assert log.index("state") > max(i for i, x in enumerate(log) if x == "outbox")
    assert set(states) == {b"c1", b"c2"}
    assert dead.records == []
    assert counted(metrics, "lifecycle_events_processed_total") == 3


@pytest.mark.asyncio
async def test_a_refused_outbox_record_drops_that_customer_state_and_dead_letters_its_records() -> (
    None
):
    log: list[str] = []
    agent, outbox, states, dead, metrics = _agent(log)
    now = _midday()
    records = [
        record(signup("c1", now), 0, key=b"c1"),
        record(signup("c2", now), 1, key=b"c2"),
        record(_login("c1", now + timedelta(minutes=1), 1), 2, key=b"c1"),
    ]
    run = asyncio.create_task(agent.run(FakeStream(records, batch=3)))  # type: ignore[arg-type]
    await _until_handed_over(outbox, 2)
    refused, accepted = outbox.pending
    refused.set_exception(RuntimeError("broker said no"))
    accepted.set_result(None)
    await run
    assert set(states) == {b"c2"}  # c1's state stays as it was (none): reprocessable
    offsets = sorted(int(h["lifecycle.source-offset"]) for h in dead.headers)
    assert offsets == [0, 2]  # both records that changed c1 in the batch
    assert all("outbox publish failed" in h["lifecycle.reason"] for h in dead.headers)
    assert counted(metrics, "lifecycle_events_processed_total") == 1
