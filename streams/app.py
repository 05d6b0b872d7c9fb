"""Builds the Faust app from settings: topics, tables, agents, timers and web routes.

The composition root: the one module that creates the worker's parts and hands each agent,
timer and route what it uses. Nothing happens at import time; :func:`build_worker` wires a
fresh app each call, so tests can build several in one process and the CLI builds exactly
one.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, cast

import faust

from lifecycle.campaigns import CampaignSet
from lifecycle.processing import Engine
from streams.agents import (
    BackfillProgress,
    EngineAgent,
    GroupProgress,
    IngestAgent,
    LagGauge,
    OutboxAgent,
    RetryAgent,
    ShopHold,
    Ticker,
    TickHold,
)
from streams.counters import CounterStore, Journal
from streams.dead_letter import DeadLetters
from streams.delivery import Delivery, FaustLedger, SmtpSender
from streams.health import OBSERVE_INTERVAL_SECONDS, Health
from streams.internals import BatchPublisher, LeanMonitor, use_safe_transport
from streams.metrics import WorkerMetrics
from streams.settings import Settings
from streams.tables import RawTableStore, TableStateStore, WriteBehind
from streams.topic_admin import METADATA_REFRESH_SECONDS, changelog_topic
from streams.web import register_routes
from streams.worker import RawTable, Tables, Topics, Worker

__all__ = ["build_faust_app", "build_worker"]


def _raw_topic(app: faust.App, name: str, settings: Settings, *, internal: bool) -> Any:
    options: dict[str, Any] = {}
    if internal:
        options = {
            "internal": True,
            "partitions": settings.partitions,
            "replicas": settings.replication_factor,
        }
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        **options,
    )


def _raw_table(app: faust.App, name: str, settings: Settings, help: str) -> RawTable:
    table: RawTable = app.Table(
        name,
        default=None,
        key_type=bytes,  # bytes types give the "raw" codec on the changelog
        value_type=bytes,
        partitions=settings.partitions,
        help=help,
    )
    return table


#: Records each agent's stream holds before the consumer pauses its partitions, at least.
STREAM_BUFFER_RECORDS = 512


def stream_buffer_records(settings: Settings) -> int:
    """Faust's ``stream_buffer_maxsize``: 512 rather than Faust's 4,096, never below a batch.

    Each agent's stream takes what the fetches bring until this many records wait in it;
    with 4,096 the engine's input alone holds thousands of decoded records during a
    backfill. With the fetch bound (``LIFECYCLE_KAFKA_MAX_POLL_RECORDS``) the worker kept
    2.57-2.84 KB per customer after the benchmark's backfill instead of 2.9-3.1 KB, and ran
    faster (README, Performance). A batch larger than the buffer could never fill, so a
    larger ``LIFECYCLE_ENGINE_BATCH_SIZE`` or ``LIFECYCLE_INGEST_BATCH_SIZE`` raises it."""
    return max(STREAM_BUFFER_RECORDS, settings.engine_batch_size, settings.ingest_batch_size)


def build_faust_app(settings: Settings) -> faust.App:
    app = faust.App(
        settings.app_id,
        broker=[
            f"kafka://{server.strip()}" for server in settings.kafka_bootstrap_servers.split(",")
        ],
        store=f"{settings.store}://",
        autodiscover=False,
        monitor=LeanMonitor(),
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        # Internal topics are created by us, and a new group must never skip records on them.
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger=settings.kafka_producer_linger_ms / 1000,
        broker_max_poll_records=settings.kafka_max_poll_records,
        stream_buffer_maxsize=stream_buffer_records(settings),
        web_enabled=True,
        web_host=settings.web.host,
        web_port=settings.web.port,
        web_in_thread=False,
        table_standby_replicas=0,
        broker_session_timeout=settings.kafka_session_timeout_seconds,
        broker_heartbeat_interval=max(0.5, settings.kafka_session_timeout_seconds / 5),
        # A shop topic created after start-up is subscribed at the next metadata refresh
        # (the group rebalances when a subscribed topic's partition count changes).
        consumer_metadata_max_age_ms=int(METADATA_REFRESH_SECONDS * 1000),
        # Faust reads about 80 bare variables (BROKER, STORE, WEB_PORT, PRODUCER_ACKS,
        # APP_DATADIR, ...) and lets them override what is passed here: a WEB_PORT or a
        # PRODUCER_ACKS=1 meant for something else would silently change the worker. Every
        # setting is LIFECYCLE_*, read and checked by streams.settings, so Faust gets none.
        env={},
    )
    # Faust loses records around rebalances and commits ahead of its table writes; see
    # streams.internals.transport.
    use_safe_transport(app, fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms)
    return app


def build_worker(settings: Settings, campaigns: CampaignSet | None = None) -> Worker:
    """A fully wired worker for ``settings``; ``campaigns`` defaults to no campaigns."""
    app = build_faust_app(settings)
    names = settings.topics
    topics = Topics(
        sources=tuple(_raw_topic(app, n, settings, internal=False) for n in names.sources),
        customer_events=_raw_topic(app, names.customer_events, settings, internal=True),
        outbox=_raw_topic(app, names.outbox, settings, internal=True),
        outbox_retry=_raw_topic(app, names.outbox_retry, settings, internal=True),
        dead_letter=_raw_topic(app, names.dead_letter, settings, internal=True),
        counters=_raw_topic(app, names.counters, settings, internal=True),
    )
    tables = Tables(
        customer_state=_raw_table(
            app, "customer-state", settings, "Customer state by customer id."
        ),
        # Named for what it held first: the due index, in memory since (it is filled
        # from the states); renaming it would strand the counts in the old changelog.
        split_counts=_raw_table(
            app, "due-index", settings, "Adaptive splits' counts and fixed shares per partition."
        ),
        delivery_ledger=_raw_table(app, "delivery-ledger", settings, "Delivered message ids."),
    )
    worker = Worker(
        settings=settings,
        app=app,
        topics=topics,
        tables=tables,
        metrics=WorkerMetrics(),
        engine=Engine(settings.engine, campaigns),
        dead_letters=DeadLetters(topics.dead_letter),
        health=Health(
            [*names.sources, names.customer_events, names.outbox, names.outbox_retry],
            stall_seconds=settings.health_stall_seconds,
        ),
    )
    _register_agents(worker)
    _register_timers(worker)
    register_routes(worker)
    return worker


def _register_agents(worker: Worker) -> None:
    app, settings, topics, tables = worker.app, worker.settings, worker.topics, worker.tables
    watch = worker.health.watch  # a crash makes /health fail (streams/health.py)
    publisher = BatchPublisher(app.producer)
    for topic in topics.sources:
        ingest = IngestAgent(
            topic.get_topic_name(),
            customer_events=topics.customer_events,
            publisher=publisher,
            dead_letters=worker.dead_letters,
            metrics=worker.metrics,
            max_event_bytes=settings.max_event_bytes,
            batch_size=settings.ingest_batch_size,
            batch_seconds=settings.ingest_batch_seconds,
        )
        app.agent(topic, name=ingest.name)(watch(ingest.name, ingest.run))
    state_journal, ledger_journal, counters = _counters(worker)
    write_behind = WriteBehind()
    engine = EngineAgent(
        worker.engine,
        states=TableStateStore(tables.customer_state, state_journal, write_behind),
        split_counts=RawTableStore(tables.split_counts, write_behind),
        write_behind=write_behind,
        outbox=topics.outbox,
        counters_ready=lambda partition: counters.ensure_ready(state_journal, partition),
        dead_letters=worker.dead_letters,
        metrics=worker.metrics,
        max_event_bytes=settings.max_event_bytes,
        due_bucket_seconds=settings.due_bucket_seconds,
        partitions=settings.partitions,
        generation=state_journal.generation,
        batch_size=settings.engine_batch_size,
        batch_seconds=settings.engine_batch_seconds,
        max_send_delay=settings.delivery.max_send_delay,
    )
    app.agent(topics.customer_events, name=engine.name)(watch(engine.name, engine.run))
    delivery = Delivery(
        settings,
        ledger=FaustLedger(tables.delivery_ledger, ledger_journal),
        expiry_store=RawTableStore(tables.delivery_ledger),
        new_sender=lambda: SmtpSender(settings.smtp),
        retry_topic=topics.outbox_retry,
        customer_events=topics.customer_events,
        dead_letters=worker.dead_letters,
        metrics=worker.metrics,
        counters_ready=lambda partition: counters.ensure_ready(ledger_journal, partition),
    )
    # As many outbox messages in flight as the pool has connections (the retry agent
    # shares them: a retry waits for a free one).
    outbox = OutboxAgent(delivery, concurrency=settings.smtp.pool_size)
    retry = RetryAgent(delivery)
    app.agent(topics.outbox, name=outbox.name)(watch(outbox.name, outbox.run))
    app.agent(topics.outbox_retry, name=retry.name)(watch(retry.name, retry.run))


def _counters(worker: Worker) -> tuple[Journal, Journal, CounterStore]:
    """The two journals (customer state, delivery ledger) and the store that flushes and
    recovers their totals (see :mod:`streams.counters.store`), with its flush timer."""
    app, settings = worker.app, worker.settings

    def generation() -> int:
        return int(app.consumer_generation_id)

    state = Journal("state", changelog_topic(settings, "customer-state"), generation=generation)
    ledger = Journal("ledger", changelog_topic(settings, "delivery-ledger"), generation=generation)
    store = CounterStore(
        (state, ledger),
        publisher=BatchPublisher(app.producer),
        topic_name=settings.topics.counters,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        drain=app.producer.flush,
    )

    async def flush_counters() -> None:
        await store.flush()

    app.timer(settings.counters_flush_seconds, name="lifecycle.counters-flush")(flush_counters)

    async def stop_counters(sender: Any, *args: Any, **kwargs: Any) -> None:
        await store.flush()
        await store.stop()

    app.on_before_shutdown.connect(cast(Any, stop_counters))

    return state, ledger, store


def _register_timers(worker: Worker) -> None:
    app, settings = worker.app, worker.settings

    def partitions_of(topic: str) -> int | None:
        return app.consumer.topic_partitions(topic)

    shop = None
    if settings.tick_hold_max_seconds > 0:
        shop = GroupProgress(
            settings.kafka_bootstrap_servers,
            settings.app_id,  # Faust's group id
            settings.topics.sources,
            partitions_of=partitions_of,
        )
    ticker = Ticker(
        worker.topics.customer_events,
        partitions_of=partitions_of,
        default_partitions=settings.partitions,
        retry_topic=worker.topics.outbox_retry,
        hold=None
        if shop is None
        else ShopHold(shop, TickHold(timedelta(seconds=settings.tick_hold_max_seconds))),
        held_seconds=worker.metrics.ticks_held,
    )
    if settings.ticker == "wall":
        app.timer(settings.tick_interval_seconds, on_leader=True, name=ticker.name)(ticker.tick)
        if shop is not None:
            app.timer(ticker.release_interval_seconds, on_leader=True, name=ticker.release_name)(
                ticker.release
            )

            async def stop_shop_progress(sender: Any, *args: Any, **kwargs: Any) -> None:
                await shop.stop()

            app.on_before_shutdown.connect(cast(Any, stop_shop_progress))
    names = worker.settings.topics
    lag = LagGauge(
        worker.metrics.consumer_lag,
        backlog=worker.metrics.delivery_backlog,
        queues={names.outbox: "outbox", names.outbox_retry: "retry"},
        tick_delay=worker.metrics.tick_delay,
        ticked_topic=names.customer_events,
    )

    async def measure_lag() -> None:
        lag.measure(app.consumer, app.monitor.tp_committed_offsets)

    app.timer(lag.interval_seconds, name=lag.name)(measure_lag)
    # The engine's own topic too: ingest re-keys far faster than the engine applies, so
    # the shop topics alone would read "caught up" long before the worker is.
    topics = worker.settings.topics
    backfill = BackfillProgress(
        (*topics.sources, topics.customer_events),
        worker.metrics.backfill_behind,
        worker.metrics.backfill_eta,
    )

    async def measure_backfill() -> None:
        now = asyncio.get_running_loop().time()
        backfill.measure(app.consumer, app.monitor.tp_committed_offsets, now)

    app.timer(lag.interval_seconds, name=backfill.name)(measure_backfill)

    async def observe_health() -> None:
        worker.health.observe(app.consumer, app.monitor.tp_committed_offsets)

    app.timer(OBSERVE_INTERVAL_SECONDS, name="lifecycle.health")(observe_health)
