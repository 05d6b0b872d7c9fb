"""End-to-end latency: from produce to SMTP acceptance, at a fixed produce rate.

One worker (memory store, shipped campaigns) on fresh topics; once it is ready, a paced
producer writes ``rate`` events a second for ``warmup + seconds`` seconds, one event at a
time on its due moment (no bursts): every ``1/signup_share``-th event is a
``customer.signed_up`` of a new customer, the others are ``customer.logged_in`` of a
customer who signed up earlier in the run. A signup with marketing consent gets the
welcome campaign's first email at once (its first step is a send, no wait): the customers
are in a time zone where it is early afternoon now (:func:`~benchmarks.mix.daytime_zone`),
so quiet hours do not defer it, and every event is dated the moment it is produced, so no
email is older than ``LIFECYCLE_MAX_SEND_DELAY_HOURS`` (nothing expires). Logins send
nothing; they are the rest of a live shop's traffic.

The latency of one email is the :class:`~benchmarks.sink.AcceptanceSink`'s acceptance
time minus the wall time just before its signup was handed to the producer (one clock:
both are in this process). Signups of the warm-up seconds are left out. After producing,
the section waits until every expected email has arrived, or none has for ``stall``
seconds. A worker slower than ``rate`` falls behind and the latencies grow over the run:
the section prints how many events the worker had processed when producing ended, so a
backlog shows as such rather than as a slow SMTP server.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer

from streams.dev.worker_process import WorkerProcess

from .harness import ROOT, create_source_topics, processed, worker_environment
from .mix import daytime_zone
from .sink import AcceptanceSink

__all__ = ["LatencyResult", "measure_latency"]


@dataclass(frozen=True)
class LatencyResult:
    rate: float  # events a second asked for
    produced: int
    produce_seconds: float
    warmup: float
    seconds: float
    signup_share: float
    expected: int  # measured signups: one welcome email each
    latencies: list[float]  # seconds, one per measured email that arrived
    other_emails: int  # accepted, but not a measured welcome email (warm-up ones included)
    processed_when_produced: float

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan

    def report(self) -> str:
        ms = 1000
        return "\n".join(
            [
                f"latency at {self.rate:,.0f} events/s for {self.seconds:.0f} s after a"
                f" {self.warmup:.0f} s warm-up ({self.signup_share:.0%} signups, each a welcome"
                f" email at once; the rest logins): {self.produced:,} events produced at"
                f" {self.produced / self.produce_seconds:,.0f}/s",
                f"latency produce -> SMTP accepted: p50 {self.percentile(0.5) * ms:,.0f} ms,"
                f" p99 {self.percentile(0.99) * ms:,.0f} ms,"
                f" max {max(self.latencies, default=math.nan) * ms:,.0f} ms"
                f" over {len(self.latencies):,} emails;"
                f" {len(self.latencies):,} of {self.expected:,} expected emails arrived"
                f" ({self.other_emails:,} others)",
                f"latency worker when producing ended: {self.processed_when_produced:,.0f}"
                f" of {self.produced:,} events processed",
            ]
        )


class _LiveShop:
    """The paced stream's events, each built when it is due (dated then)."""

    def __init__(self, prefix: str, signup_share: float, now: datetime) -> None:
        self.prefix = prefix
        self.every = max(1, round(1 / signup_share))
        self.zone = daytime_zone(now)
        self.rng = random.Random(11)
        self.serial = 0
        self.customers = 0

    def next(self) -> tuple[str, bytes, bytes, str | None]:
        """(topic, key, value, address of a new customer or None)."""
        serial, self.serial = self.serial, self.serial + 1
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        body: dict[str, object] = {"event_id": f"{self.prefix}-e{serial}", "occurred_at": at}
        if serial % self.every == 0 or self.customers == 0:
            n, self.customers = self.customers, self.customers + 1
            address = f"live-{n}@example.com"
            body.update(
                type="customer.signed_up",
                customer_id=f"live-{n}",
                email=address,
                name=f"Live {n}",
                locale="en-GB",
                timezone=self.zone,
                marketing_consent=True,
            )
            key = f"signup-form-{serial}"
            topic = f"{self.prefix}-customers"
        else:
            body.update(
                type="customer.logged_in",
                customer_id=f"live-{self.rng.randrange(self.customers)}",
                channel="web",
            )
            key = f"session-{serial}"
            topic = f"{self.prefix}-logins"
            address = None
        return topic, key.encode(), json.dumps(body, separators=(",", ":")).encode(), address


