"""A worker keeps the records that arrive while a second worker joins its group.

Stock Faust loses such records (see ``streams/internals/rebalance_safe_consumer.py``): the fetch
it has pending when the rebalance begins picks them up and either drops them, or delivers them just
before recovery empties the agents' queues; the seek meant to fetch them again comes too early,
or does nothing on partitions that have no committed offset yet. The test produces into that
window, as soon as the first worker reports that it is rebalancing. It is a race, so without
the fix the test does not fail every time: it failed 8 runs of 9 when it was written.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer

from streams.dev.worker_process import WorkerProcess, wait_for
from tests.factories import event_dict
from tests.support.kafka_helpers import encode_value
from tests.support.worker_fixtures import WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

#: Enough that delivering the burst takes the first worker a while: the records Faust loses
#: are those it has fetched just before the rebalance settles, so a longer delivery is a wider
#: target. Logins send no mail, so nothing waits on SMTP.
EVENTS = 400


async def until_rebalancing(worker: WorkerProcess, within: float = 30.0) -> None:
    """Return as soon as ``worker`` says it is rebalancing (its /ready answers 503)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    async with aiohttp.ClientSession() as http:
        while loop.time() < deadline:
            async with http.get(f"{worker.base_url}/ready") as response:
                if response.status == 503:
                    return
            await asyncio.sleep(0.005)
    raise TimeoutError(f"no rebalance within {within:.0f}s")


async def test_events_produced_while_a_second_worker_joins_are_all_processed(
    worker_factory: WorkerFactory, kafka_kit, smtp_server, tmp_path
) -> None:
    # No ticks: a tick record would complete the fetch the first worker has pending when the
    # rebalance begins, and that pending fetch is what picks up the records.
    env, first = await worker_factory(
        smtp_port=smtp_server.port, name="first", LIFECYCLE_TICK_INTERVAL_SECONDS="3600"
    )
    second_env = env.with_overrides(LIFECYCLE_DATA_DIR=str(tmp_path / "second-data"))
    _, second = await worker_factory(
        smtp_port=smtp_server.port, env=second_env, name="second", start=False
    )
    at = datetime.now(UTC)
    events = [
        event_dict("customer.logged_in", f"c-{n % 40}", at, event_id=f"e-{n}")
        for n in range(EVENTS)
    ]
    topic = env.topic("customers")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_kit.bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.partitions_for(topic)  # connected, metadata known: sends leave at once
        joining = asyncio.create_task(second.start())
        await until_rebalancing(first)
        sent = [
            await producer.send(topic, encode_value(e), key=e["customer_id"].encode())
            for e in events
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    await joining

    async def counts() -> dict[str, float]:
        return {
            f"{name} {metric}": await worker.metric(f"lifecycle_events_{metric}_total")
            for name, worker in (("first", first), ("second", second))
            for metric in ("ingested", "processed")
        }

    # The engine counts an event once however often it sees it, so the processed total is
    # exact: fewer means records were lost.
    await wait_for(
        counts,
        lambda c: c["first processed"] + c["second processed"] == EVENTS,
        within=30,
        interval=0.5,
        what=f"all {EVENTS} events processed",
    )
    assert await first.metric("lifecycle_events_ingested_total") > 0, "both workers take part"
