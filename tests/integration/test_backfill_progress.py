"""A worker started on topics with history reports its backfill on /metrics: records
behind per shop topic and on the engine's topic (on its own partitions) down to zero, and
the estimate at 0 once caught up (it reads -1 until first measured)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streams.dev.worker_process import WorkerProcess
from tests.factories import event_dict
from tests.support.worker_env import WorkerEnv
from tests.support.worker_fixtures import WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

LOGINS = 600


async def backfilled_logins(
    worker_factory: WorkerFactory,
    kafka_kit,
    smtp_server,
    count: int,
    *,
    customers: int,
    spacing: timedelta,
) -> tuple[WorkerEnv, WorkerProcess]:
    """A worker started on ``count`` logins of ``customers`` from 30 days ago, ``spacing``
    apart, once it has processed them all."""
    env, worker = await worker_factory(smtp_port=smtp_server.port, start=False)
    start = datetime.now(UTC) - timedelta(days=30)
    history = [
        (None, event_dict("customer.logged_in", f"c-{n % customers}", start + n * spacing))
        for n in range(count)
    ]
    await kafka_kit.produce(env.topic("logins"), history)
    await worker.start()
    await worker.wait_metric("lifecycle_events_processed_total", lambda n: n >= count)
    return env, worker


async def test_records_behind_fall_to_zero_per_source_topic_and_the_estimate_to_zero(
    worker_factory: WorkerFactory, kafka_kit, smtp_server
) -> None:
    env, worker = await backfilled_logins(
        worker_factory, kafka_kit, smtp_server, LOGINS, customers=40, spacing=timedelta(minutes=1)
    )
    # The gauges come from the 10 s timer: wait for a measurement that saw the commit.
    await worker.wait_metric("lifecycle_backfill_eta_seconds", lambda s: s == 0, within=60)
    samples = await worker.metrics()
    behind = {
        key: value
        for key, value in samples.items()
        if key.startswith("lifecycle_backfill_records_behind{")
    }
    sources = {
        env.topic(t) for t in ("customers", "orders", "logins", "support", "customer_events")
    }
    assert behind == {f'lifecycle_backfill_records_behind{{topic="{t}"}}': 0 for t in sources}


HISTORY = 12_000


async def test_ticks_wait_behind_the_whole_history_on_every_partition_of_the_engine_topic(
    worker_factory: WorkerFactory, kafka_kit, smtp_server
) -> None:
    """A worker started on history with 1 s ticks: however long ingest takes to re-key it,
    no tick reaches a customer-events partition ahead of a re-keyed history event (the
    engine would run timers to the wall clock mid-history). Fails with the hold off
    (``LIFECYCLE_TICK_HOLD_MAX_SECONDS=0``)."""
    env, worker = await worker_factory(
        smtp_port=smtp_server.port,
        start=False,
        # One record per produce and commit: re-keying the history takes many tick intervals.
        LIFECYCLE_INGEST_BATCH_SIZE="1",
    )
    start = datetime.now(UTC) - timedelta(days=60)
    logins = [
        (f"s-{n}", event_dict("customer.logged_in", f"c-{n % 500}", start + timedelta(minutes=n)))
        for n in range(HISTORY // 2)
    ]
    orders = [
        (f"o-{n}", event_dict("order.placed", f"c-{n % 500}", start + timedelta(minutes=n)))
        for n in range(HISTORY // 2)
    ]
    await kafka_kit.produce(env.topic("logins"), logins)
    await kafka_kit.produce(env.topic("orders"), orders)
    await worker.start()
    # A record per produce and commit: on a slow shared core 10,619 of the 12,000 took 60 s.
    await worker.wait_metric("lifecycle_events_ingested_total", lambda n: n >= HISTORY, within=240)
    await worker.wait_metric("lifecycle_ticks_total", lambda n: n >= 4, within=120)  # per partition
    records = await kafka_kit.read_topic(env.topic("customer_events"))
    last_event: dict[int, int] = {}
    first_tick: dict[int, int] = {}
    for record in records:
        if record.key == b"__tick__":
            first_tick.setdefault(record.partition, record.offset)
        else:
            last_event[record.partition] = max(record.offset, last_event.get(record.partition, -1))
    assert sum(1 for r in records if r.key != b"__tick__") == HISTORY
    assert set(first_tick) == set(last_event) == set(range(4))
    assert all(first_tick[p] > last_event[p] for p in range(4)), (first_tick, last_event)
    assert "lifecycle_ticks_held_seconds" in await worker.metrics()


CUSTOMERS = 3_000


async def test_a_backfill_of_many_customers_keeps_the_log_free_of_producer_buffer_warnings(
    worker_factory: WorkerFactory, kafka_kit, smtp_server
) -> None:
    """An engine batch writes one state per customer in it (up to 500): more than Faust's
    producer buffer takes by default (100), which stalled every agent's input once per
    record until it drained and logged a warning each time (about 600 in a 120k-record
    backfill)."""
    _, worker = await backfilled_logins(
        worker_factory,
        kafka_kit,
        smtp_server,
        CUSTOMERS,
        customers=CUSTOMERS,
        spacing=timedelta(seconds=1),
    )
    assert "producer buffer full" not in worker.log_path.read_text()
