"""``lifecycle demo``: the whole thing on one machine, no Java, no Docker, ends by itself.

It starts the embedded Tansu broker and an SMTP sink that writes ``.eml`` files, runs a real
``lifecycle worker`` process against them, produces a few months of generated shop traffic
(some records deliberately broken), waits until everything has been processed and
delivered, prints what happened and where the emails are, and stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.dev.brokers import BrokerUnavailableError, EmbeddedTansu
from streams.dev.mail_sink import MailSink
from streams.dev.traffic import Traffic, generate
from streams.dev.worker_process import WorkerProcess, wait_for

__all__ = ["demo_main", "run_demo"]

_SOURCE_TOPICS = {
    "customers": "shop.customers",
    "orders": "shop.orders",
    "logins": "shop.logins",
    "support": "shop.support",
}
_BROKEN = [
    ("shop.orders", b"{this is not json"),
    (
        "shop.logins",
        b'{"event_id": "x", "type": "cart.abandoned", "customer_id": "demo-0001",'
        b' "occurred_at": "2026-11-01T10:00:00Z"}',
    ),
    (
        "shop.support",
        b'{"event_id": "y", "type": "survey.nps", "customer_id": "demo-0002",'
        b' "occurred_at": "2026-11-01T10:00:00", "score": 3}',
    ),
]


def demo_main(args: argparse.Namespace) -> int:
    """Run the demo with the options of ``lifecycle demo`` (:mod:`streams.cli.demo`)."""
    try:
        return asyncio.run(run_demo(args))
    except BrokerUnavailableError as exc:
        _say(f"lifecycle demo: {exc}")
        return 2


def _say(text: str) -> None:
    print(text, flush=True)


async def run_demo(args: argparse.Namespace) -> int:
    started = time.monotonic()
    output: Path = args.output.resolve()
    _clean(output)
    campaigns = args.campaigns.resolve()
    if not campaigns.is_dir():
        _say(
            f"lifecycle demo: no campaign directory at {campaigns}; run it from the repository root"
        )
        return 2
    _say("Starting the embedded Kafka-compatible broker (Tansu) and an SMTP sink ...")
    async with (
        EmbeddedTansu() as broker,
        MailSink(output / "mail", bounce_prefix="bounce-") as sink,
    ):
        await _create_topics(broker.bootstrap_servers)
        environment = {
            "LIFECYCLE_APP_ID": "lifecycle-demo",
            "LIFECYCLE_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "LIFECYCLE_KAFKA_SESSION_TIMEOUT_SECONDS": "6",
            "LIFECYCLE_PARTITIONS": "4",
            "LIFECYCLE_TICK_INTERVAL_SECONDS": "1",
            "LIFECYCLE_SMTP_HOST": "127.0.0.1",
            "LIFECYCLE_SMTP_PORT": str(sink.port),
            "LIFECYCLE_MAIL_FROM": "Demo Shop <hello@demo-shop.example>",
            "LIFECYCLE_CAMPAIGN__SHOP__NAME": "Demo Shop",
            "LIFECYCLE_CAMPAIGN__SHOP__URL": "https://demo-shop.example",
            "LIFECYCLE_CAMPAIGNS_DIR": str(campaigns),
            "LIFECYCLE_DATA_DIR": str(output / "worker-data"),
            "LIFECYCLE_UNSUBSCRIBE_SECRET": secrets.token_urlsafe(32),
            # The demo plays 120 days of history in a minute and wants to see every email
            # it decides; a real deployment keeps the default and does not send stale ones.
            "LIFECYCLE_MAX_SEND_DELAY_HOURS": "0",
        }
        worker = WorkerProcess(environment, output / "worker.log")
        _say(f"Starting the worker (log: {worker.log_path}) ...")
        await worker.start(ready_within=args.timeout)
        try:
            now = datetime.now(UTC)
            traffic = generate(now, args.customers)
            _say(
                f"Producing {len(traffic)} shop events for {args.customers} customers"
                f" and {len(_BROKEN)} broken records ..."
            )
            # Sign-ups first, as a live shop's would come well before its orders; the rest
            # after, so a customer's first order never overtakes their sign-up.
            signups = [t for t in traffic if t.event["type"] == "customer.signed_up"]
            await _produce(broker.bootstrap_servers, signups, broken=False)
            await worker.wait_metric(
                "lifecycle_events_processed_total", lambda v: v >= len(signups), within=args.timeout
            )
            rest = [t for t in traffic if t.event["type"] != "customer.signed_up"]
            await _produce(broker.bootstrap_servers, rest, broken=True)
            await _settle(
                worker, expected_events=len(traffic), broken=len(_BROKEN), within=args.timeout
            )
            metrics = await worker.metrics()
        finally:
            await worker.stop()
    _report(metrics, sink.stored, output, worker, time.monotonic() - started)
    return 0


def _clean(output: Path) -> None:
    """Emails and worker state from an earlier run would mix with this one's."""
    for old in (output / "mail").glob("*.eml"):
        old.unlink()
    shutil.rmtree(output / "worker-data", ignore_errors=True)
    (output / "worker.log").unlink(missing_ok=True)
    output.mkdir(parents=True, exist_ok=True)


