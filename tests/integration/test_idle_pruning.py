"""An idle partition's delivery ledger is pruned from the ticker, on the real broker.

No outbox or retry record arrives after the first emails; the tombstones on the ledger's
changelog can only come from the pruning ticks the ticker puts on the retry topic.
"""

from __future__ import annotations

import pytest

from tests.integration.test_delivery import sent_with_a_short_ledger_life
from tests.support.worker_fixtures import WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_an_idle_partition_is_pruned_within_a_tick_or_two_of_its_entries_falling_due(
    worker_factory: WorkerFactory, kafka_kit, smtp_server
) -> None:
    # Ticks every second (the test env); the entries are due seconds after their send.
    env, worker, messages = await sent_with_a_short_ledger_life(
        worker_factory, kafka_kit, smtp_server
    )
    # Due at most 7.2 + 7.2 + 7 s after the decision; pruning looks every 7 s per partition.
    changelog = f"{env.app_id}-delivery-ledger-changelog"
    originals = {m.message_id.encode() for m in messages}
    records = await kafka_kit.consume_until(
        changelog,
        lambda got: originals <= {r.key for r in got if r.value is None},
        within=45,
    )
    tombstoned = {r.key for r in records if r.value is None}
    assert originals <= tombstoned
    assert await worker.metric("lifecycle_ledger_pruned_total") >= len(messages)
    # Each tombstone is on the partition of its entry (the outbox record's partition).
    partition_of = {r.key: r.partition for r in records if r.value is not None}
    for r in records:
        if r.value is None and r.key in originals:
            assert r.partition == partition_of[r.key]
