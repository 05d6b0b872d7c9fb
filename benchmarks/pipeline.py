"""The whole pipeline against its floors, measured side by side in one run on one broker.

    python -m benchmarks.pipeline [--broker kafka|tansu|external] [--bootstrap HOST:PORT]
                                  [--customers 20000] [--events 100000] [--store memory|rocksdb]
                                  [--small]

One generated mix (:mod:`benchmarks.mix`: a signup per customer, then ~70% logins, 20%
orders, 10% support/NPS over 120 days, keyed as a shop keys them) is produced once to four
source topics, then read by, in turn:

a. a plain aiokafka consume-and-decode loop (the client's limit);
b. the naive Faust app: four ingest agents re-key by customer into one topic, one agent
   writes one table value per event (the framework's floor);
c. ``lifecycle worker`` with the shipped campaigns, as a subprocess, timed on its
   ``/metrics`` from the first event processed to the last (polled every 50 ms for the
   first, every 250 ms for the last: rendering /metrics costs the worker CPU).

(a) and (b) run on records already in the topics; (c) is started on empty topics first (so
its idle RSS can be taken) and the mix produced once it is ready: producing takes a few
seconds of a run of minutes, and is on the same two cores.

Prints events/s for each, the ratios c/a and c/b, the peak RSS of each process, the
customer state's serialized bytes per customer (median, p95; the latest value per key of
its changelog, next to what the JSON encoding of the same states takes), and the worker's
RSS per customer (RSS after the backfill minus RSS when ready, over the customers).
``--small`` (300 customers, 1,500 events) keeps the benchmark working in CI; it asserts no
speed. Nothing here is a pass/fail threshold.

``--sections tick`` (also on by default) times one tick at the core with 0.1% of the
customers due, at 10k and at 1M customers (:mod:`benchmarks.tick`; 1k and 10k with
``--small``): the due index finds them, the engine runs on each, the states are written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from lifecycle.state import CustomerState
from streams.dev.brokers.base import Broker
from streams.dev.brokers.choice import choose_broker
from streams.dev.brokers.external import ExternalBroker
from streams.dev.mail_sink import MailSink
from streams.dev.worker_process import WorkerProcess, wait_for

from .mix import SOURCES, MixRecord, describe, generate
from .tick import tick_seconds

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
SECRET = "benchmark-unsubscribe-secret-0123456789"  # noqa: S105 (signs links to a sink)


@dataclass
class Figure:
    name: str
    seconds: float
    records: int
    peak_rss_bytes: int
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("nan")


def _mib(n: float) -> str:
    return f"{n / 2**20:.0f} MiB"


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a live process, in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) * 1024
    return values


@asynccontextmanager
async def _broker(args: argparse.Namespace) -> AsyncIterator[Broker]:
    if args.broker == "external" or args.bootstrap:
        if not args.bootstrap:
            sys.exit("--broker external needs --bootstrap HOST:PORT")
        broker: Broker = ExternalBroker(args.bootstrap)
    else:
        broker = choose_broker({"LIFECYCLE_BROKER": args.broker})
    async with broker:
        yield broker


async def _create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
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


async def _produce(bootstrap: str, prefix: str, mix: list[MixRecord]) -> float:
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


async def _baseline(
    kind: str, bootstrap: str, prefix: str, total: int, work: Path, within: float
) -> Figure:
    result = work / f"{kind}.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.baselines",
        kind,
        "--bootstrap",
        bootstrap,
        "--prefix",
        prefix,
        "--total",
        str(total),
        "--result",
        str(result),
        cwd=ROOT,
        stdout=(work / f"{kind}.log").open("wb"),
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        code = await asyncio.wait_for(process.wait(), within)
    except TimeoutError:
        process.kill()
        code = await process.wait()
    if not result.exists():
        tail = (work / f"{kind}.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{kind} baseline exited with {code} and no result:\n{tail}")
    body = json.loads(result.read_text())
    name = {"plain": "a. aiokafka consume + decode", "faust": "b. naive Faust app"}[kind]
    return Figure(name, body["seconds"], body["records"], body["peak_rss_bytes"])


def worker_environment(
    prefix: str, bootstrap: str, smtp_port: int, data_dir: Path, *, partitions: int, store: str
) -> dict[str, str]:
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
        LIFECYCLE_SMTP_MAX_PER_SECOND="1000",
        LIFECYCLE_MAIL_FROM="Shop <hello@shop.test>",
        LIFECYCLE_UNSUBSCRIBE_SECRET=SECRET,
        LIFECYCLE_LOG_LEVEL="warning",
    )
    return values


async def _processed(worker: WorkerProcess) -> float:
    try:
        return await worker.metric("lifecycle_events_processed_total")
    except (aiohttp.ClientError, OSError):
        return -1.0


async def _at_end(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for partition, end in ends.items():
        if await consumer.position(partition) < end:
            return False
    return True


async def _state_sizes(bootstrap: str, topic: str) -> tuple[list[int], list[int]]:
    """Bytes of the latest state per customer in ``topic``: as stored, and as JSON."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    latest: dict[bytes, bytes] = {}
    try:
        partitions = await wait_for(
            lambda: asyncio.sleep(0, consumer.assignment()), bool, within=30, what="assignment"
        )
        ends = await consumer.end_offsets(list(partitions))
        while not await _at_end(consumer, ends):
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                for record in records:
                    if record.value:
                        latest[record.key] = record.value
                    else:
                        latest.pop(record.key, None)
    finally:
        await consumer.stop()
    stored = [len(v) for v in latest.values()]
    as_json = [
        len(CustomerState.from_bytes(v).model_dump_json(exclude_defaults=True).encode())
        for v in latest.values()
    ]
    return stored, as_json


