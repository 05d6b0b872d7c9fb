"""The wired worker as a value: its Faust app, topics, tables, metrics and engine.

A leaf: it imports no agent, route or wiring code, so everything that needs to name the
worker's parts can import it without importing :mod:`streams.app` (which imports them
all). :func:`streams.app.build_worker` is the one place that creates these values.
"""

from __future__ import annotations

from dataclasses import dataclass

from faust.types import AppT, TableT, TopicT

from lifecycle.processing import Engine
from streams.dead_letter import DeadLetters
from streams.health import Health
from streams.metrics import WorkerMetrics
from streams.settings import Settings

__all__ = ["RawTable", "Tables", "Topics", "Worker"]

#: Every table the worker keeps stores raw bytes (the core's own codecs) under bytes keys.
RawTable = TableT[bytes, bytes]


@dataclass(frozen=True)
class Topics:
    #: The shop's topics, read only.
    sources: tuple[TopicT, ...]
    #: Normalised events and ticks, keyed by customer id: co-partitioned with state.
    customer_events: TopicT
    outbox: TopicT
    outbox_retry: TopicT
    dead_letter: TopicT
    counters: TopicT


@dataclass(frozen=True)
class Tables:
    customer_state: RawTable
    #: The adaptive splits' counts per partition (the table is named "due-index").
    split_counts: RawTable
    #: Ledger entries by Message-ID, and the ledger's expiry index under ``expiry:`` keys.
    delivery_ledger: RawTable


@dataclass(frozen=True)
class Worker:
    settings: Settings
    app: AppT
    topics: Topics
    tables: Tables
    metrics: WorkerMetrics
    engine: Engine
    dead_letters: DeadLetters
    health: Health
