"""Crashes on the real broker and a real SMTP server: every expected email exactly once.

The expected emails come from ``Replay`` over the same history, so "expected" is what the
engine decides, not a number written into the test.

Each kill lands while events are still flowing through ingest and the engine, and while
the SMTP server holds the worker's next MAIL command unanswered: a known point outside the
few milliseconds in which delivery has durably marked an email "committing" but not yet
written the final dot (a crash there loses that one email, by design never sends it
twice; see "Delivery guarantees" in the README).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from lifecycle.events import parse_event
from lifecycle.processing.engine import Engine
from lifecycle.processing.replay import Replay, sorted_history
from streams.campaign_loading import load_campaign_set
from streams.settings import Settings
from tests.factories import event_dict
from tests.support.worker_env import ROOT
from tests.support.worker_fixtures import WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SETTINGS = {"LIFECYCLE_CAMPAIGN__QUIET_HOURS": "null"}


def history(customers: int, start: datetime) -> list[dict]:
    """Sign-ups, and a first order for every third customer a minute later."""
    events = []
    for n in range(customers):
        at = start + timedelta(seconds=n)
        customer = f"cust-{n:03d}"
        events.append(
            event_dict(
                "customer.signed_up",
                customer,
                at,
                event_id=f"signup-{n}",
                email=f"{customer}@example.com",
                name=f"Customer {n}",
                marketing_consent=True,
                timezone="UTC",
            )
        )
        if n % 3 == 0:
            events.append(
                event_dict(
                    "order.placed",
                    customer,
                    at + timedelta(minutes=1),
                    event_id=f"order-{n}",
                    total="40",
                )
            )
    return events


def expected_messages(events: list[dict], until: datetime) -> dict[str, str]:
    """Message-ID -> 'customer campaign step' for every email the engine decides."""
    settings = Settings(campaigns_dir=ROOT / "campaigns", campaign={"quiet_hours": None})
    replay = Replay(Engine(settings.engine, load_campaign_set(settings)), tick=timedelta(minutes=1))
    parsed = sorted_history(parse_event(json.dumps(e).encode()) for e in events)
    return {
        message.message_id: f"{message.customer_id} {message.campaign_id} {message.step}"
        for outcome, _ in replay.outcomes(parsed, until=until)
        for message in outcome.messages
    }


async def produce_by_customer(kafka_kit, env, events: list[dict]) -> None:
    await kafka_kit.produce(env.topic("customers"), [(e["customer_id"], e) for e in events])


def assert_exactly_once(server, expected: dict[str, str]) -> None:
    counts = Counter(m.message_id for m in server.messages)
    duplicates = {k: v for k, v in counts.items() if v > 1}
    assert duplicates == {}
    assert set(counts) == set(expected)


async def wait_for_all(
    server, kafka_kit, env, expected: dict[str, str], within: float = 120
) -> None:
    """Wait for every expected message; on a timeout say where the missing ones got to."""
    try:
        await server.wait_for_messages(expected, within=within)
    except AssertionError:
        missing = set(expected) - {m.message_id for m in server.messages}
        dead = await kafka_kit.read_topic(env.topic("dead_letter"))
        ledger = await kafka_kit.read_topic(f"{env.app_id}-delivery-ledger-changelog")
        outbox = await kafka_kit.read_topic(env.topic("outbox"))
        trail = {
            expected[mid]: {
                "outbox": [r.partition for r in outbox if mid.encode() in r.value],
                "ledger": [(r.partition, r.value) for r in ledger if r.key == mid.encode()],
            }
            for mid in sorted(missing)
        }
        dead_letters = [(dict(r.headers), r.value[:200]) for r in dead]
        raise AssertionError(
            f"{len(missing)} of {len(expected)} never arrived: {trail};"
            f" dead letters: {dead_letters}"
        ) from None


async def kill_while_waiting_for_mail(server, worker) -> None:
    """SIGKILL ``worker`` once no SMTP transaction is under way, then let mail flow again."""
    server.hold_at_mail()
    try:
        await server.wait_until(lambda: server.transactions_under_way == 0, within=30)
        await worker.kill()
    finally:
        server.release_mail()


async def wait_until_both_have_partitions(first, second) -> None:
    """Both workers own partitions of the customer-events topic in the same generation.

    A worker counts a tick only for partitions it owns. The second worker counting ticks
    means the rebalance that gave it partitions has completed, and with Faust's eager
    rebalancing the first worker gave up all of its partitions before that; so a tick the
    first worker counts after that moment comes from a partition it was (re)assigned.
    """
    await second.wait_metric("lifecycle_ticks_total", lambda v: v >= 1)
    before = await first.metric("lifecycle_ticks_total")
    await first.wait_metric("lifecycle_ticks_total", lambda v: v > before)


# RocksDB keeps the ledger on disk across the kill; memory rebuilds it from its changelog.
@pytest.mark.parametrize("store", ["memory", "rocksdb"])
async def test_sigkill_mid_stream_then_restart_sends_every_email_exactly_once(
    worker_factory: WorkerFactory, kafka_kit, smtp_server, store: str
) -> None:
    env, worker = await worker_factory(
        smtp_port=smtp_server.port, LIFECYCLE_STORE=store, **SETTINGS
    )
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    events = history(90, start)
    expected = expected_messages(events, until=datetime.now(UTC))
    assert len(expected) >= 100  # welcomes and thank-yous

    await produce_by_customer(kafka_kit, env, events)
    await smtp_server.wait_for_messages(count=len(expected) // 4, within=90)
    await kill_while_waiting_for_mail(smtp_server, worker)
    assert len(smtp_server.messages) < len(expected), "the kill must land mid-stream"

    await worker.start()
    await wait_for_all(smtp_server, kafka_kit, env, expected)
    await worker.wait_metric("lifecycle_ticks_total", lambda v: v >= 12)  # three more tick rounds
    assert_exactly_once(smtp_server, expected)


async def test_two_workers_share_the_group_and_one_is_killed(
    worker_factory: WorkerFactory, kafka_kit, smtp_server, tmp_path
) -> None:
    env, first = await worker_factory(smtp_port=smtp_server.port, name="first", **SETTINGS)
    second_env = env.with_overrides(LIFECYCLE_DATA_DIR=str(tmp_path / "second-data"))
    _, second = await worker_factory(smtp_port=smtp_server.port, env=second_env, name="second")
    await wait_until_both_have_partitions(first, second)

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    events = history(90, start)
    expected = expected_messages(events, until=datetime.now(UTC))
    await produce_by_customer(kafka_kit, env, events[: len(events) // 2])
    await smtp_server.wait_for_messages(count=len(expected) // 5, within=90)
    await kill_while_waiting_for_mail(smtp_server, first)
    await produce_by_customer(kafka_kit, env, events[len(events) // 2 :])

    # The survivor takes over the killed worker's partitions and finishes its work.
    await wait_for_all(smtp_server, kafka_kit, env, expected)
    await second.wait_metric("lifecycle_ticks_total", lambda v: v >= 12)
    assert_exactly_once(smtp_server, expected)
    assert await second.metric("lifecycle_emails_sent_total") > 0
