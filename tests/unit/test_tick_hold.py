"""The ticker holds a tick until the group has consumed the shop's records written before
it, releases the latest one covered, and gives up holding after the maximum hold."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry, Gauge

from streams.agents import ShopHold, Ticker, TickHold

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
ORDERS_0, ORDERS_1, LOGINS_0 = (
    TopicPartition("orders", 0),
    TopicPartition("orders", 1),
    TopicPartition("logins", 0),
)


def test_a_tick_is_released_once_every_shop_partition_is_consumed_past_its_ends() -> None:
    hold = TickHold(timedelta(hours=1))
    hold.hold(T0, {ORDERS_0: 10, ORDERS_1: 0, LOGINS_0: 5})
    # orders-1 had no records: never committed, it holds nothing back.
    assert hold.release({ORDERS_0: 10, LOGINS_0: 4}, T0 + timedelta(seconds=5)) is None
    assert hold.release({ORDERS_0: 9, LOGINS_0: 5}, T0 + timedelta(seconds=6)) is None
    assert hold.release({ORDERS_0: 10, LOGINS_0: 5}, T0 + timedelta(seconds=7)) == T0
    assert not hold
    assert hold.release({ORDERS_0: 10, LOGINS_0: 5}, T0 + timedelta(seconds=8)) is None


def test_only_the_latest_covered_tick_is_released_and_the_later_ones_stay_held() -> None:
    hold = TickHold(timedelta(hours=1))
    for n, end in enumerate((10, 20, 30)):
        hold.hold(T0 + timedelta(minutes=n), {ORDERS_0: end})
    assert hold.release({ORDERS_0: 25}, T0 + timedelta(minutes=3)) == T0 + timedelta(minutes=1)
    assert hold.held_since() == T0 + timedelta(minutes=2)
    assert hold.release({ORDERS_0: 29}, T0 + timedelta(minutes=4)) is None


def test_a_long_hold_keeps_its_oldest_and_latest_tick_and_a_bounded_number_between() -> None:
    hold = TickHold(timedelta(days=1))
    for n in range(1000):
        hold.hold(T0 + timedelta(minutes=n), {ORDERS_0: n + 1})
    assert hold.held_since() == T0
    assert len(hold) <= 65
    assert hold.release({ORDERS_0: 1000}, T0 + timedelta(hours=17)) == T0 + timedelta(minutes=999)


def test_past_the_maximum_hold_ticks_follow_the_wall_clock_until_the_group_catches_up() -> None:
    hold = TickHold(timedelta(minutes=10))
    hold.hold(T0, {ORDERS_0: 100})
    hold.hold(T0 + timedelta(minutes=5), {ORDERS_0: 200})
    assert hold.release({ORDERS_0: 50}, T0 + timedelta(minutes=9)) is None
    assert not hold.overdue
    late = T0 + timedelta(minutes=11)
    hold.hold(late, {ORDERS_0: 300})
    assert hold.release({ORDERS_0: 60}, late) == late
    assert hold.overdue
    # Still behind: the next tick goes out at once.
    hold.hold(late + timedelta(minutes=1), {ORDERS_0: 400})
    assert hold.release({ORDERS_0: 70}, late + timedelta(minutes=1)) == late + timedelta(minutes=1)
    # Caught up: held again from the next one on.
    hold.hold(late + timedelta(minutes=2), {ORDERS_0: 400})
    assert hold.release({ORDERS_0: 400}, late + timedelta(minutes=2)) is not None
    assert not hold.overdue
    hold.hold(late + timedelta(minutes=3), {ORDERS_0: 500})
    assert hold.release({ORDERS_0: 400}, late + timedelta(minutes=3)) is None


class NamedTopic:
    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[tuple[int, datetime]] = []

    def get_topic_name(self) -> str:
        return self.name

    async def send(self, *, key: bytes, value: bytes, partition: int) -> None:
        self.sent.append((partition, datetime.fromisoformat(json.loads(value)["at"])))


class Shop:
    def __init__(self) -> None:
        self.end = {ORDERS_0: 0}
        self.done = {ORDERS_0: 0}
        self.failing = False

    async def ends(self) -> dict[TopicPartition, int]:
        return dict(self.end)

    async def committed(self) -> dict[TopicPartition, int]:
        if self.failing:
            raise OSError("broker away")
        return dict(self.done)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def ticker(shop: Shop | None, clock: Clock) -> tuple[Ticker, NamedTopic, NamedTopic, Gauge]:
    events, retry = NamedTopic("customer-events"), NamedTopic("outbox-retry")
    held = Gauge("held", "held", registry=CollectorRegistry())
    made = Ticker(
        events,  # type: ignore[arg-type]
        partitions_of=lambda topic: 2,
        default_partitions=2,
        retry_topic=retry,  # type: ignore[arg-type]
        clock=clock,
        hold=None if shop is None else ShopHold(shop, TickHold(timedelta(hours=1))),
        held_seconds=held,
    )
    return made, events, retry, held


def value(gauge: Any) -> float:
    return float(gauge._value.get())


@pytest.mark.asyncio
async def test_a_tick_waits_for_the_group_and_goes_out_dated_when_it_was_due() -> None:
    shop, clock = Shop(), Clock()
    made, events, retry, held = ticker(shop, clock)
    shop.end = {ORDERS_0: 500}  # history the group has not consumed yet
    await made.tick()
    assert events.sent == []
    assert retry.sent == [(0, T0), (1, T0)]  # pruning is wall-clock work: never held
    clock.now = T0 + timedelta(seconds=30)
    shop.done = {ORDERS_0: 499}
    await made.release()
    assert events.sent == []
    assert value(held) == 30
    shop.done = {ORDERS_0: 500}
    clock.now = T0 + timedelta(seconds=31)
    await made.release()
    assert events.sent == [(0, T0), (1, T0)]
    assert value(held) == 0


@pytest.mark.asyncio
async def test_a_caught_up_group_gets_its_tick_at_once_and_a_read_failure_only_delays() -> None:
    shop, clock = Shop(), Clock()
    made, events, _, _ = ticker(shop, clock)
    shop.end = shop.done = {ORDERS_0: 7}
    await made.tick()
    assert events.sent == [(0, T0), (1, T0)]
    shop.failing = True
    clock.now = T0 + timedelta(minutes=1)
    await made.tick()
    assert len(events.sent) == 2
    shop.failing = False
    await made.release()
    assert events.sent[2:] == [(0, clock.now), (1, clock.now)]


@pytest.mark.asyncio
async def test_without_a_shop_progress_reader_ticks_go_out_at_once() -> None:
    clock = Clock()
    made, events, _, held = ticker(None, clock)
    await made.tick()
    await made.release()
    assert events.sent == [(0, T0), (1, T0)]
    assert value(held) == 0
