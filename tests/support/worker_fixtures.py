"""``worker_factory``: real worker subprocesses on the session broker, stopped after the test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest_asyncio

from streams.dev.brokers.base import Broker
from streams.dev.worker_process import WorkerProcess
from tests.support.kafka_helpers import UniqueNames, create_topics
from tests.support.worker_env import ROOT, WorkerEnv, worker_env

__all__ = ["WorkerFactory", "worker_factory"]

SOURCE_PARTITIONS = 3

WorkerFactory = Callable[..., Awaitable[tuple[WorkerEnv, WorkerProcess]]]


@pytest_asyncio.fixture
async def worker_factory(
    kafka_broker: Broker, unique_names: UniqueNames, tmp_path: Path
) -> AsyncIterator[Any]:
    started: list[WorkerProcess] = []
    created: set[str] = set()

    async def make(
        *,
        smtp_port: int,
        env: WorkerEnv | None = None,
        start: bool = True,
        name: str = "worker",
        create_sources: bool = True,
        **settings: str,
    ) -> tuple[WorkerEnv, WorkerProcess]:
        """``create_sources`` False leaves the shop topics to the worker (a fresh cluster)."""
        env = env or worker_env(
            unique_names,
            kafka_broker.bootstrap_servers,
            tmp_path / "data",
            smtp_port=smtp_port,
            **settings,
        )
        sources = {env.topic(t) for t in ("customers", "orders", "logins", "support")} - created
        if sources and create_sources:
            await create_topics(
                kafka_broker.bootstrap_servers, dict.fromkeys(sources, SOURCE_PARTITIONS)
            )
            created.update(sources)
        worker = WorkerProcess(
            env.values, tmp_path / "logs" / f"{name}-{len(started)}.log", cwd=ROOT
        )
        started.append(worker)
        if start:
            await worker.start()
        return env, worker

    yield make
    for worker in started:
        await worker.stop()
