"""The engine agent publishes no outbox record for a send decided already past delivery's
maximum delay: it counts it expired, in the metric and in the facts of the state it writes.
(On the broker: tests/integration/test_delivery.py, the old-history test.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from lifecycle.measurement.periods import day_of
from lifecycle.state import CustomerState
from tests.unit.campaigns.support import shipped_campaigns
from tests.unit.test_agents_survive_hostile_records import (
    FakeStream,
    counted,
    engine_agent,
    record,
    signup,
)

pytestmark = pytest.mark.asyncio

#: Early afternoon in UTC: no quiet hours hold the welcome email back.
NOW = datetime(2026, 11, 10, 13, 0, tzinfo=UTC)


async def test_a_send_decided_too_late_is_counted_expired_and_never_published() -> None:
    agent, kit = engine_agent(
        campaigns=shipped_campaigns(), max_send_delay=timedelta(hours=72), clock=lambda: NOW
    )
    outbox, dead_letter, states, metrics = kit.outbox, kit.dead_letter, kit.states, kit.metrics
    old_signup = NOW - timedelta(days=10)
    records = [
        record(signup("c-old", old_signup), 0, key=b"c-old"),
        record(signup("c-new", NOW - timedelta(minutes=1)), 1, key=b"c-new"),
    ]
    async with asyncio.timeout(30):
        await agent.run(FakeStream(records))  # type: ignore[arg-type]

    assert not dead_letter.records
    assert [key for key, _, _ in outbox.records] == [b"c-new"]
    assert counted(metrics, "lifecycle_outbox_published_total") == 1
    assert counted(metrics, "lifecycle_emails_expired_at_decision_total") == 1
    assert counted(metrics, "lifecycle_emails_expired_total") == 0  # delivery's: none
    old = CustomerState.from_bytes(states[b"c-old"])
    [fact] = [f for f in old.facts if f[0] == "e"]
    assert fact[1:2] + fact[-1:] == (day_of(old_signup), "expired")
    assert fact[2] == "welcome"
    new = CustomerState.from_bytes(states[b"c-new"])
    assert not [f for f in new.facts if f[0] == "e"]  # delivery counts the one it sends
