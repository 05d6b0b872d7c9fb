"""A tick that wakes many customers writes their states every ``batch_size`` of them,
not all at its end: the first tick after a backfill wakes nearly a whole partition, and
holding every decoded state until then cost tens of megabytes of heap."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifecycle.processing import encode_tick
from lifecycle.state import CustomerState
from streams.agents.ticker import TICK_KEY
from tests.unit.campaigns.support import shipped_campaigns
from tests.unit.test_agents_survive_hostile_records import (
    FakeStream,
    FakeTable,
    counted,
    engine_agent,
    record,
    signup,
)

pytestmark = pytest.mark.asyncio

SIGNED_UP = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
CUSTOMERS = 7


class WriteLog(FakeTable):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.writes.append(key)
        super().__setitem__(key, value)


async def test_a_tick_writes_the_customers_it_wakes_every_batch_size_of_them() -> None:
    states = WriteLog()
    agent, kit = engine_agent(states, campaigns=shipped_campaigns(), batch_size=3)
    keys = [f"c-{n}".encode() for n in range(CUSTOMERS)]
    signups = [record(signup(k.decode(), SIGNED_UP), n, key=k) for n, k in enumerate(keys)]
    async with asyncio.timeout(30):
        await agent.run(FakeStream(signups, batch=CUSTOMERS))  # type: ignore[arg-type]
    due_before = {k: CustomerState.from_bytes(states[k]).next_due_at for k in keys}
    assert all(due_before.values())  # every one has a timer to wake them
    written_when_woken: list[int] = []
    handle_due = agent.engine.handle_due

    def observed(state: CustomerState, now: datetime, *args: Any, **kwargs: Any) -> Any:
        written_when_woken.append(len(states.writes) - CUSTOMERS)
        return handle_due(state, now, *args, **kwargs)

    agent.engine.handle_due = observed  # type: ignore[method-assign]
    tick = record(encode_tick(SIGNED_UP + timedelta(days=60)), CUSTOMERS, key=TICK_KEY)
    async with asyncio.timeout(30):
        await agent.run(FakeStream([tick], batch=1))  # type: ignore[arg-type]

    assert len(written_when_woken) == CUSTOMERS
    # Three woken, three written before the fourth is decided; three more before the seventh.
    assert written_when_woken == [0, 0, 0, 3, 3, 3, 6]
    assert sorted(states.writes[CUSTOMERS:]) == sorted(keys)  # each woken state written once
    assert all(CustomerState.from_bytes(states[k]).next_due_at != due_before[k] for k in keys)
    assert counted(kit.metrics, "lifecycle_due_customers_total") == CUSTOMERS
    assert not kit.dead_letter.records
