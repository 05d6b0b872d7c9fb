"""One history, two runs: the live worker on the real broker, and ``Replay``. Same decisions."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from lifecycle.events import parse_event
from lifecycle.measurement.counters import counter_records
from lifecycle.processing.engine import Engine
from lifecycle.processing.replay import Replay, sorted_history
from streams.campaign_loading import load_campaign_set
from streams.dev.traffic import generate
from streams.settings import Settings
from tests.support.worker_env import ROOT
from tests.support.worker_fixtures import WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def _ids_until(bodies: list[dict], cutoff: datetime) -> Counter[str]:
    return Counter(b["id"] for b in bodies if datetime.fromisoformat(b["at"]) <= cutoff)


async def test_replay_decides_what_the_live_worker_decided(
    worker_factory: WorkerFactory, kafka_kit, smtp_server
) -> None:
    env, worker = await worker_factory(smtp_port=smtp_server.port)
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

    live = [json.loads(r.value) for r in await kafka_kit.read_topic(env.topic("counters"))]

    settings = Settings(campaigns_dir=ROOT / "campaigns")
    replay = Replay(Engine(settings.engine, load_campaign_set(settings)), tick=timedelta(hours=1))
    events = sorted_history(parse_event(json.dumps(e).encode()) for e in history)
    replayed = [
        json.loads(value)
        for outcome, event in replay.outcomes(events, until=cutoff)
        for _, value in counter_records(outcome, event)
    ]

    expected = _ids_until(replayed, cutoff)
    assert sum(expected.values()) > len(history)  # events plus a good number of signals
    assert _ids_until(live, cutoff) == expected
    kinds = Counter(b["metric"] for b in replayed)
    assert kinds["signals"] > 50