async def _run_worker(
    bootstrap: str, prefix: str, mix: list[MixRecord], work: Path, args: argparse.Namespace
) -> Figure:
    sink = MailSink(work / "mail")
    async with sink:
        env = worker_environment(
            prefix,
            bootstrap,
            sink.port,
            work / "worker-data",
            partitions=args.partitions,
            store=args.store,
        )
        worker = WorkerProcess(env, work / "worker.log", cwd=ROOT)
        await worker.start(ready_within=180)
        try:
            assert worker.process is not None
            idle_rss = _proc_status(worker.process.pid)["VmRSS"]
            profiler = await _profiler(args.profile, worker.process.pid)
            produce = asyncio.create_task(_produce(bootstrap, prefix, mix))
            await wait_for(
                lambda: _processed(worker),
                lambda n: n > 0,
                within=120,
                interval=0.05,
                what="first event processed",
            )
            started = time.perf_counter()
            await wait_for(
                lambda: _processed(worker),
                lambda n: n >= len(mix),
                within=args.timeout,
                # Rendering /metrics costs the worker CPU: a coarse poll for the end.
                interval=0.25,
                what=f"{len(mix)} events processed",
            )
            seconds = time.perf_counter() - started
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                await profiler.wait()
            await produce
            status = _proc_status(worker.process.pid)
            sent = await worker.metric("lifecycle_emails_sent_total")
            expired = await worker.metric("lifecycle_emails_expired_total")
        finally:
            await worker.stop()
    stored, as_json = await _state_sizes(
        bootstrap, f"{env['LIFECYCLE_APP_ID']}-customer-state-changelog"
    )
    extra = {
        "idle_rss": idle_rss,
        "rss_after": status["VmRSS"],
        "state_median": statistics.median(stored),
        "state_p95": _p95(stored),
        "json_median": statistics.median(as_json),
        "json_p95": _p95(as_json),
        "customers": len(stored),
        "emails_sent": sent,
        "emails_expired": expired,
    }
    return Figure(
        f"c. lifecycle worker ({args.store} store)", seconds, len(mix), status["VmHWM"], extra
    )


async def _profiler(path: Path | None, pid: int) -> asyncio.subprocess.Process | None:
    """``py-spy record`` of the worker while it backfills (``--profile``; needs py-spy)."""
    if path is None:
        return None
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return await asyncio.create_subprocess_exec(
        spy, "record", "--pid", str(pid), "--rate", "50", "--format", "raw", "-o", str(path)
    )


def _p95(values: list[int]) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))])


