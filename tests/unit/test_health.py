"""Health from crashes and progress: idle is healthy, slow is healthy, stuck is not."""

from __future__ import annotations

import asyncio

import pytest
from faust.types import TP

from streams.health import Health
from tests.support.fake_consumer import FakeConsumer

OUTBOX = TP("lifecycle.outbox", 3)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make() -> tuple[Health, Clock]:
    clock = Clock()
    return Health([OUTBOX.topic], stall_seconds=60, clock=clock), clock


def test_a_partition_with_records_waiting_and_no_progress_is_stalled_after_the_threshold() -> None:
    health, clock = make()
    consumer = FakeConsumer({OUTBOX: 10})
    health.observe(consumer, {OUTBOX: 4})  # type: ignore[arg-type]
    clock.now += 59
    health.observe(consumer, {OUTBOX: 4})  # type: ignore[arg-type]
    assert health.healthy
    clock.now += 2
    health.observe(consumer, {OUTBOX: 4})  # type: ignore[arg-type]
    assert not health.healthy
    [stalled] = health.report()["stalled_partitions"]
    assert stalled == {
        "topic": "lifecycle.outbox",
        "partition": 3,
        "behind": 6,
        "for_seconds": 61.0,
    }


def test_progress_resets_the_clock_and_an_idle_partition_is_never_stalled() -> None:
    health, clock = make()
    consumer = FakeConsumer({OUTBOX: 10})
    for committed in (4, 5, 6, 7):  # slow but moving
        health.observe(consumer, {OUTBOX: committed})  # type: ignore[arg-type]
        clock.now += 50
    assert health.healthy
    idle = FakeConsumer({OUTBOX: 7})
    for _ in range(5):  # nothing waits behind the committed offset
        health.observe(idle, {OUTBOX: 7})  # type: ignore[arg-type]
        clock.now += 100
    assert health.healthy


def test_only_the_agents_topics_count_not_table_changelogs() -> None:
    health, clock = make()
    changelog = TP("lifecycle-worker-customer-state-changelog", 3)
    consumer = FakeConsumer({changelog: 500})  # recovered, and never committed
    health.observe(consumer, {})  # type: ignore[arg-type]
    clock.now += 600
    health.observe(consumer, {})  # type: ignore[arg-type]
    assert health.healthy


def test_a_stall_ends_when_the_partition_moves_or_leaves() -> None:
    health, clock = make()
    consumer = FakeConsumer({OUTBOX: 10})
    health.observe(consumer, {OUTBOX: 4})  # type: ignore[arg-type]
    clock.now += 100
    health.observe(consumer, {OUTBOX: 4})  # type: ignore[arg-type]
    assert not health.healthy
    health.observe(consumer, {OUTBOX: 5})  # type: ignore[arg-type]
    assert health.healthy
    clock.now += 100
    health.observe(FakeConsumer({}), {})  # type: ignore[arg-type]
    assert health.healthy


@pytest.mark.asyncio
async def test_a_crashed_agent_stays_reported_and_a_cancelled_one_is_not_a_crash() -> None:
    health, _ = make()

    async def crashing(stream: object) -> None:
        raise RuntimeError("producer is gone")

    async def cancelled(stream: object) -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await health.watch("lifecycle.delivery", cancelled)(None)
    assert health.healthy
    with pytest.raises(RuntimeError):
        await health.watch("lifecycle.engine", crashing)(None)
    assert not health.healthy
    assert health.report()["crashed_agents"] == {"lifecycle.engine": "RuntimeError"}
    health.observe(FakeConsumer({}), {})  # type: ignore[arg-type]
    assert not health.healthy
