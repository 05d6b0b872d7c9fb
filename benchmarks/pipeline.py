"""The whole pipeline against its floors, measured side by side in one run on one broker.

    python -m benchmarks.pipeline [--broker kafka|tansu|external] [--bootstrap HOST:PORT]
                                  [--customers 20000] [--events 100000]
                                  [--store memory|rocksdb|both]
                                  [--sections throughput,tick,latency,scale]
                                  [--rate 1000] [--latency-seconds 25] [--warmup-seconds 5]
                                  [--signup-share 0.1] [--small]

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
``--small`` (200 customers, 800 events; latency at 100 events/s) keeps the benchmark
working in CI; it asserts no speed. Nothing here is a pass/fail threshold.

``--sections tick`` (also on by default) times one tick at the core with 0.1% of the
customers due, at 10k and at 1M customers (:mod:`benchmarks.tick`; 1k and 10k with
``--small``): the due index finds them, the engine runs on each, the states are written.

``--store both`` runs (c) on the memory store, then on RocksDB (fresh topics, same mix).
``--sections latency`` (:mod:`benchmarks.latency`): produce to SMTP acceptance at
``--rate`` events a second, p50/p99/max. ``--sections scale`` (:mod:`benchmarks.scale`):
one worker, then two in one group, over the same partitions; ratio two/one and duplicate
sends counted by Message-ID at the sink. Every section runs on the same broker in one run,
and the final block repeats every figure.
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
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from lifecycle.state import CustomerState
from streams.dev.brokers.base import Broker
from streams.dev.brokers.choice import choose_broker
from streams.dev.brokers.external import ExternalBroker
from streams.dev.mail_sink import MailSink
from streams.dev.worker_process import WorkerProcess, wait_for

from .harness import (
    ROOT,
    create_source_topics,
    create_topics,
    first_to_last_seconds,
    mib,
    proc_status,
    processed,
    produce,
    worker_environment,
)
from .latency import measure_latency
from .mix import MixRecord, describe, generate
from .scale import measure_scale, scale_report
from .tick import tick_seconds

__all__ = ["main"]

SECTIONS = ("throughput", "tick", "latency", "scale")


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
    bootstrap: str,
    prefix: str,
    mix: list[MixRecord],
    work: Path,
    args: argparse.Namespace,
    *,
    store: str,
    state_sizes: bool,
) -> Figure:
    """Part (c) on ``store``, on ``prefix``'s (empty) source topics; the mix is produced
    once the worker is ready. ``state_sizes``: also read the state changelog's sizes."""
    sink = MailSink(work / f"mail-{store}")
    async with sink:
        env = worker_environment(
            prefix,
            bootstrap,
            sink.port,
            work / f"worker-data-{store}",
            partitions=args.partitions,
            store=store,
        )
        worker = WorkerProcess(env, work / f"worker-{store}.log", cwd=ROOT)
        await worker.start(ready_within=180)
        try:
            assert worker.process is not None
            idle_rss = proc_status(worker.process.pid)["VmRSS"]
            profiler = await _profiler(args.profile, worker.process.pid)
            producing = asyncio.create_task(produce(bootstrap, prefix, mix))
            seconds = await first_to_last_seconds(
                lambda: processed(worker),
                len(mix),
                within=args.timeout,
                what=f"{len(mix)} events processed",
            )
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                await profiler.wait()
            await producing
            status = proc_status(worker.process.pid)
            sent = await worker.metric("lifecycle_emails_sent_total")
            expired = await worker.metric("lifecycle_emails_expired_total")
            expired += await worker.metric("lifecycle_emails_expired_at_decision_total")
        finally:
            await worker.stop()
    extra = {
        "idle_rss": idle_rss,
        "rss_after": status["VmRSS"],
        "emails_sent": sent,
        "emails_expired": expired,
    }
    if state_sizes:
        stored, as_json = await _state_sizes(
            bootstrap, f"{env['LIFECYCLE_APP_ID']}-customer-state-changelog"
        )
        extra.update(
            state_median=statistics.median(stored),
            state_p95=_p95(stored),
            json_median=statistics.median(as_json),
            json_p95=_p95(as_json),
            customers=len(stored),
        )
    return Figure(f"c. lifecycle worker ({store} store)", seconds, len(mix), status["VmHWM"], extra)


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


