"""Builds the Faust app from settings: topics, tables, agents, timers and web routes.

Nothing happens at import time; :func:`build_worker` wires a fresh app each call, so tests
can build several in one process and the CLI builds exactly one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from lifecycle.processing import CampaignRuntime, Engine
from streams.dead_letter import DeadLetters
from streams.internals import use_rebalance_safe_transport
from streams.metrics import WorkerMetrics
from streams.settings import Settings

__all__ = ["Tables", "Topics", "Worker", "build_worker"]


@dataclass(frozen=True)
class Topics:
    sources: tuple[Any, ...]
    customer_events: Any
    outbox: Any
    outbox_retry: Any
    dead_letter: Any
    counters: Any


@dataclass(frozen=True)
class Tables:
    customer_state: Any
    due_index: Any
    delivery_ledger: Any


@dataclass
class Worker:
    settings: Settings
    app: faust.App
    topics: Topics
    tables: Tables
    metrics: WorkerMetrics
    engine: Engine
    dead_letters: DeadLetters


def _raw_topic(app: faust.App, name: str, settings: Settings, *, internal: bool, **kw: Any) -> Any:
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
        **kw,
    )


def _raw_table(app: faust.App, name: str, settings: Settings, help: str) -> Any:
    return app.Table(
        name,
        default=None,
        key_type=bytes,  # bytes types give the "raw" codec on the changelog
        value_type=bytes,
        partitions=settings.partitions,
        help=help,
    )


def build_faust_app(settings: Settings) -> faust.App:
    app = faust.App(
        settings.app_id,
        broker=[
            f"kafka://{server.strip()}" for server in settings.kafka_bootstrap_servers.split(",")
        ],
        store=f"{settings.store}://",
        autodiscover=False,
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        # Internal topics are created by us, and a new group must never skip records on them.
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        web_enabled=True,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        table_standby_replicas=0,
        broker_session_timeout=settings.kafka_session_timeout_seconds,
        broker_heartbeat_interval=max(0.5, settings.kafka_session_timeout_seconds / 5),
    )
    # Faust loses records that arrive while the group rebalances; see the module.
    use_rebalance_safe_transport(app)
    return app


def build_worker(settings: Settings, campaigns: CampaignRuntime | None = None) -> Worker:
    """A fully wired worker for ``settings``; ``campaigns`` defaults to the loaded campaign dir."""
    # Imported here so that building a worker is the only way the agents get registered.
    from streams.agents import engine as engine_agent
    from streams.agents import ingest, lag, ticker
    from streams.delivery import attempts as delivery
    from streams.web import routes as web

    app = build_faust_app(settings)
    topics = Topics(
        sources=tuple(_raw_topic(app, n, settings, internal=False) for n in settings.source_topics),
        customer_events=_raw_topic(app, settings.topic_customer_events, settings, internal=True),
        outbox=_raw_topic(app, settings.topic_outbox, settings, internal=True),
        outbox_retry=_raw_topic(app, settings.topic_outbox_retry, settings, internal=True),
        dead_letter=_raw_topic(app, settings.topic_dead_letter, settings, internal=True),
        counters=_raw_topic(app, settings.topic_counters, settings, internal=True),
    )
    tables = Tables(
        customer_state=_raw_table(
            app, "customer-state", settings, "Customer state by customer id."
        ),
        due_index=_raw_table(app, "due-index", settings, "Customers due per partition and minute."),
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
    )
    ingest.register(worker)
    engine_agent.register(worker)
    ticker.register(worker)
    delivery.register(worker)
    web.register(worker)
    lag.register(worker)
    return worker
