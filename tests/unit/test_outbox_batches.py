"""The outbox agent's batches: customers at once, one customer in order, and a batch left in
the middle acks nothing it did not finish (the broker-level test is in
tests/integration/test_delivery.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types.tuples import ConsumerMessage

from lifecycle.mail import OutboxMessage, derive_message_id
from lifecycle.processing import Engine
from streams.agents import EngineAgent, OutboxAgent
from streams.delivery.smtp import SmtpReceipt
from streams.internals import acks_withheld_unless_handled, withhold_unhandled
from streams.metrics import WorkerMetrics
from streams.settings import Settings
from streams.tables import RawTableStore, TableStateStore, WriteBehind
from tests.factories import event_dict
from tests.unit.test_agents_survive_hostile_records import FakeEvent, FakeStream, FakeTable
from tests.unit.test_delivery_attempts import BeforeCommit, FakeTopic, make_delivery, message

pytestmark = pytest.mark.asyncio


class GatedSender:
    """Holds every send until released; records what is in flight and the order sent."""

    def __init__(self) -> None:
        self.in_flight: list[str] = []
        self.most_in_flight = 0
        self.sent: list[str] = []
        self.release = asyncio.Event()
        self.changed = asyncio.Event()

    async def send(
        self,
        envelope_from: str,
        recipients: Sequence[str],
        message_bytes: bytes,
        *,
        before_commit: BeforeCommit | None = None,
    ) -> SmtpReceipt:
        message_id = _message_id(message_bytes)
        self.in_flight.append(message_id)
        self.most_in_flight = max(self.most_in_flight, len(self.in_flight))
        self.changed.set()
        try:
            await self.release.wait()
            assert before_commit is not None
            await before_commit()
            self.sent.append(message_id)
        finally:
            self.in_flight.remove(message_id)
        return SmtpReceipt(250, "2.0.0 OK", tuple(recipients))

    async def close(self) -> None:
        pass

    async def until_in_flight(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.in_flight) < count:
                self.changed.clear()
                await self.changed.wait()


def _message_id(email: bytes) -> str:
    for line in email.split(b"\r\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode()
    raise AssertionError("no Message-ID")


def of_customer(customer: str, n: int) -> OutboxMessage:
    return message(n).model_copy(
        update={
            "customer_id": customer,
            "message_id": derive_message_id(customer, "receipt", n, f"e{n}"),
        }
    )


def outbox_records(messages: list[OutboxMessage]) -> list[Any]:
    return [
        FakeEvent(
            SimpleNamespace(
                key=m.customer_id.encode(),
                value=m.to_json_bytes(),
                partition=0,
                topic="outbox",
                offset=n,
                acked=False,
            )
        )
        for n, m in enumerate(messages)
    ]


def agent_with(sender: GatedSender, concurrency: int) -> OutboxAgent:
    delivery, _, _, _ = make_delivery()
    delivery.new_sender = lambda: sender  # type: ignore[assignment,return-value]
    return OutboxAgent(delivery, concurrency=concurrency)


async def test_messages_of_different_customers_are_sent_at_once_up_to_the_concurrency() -> None:
    sender = GatedSender()
    messages = [message(n) for n in range(6)]
    agent = agent_with(sender, concurrency=3)
    running = asyncio.create_task(agent.run(FakeStream(outbox_records(messages), batch=6)))  # type: ignore[arg-type]
    await sender.until_in_flight(3)
    sender.release.set()
    await asyncio.wait_for(running, 5)
    assert sender.most_in_flight == 3
    assert sorted(sender.sent) == sorted(m.message_id for m in messages)


async def test_one_customers_messages_go_one_at_a_time_in_partition_order() -> None:
    sender = GatedSender()
    mine = [of_customer("c-same", n) for n in range(3)]
    others = [message(10 + n) for n in range(2)]
    agent = agent_with(sender, concurrency=4)
    records = outbox_records([mine[0], others[0], mine[1], others[1], mine[2]])
    running = asyncio.create_task(agent.run(FakeStream(records, batch=5)))  # type: ignore[arg-type]
    # One of c-same's and both others are under way; c-same's next waits for its first.
    await sender.until_in_flight(3)
    assert sum(1 for m in mine if m.message_id in sender.in_flight) == 1
    sender.release.set()
    await asyncio.wait_for(running, 5)
    assert [i for i in sender.sent if i in {m.message_id for m in mine}] == [
        m.message_id for m in mine
    ]
    assert sender.most_in_flight == 3


async def test_a_batch_cancelled_midway_acks_only_what_it_finished_before_a_gap() -> None:
    """Stopped in the middle, the outbox agent's batch withholds the acks of every record
    of a partition from its first unfinished one on; Faust's end-of-batch acks of the
    others count."""
    sender = GatedSender()
    messages = [message(n) for n in range(4)]
    records = outbox_records(messages)
    agent = agent_with(sender, concurrency=4)
    running = asyncio.create_task(agent.handle_batch(records))
    await sender.until_in_flight(4)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert [r.message.acked for r in records] == [True] * 4  # all withheld: none finished
    assert sender.sent == []


async def test_withholding_is_per_partition_from_the_first_unhandled_record() -> None:
    acked: list[tuple[int, int]] = []
    consumer = SimpleNamespace(ack=lambda m: acked.append((m.partition, m.offset)) or True)
    messages = [
        ConsumerMessage("t", p, n, 0.0, 0, None, b"k", b"v", None) for p in (0, 1) for n in range(3)
    ]
    records = [SimpleNamespace(message=m) for m in messages]
    # partition 0: offsets 0 and 2 handled, 1 not; partition 1: all handled
    handled = {id(records[0]), id(records[2]), *(id(r) for r in records[3:])}

    def leave_early() -> None:
        with acks_withheld_unless_handled(records) as handled_so_far:  # type: ignore[arg-type]
            handled_so_far.update(handled)
            raise RuntimeError("left early")

    with pytest.raises(RuntimeError):
        leave_early()
    for m in messages:
        m.ack(consumer)  # type: ignore[arg-type]
    assert acked == [(0, 0), (1, 0), (1, 1), (1, 2)]
    assert withhold_unhandled(records, handled) == 0  # type: ignore[arg-type]  # already flagged


async def test_a_batch_that_ends_normally_withholds_nothing() -> None:
    records = outbox_records([message(n) for n in range(3)])
    with acks_withheld_unless_handled(records):
        pass
    assert [r.message.acked for r in records] == [False] * 3


async def test_an_engine_batch_cancelled_before_its_writes_withholds_every_record() -> None:
    """The engine writes a batch's tables only at its end: cancelled while it waits for
    the outbox, none of the batch's records may be acked."""
    held = asyncio.Event()
    s = Settings()
    behind = WriteBehind()
    states = FakeTable()
    agent = EngineAgent(
        Engine(s.engine, None),
        states=TableStateStore(states, write_behind=behind),  # type: ignore[arg-type]
        split_counts=RawTableStore(FakeTable(), behind),  # type: ignore[arg-type]
        write_behind=behind,
        outbox=FakeTopic(),  # type: ignore[arg-type]
        dead_letters=SimpleNamespace(),  # type: ignore[arg-type]
        metrics=WorkerMetrics(),
        max_event_bytes=s.max_event_bytes,
        due_bucket_seconds=s.due_bucket_seconds,
        partitions=1,
    )
    events = [
        event_dict("customer.logged_in", f"c{n}", datetime(2026, 5, 1, tzinfo=UTC))
        for n in range(3)
    ]
    records = [
        FakeEvent(
            SimpleNamespace(
                key=None,
                value=json.dumps(e).encode(),
                partition=0,
                topic="customer-events",
                offset=n,
                acked=False,
            )
        )
        for n, e in enumerate(events)
    ]
    gate = asyncio.Event()
    original_settle = agent._settle

    async def settle_after_gate(batch: Any) -> None:
        held.set()
        await gate.wait()
        await original_settle(batch)

    agent._settle = settle_after_gate  # type: ignore[method-assign]
    running = asyncio.create_task(agent.process_batch(records))  # type: ignore[arg-type]
    async with asyncio.timeout(5):
        await held.wait()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert [r.message.acked for r in records] == [True] * 3
    assert states == {}  # nothing was written
