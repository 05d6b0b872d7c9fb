"""``lifecycle demo``: a simulated shop drives the real worker through ~120 days, then reports.

It starts the embedded Tansu broker, an SMTP sink that writes ``.eml`` files with a web
inbox over them (:mod:`~streams.dev.inbox`), and real ``lifecycle worker`` processes with
``LIFECYCLE_TICKER=external``: ``--workers`` of them (2 by default) in one consumer group
over the demo's 4 partitions, scaled out as a shop would, and read as one
(:class:`~streams.dev.worker_process.WorkerGroup` adds up their counters). The demo
starts producing only once every process is ready, so no partition moves during the run.
Then, one slot of simulated days at a time:

1. the shop simulator (:mod:`~streams.dev.shop`) produces the slot's events to the shop's
   topics (any keys, as a shop would), and the demo waits until the engine has processed
   every one of them and every email decided so far was delivered;
2. the response model (:mod:`~streams.dev.responses`) reads the emails the sink received
   since, in the order of their Message-IDs (arrival order differs between runs, and
   two emails to one customer would be answered in either order), and plans the orders
   they cause on the days that follow;
3. it sends a tick dated the end of the slot to every partition of the customer-events
   (and outbox-retry) topic, exactly as the worker's own ticker would at that moment,
   and waits until the ticks are handled, their emails delivered and their bounces
   applied (the response model reads those emails with the next slot's).

Hard bounces: the mailboxes the shop closes by the end of a slot (4 % of the customers,
:attr:`~streams.dev.shop.SimCustomer.mailbox_closes_at`) are refused by the sink from
then on, before the slot's tick is sent. The worker's delivery turns a refusal into an
``email.bounced`` event dated by the refused message's decision time (it runs with
external ticks: :func:`lifecycle.mail.bounce_time`), and the engine suppresses marketing
mail to the address from then on. The demo waits until every bounce is applied before
it moves on, so a bounce never races the customer's next events, and writes the
worker's bounce events to the history too: replay suppresses what the worker suppressed.

Simulated time flows only through event timestamps and ticks: nothing sleeps, and the
worker decides exactly as it would live. Every event produced is written to
``OUTPUT/history.jsonl``; ``lifecycle replay`` of that file decides the same emails (the
end-to-end test checks it). Three deliberately broken records go in on the first day and
end on the dead-letter topic.

At the end the worker is stopped (it flushes its counters), the campaign report and
retention figures are printed from the counters topic, ``OUTPUT/report.html`` and
``OUTPUT/report.json`` are written, and the demo says where the emails, the report and
the inbox are; ``--keep-open`` keeps the inbox up until Ctrl-C.

Stopping: whatever ends the demo (the end, a failure, Ctrl-C at any point), every part it
started is stopped, each within a bound of its own (:class:`_Parts`), so a Ctrl-C ends it
within :data:`STOP_WITHIN_SECONDS` with exit code 130 and no child process left; a second
Ctrl-C kills the worker and the broker and exits at once (:mod:`~streams.dev.interrupts`).
Failure window: the report needs the worker's last counters, so the worker's polite stop
before the report has no short bound of its own; a Ctrl-C during it still ends the demo
within the bound (the worker is then killed after its 3 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from lifecycle.measurement import build_report, render_html, render_text, report_data
from lifecycle.processing import encode_tick
from streams.dev.brokers import BrokerUnavailableError, EmbeddedTansu
from streams.dev.inbox import Inbox
from streams.dev.interrupts import Interrupts
from streams.dev.mail_sink import MailSink
from streams.dev.progress import Progress
from streams.dev.responses import Responses
from streams.dev.shop import Shop
from streams.dev.worker_process import WorkerGroup, WorkerProcess, wait_for
from streams.settings import TopicSettings

__all__ = ["STOP_WITHIN_SECONDS", "demo_main", "run_demo"]

#: Ctrl-C ends the demo within this many seconds and leaves no child process running: the
#: parts stop within the bounds below (side by side, then the broker: about 5 s at most),
#: and a watchdog kills whatever is left when this time is up.
STOP_WITHIN_SECONDS = 10.0
_PRODUCER_STOP_SECONDS = 1.0
#: SIGTERM, then SIGKILL: a worker stopped this way may not flush its last counters, which
#: only matters to a report, and the demo reports after the polite stop it gives the worker.
_WORKER_STOP_SECONDS = 3.0
#: How long the inbox lets a request in progress finish (aiohttp may spend it twice).
_INBOX_SHUTDOWN_SECONDS = 1.0
_SINK_STOP_SECONDS = 1.0
#: SIGTERM, then SIGKILL (Tansu keeps nothing worth a longer wait: memory storage).
_BROKER_STOP_SECONDS = 2.0

#: The key of tick records (the worker's ticker uses the same; see streams.agents.ticker).
_TICK_KEY = b"__tick__"
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
        b'{"event_id": "x", "type": "cart.abandoned", "customer_id": "c-00001",'
        b' "occurred_at": "2026-03-02T10:00:00Z"}',
    ),
    (
        "shop.support",
        b'{"event_id": "y", "type": "survey.nps", "customer_id": "c-00002",'
        b' "occurred_at": "2026-03-02T10:00:00", "score": 3}',
    ),
]


def demo_main(args: argparse.Namespace) -> int:
    """Run the demo with the options of ``lifecycle demo`` (:mod:`streams.cli.demo`).

    Ctrl-C (or SIGTERM) stops it within :data:`STOP_WITHIN_SECONDS` and exits with 130
    (143); a second one kills the child processes and exits at once."""
    interrupts = Interrupts(
        within=STOP_WITHIN_SECONDS,
        message=(
            "Stopping the demo: the worker, the broker, the mail sink and the inbox"
            f" (within {STOP_WITHIN_SECONDS:.0f} s; Ctrl-C again to kill them at once) ..."
        ),
        name="lifecycle demo",
    )
    with interrupts.installed():
        try:
            return asyncio.run(run_demo(args, interrupts))
        except BrokerUnavailableError as exc:
            _say(f"lifecycle demo: {exc}")
            return 2
        except (Exception, asyncio.CancelledError):
            # Cancelled by the signal, or a part failing as it is stopped: asked for, not news.
            if interrupts.received is None:
                raise
            return interrupts.exit_code


def _say(text: str) -> None:
    print(text, flush=True)


def _total(metrics: dict[str, float], name: str) -> float:
    """The sum over all labels of ``name``, in a :meth:`WorkerProcess.totals` result (which
    has it summed already, beside any labelled sample it was asked for) or in a
    :meth:`WorkerProcess.metrics` one (one key per label set)."""
    if name in metrics:
        # Adding the labelled samples too would count them twice: the hard bounces were,
        # which let a slot's wait end with as many emails still undelivered.
        return metrics[name]
    return sum(v for k, v in metrics.items() if k.split("{")[0] == name)


def _campaigns(args: argparse.Namespace) -> tuple[Path, Any] | None:
    from streams.campaign_loading import load_campaign_set
    from streams.settings import load_settings
    from streams.shipped_campaigns import campaigns_dir_for

    settings = load_settings()
    directory, shipped = campaigns_dir_for(settings, args.campaigns)
    if not directory.is_dir():
        _say(f"lifecycle demo: no campaign directory at {directory.resolve()}")
        return None
    if shipped:
        _say(f"Using the shipped example campaigns in {directory}")
    return directory.resolve(), load_campaign_set(settings, directory=directory)


async def run_demo(args: argparse.Namespace, interrupts: Interrupts | None = None) -> int:
    """The demo; with ``interrupts``, the first Ctrl-C cancels it and the parts stop."""
    parts = _Parts()
    if interrupts is not None:
        task = asyncio.current_task()
        assert task is not None
        interrupts.watch(task)
        interrupts.adopt(parts.pids)
    try:
        return await _demo(args, parts)
    finally:
        # After a Ctrl-C this task is cancelled; the steps with a timeout of their own run
        # as tasks of their own (gather, wait_for), so their timeouts work as written.
        await parts.stop()


@dataclass
class _Parts:
    """What the demo started so far; :meth:`stop` stops it whatever happened."""

    broker: EmbeddedTansu | None = None
    sink: MailSink | None = None
    inbox: Inbox | None = None
    worker: WorkerGroup | None = None
    producer: AIOKafkaProducer | None = None

    def pids(self) -> list[int]:
        """The child processes still running (for the hard stop of a second Ctrl-C)."""
        running = (
            *(() if self.worker is None else (w.pid for w in self.worker.workers)),
            None if self.broker is None else self.broker.pid,
        )
        return [pid for pid in running if pid is not None]

    async def stop(self) -> None:
        """Everything within :data:`STOP_WITHIN_SECONDS`: the producer, the worker (SIGTERM,
        SIGKILL after its bound), the inbox and the sink stop side by side, each within its
        bound, then the broker (the others talk to it) the same way."""
        producer, self.producer = self.producer, None
        worker, inbox, sink = self.worker, self.inbox, self.sink
        self.inbox = self.sink = None
        await asyncio.gather(
            _stop_step(
                "the producer",
                None if producer is None else producer.stop(),
                _PRODUCER_STOP_SECONDS,
            ),
            _stop_step(
                "the worker", None if worker is None else worker.stop(within=_WORKER_STOP_SECONDS)
            ),
            _stop_step(
                "the inbox",
                None if inbox is None else inbox.stop(),
                2 * _INBOX_SHUTDOWN_SECONDS + 1,
            ),
            _stop_step(
                "the mail sink", None if sink is None else sink.stop(within=_SINK_STOP_SECONDS)
            ),
        )
        broker, self.broker = self.broker, None
        await _stop_step("the broker", None if broker is None else broker.stop())


async def _stop_step(what: str, stopping: Awaitable[object] | None, within: float = 0) -> None:
    """Await ``stopping`` (``within`` seconds at most if given); report, never raise, a
    failure, so one part's trouble does not keep the others running."""
    if stopping is None:
        return
    try:
        await (asyncio.wait_for(stopping, within) if within else stopping)
    except TimeoutError:
        _say(f"lifecycle demo: {what} did not stop within {within:.0f} s")
    except Exception as exc:
        _say(f"lifecycle demo: stopping {what} failed: {exc!r}")