async def _create_topics(bootstrap_servers: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 3, 1) for name in _SOURCE_TOPICS.values()])
    finally:
        await admin.close()


async def _produce(bootstrap_servers: str, traffic: list[Traffic], *, broken: bool) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, linger_ms=5)
    await producer.start()
    try:
        pending = [
            await producer.send(
                _SOURCE_TOPICS[item.topic],
                json.dumps(item.event).encode(),
                key=None if item.key is None else item.key.encode(),
            )
            for item in traffic
        ]
        if broken:
            pending += [await producer.send(t, value, key=b"broken") for t, value in _BROKEN]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def _total(metrics: dict[str, float], name: str) -> float:
    return sum(v for k, v in metrics.items() if k.split("{")[0] == name)


async def _settle(
    worker: WorkerProcess, *, expected_events: int, broken: int, within: float
) -> None:
    """Wait until every event was handled and the outbox is drained, and stays so."""

    async def progress() -> tuple[float, ...]:
        m = await worker.metrics()
        handled = _total(m, "lifecycle_events_processed_total") + _total(
            m, "lifecycle_events_duplicate_total"
        )
        dead = _total(m, "lifecycle_events_dead_lettered_total")
        published = _total(m, "lifecycle_outbox_published_total")
        delivered = (
            _total(m, "lifecycle_emails_sent_total")
            + _total(m, "lifecycle_emails_skipped_duplicate_total")
            + _total(m, "lifecycle_emails_dead_lettered_total")
        )
        return handled, dead, published, delivered

    last: tuple[float, ...] = ()
    stable_since = time.monotonic()

    def settled(now: tuple[float, ...]) -> bool:
        nonlocal last, stable_since
        if now != last:
            last, stable_since = now, time.monotonic()
        handled, dead, published, delivered = now
        done = handled >= expected_events and dead >= broken and delivered >= published
        return done and time.monotonic() - stable_since >= 3.0

    _say("Waiting for the worker to process the traffic and deliver the emails ...")
    await wait_for(
        progress, settled, within=within, interval=0.5, what="the demo traffic to settle"
    )


def _report(
    metrics: dict[str, float],
    stored: list[Path],
    output: Path,
    worker: WorkerProcess,
    seconds: float,
) -> None:
    def by(name: str, label: str) -> Counter[str]:
        counts: Counter[str] = Counter()
        for key, value in metrics.items():
            if key.split("{")[0] == name and f'{label}="' in key:
                counts[key.split(f'{label}="')[1].split('"')[0]] += int(value)
        return counts

    lines = ["", f"Demo finished in {seconds:.0f} s.", "", "Events processed by type:"]
    lines += [
        f"  {k:<26} {v}" for k, v in sorted(by("lifecycle_events_processed_total", "type").items())
    ]
    lines += ["", "Signals:"]
    lines += [f"  {k:<26} {v}" for k, v in sorted(by("lifecycle_signals_total", "signal").items())]
    decisions = by("lifecycle_campaign_decisions_total", "outcome")
    if decisions:
        lines += ["", "Campaign decisions by outcome:"]
        lines += [f"  {k:<26} {v}" for k, v in sorted(decisions.items())]
    lines += ["", "Emails sent by campaign:"]
    sent = by("lifecycle_emails_sent_total", "campaign")
    lines += [f"  {k:<26} {v}" for k, v in sorted(sent.items())] or ["  (none)"]
    dead = int(_total(metrics, "lifecycle_events_dead_lettered_total"))
    bounced = int(_total(metrics, "lifecycle_emails_dead_lettered_total"))
    suppressed = int(_total(metrics, "lifecycle_addresses_suppressed_total"))
    lines += [
        "",
        f"Broken records sent to the dead-letter topic: {dead}",
        f"Emails refused by the server and dead-lettered: {bounced}"
        f" ({suppressed} hard bounces reported to the engine, which stops marketing mail to them)",
        "",
        f"{len(stored)} emails are in {output / 'mail'}",
    ]
    lines += [f"  {path.name}" for path in sorted(stored)[:5]]
    if len(stored) > 5:
        lines.append(f"  ... and {len(stored) - 5} more (open any .eml file in a mail client)")
    lines.append(f"Worker log: {worker.log_path}")
    _say("\n".join(lines))
