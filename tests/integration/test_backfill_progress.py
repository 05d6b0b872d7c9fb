"""A worker started on topics with history reports its backfill on /metrics: records
behind per shop topic and on the engine's topic (on its own partitions) down to zero, and
the estimate at 0 once caught up (it reads -1 until first measured)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import event_dict
from tests.support.worker_fixtures import WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

LOGINS = 600


async def test_records_behind_fall_to_zero_per_source_topic_and_the_estimate_to_zero(
    worker_factory: WorkerFactory, kafka_kit, smtp_server
) -> None:
    env, worker = await worker_factory(smtp_port=smtp_server.port, start=False)
    start = datetime.now(UTC) - timedelta(days=30)
    history = [
        (None, event_dict("customer.logged_in", f"c-{n % 40}", start + timedelta(minutes=n)))
        for n in range(LOGINS)
    ]
    await kafka_kit.produce(env.topic("logins"), history)
    await worker.start()
    await worker.wait_metric("lifecycle_events_processed_total", lambda n: n >= LOGINS)
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
