"""Ingest on a real broker: good events re-keyed by customer, bad records dead-lettered."""

from __future__ import annotations

import json

import pytest

from lifecycle.events import dump_event, parse_event
from streams.dev.worker_process import wait_for
from tests.factories import event_dict
from tests.support.worker_fixtures import WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

MAX_BYTES = 2048


def grows_past_the_limit_when_normalised() -> dict:
    """A valid order just under the limit whose normalised form (quantity filled in) is over it."""
    order = event_dict("order.placed", "c-big", "2026-11-03T10:00:00+01:00", items=[])
    while len(json.dumps(order)) + len(json.dumps({"sku": "s-000"})) + 2 <= MAX_BYTES:
        order["items"].append({"sku": f"s-{len(order['items']):03d}"})
    raw = json.dumps(order).encode()
    assert len(raw) <= MAX_BYTES < len(dump_event(parse_event(raw, max_bytes=MAX_BYTES)))
    return order


def _headers(record) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers}


async def test_bad_records_are_dead_lettered_and_good_ones_all_processed(
    worker_factory: WorkerFactory, kafka_kit, smtp_server
) -> None:
    env, worker = await worker_factory(
        smtp_port=smtp_server.port, LIFECYCLE_MAX_EVENT_BYTES=str(MAX_BYTES)
    )
    good = [
        event_dict(
            "customer.signed_up", f"c-{i}", "2026-11-02T14:03:11+01:00", email=f"c{i}@shop.test"
        )
        for i in range(20)
    ] + [event_dict("order.placed", f"c-{i}", "2026-11-03T10:00:00+01:00") for i in range(20)]
    no_offset = event_dict("customer.logged_in", "c-1", "2026-11-02T14:03:11")
    unknown = {
        **event_dict("customer.logged_in", "c-1", "2026-11-02T14:03:11Z"),
        "type": "cart.abandoned",
    }
    broken = {**event_dict("order.placed", "c-1", "2026-11-02T14:03:11Z"), "total": "-5"}
    bad: list[tuple[str, bytes, str]] = [
        ("orders", b"\x00\x01 not json at all", "not_json"),
        ("orders", json.dumps(broken).encode(), "invalid"),
        ("logins", json.dumps(unknown).encode(), "unknown_type"),
        ("logins", json.dumps(no_offset).encode(), "invalid"),
        ("support", b"", "empty"),
        ("support", b'{"pad": "' + b"x" * MAX_BYTES + b'"}', "oversized"),
        ("customers", b"[]", "not_object"),
        ("orders", json.dumps(grows_past_the_limit_when_normalised()).encode(), "oversized"),
    ]
    # Interleave bad records between good ones, on keys that are not the customer id.
    positions = {}
    for index, (topic, value, _) in enumerate(bad):
        [where] = await kafka_kit.produce(env.topic(topic), [(f"junk-{index}", value)])
        positions[value] = (where.partition, where.offset)
        await kafka_kit.produce(env.topic("customers"), [(f"order-key-{index}", good[index])])
    await kafka_kit.produce(env.topic("customers"), [(None, e) for e in good[len(bad) : 20]])
    await kafka_kit.produce(env.topic("orders"), [(f"o-{i}", e) for i, e in enumerate(good[20:])])

    dead = await kafka_kit.consume_until(env.topic("dead_letter"), lambda got: len(got) >= len(bad))
    assert len(dead) == len(bad)
    by_value = {record.value: _headers(record) for record in dead}
    for topic, value, kind in bad:
        headers = by_value[value]  # the original bytes, unchanged
        assert headers["lifecycle.reason-kind"] == kind
        assert headers["lifecycle.source-topic"] == env.topic(topic)
        assert headers["lifecycle.stage"] == "ingest"
        partition, offset = positions[value]
        assert int(headers["lifecycle.source-partition"]) == partition
        assert int(headers["lifecycle.source-offset"]) == offset
        assert headers["lifecycle.reason"]
    assert "occurred_at" in by_value[json.dumps(no_offset).encode()]["lifecycle.reason"]

    # Every good event reached the engine, keyed by its customer.
    rekeyed = await kafka_kit.consume_until(
        env.topic("customer_events"),
        lambda got: len({r.value for r in got if b'"lifecycle.tick"' not in r.value}) >= len(good),
    )
    events = [
        json.loads(r) for r in {r.value for r in rekeyed if b'"lifecycle.tick"' not in r.value}
    ]
    assert sorted(e["event_id"] for e in events) == sorted(e["event_id"] for e in good)
    partitions: dict[str, set[int]] = {}
    for record in rekeyed:
        if record.key != b"__tick__":
            assert json.loads(record.value)["customer_id"] == record.key.decode()
            partitions.setdefault(record.key.decode(), set()).add(record.partition)
    assert all(len(p) == 1 for p in partitions.values())

    await worker.wait_metric("lifecycle_events_processed_total", lambda v: v >= len(good))
    assert await worker.metric("lifecycle_events_processed_total") == len(good)
    assert await worker.metric("lifecycle_events_dead_lettered_total") == len(bad)
    for _, _, kind in bad:
        assert await worker.metric("lifecycle_events_dead_lettered_total", reason=kind) >= 1

    # Lag is measured per assigned partition and falls to zero once everything is committed.
    def has_orders_lag(samples: dict[str, float]) -> bool:
        orders = env.topic("orders")
        return any(k.startswith("lifecycle_consumer_lag_records{") and orders in k for k in samples)

    await wait_for(worker.metrics, has_orders_lag, within=30)
    await worker.wait_metric(
        "lifecycle_consumer_lag_records", lambda v: v == 0, topic=env.topic("orders"), within=40
    )
