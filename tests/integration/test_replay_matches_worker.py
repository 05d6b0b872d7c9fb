"""One history, two runs: the live worker on the real broker, and ``Replay``. Same decisions,
and the same counts: the counters the worker publishes equal the replay's totals."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from lifecycle.measurement import CounterKey, Number, granularity_of, period_range
from streams.counters import read_counters
from streams.dev.traffic import generate
from streams.settings import Settings
from tests.support.expected_report import replayed_totals
from tests.support.polling import settled
from tests.support.worker_env import ROOT
from tests.support.worker_fixtures import WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def _before(totals: dict[CounterKey, Number], cutoff: datetime) -> dict[CounterKey, Number]:
    """The day-period counters of the days before the cutoff's day (what the live worker
    counted after it, on its own clock, replay does not see), without zeros."""
    last = cutoff.astimezone(UTC).date().toordinal()
    return {
        key: value
        for key, value in totals.items()
        if granularity_of(key.period) == "day"
        and period_range(key.period)[0] < last
        and value
        and key.metric != "campaign_emails"  # delivery's: a replay sends nothing
    }


async def test_replay_decides_and_counts_what_the_live_worker_did(
    worker_factory: WorkerFactory, kafka_kit, smtp_server
) -> None:
    env, worker = await worker_factory(
        smtp_port=smtp_server.port, LIFECYCLE_COUNTERS_FLUSH_SECONDS="0.5"
    )
    cutoff = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    history = [item.event for item in generate(cutoff, 21, seed=11)]
    # One topic, keyed by customer: each customer's events reach the engine in order, as they
    # do in a file. (Across topics the shop's events may interleave; see the late-event rule.)
    await kafka_kit.produce(env.topic("customers"), [(e["customer_id"], e) for e in history])
    await worker.wait_metric(
        "lifecycle_events_processed_total", lambda v: v >= len(history), within=120
    )
    ticks = await worker.metric("lifecycle_ticks_total")
    # Two more full rounds of ticks: everything due by now (so by the cutoff) has run.
    await worker.wait_metric("lifecycle_ticks_total", lambda v: v >= ticks + 8, within=60)

    settings = Settings(campaigns_dir=ROOT / "campaigns")
    replayed = replayed_totals(history, cutoff, settings=settings, tick=timedelta(hours=1))
    expected = _before(replayed, cutoff)
    assert sum(v for k, v in expected.items() if k.metric == "orders") > 20
    assert sum(v for k, v in expected.items() if k.metric == "campaign_entries") > 20

    async def live() -> dict[CounterKey, Number]:
        counted = await read_counters(kafka_kit.bootstrap_servers, env.topic("counters"))
        return _before(counted, cutoff)

    # Flushed every half second: the figures arrive within a few flushes.
    assert await settled(live, expected) == expected
    # Delivery counted too: most of this history is older than the maximum send delay.
    counted = await read_counters(kafka_kit.bootstrap_servers, env.topic("counters"))
    states = Counter(
        k.label("state")
        for k, v in counted.items()
        if k.metric == "campaign_emails"
        for _ in range(v)
    )
    assert states["expired"] > 0
    assert set(states) <= {"sent", "expired", "failed"}
