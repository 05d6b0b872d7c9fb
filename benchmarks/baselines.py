"""The pipeline benchmark's two baselines, each run in a process of its own (for its peak RSS).

    python -m benchmarks.baselines plain|faust --bootstrap HOST:PORT --prefix P --total N \
        --result FILE

``plain``: one aiokafka consumer on the four source topics, ``json.loads`` of every value
(the client's limit). ``faust``: the naive Faust app: one agent per source topic decodes
the record and re-keys it by customer id into one topic; one agent reads that topic and
writes one table value per event (the framework's floor). Both time from their first record
to their ``total``-th and write ``{"seconds", "records", "peak_rss_bytes"}`` to ``FILE``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["main", "peak_rss_bytes"]


def peak_rss_bytes() -> int:
    """This process's peak resident set (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _write(result: Path, seconds: float, records: int) -> None:
    body = {"seconds": seconds, "records": records, "peak_rss_bytes": peak_rss_bytes()}
    result.write_text(json.dumps(body))


async def _plain(args: argparse.Namespace, topics: list[str]) -> None:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=args.bootstrap,
        group_id=f"{args.prefix}-plain",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen, started = 0, 0.0
        while seen < args.total:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                if not started:
                    started = time.perf_counter()
                for record in records:
                    json.loads(record.value)
                seen += len(records)
        _write(args.result, time.perf_counter() - started, seen)
    finally:
        await consumer.stop()


def _faust(args: argparse.Namespace, topics: list[str]) -> None:
    import faust

    app = faust.App(
        f"{args.prefix}-naive",
        broker=f"kafka://{args.bootstrap}",
        store="memory://",
        topic_partitions=args.partitions,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        datadir=str(args.result.parent / "naive-faust-data"),
    )
    raw = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    rekeyed = app.topic(
        f"{args.prefix}-naive-rekeyed", partitions=args.partitions, internal=True, **raw
    )
    table = app.Table("latest", default=None, key_type=bytes, value_type=bytes)
    clock: dict[str, float] = {}
    seen = 0

    def ingest(topic: Any) -> Any:
        async def run(stream: Any) -> None:
            async for value in stream:
                clock.setdefault("started", time.perf_counter())
                event = json.loads(value)
                await rekeyed.send(key=event["customer_id"].encode(), value=value)

        return run

    for index, name in enumerate(topics):
        source = app.topic(name, **raw)
        app.agent(source, name=f"ingest-{index}")(ingest(source))

    async def write(stream: Any) -> None:
        nonlocal seen
        async for key, value in stream.items():
            table[key] = value
            seen += 1
            if seen == args.total:
                _write(args.result, time.perf_counter() - clock["started"], seen)
                os.kill(os.getpid(), signal.SIGTERM)

    app.agent(rekeyed, name="write")(write)
    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn"]
    app.main()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("plain", "faust"))
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--total", type=int, required=True)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args()
    topics = [f"{args.prefix}-{name}" for name in ("customers", "orders", "logins", "support")]
    if args.kind == "plain":
        asyncio.run(_plain(args, topics))
    else:
        _faust(args, topics)


if __name__ == "__main__":
    main()
