"""What the pipeline benchmark's sections share: topics, producing a mix, a worker's settings.

Every section runs on its own topic prefix (``bench-<random>-<section>``), so a section
never reads another's records, and each worker has an app id of its own (its tables and
changelogs start empty) unless it is meant to join another's group.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.dev.worker_process import WorkerProcess, wait_for

from .mix import SOURCES, MixRecord

__all__ = [
    "ROOT",
    "create_source_topics",
    "create_topics",
    "mib",
    "proc_status",
    "produce",
    "processed",
    "worker_environment",
]

ROOT = Path(__file__).resolve().parents[1]
SECRET = "benchmark-unsubscribe-secret-0123456789"  # noqa: S105 (signs links to a sink)


def mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a live process, in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) * 1024
    return values


async def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        await wait_for(
            consumer.topics, lambda known: set(names) <= known, within=60, what="topics exist"
        )
    finally:
        await consumer.stop()


async def create_source_topics(bootstrap: str, prefix: str, partitions: int) -> None:
    await create_topics(bootstrap, [f"{prefix}-{name}" for name in SOURCES], partitions)


async def produce(bootstrap: str, prefix: str, mix: Iterable[MixRecord]) -> float:
    """Produce ``mix`` as fast as the producer takes it; the seconds it took."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=256 * 1024, acks=1
    )
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for record in mix:
            pending.append(
                await producer.send(f"{prefix}-{record.source}", record.value, key=record.key)
            )
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


def worker_environment(
    prefix: str, bootstrap: str, smtp_port: int, data_dir: Path, *, partitions: int, store: str
) -> dict[str, str]:
    """A worker on ``prefix``'s topics with the shipped campaigns and default tuning.

    The SMTP rate limit is raised (the default, 50 a second, would measure the limiter):
    the sink beside it accepts whatever comes."""
    topics = {
        **{name: f"{prefix}-{name}" for name in SOURCES},
        "customer_events": f"{prefix}-customer-events",
        "outbox": f"{prefix}-outbox",
        "outbox_retry": f"{prefix}-outbox-retry",
        "dead_letter": f"{prefix}-dead-letter",
        "counters": f"{prefix}-counters",
    }
    values = {f"LIFECYCLE_TOPIC_{k.upper()}": v for k, v in topics.items()}
    values.update(
        LIFECYCLE_APP_ID=f"{prefix}-worker",
        LIFECYCLE_KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        LIFECYCLE_PARTITIONS=str(partitions),
        LIFECYCLE_KAFKA_SESSION_TIMEOUT_SECONDS="6",
        LIFECYCLE_TICK_INTERVAL_SECONDS="5",
        LIFECYCLE_DATA_DIR=str(data_dir),
        LIFECYCLE_STORE=store,
        LIFECYCLE_CAMPAIGNS_DIR=str(ROOT / "campaigns"),
        LIFECYCLE_SMTP_HOST="127.0.0.1",
        LIFECYCLE_SMTP_PORT=str(smtp_port),
        LIFECYCLE_SMTP_RATE_LIMIT_PER_SECOND="100000",
        LIFECYCLE_MAIL_FROM="Shop <hello@shop.test>",
        LIFECYCLE_UNSUBSCRIBE_SECRET=SECRET,
        LIFECYCLE_LOG_LEVEL="warning",
    )
    return values


_PROCESSED = "lifecycle_events_processed_total"


async def processed(worker: WorkerProcess) -> float:
    """The worker's events processed so far; -1 while its /metrics does not answer.

    Only that counter is rendered: a full scrape four times a second cost the worker
    about 3% of its CPU in a backfill (and a Prometheus scrapes every 15 s or so)."""
    try:
        return (await worker.totals(frozenset({_PROCESSED})))[_PROCESSED]
    except (aiohttp.ClientError, OSError):
        return -1.0


async def first_to_last_seconds(
    count: Callable[[], Awaitable[float]], total: int, *, within: float, what: str
) -> float:
    """Seconds from the first event processed to the ``total``-th, by ``count``.

    The first is polled every 50 ms, the last every 250 ms: rendering /metrics costs the
    worker CPU."""
    await wait_for(count, lambda n: n > 0, within=120, interval=0.05, what="first event processed")
    started = time.perf_counter()
    await wait_for(count, lambda n: n >= total, within=within, interval=0.25, what=what)
    return time.perf_counter() - started