def report(plain: Figure, naive: Figure, workers: list[Figure], *, customers: int) -> str:
    lines = [f"{'what':<38} {'events/s':>10} {'seconds':>8} {'peak RSS':>10}"]
    for f in (plain, naive, *workers):
        lines.append(f"{f.name:<38} {f.rate:>10,.0f} {f.seconds:>8.1f} {mib(f.peak_rss_bytes):>10}")
    for worker in workers:
        store = worker.name.removeprefix("c. lifecycle worker ")
        lines += [
            f"ratio c/a {store}: {worker.rate / plain.rate:.3f}",
            f"ratio c/b {store}: {worker.rate / naive.rate:.3f}",
        ]
    extra = workers[0].extra
    lines.append(
        f"state bytes per customer: median {extra['state_median']:.0f},"
        f" p95 {extra['state_p95']:.0f}"
        f" (as JSON: median {extra['json_median']:.0f}, p95 {extra['json_p95']:.0f};"
        f" {extra['customers']:.0f} states)"
    )
    for worker in workers:
        extra = worker.extra
        store = worker.name.removeprefix("c. lifecycle worker ")
        lines += [
            f"worker RSS {store}: {mib(extra['idle_rss'])} ready,"
            f" {mib(extra['rss_after'])} after the backfill;"
            f" RSS per customer: {(extra['rss_after'] - extra['idle_rss']) / customers:,.0f} bytes",
            f"emails {store}: {extra['emails_sent']:.0f} sent,"
            f" {extra['emails_expired']:.0f} expired",
        ]
    return "\n".join(lines)


def tick_report(sizes: tuple[int, ...]) -> str:
    lines = []
    per_due: list[float] = []
    fills = []
    for customers in sizes:
        due, seconds, fill = tick_seconds(customers)
        per_due.append(seconds / due)
        lines.append(
            f"tick over {customers:,} customers, {due:,} due (0.1%): {seconds * 1000:.2f} ms,"
            f" {seconds / due * 1e6:.0f} us per due customer"
        )
        fills.append(
            f"due index filled from {customers:,} states (new signups' states; what a"
            " partition's start or rebalance does):"
            f" {fill:.2f} s, {fill / customers * 1e6:.0f} us per state"
        )
    lines.append(
        f"tick cost per due customer, {sizes[-1]:,} vs {sizes[0]:,}:"
        f" {per_due[-1] / per_due[0]:.2f}x"
    )
    return "\n".join(lines + fills)


async def _throughput(bootstrap: str, prefix: str, work: Path, args: argparse.Namespace) -> str:
    mix = generate(datetime.now(UTC), args.customers, args.events)
    print(f"mix: {len(mix)} records for {args.customers} customers: {describe(mix)}", flush=True)
    workers = []
    for n, store in enumerate(args.stores):
        # Each store on topics of its own, so each worker starts on empty topics.
        topics = prefix if n == 0 else f"{prefix}-{store}"
        await create_source_topics(bootstrap, topics, args.partitions)
        worker = await _run_worker(
            bootstrap, topics, mix, work, args, store=store, state_sizes=n == 0
        )
        print(f"{worker.name}: {worker.rate:,.0f} events/s", flush=True)
        workers.append(worker)
    plain = await _baseline("plain", bootstrap, prefix, len(mix), work, args.timeout)
    print(f"{plain.name}: {plain.rate:,.0f} events/s", flush=True)
    # Faust subscribes only to topics that exist when it starts.
    await create_topics(bootstrap, [f"{prefix}-naive-rekeyed"], args.partitions)
    naive = await _baseline("faust", bootstrap, prefix, len(mix), work, args.timeout)
    print(f"{naive.name}: {naive.rate:,.0f} events/s", flush=True)
    return report(plain, naive, workers, customers=args.customers)


