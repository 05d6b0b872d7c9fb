"""The worker's per-partition counters: each acknowledged record's facts counted once, by offset."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from types import SimpleNamespace

import pytest

from lifecycle.measurement import CounterKey, Totals, period_label
from streams.counters import Journal, PartitionCounters, decode_record
from streams.counters.codec import CounterRecord, MarkerRecord, encode_marker, encode_total
from streams.counters.store import expand_record

DAY = 739_000
ORDER = ("o", DAY, "12.50", 7, 0, -1)  # an order, the customer's first of day, week and month
ORDERS = CounterKey.of("orders", period_label(DAY, "month"))


def journal(generation: list[int]) -> Journal:
    return Journal("state", "app-customer-state-changelog", generation=lambda: generation[0])


def ready(j: Journal, partition: int, coverage: int, generation: int = 1) -> None:
    j.partitions[partition] = PartitionCounters(Totals(), coverage, generation)


def orders(j: Journal, partition: int) -> int:
    key = next(k for k in j.partitions[partition].totals.values if k.metric == "orders")
    return int(j.partitions[partition].totals.values[key])


def test_a_record_is_counted_once_by_its_offset() -> None:
    j = journal([1])
    ready(j, 0, coverage=9)
    j.acknowledged(0, 10, (ORDER,))
    j.acknowledged(0, 10, (ORDER,))  # the same record again
    j.acknowledged(0, 7, (ORDER,))  # already in the recovered totals
    j.acknowledged(0, 11, (ORDER,))
    assert orders(j, 0) == 2
    assert j.partitions[0].coverage == 11


def test_a_refused_record_is_not_counted() -> None:
    async def run() -> None:
        j = journal([1])
        ready(j, 0, coverage=-1)
        refused: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        refused.set_exception(RuntimeError("not leader"))
        j.track(refused, (ORDER,))
        acknowledged: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        acknowledged.set_result(SimpleNamespace(partition=0, offset=3))
        j.track(acknowledged, (ORDER,))
        await asyncio.sleep(0)  # done-callbacks run on the loop
        assert orders(j, 0) == 1

    asyncio.run(run())


def test_acknowledgements_during_recovery_are_held_and_counted_above_the_recovered_coverage() -> (
    None
):
    j = journal([1])
    assert j.begin_recovery(0) is not None
    assert j.begin_recovery(0) is None  # one recovery at a time
    j.acknowledged(0, 4, (ORDER,))  # read by the tail too: the recovered coverage holds it
    j.acknowledged(0, 6, (ORDER,))  # landed after the tail was read
    recovered = Totals({ORDERS: 10})
    j.finish_recovery(0, PartitionCounters(recovered, coverage=5, generation=1))
    assert j.ready(0)
    assert recovered.values[ORDERS] == 11
    assert j.partitions[0].coverage == 6


def test_only_the_current_generation_is_flushed() -> None:
    generation = [1]
    j = journal(generation)
    ready(j, 0, coverage=-1)
    ready(j, 1, coverage=-1)
    j.acknowledged(0, 0, (ORDER,))
    j.acknowledged(1, 0, (ORDER,))
    generation[0] = 2  # a rebalance: both partitions must be recovered again
    assert not j.ready(0)
    assert j.take_changes() == []


def test_counter_records_round_trip() -> None:
    key = CounterKey.of("campaign_revenue", "2026-02-14", campaign="winback", variant="gentle")
    record_key, value = encode_total(key, 3, Decimal("12.50"), 41)
    assert record_key == b"campaign_revenue|campaign=winback,variant=gentle|2026-02-14|p3"
    assert decode_record(record_key, value) == CounterRecord(key, 3, Decimal("12.50"), 41)
    marker = decode_record(*encode_marker("ledger", 3, 41))
    assert marker == MarkerRecord("ledger", 3, 41)
    assert decode_record(b"junk", b"{}") is None
    assert decode_record(record_key, None) is None


@pytest.mark.parametrize(
    ("value", "metrics"),
    [
        (b'{"customer_id":"c","facts":[["n",739000,9]]}', {"nps"}),
        (
            b'{"state":"sent","at":"x","facts":[["e",739000,"w","gentle","sent"]]}',
            {"campaign_emails"},
        ),
        (b'[["c-1", 123]]', set()),  # the ledger's expiry index shares its table
        (b"not json", set()),
        (None, set()),
    ],
)
def test_journal_records_expand_to_their_facts(value, metrics) -> None:
    assert {key.metric for key, _ in expand_record(value)} == metrics
