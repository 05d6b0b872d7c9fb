"""Ticks wake due customers on the live worker; state and due times survive a SIGKILL, and
a clean restart on RocksDB (the tables kept on disk, the due index filled from them)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from lifecycle.state_codec import stored_json
from tests.factories import event_dict
from tests.support.worker_fixtures import WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

CUSTOMERS = 30
# Long enough for the signups to be processed and the worker killed first, on a slow machine.
DUE_AFTER = timedelta(seconds=25)


# Memory rebuilds the tables from changelogs; RocksDB discards them after a kill and keeps
# them after a clean stop (then only the changelogs' tails are read). Either way the due
# index is filled from the states the worker has when it starts.
@pytest.mark.parametrize(
    ("store", "stop"), [("memory", "kill"), ("rocksdb", "kill"), ("rocksdb", "stop")]
)
async def test_due_customers_are_woken_once_across_a_restart(
    worker_factory: WorkerFactory, kafka_kit, smtp_server, store: str, stop: str
) -> None:
    days = DUE_AFTER / timedelta(days=1)
    env, worker = await worker_factory(
        smtp_port=smtp_server.port,
        LIFECYCLE_STORE=store,
        LIFECYCLE_ENGINE__MILESTONES__NO_ORDER_AFTER_SIGNUP_DAYS=json.dumps([days]),
    )
    signed_up_at = datetime.now(UTC).replace(microsecond=0)
    signups = [
        event_dict("customer.signed_up", f"c-{n}", signed_up_at, event_id=f"signup-{n}")
        for n in range(CUSTOMERS)
    ]
    await kafka_kit.produce(env.topic("customers"), [(None, e) for e in signups])
    await worker.wait_metric("lifecycle_events_processed_total", lambda v: v >= CUSTOMERS)
    assert await worker.metric("lifecycle_signals_total", signal="no_order_after_signup") == 0

    await (worker.kill() if stop == "kill" else worker.stop())
    assert datetime.now(UTC) < signed_up_at + DUE_AFTER, (
        "the restart must begin before the due time"
    )
    await worker.start()

    # The restarted worker knows the customers (a replayed signup is a duplicate) ...
    await kafka_kit.produce(env.topic("customers"), [(None, signups[0])])
    # ... and wakes each one once, at its due time, from the recovered due index.
    await worker.wait_metric(
        "lifecycle_signals_total",
        lambda v: v >= CUSTOMERS,
        signal="no_order_after_signup",
        within=90,
    )
    # Once each: a few tick rounds later no customer has been woken for it again.
    ticks = await worker.metric("lifecycle_ticks_total")
    await worker.wait_metric("lifecycle_ticks_total", lambda v: v >= ticks + 8, within=60)
    assert await worker.metric("lifecycle_signals_total", signal="no_order_after_signup") == (
        CUSTOMERS
    )
    # ... at its due time: the latest state of each customer was brought up to exactly then.
    changelog = await kafka_kit.read_topic(f"{env.app_id}-customer-state-changelog")
    latest = {r.key: json.loads(stored_json(r.value)) for r in changelog if r.value}
    assert len(latest) == CUSTOMERS
    woken = Counter(datetime.fromisoformat(state["clock"]) for state in latest.values())
    assert woken == {signed_up_at + DUE_AFTER: CUSTOMERS}
    assert all("no_order_after_signup" in "".join(s["milestones"]) for s in latest.values())
    assert await worker.metric("lifecycle_events_duplicate_total") >= 1
    # Only the due customers were read by ticks, however many ticks ran.
    assert await worker.metric("lifecycle_tick_state_reads_total") == CUSTOMERS
    assert await worker.metric("lifecycle_ticks_total") > 5
