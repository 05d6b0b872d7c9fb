"""The producer's flush before a commit waits for every record produced so far."""

from __future__ import annotations

import asyncio
import logging

import pytest

from streams.app import build_faust_app
from streams.internals import DrainingProducer, OutstandingRecords, SafeTransport
from streams.settings import Settings


@pytest.mark.asyncio
async def test_wait_returns_only_when_every_record_resolved_even_ones_added_meanwhile() -> None:
    loop = asyncio.get_running_loop()
    outstanding = OutstandingRecords()
    first, second = loop.create_future(), loop.create_future()
    outstanding.track(first)
    waiting = asyncio.ensure_future(outstanding.wait())
    await asyncio.sleep(0)
    outstanding.track(second)  # produced while a flush is under way
    first.set_result("ack")
    await asyncio.sleep(0)
    assert not waiting.done()
    second.set_result("ack")
    await asyncio.wait_for(waiting, timeout=1)
    assert len(outstanding) == 0


@pytest.mark.asyncio
async def test_a_refused_record_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    outstanding = OutstandingRecords()
    refused: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    outstanding.track(refused)
    refused.set_exception(RuntimeError("NotLeaderForPartition"))
    with caplog.at_level(logging.ERROR):
        await asyncio.wait_for(outstanding.wait(), timeout=1)
    assert "NotLeaderForPartition" in caplog.text


@pytest.mark.asyncio
async def test_done_futures_are_not_kept() -> None:
    outstanding = OutstandingRecords()
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    done.set_result(1)
    outstanding.track(done)
    assert len(outstanding) == 0


def test_the_worker_app_produces_through_the_draining_producer() -> None:
    app = build_faust_app(Settings())
    assert isinstance(app.transport, SafeTransport)
    assert isinstance(app.producer, DrainingProducer)
