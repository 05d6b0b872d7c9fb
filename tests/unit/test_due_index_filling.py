"""The engine agent's due indexes live in memory and are filled from the stored states.

Fakes stand in for Faust (dicts as tables, a list of records as the stream); the broker
path, a worker killed and restarted with customers due, is in
tests/integration/test_ticks_and_recovery.py.
"""

from __future__ import annotations

import json
import logging
import random
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from lifecycle.kv import MemoryBytesStore
from lifecycle.processing import DueIndex, Engine, encode_tick, partition_for
from streams.agents import EngineAgent
from streams.agents.ticker import TICK_KEY
from streams.dead_letter import DeadLetters
from streams.metrics import WorkerMetrics
from streams.settings import Settings
from streams.tables import RawTableStore, TableStateStore, WriteBehind
from tests.unit.test_agents_survive_hostile_records import (
    FakeStream,
    FakeTable,
    counted,
    record,
    signup,
)
from tests.unit.test_delivery_attempts import FakeTopic

START = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _entries(count: int, seed: int) -> list[tuple[str, datetime]]:
    rng = random.Random(seed)
    # Few buckets, so many customers share one (as local midnights make them do).
    return [
        (f"c-{n}", START + timedelta(minutes=rng.randrange(30), seconds=rng.randrange(60)))
        for n in range(count)
    ]


def _filed(index: DueIndex, now: datetime) -> list[tuple[datetime, str]]:
    return list(index.candidates(now))


def test_filing_at_once_files_what_filing_one_by_one_does() -> None:
    before = _entries(40, seed=1)
    entries = _entries(300, seed=2)[40:]
    one_by_one, at_once = (DueIndex(MemoryBytesStore(), partition=2) for _ in range(2))
    for index in (one_by_one, at_once):  # both start with some customers filed
        for customer_id, due in before:
            index.reschedule(customer_id, None, due)
    for customer_id, due in entries:
        one_by_one.reschedule(customer_id, None, due)
    assert at_once.file_all(iter(entries)) == len(entries)
    for now in (START, START + timedelta(minutes=7), START + timedelta(hours=1)):
        assert _filed(at_once, now) == _filed(one_by_one, now)
    assert len(_filed(at_once, START + timedelta(hours=1))) == 300
    # Moving a customer filed in bulk works as it does for one filed alone.
    customer_id, due = entries[5]
    later = START + timedelta(days=2)
    at_once.reschedule(customer_id, due, later)
    assert (due, customer_id) not in _filed(at_once, START + timedelta(hours=1))
    assert _filed(at_once, later)[-1] == (later, customer_id)
    assert at_once.file_all([]) == 0


def _agent(generation: list[int], states: FakeTable, counts: FakeTable) -> SimpleNamespace:
    s = Settings()
    behind = WriteBehind()
    kit = SimpleNamespace(dead_letter=FakeTopic(), metrics=WorkerMetrics())
    kit.agent = EngineAgent(
        Engine(s.engine, None),
        states=TableStateStore(states, write_behind=behind),  # type: ignore[arg-type]
        split_counts=RawTableStore(counts, behind),  # type: ignore[arg-type]
        write_behind=behind,
        outbox=FakeTopic(),  # type: ignore[arg-type]
        dead_letters=DeadLetters(kit.dead_letter),  # type: ignore[arg-type]
        metrics=kit.metrics,
        max_event_bytes=s.max_event_bytes,
        due_bucket_seconds=s.due_bucket_seconds,
        partitions=2,
        generation=lambda: generation[0],
    )
    return kit


def _customers_of(partition: int, count: int) -> list[str]:
    found = (f"c-{n}" for n in range(1000) if partition_for(f"c-{n}", 2) == partition)
    return [next(found) for _ in range(count)]


def _signups(customers: list[str], partition: int) -> list[Any]:
    return [
        record(signup(customer, START), n, key=customer.encode(), partition=partition)
        for n, customer in enumerate(customers)
    ]


def _tick(partition: int, offset: int, at: datetime) -> Any:
    return record(encode_tick(at), offset, key=TICK_KEY, partition=partition)


async def _due_customers_woken(kit: SimpleNamespace, partition: int, at: datetime) -> float:
    before = counted(kit.metrics, "lifecycle_due_customers_total")
    await kit.agent.run(FakeStream([_tick(partition, 100, at)]))
    return counted(kit.metrics, "lifecycle_due_customers_total") - before


@pytest.mark.asyncio
async def test_a_restarted_agent_finds_the_due_customers_of_its_partition_in_the_states() -> None:
    states, counts, generation = FakeTable(), FakeTable(), [1]
    first = _agent(generation, states, counts)
    mine, theirs = _customers_of(0, 3), _customers_of(1, 2)
    await first.agent.run(FakeStream(_signups(mine, 0) + _signups(theirs, 1)))
    assert len(states) == 5
    # A new agent over the same tables, as after a restart: nothing but the states.
    restarted = _agent(generation, states, counts)
    assert await _due_customers_woken(restarted, 0, START + timedelta(days=4)) == 3
    # The other partition's customers were not filed in partition 0's index.
    assert await _due_customers_woken(restarted, 0, START + timedelta(days=4)) == 0
    assert await _due_customers_woken(restarted, 1, START + timedelta(days=4)) == 2


@pytest.mark.asyncio
async def test_a_new_generation_refills_the_index_from_states_written_elsewhere() -> None:
    states, counts, generation = FakeTable(), FakeTable(), [1]
    kit = _agent(generation, states, counts)
    first, second = _customers_of(0, 4)[:2], _customers_of(0, 4)[2:]
    await kit.agent.run(FakeStream(_signups(first, 0)))
    # Another worker owned partition 0 for a while and signed up two more customers.
    elsewhere = _agent([7], states, counts)
    await elsewhere.agent.run(FakeStream(_signups(second, 0)))
    # Same generation: this agent's index is its own, and knows its two customers only.
    assert await _due_customers_woken(kit, 0, START + timedelta(days=4)) == 2
    generation[0] = 2
    assert await _due_customers_woken(kit, 0, START + timedelta(days=8)) == 4


@pytest.mark.asyncio
async def test_filling_logs_an_unreadable_state_and_deletes_an_earlier_versions_entries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    states, counts, generation = FakeTable(), FakeTable(), [1]
    kit = _agent(generation, states, counts)
    good, bad = _customers_of(0, 2)
    await kit.agent.run(FakeStream(_signups([good, bad], 0)))
    states[bad.encode()] = b'{"customer_id": "' + bad.encode() + b'", "version": "future"}'
    counts.update(
        {
            b"due:0:29531520": json.dumps([[good, 1]]).encode(),
            b"due:0:dirs": b"[20508]",
            b"due:1:dirs": b"[20508]",
            b"alloc:0:win-back:counts": b"{}",
        }
    )
    generation[0] = 2
    with caplog.at_level(logging.INFO, logger="streams.agents.engine"):
        assert await _due_customers_woken(kit, 0, START + timedelta(days=4)) == 1
    assert f"customer {bad}: stored state does not decode (ValidationError)" in caplog.text
    assert "partition 0: 1 customers filed in the due index, 2 entries" in caplog.text
    # Partition 0's old entries are gone; another partition's and the counts stay.
    assert set(counts) == {b"due:1:dirs", b"alloc:0:win-back:counts"}
    assert kit.dead_letter.records == []