async def run(args: argparse.Namespace) -> None:
    blocks = []
    if "tick" in args.sections:
        blocks.append(tick_report((1_000, 10_000) if args.small else (10_000, 1_000_000)))
        print(blocks[-1], flush=True)
    if not args.sections & {"throughput", "latency", "scale"}:
        return
    async with _broker(args) as broker:
        bootstrap = broker.bootstrap_servers
        print(f"broker: {broker.kind} at {bootstrap}", flush=True)
        with tempfile.TemporaryDirectory(prefix="lifecycle-bench-") as tmp:
            work = Path(tmp)
            prefix = f"bench-{uuid.uuid4().hex[:8]}"
            if "throughput" in args.sections:
                blocks.append(await _throughput(bootstrap, prefix, work, args))
            if "latency" in args.sections:
                latency = await measure_latency(
                    bootstrap,
                    f"{prefix}-latency",
                    work,
                    rate=args.rate,
                    seconds=args.latency_seconds,
                    warmup=args.warmup_seconds,
                    signup_share=args.signup_share,
                    partitions=args.partitions,
                )
                blocks.append(latency.report())
                print(blocks[-1], flush=True)
            if "scale" in args.sections:
                mix = generate(datetime.now(UTC), args.customers, args.events, recent_share=0.05)
                print(f"scale mix: {len(mix)} records, 5% of the customers recent", flush=True)
                one, two = await measure_scale(
                    bootstrap,
                    f"{prefix}-scale",
                    mix,
                    work,
                    partitions=args.partitions,
                    within=args.timeout,
                )
                blocks.append(scale_report(one, two, args.partitions))
                print(blocks[-1], flush=True)
    print()
    print(f"== {broker.kind}, {os.cpu_count()} cores, {args.partitions} partitions ==")
    print("\n\n".join(blocks))


def _sections(text: str) -> set[str]:
    chosen = set(text.split(","))
    if unknown := chosen - set(SECTIONS):
        raise argparse.ArgumentTypeError(f"unknown sections {sorted(unknown)}; from {SECTIONS}")
    return chosen


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", choices=("kafka", "tansu", "external"), default="kafka")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", ""))
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument(
        "--store",
        choices=("memory", "rocksdb", "both"),
        default="memory",
        help="the store of part (c); both: memory, then RocksDB, side by side",
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per part")
    parser.add_argument(
        "--profile", type=Path, default=None, help="py-spy raw profile of the worker to FILE"
    )
    parser.add_argument(
        "--sections",
        type=_sections,
        default=set(SECTIONS),
        help="comma-separated, default all: throughput (a, b, c and state sizes),"
        " tick (core level), latency (produce to SMTP at --rate), scale (two workers vs one)",
    )
    parser.add_argument(
        "--rate", type=float, default=1000.0, help="latency: events produced a second"
    )
    parser.add_argument(
        "--latency-seconds", type=float, default=25.0, help="latency: seconds measured"
    )
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=5.0,
        help="latency: seconds produced first, not measured",
    )
    parser.add_argument(
        "--signup-share",
        type=float,
        default=0.1,
        help="latency: share of the events that are signups (each an immediate email)",
    )
    parser.add_argument(
        "--small",
        action="store_true",
        help="CI: 200 customers, 800 events; latency 1 s warm-up + 3 s at 100 events/s",
    )
    args = parser.parse_args(argv)
    if not 0 < args.signup_share <= 1:
        parser.error("--signup-share must be in (0, 1]")
    args.stores = ("memory", "rocksdb") if args.store == "both" else (args.store,)
    if args.small:
        args.customers, args.events, args.timeout = 200, 800, min(args.timeout, 300.0)
        # CI checks that every figure prints; a rate the worker keeps up with drains fast.
        args.rate = min(args.rate, 100.0)
        args.latency_seconds = min(args.latency_seconds, 3.0)
        args.warmup_seconds = min(args.warmup_seconds, 1.0)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