async def _paced(
    bootstrap: str, shop: _LiveShop, rate: float, seconds: float
) -> tuple[dict[str, float], int, float]:
    """Produce at ``rate`` for ``seconds``: (produce time by new address, events, seconds)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1)
    await producer.start()
    loop = asyncio.get_running_loop()
    total = int(rate * seconds)
    signed_up: dict[str, float] = {}
    pending: list[asyncio.Future[object]] = []
    try:
        start = loop.time()
        count = 0
        while count < total:
            due = min(total, int((loop.time() - start) * rate) + 1)
            while count < due:
                topic, key, value, address = shop.next()
                if address is not None:
                    signed_up[address] = time.time()
                pending.append(await producer.send(topic, value, key=key))
                count += 1
            if len(pending) >= 2000:
                done = [f for f in pending if f.done()]
                for future in done:
                    future.result()  # a failed produce fails the section
                pending = [f for f in pending if not f.done()]
            await asyncio.sleep(max(0.0, start + count / rate - loop.time()))
        elapsed = loop.time() - start
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return signed_up, total, elapsed


async def measure_latency(
    bootstrap: str,
    prefix: str,
    work: Path,
    *,
    rate: float,
    seconds: float,
    warmup: float,
    signup_share: float,
    partitions: int,
    stall: float = 30.0,
) -> LatencyResult:
    await create_source_topics(bootstrap, prefix, partitions)
    sink = AcceptanceSink(work / "latency-mail")
    async with sink:
        env = worker_environment(
            prefix,
            bootstrap,
            sink.port,
            work / "latency-data",
            partitions=partitions,
            store="memory",
        )
        worker = WorkerProcess(env, work / "latency-worker.log", cwd=ROOT)
        await worker.start(ready_within=180)
        try:
            shop = _LiveShop(prefix, signup_share, datetime.now(UTC))
            measured_from = time.time() + warmup
            signed_up, produced, produce_seconds = await _paced(
                bootstrap, shop, rate, warmup + seconds
            )
            processed_when_produced = await processed(worker)
            expected = {a: t for a, t in signed_up.items() if t >= measured_from}
            await _until_arrived(sink, set(expected), stall)
        finally:
            await worker.stop()
    latencies: list[float] = []
    others = 0
    seen: set[str] = set()
    for accepted in list(sink.accepted):
        address = accepted.recipients[0] if accepted.recipients else ""
        if address in expected and address not in seen:
            seen.add(address)
            latencies.append(accepted.at - expected[address])
        else:
            others += 1
    return LatencyResult(
        rate=rate,
        produced=produced,
        produce_seconds=produce_seconds,
        warmup=warmup,
        seconds=seconds,
        signup_share=signup_share,
        expected=len(expected),
        latencies=latencies,
        other_emails=others,
        processed_when_produced=processed_when_produced,
    )


async def _until_arrived(sink: AcceptanceSink, addresses: set[str], stall: float) -> None:
    """Until every address has mail, or nothing new has arrived for ``stall`` seconds."""
    loop = asyncio.get_running_loop()
    count, since = -1, loop.time()
    while True:
        accepted = list(sink.accepted)
        arrived = {r for a in accepted for r in a.recipients} & addresses
        if arrived == addresses:
            return
        if len(accepted) != count:
            count, since = len(accepted), loop.time()
        elif loop.time() - since > stall:
            return
        await asyncio.sleep(0.25)