def report(figures: list[Figure], *, customers: int) -> str:
    lines = [f"{'what':<38} {'events/s':>10} {'seconds':>8} {'peak RSS':>10}"]
    for f in figures:
        lines.append(
            f"{f.name:<38} {f.rate:>10,.0f} {f.seconds:>8.1f} {_mib(f.peak_rss_bytes):>10}"
        )
    plain, naive, worker = figures
    extra = worker.extra
    lines += [
        f"ratio c/a: {worker.rate / plain.rate:.3f}",
        f"ratio c/b: {worker.rate / naive.rate:.3f}",
        f"state bytes per customer: median {extra['state_median']:.0f},"
        f" p95 {extra['state_p95']:.0f}"
        f" (as JSON: median {extra['json_median']:.0f}, p95 {extra['json_p95']:.0f};"
        f" {extra['customers']:.0f} states)",
        f"worker RSS: {_mib(extra['idle_rss'])} ready,"
        f" {_mib(extra['rss_after'])} after the backfill;"
        f" RSS per customer: {(extra['rss_after'] - extra['idle_rss']) / customers:,.0f} bytes",
        f"emails: {extra['emails_sent']:.0f} sent, {extra['emails_expired']:.0f} expired",
    ]
    return "\n".join(lines)


def tick_report(sizes: tuple[int, ...]) -> str:
    lines = []
    per_due: list[float] = []
    for customers in sizes:
        due, seconds = tick_seconds(customers)
        per_due.append(seconds / due)
        lines.append(
            f"tick over {customers:,} customers, {due:,} due (0.1%): {seconds * 1000:.2f} ms,"
            f" {seconds / due * 1e6:.0f} us per due customer"
        )
    lines.append(
        f"tick cost per due customer, {sizes[-1]:,} vs {sizes[0]:,}:"
        f" {per_due[-1] / per_due[0]:.2f}x"
    )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> None:
    if "tick" in args.sections:
        print(tick_report((1_000, 10_000) if args.small else (10_000, 1_000_000)), flush=True)
    if "throughput" not in args.sections:
        return
    mix = generate(datetime.now(UTC), args.customers, args.events)
    print(f"mix: {len(mix)} records for {args.customers} customers: {describe(mix)}", flush=True)
    async with _broker(args) as broker:
        bootstrap = broker.bootstrap_servers
        print(f"broker: {broker.kind} at {bootstrap}", flush=True)
        with tempfile.TemporaryDirectory(prefix="lifecycle-bench-") as tmp:
            work = Path(tmp)
            prefix = f"bench-{uuid.uuid4().hex[:8]}"
            await _create_topics(
                bootstrap, [f"{prefix}-{name}" for name in SOURCES], args.partitions
            )
            worker = await _run_worker(bootstrap, prefix, mix, work, args)
            print(f"{worker.name}: {worker.rate:,.0f} events/s", flush=True)
            plain = await _baseline("plain", bootstrap, prefix, len(mix), work, args.timeout)
            print(f"{plain.name}: {plain.rate:,.0f} events/s", flush=True)
            # Faust subscribes only to topics that exist when it starts.
            await _create_topics(bootstrap, [f"{prefix}-naive-rekeyed"], args.partitions)
            naive = await _baseline("faust", bootstrap, prefix, len(mix), work, args.timeout)
            print(f"{naive.name}: {naive.rate:,.0f} events/s", flush=True)
            print()
            print(report([plain, naive, worker], customers=args.customers))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", choices=("kafka", "tansu", "external"), default="kafka")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", ""))
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--store", choices=("memory", "rocksdb"), default="memory")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per part")
    parser.add_argument(
        "--profile", type=Path, default=None, help="py-spy raw profile of the worker to FILE"
    )
    parser.add_argument(
        "--sections",
        type=lambda text: set(text.split(",")),
        default={"throughput", "tick"},
        help="comma-separated: throughput (a, b, c and state sizes), tick (core level)",
    )
    parser.add_argument("--small", action="store_true", help="300 customers, 1,500 events (CI)")
    args = parser.parse_args(argv)
    if args.small:
        args.customers, args.events, args.timeout = 300, 1_500, min(args.timeout, 300.0)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
