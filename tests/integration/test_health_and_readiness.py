"""/ready is false while tables recover and while the group rebalances; /health fails when an
agent crashes or stops consuming. Real workers on the session broker."""

from __future__ import annotations

import asyncio
import contextlib
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from streams.dev.worker_process import WorkerProcess, wait_for
from tests.factories import event_dict
from tests.support.worker_fixtures import WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def _get(worker: WorkerProcess, path: str) -> tuple[int, dict[str, Any]] | None:
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(worker.base_url + path, timeout=aiohttp.ClientTimeout(total=2)) as response,
        ):
            return response.status, await response.json()
    except (TimeoutError, aiohttp.ClientError):
        return None  # not listening yet


@contextlib.asynccontextmanager
async def polling_ready(worker: WorkerProcess) -> AsyncIterator[list[tuple[int, dict[str, Any]]]]:
    """Every /ready answer while the block runs, polled as fast as the worker answers."""
    seen: list[tuple[int, dict[str, Any]]] = []
    done = asyncio.Event()

    async def poll() -> None:
        while not done.is_set():
            answer = await _get(worker, "/ready")
            if answer is not None:
                seen.append(answer)
            await asyncio.sleep(0.02)

    task = asyncio.create_task(poll())
    try:
        yield seen
    finally:
        done.set()
        await task


def signups(count: int) -> list[tuple[None, dict[str, Any]]]:
    now = datetime.now(UTC)
    return [(None, event_dict("customer.signed_up", f"c-{n}", now)) for n in range(count)]


async def test_ready_is_false_while_tables_recover_and_true_after(
    worker_factory: WorkerFactory, kafka_kit, smtp_server
) -> None:
    env, worker = await worker_factory(smtp_port=smtp_server.port)
    await kafka_kit.produce(env.topic("customers"), signups(3000))
    await worker.wait_metric("lifecycle_events_processed_total", lambda v: v >= 3000, within=120)
    await worker.stop()

    # In memory, every start rebuilds the tables from their changelogs first.
    # Wait on the poller's own samples: a request of its own sent before the worker was
    # ready can answer 503 after another client has already seen 200.
    async with polling_ready(worker) as seen:
        await worker.start()
        await wait_for(
            lambda: asyncio.sleep(0, seen),
            lambda samples: any(status == 200 for status, _ in samples),
            within=120,
        )
    statuses = [status for status, _ in seen]
    assert 503 in statuses
    assert await worker.is_ready()
    first_ready = statuses.index(200)
    assert all(status == 503 for status in statuses[:first_ready])
    assert any(body["recovered"] is False for status, body in seen[:first_ready])


async def test_ready_is_false_during_a_rebalance_and_true_after(
    worker_factory: WorkerFactory, smtp_server
) -> None:
    env, first = await worker_factory(smtp_port=smtp_server.port)

    def rebalancing(samples: list[tuple[int, dict[str, Any]]]) -> list[int]:
        return [n for n, (_, body) in enumerate(samples) if body["rebalancing"]]

    def ready_again(samples: list[tuple[int, dict[str, Any]]]) -> bool:
        during = rebalancing(samples)
        return bool(during) and any(status == 200 for status, _ in samples[during[-1] + 1 :])

    async with polling_ready(first) as seen:
        _, second = await worker_factory(smtp_port=smtp_server.port, env=env, name="second")
        # The second worker is ready once it has its partitions; the first may answer 200
        # before its own side of the rebalance shows, so wait for a 200 after it.
        await wait_for(lambda: asyncio.sleep(0, seen), ready_again, within=60)
    during = rebalancing(seen)
    assert all(seen[n][0] == 503 for n in during)
    assert await second.is_ready()


async def test_health_fails_when_an_agent_crashes(
    worker_factory: WorkerFactory, kafka_kit, smtp_server, tmp_path: Path
) -> None:
    # sitecustomize runs in the worker process before anything else: an ingest agent that
    # raises on its first record stands in for a bug that escapes the per-record handling.
    (tmp_path / "inject").mkdir()
    (tmp_path / "inject" / "sitecustomize.py").write_text(
        textwrap.dedent(
            """
            import streams.agents.ingest as ingest

            async def crashing_run(self, stream):
                async for _record in stream.events():
                    raise RuntimeError("injected crash")

            ingest.IngestAgent.run = crashing_run
            """
        )
    )
    env, worker = await worker_factory(
        smtp_port=smtp_server.port, PYTHONPATH=str(tmp_path / "inject")
    )
    assert (await _get(worker, "/health")) is not None
    assert (await _get(worker, "/health"))[0] == 200  # type: ignore[index]
    await kafka_kit.produce(env.topic("customers"), signups(1))
    _, body = await wait_for(
        lambda: _get(worker, "/health"), lambda a: a is not None and a[0] == 503
    )  # type: ignore[misc]
    assert body["status"] == "unhealthy"
    assert body["crashed_agents"] == {f"lifecycle.ingest.{env.topic('customers')}": "RuntimeError"}


async def test_health_fails_when_delivery_stops_consuming(
    worker_factory: WorkerFactory, kafka_kit
) -> None:
    # An SMTP server that accepts connections and never says a word: delivery hangs.
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        env, worker = await worker_factory(
            smtp_port=port,
            LIFECYCLE_SMTP_TIMEOUT_SECONDS="600",
            LIFECYCLE_HEALTH_STALL_SECONDS="4",
            LIFECYCLE_CAMPAIGN__QUIET_HOURS="null",
        )
        now = datetime.now(UTC)
        welcome = [
            (
                None,
                event_dict(
                    "customer.signed_up",
                    f"c-{n}",
                    now,
                    email=f"c{n}@example.com",
                    marketing_consent=True,
                ),
            )
            for n in range(3)
        ]
        await kafka_kit.produce(env.topic("customers"), welcome)
        _, body = await wait_for(
            lambda: _get(worker, "/health"),
            lambda a: a is not None and a[0] == 503,
            within=60,
        )  # type: ignore[misc]
        stalled = body["stalled_partitions"]
        assert stalled
        assert {s["topic"] for s in stalled} == {env.topic("outbox")}
        assert all(s["behind"] >= 1 and s["for_seconds"] >= 4 for s in stalled)
        assert body["crashed_agents"] == {}
        await worker.kill()  # it would wait 600 s per SMTP command to stop politely
    finally:
        server.close()