async def _demo(args: argparse.Namespace, parts: _Parts) -> int:
    started = time.monotonic()
    output: Path = args.output.resolve()
    _clean(output)
    found = _campaigns(args)
    if found is None:
        return 2
    campaigns_dir, campaign_set = found
    start = datetime.combine(args.start, datetime.min.time(), tzinfo=UTC)
    shop = Shop(start, args.customers, args.days, seed=args.seed, slot_days=args.slot_days)
    codes = frozenset(
        str(c.params["discount_code"])
        for c in campaign_set.campaigns
        if "discount_code" in c.params
    )
    responses = Responses(shop, codes, seed=args.seed)
    topics = TopicSettings()
    _say(
        f"A simulated shop: {args.customers:,} customers over {args.days} days from"
        f" {args.start.isoformat()} (seed {args.seed})."
    )
    _say("Starting the embedded Kafka-compatible broker (Tansu), an SMTP sink and its inbox ...")
    broker = parts.broker = EmbeddedTansu(stop_timeout=_BROKER_STOP_SECONDS)
    await broker.start()
    sink = parts.sink = MailSink(output / "mail")
    await sink.start()
    inbox = parts.inbox = Inbox(output / "mail", shutdown_timeout=_INBOX_SHUTDOWN_SECONDS)
    await inbox.start()
    await _create_topics(broker.bootstrap_servers)
    # One secret for the group: a link signed by one worker must verify at any other.
    unsubscribe_secret = secrets.token_urlsafe(32)
    worker = parts.worker = WorkerGroup(
        [
            WorkerProcess(
                _worker_environment(
                    broker.bootstrap_servers,
                    sink.port,
                    campaigns_dir,
                    output / _numbered("worker-data", n),
                    args.fetch_max_wait_ms,
                    unsubscribe_secret,
                ),
                output / _numbered("worker.log", n),
            )
            for n in range(args.workers)
        ]
    )
    logs = ", ".join(str(path) for path in worker.log_paths)
    _say(f"Starting {_workers(args.workers)} (log: {logs}) ...")
    await worker.start(ready_within=args.timeout)
    _say(f"Inbox (while the demo runs): {inbox.url}")
    producer = parts.producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers, linger_ms=2
    )
    await producer.start()
    deadline = time.monotonic() + args.timeout
    tick_partitions = {
        name: len(await producer.partitions_for(name) or ())
        for name in (topics.customer_events, topics.outbox_retry)
    }
    simulation = _Simulation(worker, producer, tick_partitions, deadline)
    with (output / "history.jsonl").open("w", encoding="utf-8") as history:
        await simulation.run(shop, responses, sink, history, Progress(shop.slots))
        bounces = await _bounces(
            broker.bootstrap_servers,
            topics.customer_events,
            tick_partitions[topics.customer_events],
        )
        # What the worker applied: replay of the history applies it too.
        history.writelines(json.dumps(b, ensure_ascii=False) + "\n" for b in bounces)
    metrics = await worker.metrics()
    await producer.stop()
    parts.producer = None
    # A polite stop, given its time: the worker flushes the counters the report reads.
    await worker.stop()
    from streams.campaign_loading import campaign_infos
    from streams.counters import read_counters

    totals = await asyncio.wait_for(
        read_counters(broker.bootstrap_servers, topics.counters), timeout=60
    )
    report = build_report(totals, campaign_infos(campaign_set), "month")
    (output / "report.html").write_text(render_html(report), encoding="utf-8")
    (output / "report.json").write_text(
        json.dumps(report_data(report), indent=2, ensure_ascii=False), encoding="utf-8"
    )
    suppressed = sum(
        arm.skipped.get("suppressed", 0) for result in report.campaigns for arm in result.arms
    )
    bounced = len({b["customer_id"] for b in bounces})
    (output / "simulation.json").write_text(
        json.dumps(
            {
                "seed": args.seed,
                "customers": args.customers,
                "days": args.days,
                "start": start.isoformat(),
                "end": shop.day_start(args.days).isoformat(),
                "events": simulation.events,
                "emails_read": responses.read,
                "orders_caused_by_email": responses.orders,
                "hard_bounces": len(bounces),
                "bounced_customers": bounced,
                "suppressed_by_bounces": suppressed,
                "campaigns": str(campaigns_dir),
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    _say("")
    sys.stdout.write(render_text(report))
    _summary(
        metrics,
        sink.stored,
        output,
        worker,
        inbox,
        responses,
        time.monotonic() - started,
        bounces=(len(bounces), bounced, suppressed),
    )
    if args.keep_open:
        _say(
            f"\nThe inbox stays open at {inbox.url} (Ctrl-C to stop; everything is stopped"
            f" within {STOP_WITHIN_SECONDS:.0f} s)."
        )
        await asyncio.Event().wait()
    return 0


class _Simulation:
    def __init__(
        self,
        worker: WorkerGroup,
        producer: AIOKafkaProducer,
        tick_partitions: dict[str, int],
        deadline: float,
    ) -> None:
        self.worker = worker
        self.producer = producer
        self.tick_partitions = tick_partitions
        self.deadline = deadline
        self.events = 0
        self.ticks = 0
        self.metrics: dict[str, float] = {}

    async def run(
        self,
        shop: Shop,
        responses: Responses,
        sink: MailSink,
        history: Any,
        progress: Progress,
    ) -> None:
        read = 0
        broken = len(_BROKEN)
        for slot in range(shop.slots + 1):
            planned = shop.slot(slot) if slot < shop.slots else []
            pending = [
                await self.producer.send(
                    _SOURCE_TOPICS[p.topic],
                    json.dumps(p.event).encode(),
                    key=None if p.key is None else p.key.encode(),
                )
                for p in planned
            ]
            if slot == 0:
                pending += [await self.producer.send(t, v, key=b"broken") for t, v in _BROKEN]
            await asyncio.gather(*pending)
            history.writelines(json.dumps(p.event, ensure_ascii=False) + "\n" for p in planned)
            self.events += len(planned)
            # This slot's events, every email decided so far and every bounce they caused
            # (delivery counts one before it sends it).
            await self._until(
                lambda m: (
                    _handled(m) >= self.events + m[_HARD_BOUNCES]
                    and _total(m, "lifecycle_events_dead_lettered_total") >= broken
                    and _total(m, "lifecycle_ticks_total") >= self.ticks
                    and _delivered(m)
                ),
                f"slot {slot}",
            )
            # In the order of their file names (their Message-IDs), not of arrival: two
            # emails to one customer in a slot are answered in the same order every run.
            arrived = sorted(sink.stored[read:], key=lambda path: path.name)
            read += len(arrived)
            if slot == shop.slots:
                break
            end = shop.slot_end(slot)
            # Answers go after the slots already produced (Shop.frozen), so after ``end``.
            responses.read_emails(arrived, end)
            # Mailboxes closed by the end of the slot refuse from the tick on (attempts
            # happen at the tick in simulated time; this wait left none in flight).
            for address in shop.closed_mailboxes(end):
                sink.close_mailbox(address)
            # After this slot's events (processed): a tick never overtakes an earlier event.
            await self._tick(end)
            # The tick's emails, and the bounces they cause, before the next slot's events:
            # a bounce is dated by its message's decision time, before those events, so
            # the engine must apply it first, as replay does (a bounce arriving among them
            # would let some of them decide marketing mail replay suppresses).
            await self._until(
                lambda m: (
                    _total(m, "lifecycle_ticks_total") >= self.ticks
                    and _handled(m) >= self.events + m[_HARD_BOUNCES]
                    and _delivered(m)
                ),
                f"tick after slot {slot}",
            )
            progress.update(
                slot,
                date.fromordinal(end.toordinal() - 1),
                events=self.events,
                emails=int(_total(self.metrics, "lifecycle_emails_sent_total")),
                dead=int(_total(self.metrics, "lifecycle_events_dead_lettered_total")),
            )

    async def _tick(self, at: datetime) -> None:
        value = encode_tick(at)
        pending = []
        for topic, count in self.tick_partitions.items():
            for partition in range(count):
                pending.append(
                    await self.producer.send(topic, value, key=_TICK_KEY, partition=partition)
                )
        await asyncio.gather(*pending)
        self.ticks += self.tick_partitions[TopicSettings().customer_events]

    async def _until(self, done: Callable[[dict[str, float]], bool], what: str) -> None:
        async def probe() -> dict[str, float]:
            self.metrics = await self.worker.totals(_WATCHED)
            return self.metrics

        within = max(self.deadline - time.monotonic(), 1.0)
        try:
            # Each probe has each worker render the watched samples only (a few lines):
            # cheap enough for the simulation to notice within 30 ms that a phase is done.
            await wait_for(probe, done, within=within, interval=0.03, what=what)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n--- worker log ---\n{self.worker.log_tail()}") from None


#: Messages refused as hard bounces: each one sends the engine an ``email.bounced``.
_HARD_BOUNCES = 'lifecycle_emails_dead_lettered_total{reason="hard_bounce"}'
#: The samples the simulation waits on (see _handled and _delivered).
_WATCHED = frozenset(
    {
        _HARD_BOUNCES,
        "lifecycle_events_processed_total",
        "lifecycle_events_duplicate_total",
        "lifecycle_events_dead_lettered_total",
        "lifecycle_ticks_total",
        "lifecycle_outbox_published_total",
        "lifecycle_emails_sent_total",
        "lifecycle_emails_skipped_duplicate_total",
        "lifecycle_emails_dead_lettered_total",
        "lifecycle_emails_expired_total",
    }
)


def _handled(metrics: dict[str, float]) -> float:
    return _total(metrics, "lifecycle_events_processed_total") + _total(
        metrics, "lifecycle_events_duplicate_total"
    )


def _delivered(metrics: dict[str, float]) -> bool:
    published = _total(metrics, "lifecycle_outbox_published_total")
    delivered = (
        _total(metrics, "lifecycle_emails_sent_total")
        + _total(metrics, "lifecycle_emails_skipped_duplicate_total")
        + _total(metrics, "lifecycle_emails_dead_lettered_total")
        + _total(metrics, "lifecycle_emails_expired_total")
    )
    return delivered >= published


def _numbered(name: str, n: int) -> str:
    """The first worker's file keeps the plain name: ``worker.log``, ``worker-2.log``."""
    if n == 0:
        return name
    stem, dot, suffix = name.partition(".")
    return f"{stem}-{n + 1}{dot}{suffix}"


def _workers(count: int) -> str:
    return "the worker" if count == 1 else f"{count} workers (one consumer group)"


def _worker_environment(
    bootstrap_servers: str,
    smtp_port: int,
    campaigns: Path,
    data_dir: Path,
    fetch_max_wait_ms: int,
    unsubscribe_secret: str,
) -> dict[str, str]:
    return {
        "LIFECYCLE_APP_ID": "lifecycle-demo",
        "LIFECYCLE_KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "LIFECYCLE_KAFKA_SESSION_TIMEOUT_SECONDS": "6",
        # Each slot is a burst followed by silence: with Faust's 1500 ms long-poll every hop
        # (shop topic, customer events, outbox) would wait out a fetch that finds nothing.
        "LIFECYCLE_KAFKA_FETCH_MAX_WAIT_MS": str(fetch_max_wait_ms),
        "LIFECYCLE_PARTITIONS": "4",
        # The simulation sends the ticks: simulated time, not the wall clock's.
        "LIFECYCLE_TICKER": "external",
        "LIFECYCLE_COUNTERS_FLUSH_SECONDS": "1",
        "LIFECYCLE_SMTP_HOST": "127.0.0.1",
        "LIFECYCLE_SMTP_PORT": str(smtp_port),
        "LIFECYCLE_SMTP_RATE_LIMIT_PER_SECOND": "100000",
        "LIFECYCLE_MAIL_FROM": "Demo Shop <hello@demo-shop.example>",
        "LIFECYCLE_CAMPAIGN__SHOP__NAME": "Demo Shop",
        "LIFECYCLE_CAMPAIGN__SHOP__URL": "https://demo-shop.example",
        "LIFECYCLE_CAMPAIGNS_DIR": str(campaigns),
        "LIFECYCLE_DATA_DIR": str(data_dir),
        "LIFECYCLE_UNSUBSCRIBE_SECRET": unsubscribe_secret,
        # Simulated days pass in a fraction of a second: an email decided "months ago" by
        # the wall clock is today's by the simulation's, so none may expire as stale.
        "LIFECYCLE_MAX_SEND_DELAY_HOURS": "0",
    }


def _clean(output: Path) -> None:
    """Emails and worker state from an earlier run would mix with this one's."""
    for old in (output / "mail").glob("*.eml"):
        old.unlink()
    for data in (*output.glob("worker-data-*"), output / "worker-data"):
        shutil.rmtree(data, ignore_errors=True)
    for log in output.glob("worker-*.log"):
        log.unlink()
    for name in ("worker.log", "history.jsonl", "report.html", "report.json", "simulation.json"):
        (output / name).unlink(missing_ok=True)
    output.mkdir(parents=True, exist_ok=True)


async def _create_topics(bootstrap_servers: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 3, 1) for name in _SOURCE_TOPICS.values()])
    finally:
        await admin.close()


async def _bounces(bootstrap_servers: str, topic: str, partitions: int) -> list[dict[str, Any]]:
    """The ``email.bounced`` events the worker's delivery wrote to ``topic``."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        for number in range(partitions):
            tp = TopicPartition(topic, number)
            end = (await consumer.end_offsets([tp]))[tp]
            consumer.assign([tp])
            consumer.seek(tp, 0)
            while await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=1000, max_records=10_000)
                found += [
                    json.loads(r.value)
                    for r in batch.get(tp, [])
                    if r.offset < end and r.value and b'"email.bounced"' in r.value
                ]
    finally:
        await consumer.stop()
    return sorted(found, key=lambda b: (b["occurred_at"], b["event_id"]))


def _summary(
    metrics: dict[str, float],
    stored: list[Path],
    output: Path,
    worker: WorkerGroup,
    inbox: Inbox,
    responses: Responses,
    seconds: float,
    *,
    bounces: tuple[int, int, int],
) -> None:
    refused, bounced, suppressed = bounces
    sent = int(_total(metrics, "lifecycle_emails_sent_total"))
    dead = int(_total(metrics, "lifecycle_events_dead_lettered_total"))
    lines = [
        "",
        f"Demo finished in {seconds:.0f} s: {int(_handled(metrics)):,} events processed,"
        f" {sent:,} emails sent, {responses.orders:,} orders placed in answer to an email.",
        f"Broken records sent to the dead-letter topic: {dead}",
        f"Hard bounces: {refused} emails refused to {bounced} closed mailboxes; marketing to"
        f" them suppressed from then on: {suppressed} emails not sent",
        "",
        f"{len(stored)} emails are in {output / 'mail'} (open any .eml file in a mail client)",
        f"Report: {output / 'report.html'} (and report.json)",
        f"History of every event: {output / 'history.jsonl'}"
        f" (lifecycle replay {output / 'history.jsonl'} decides the same)",
        f"Inbox: {inbox.url} (up while the demo runs; --keep-open keeps it)",
        f"Worker log: {', '.join(str(path) for path in worker.log_paths)}",
    ]
    _say("\n".join(lines))
