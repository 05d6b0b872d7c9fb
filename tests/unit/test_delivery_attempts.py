"""Delivery.attempt with a fake SMTP sender and an in-memory ledger: the state machine only.

The real broker and SMTP server paths are in tests/integration/test_delivery.py; here the
interleavings that are hard to hit there are driven on purpose.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from lifecycle.events import EmailBounced, parse_event
from lifecycle.mail.ledger import LedgerEntry, RetryRecord
from lifecycle.mail.outbox import OutboxMessage, derive_message_id
from streams.agents import RetryAgent
from streams.dead_letter import DeadLetters
from streams.delivery import Delivery
from streams.delivery.ledger import CommitNotDurableError, FaustLedger
from streams.delivery.smtp import PermanentSmtpError, SmtpReceipt
from streams.metrics import WorkerMetrics
from streams.settings import Settings

pytestmark = pytest.mark.asyncio

BeforeCommit = Callable[[], Awaitable[None]]


class MemoryLedger:
    """A DeliveryLedger in a dict; acknowledged writes can be made to fail."""

    def __init__(self) -> None:
        self.entries: dict[bytes, LedgerEntry] = {}
        self.acknowledged: list[LedgerEntry] = []
        self.fail_acknowledged: Exception | None = None

    def get(self, key: bytes) -> LedgerEntry | None:
        return self.entries.get(key)

    def put(self, key: bytes, entry: LedgerEntry) -> None:
        self.entries[key] = entry

    def delete(self, key: bytes) -> None:
        self.entries.pop(key, None)

    async def put_acknowledged(self, key: bytes, entry: LedgerEntry, *, within: float) -> None:
        self.entries[key] = entry
        await asyncio.sleep(0)  # the broker round trip: other tasks run meanwhile
        if self.fail_acknowledged is not None:
            raise CommitNotDurableError(str(self.fail_acknowledged))
        self.acknowledged.append(entry)


class LedgerStore:
    """The ledger table's raw view for the expiry index: the MemoryLedger's entries (as
    bytes) and the index's own keys, in one key space like the real table."""

    def __init__(self, ledger: MemoryLedger) -> None:
        self.ledger = ledger
        self.index: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        entry = self.ledger.entries.get(key)
        return entry.to_bytes() if entry is not None else self.index.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        assert key.startswith(b"expiry:"), key  # ledger entries go through the ledger
        self.index[key] = value

    def delete(self, key: bytes) -> None:
        self.ledger.entries.pop(key, None)
        self.index.pop(key, None)


class FakeSender:
    """Like SmtpSender.send: round trips, then before_commit, then the dot (unless it raised)."""

    def __init__(self, round_trips: int = 3) -> None:
        self.round_trips = round_trips
        self.sent: list[bytes] = []
        self.hook_reached = asyncio.Event()
        self.hold_hook: asyncio.Event | None = None

    async def send(
        self,
        envelope_from: str,
        recipients: Sequence[str],
        message_bytes: bytes,
        *,
        before_commit: BeforeCommit | None = None,
    ) -> SmtpReceipt:
        for _ in range(self.round_trips):  # MAIL, RCPT, DATA: each yields to the loop
            await asyncio.sleep(0)
        self.hook_reached.set()
        if self.hold_hook is not None:
            await self.hold_hook.wait()
        assert before_commit is not None
        await before_commit()  # raising here means no dot: nothing is sent
        self.sent.append(message_bytes)
        return SmtpReceipt(250, "2.0.0 OK", tuple(recipients))


class FakeTopic:
    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes | None, int | None]] = []
        self.headers: list[dict[str, str]] = []

    async def send(
        self,
        *,
        key: bytes | None = None,
        value: bytes | None = None,
        partition: int | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> asyncio.Future[None]:
        self.records.append((key, value, partition))
        self.headers.append({name: raw.decode() for name, raw in headers})
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def settings(**overrides: Any) -> Settings:
    """The settings make_delivery starts with, and others like them (flat names)."""
    return Settings(**{"unsubscribe_secret": "x" * 32, "smtp_timeout_seconds": 4, **overrides})


def make_delivery() -> tuple[Delivery, MemoryLedger, FakeSender, Any]:
    """A Delivery with fakes passed in; ``worker`` holds what tests inspect afterwards."""
    worker = SimpleNamespace(
        metrics=WorkerMetrics(),
        topics=SimpleNamespace(
            outbox_retry=FakeTopic(), customer_events=FakeTopic(), dead_letter=FakeTopic()
        ),
    )
    ledger = MemoryLedger()
    sender = FakeSender()
    delivery = Delivery(
        settings(),
        ledger=ledger,
        expiry_store=LedgerStore(ledger),
        new_sender=lambda: sender,
        retry_topic=worker.topics.outbox_retry,  # type: ignore[arg-type]
        customer_events=worker.topics.customer_events,  # type: ignore[arg-type]
        dead_letters=DeadLetters(worker.topics.dead_letter),  # type: ignore[arg-type]
        metrics=worker.metrics,
    )
    return delivery, ledger, sender, worker


def message(n: int = 1, *, decided_at: datetime | None = None) -> OutboxMessage:
    return OutboxMessage(
        message_id=derive_message_id(f"c{n}", "receipt", 0, f"e{n}"),
        customer_id=f"c{n}",
        campaign_id="receipt",
        variant="default",
        step=0,
        category="transactional",
        decided_at=decided_at or datetime.now(UTC),
        to_address=f"c{n}@example.com",
        locale="en",
        subject="Thanks",
        text="t",
        html="<p>h</p>",
    )


def skipped(worker: Any) -> float:
    return worker.metrics.emails_skipped_duplicate._value.get()  # type: ignore[no-any-return]


@pytest.mark.parametrize("attempts", [(1, 2), (2, 1)])
async def test_redelivered_outbox_record_and_its_retry_record_send_once(
    attempts: tuple[int, int],
) -> None:
    """After a crash the 'retrying' entry was never durable: the ledger is empty, and the
    redelivered outbox record (attempt 1) and the retry record (attempt 2) run at once
    in the two agents (the audit's reproduction)."""
    delivery, ledger, sender, worker = make_delivery()
    m = message()
    await asyncio.gather(*(delivery.attempt(m, attempt=a) for a in attempts))
    assert len(sender.sent) == 1
    assert skipped(worker) == 1
    assert ledger.entries[m.message_id.encode()].state == "sent"
    assert [e.state for e in ledger.acknowledged] == ["committing"]
    assert len(delivery._in_progress) == 0  # no lock left behind


async def test_different_messages_are_not_serialised_against_each_other() -> None:
    delivery, _, sender, _ = make_delivery()
    sender.hold_hook = asyncio.Event()
    first = asyncio.create_task(delivery.attempt(message(1), attempt=1))
    await sender.hook_reached.wait()
    second = asyncio.create_task(delivery.attempt(message(2), attempt=1))
    async with asyncio.timeout(5):
        while len(delivery._in_progress) < 2:  # both hold their own lock at once
            await asyncio.sleep(0)
    sender.hold_hook.set()
    await asyncio.gather(first, second)
    assert len(sender.sent) == 2


async def test_no_dot_when_the_ledger_moved_on_during_the_transaction() -> None:
    """A change the lock cannot see (e.g. a write that bypassed it) stops the commit."""
    delivery, ledger, sender, worker = make_delivery()
    m = message()
    key = m.message_id.encode()
    sender.hold_hook = asyncio.Event()
    task = asyncio.create_task(delivery.attempt(m, attempt=1))
    await sender.hook_reached.wait()
    ledger.put(key, LedgerEntry(state="sent", at=datetime.now(UTC), attempt=2))
    sender.hold_hook.set()
    await task
    assert sender.sent == []
    assert skipped(worker) == 1
    assert ledger.entries[key].attempt == 2  # untouched by the skipped attempt


@pytest.mark.parametrize(
    ("recorded", "attempt", "sends"),
    [
        (LedgerEntry(state="retrying", at=datetime.now(UTC), attempt=2), 1, False),
        (LedgerEntry(state="retrying", at=datetime.now(UTC), attempt=2), 2, False),
        (LedgerEntry(state="retrying", at=datetime.now(UTC), attempt=2), 3, True),
        (LedgerEntry(state="failed", at=datetime.now(UTC), attempt=1), 2, False),
    ],
)
async def test_stale_attempts_are_harmless(
    recorded: LedgerEntry, attempt: int, sends: bool
) -> None:
    delivery, ledger, sender, worker = make_delivery()
    m = message()
    ledger.put(m.message_id.encode(), recorded)
    await delivery.attempt(m, attempt=attempt)
    assert len(sender.sent) == (1 if sends else 0)
    assert skipped(worker) == (0 if sends else 1)


async def test_committing_not_acknowledged_means_no_dot_and_a_retry() -> None:
    delivery, ledger, sender, worker = make_delivery()
    ledger.fail_acknowledged = TimeoutError("no acknowledgement within 2 s")
    m = message()
    await delivery.attempt(m, attempt=1)
    assert sender.sent == []
    entry = ledger.entries[m.message_id.encode()]
    assert (entry.state, entry.attempt) == ("retrying", 1)
    [(key, value, _)] = worker.topics.outbox_retry.records
    assert key == m.customer_id.encode()
    assert value is not None
    assert RetryRecord.from_bytes(value).attempt == 2
    assert worker.metrics.email_failures.labels("transient_ledger")._value.get() == 1
    # the retry goes ahead once the broker is back
    ledger.fail_acknowledged = None
    await delivery.attempt(m, attempt=2)
    assert len(sender.sent) == 1


# -- FaustLedger.put_acknowledged against a stand-in for a Faust table ---------------------


class FakeChangelog:
    def __init__(self, outcome: str) -> None:
        self.outcome = outcome
        self.sent: list[dict[str, Any]] = []

    async def send(self, **kwargs: Any) -> asyncio.Future[str]:
        self.sent.append(kwargs)
        acknowledged: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        if self.outcome == "ok":
            acknowledged.set_result("RecordMetadata")
        elif self.outcome == "error":
            acknowledged.set_exception(OSError("NotLeaderForPartition"))
        return acknowledged  # "hang": never resolves


class FakeTable:
    key_serializer = "raw"
    value_serializer = "raw"

    def __init__(self, outcome: str) -> None:
        self.data: dict[bytes, bytes] = {}
        self.changelog_topic = FakeChangelog(outcome)

    def partition_for_key(self, key: bytes) -> int:
        return 3  # Faust: the partition of the event being processed

    def _on_changelog_sent(self, fut: Any) -> None:
        pass


async def test_faust_ledger_awaits_the_broker_acknowledgement() -> None:
    table = FakeTable("ok")
    entry = LedgerEntry(state="committing", at=datetime.now(UTC), attempt=1)
    await FaustLedger(table).put_acknowledged(b"<m@x>", entry, within=1)
    [sent] = table.changelog_topic.sent
    assert (sent["key"], sent["value"], sent["partition"]) == (b"<m@x>", entry.to_bytes(), 3)
    assert sent["force"] is True
    assert table.data[b"<m@x>"] == entry.to_bytes()


@pytest.mark.parametrize("outcome", ["error", "hang"])
async def test_faust_ledger_raises_when_not_acknowledged(outcome: str) -> None:
    table = FakeTable(outcome)
    entry = LedgerEntry(state="committing", at=datetime.now(UTC), attempt=1)
    with pytest.raises(CommitNotDurableError):
        await FaustLedger(table).put_acknowledged(b"<m@x>", entry, within=0.05)


# -- the retry agent never sleeps until a late record is due ---------------------------------


class FakeStream:
    def __init__(self, records: list[Any]) -> None:
        self.records = records

    async def events(self) -> Any:
        for record in self.records:
            yield record


def retry_record(m: OutboxMessage, attempt: int, due_in: float, offset: int) -> Any:
    retry = RetryRecord(
        message=m,
        attempt=attempt,
        not_before=datetime.now(UTC) + timedelta(seconds=due_in),
    )
    source = SimpleNamespace(
        key=m.customer_id.encode(),
        value=retry.to_bytes(),
        partition=2,
        topic="outbox-retry",
        offset=offset,
    )
    return SimpleNamespace(message=source)


async def test_a_due_retry_is_not_held_up_by_a_later_one() -> None:
    delivery, ledger, sender, worker = make_delivery()
    sender.close = _no_op  # type: ignore[attr-defined]
    late, due = message(1), message(2)
    records = [retry_record(late, 2, 600, offset=0), retry_record(due, 2, 0, offset=1)]
    slept: list[float] = []
    agent = RetryAgent(delivery, sleep=record_sleep(slept))
    async with asyncio.timeout(5):  # the old agent slept 600 s on the first record
        await agent.run(FakeStream(records))  # type: ignore[arg-type]
    assert slept == []
    assert len(sender.sent) == 1
    assert ledger.entries[due.message_id.encode()].state == "sent"
    assert late.message_id.encode() not in ledger.entries
    # the late record went back, unchanged, to the end of its own partition
    assert worker.topics.outbox_retry.records == [
        (records[0].message.key, records[0].message.value, 2)
    ]


async def test_a_partition_of_late_retries_pauses_briefly_per_round() -> None:
    delivery, _, sender, worker = make_delivery()
    sender.close = _no_op  # type: ignore[attr-defined]
    a, b = message(1), message(2)
    first_round = [retry_record(a, 2, 600, 0), retry_record(b, 2, 600, 1)]
    second_round = [  # the copies the first round put back
        SimpleNamespace(message=SimpleNamespace(**{**vars(r.message), "offset": 2 + n}))
        for n, r in enumerate(first_round)
    ]
    slept: list[float] = []
    agent = RetryAgent(delivery, sleep=record_sleep(slept))
    await agent.run(FakeStream(first_round + second_round))  # type: ignore[arg-type]
    assert slept == [pytest.approx(1.0)]  # one short pause per idle round: not 600 s, no spin
    assert sender.sent == []
    assert len(worker.topics.outbox_retry.records) == 4


async def _no_op() -> None:
    return None


def record_sleep(slept: list[float]) -> Callable[[float], Awaitable[None]]:
    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    return sleep


async def test_an_email_decided_longer_ago_than_the_maximum_delay_is_not_sent() -> None:
    delivery, ledger, sender, worker = make_delivery()  # default maximum: 72 hours
    old = message(1, decided_at=datetime.now(UTC) - timedelta(hours=73))
    recent = message(2, decided_at=datetime.now(UTC) - timedelta(hours=71))
    await delivery.attempt(old, attempt=1)
    await delivery.attempt(recent, attempt=1)
    assert len(sender.sent) == 1
    assert recent.message_id.encode() in sender.sent[0]
    entry = ledger.get(old.message_id.encode())
    assert entry is not None
    assert entry.state == "expired"
    expired = worker.metrics.emails_expired.labels("receipt")._value.get()
    assert expired == 1
    # Expired is final: a redelivery or a retry of it is a skipped duplicate.
    await delivery.attempt(old, attempt=2)
    assert len(sender.sent) == 1


async def test_a_maximum_delay_of_zero_sends_whatever_the_delay() -> None:
    delivery, _, sender, _ = make_delivery()
    delivery.settings = settings(max_send_delay_hours=0)
    await delivery.attempt(message(1, decided_at=datetime(2020, 1, 1, tzinfo=UTC)), attempt=1)
    assert len(sender.sent) == 1


async def test_the_mailto_unsubscribe_link_carries_a_token_the_web_endpoint_accepts() -> None:
    from urllib.parse import parse_qs, urlsplit

    from lifecycle.mail.unsubscribe import verify_token

    delivery, _, _, _ = make_delivery()
    delivery.settings = settings(unsubscribe_mailto="unsubscribe@shop.example")
    marketing = message(1).model_copy(update={"category": "marketing"})
    now = datetime.now(UTC)
    links = delivery._unsubscribe_links(marketing, now)
    assert links is not None
    assert links.mailto is not None
    address, _, query = links.mailto.removeprefix("mailto:").partition("?")
    assert address == "unsubscribe@shop.example"
    subject = query.removeprefix("subject=").replace("%20", " ")
    word, token = subject.split(" ")
    assert word == "unsubscribe"
    assert token == parse_qs(urlsplit(links.url).query)["token"][0]
    assert verify_token(b"x" * 32, token, now, max_age=timedelta(days=1)) == "c1"
    assert delivery._unsubscribe_links(message(2), now) is None  # transactional: none


# -- pruning the ledger ------------------------------------------------------------------


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def with_clock(delivery: Delivery, at: datetime) -> Clock:
    clock = Clock(at)
    delivery.clock = clock
    return clock


def pruned(worker: Any) -> float:
    return worker.metrics.ledger_pruned._value.get()  # type: ignore[no-any-return]


async def test_a_pruned_message_that_is_redelivered_expires_unsent() -> None:
    delivery, ledger, sender, worker = make_delivery()  # maximum delay 72 h, margin 1 h
    decided = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    clock = with_clock(delivery, decided + timedelta(minutes=1))
    m = message(1, decided_at=decided)
    await delivery.attempt(m, attempt=1, partition=4)
    assert len(sender.sent) == 1
    key = m.message_id.encode()
    assert ledger.entries[key].state == "sent"

    clock.at = decided + timedelta(hours=73) - timedelta(microseconds=1)
    assert delivery.prune(4) == 0  # never before decided_at + max delay + margin
    assert key in ledger.entries
    clock.at = decided + timedelta(hours=74)  # past the end of its bucket
    delivery._last_prune.clear()  # the once-a-minute limit is tested below
    assert delivery.prune(3) == 0  # another partition's index holds nothing of it
    assert delivery.prune(4) == 1
    assert key not in ledger.entries
    assert pruned(worker) == 1

    for attempt in (1, 2):  # a redelivered outbox record, a stale retry record
        await delivery.attempt(m, attempt=attempt, partition=4)
    assert len(sender.sent) == 1
    assert ledger.entries[key].state == "expired"
    assert worker.metrics.emails_expired.labels("receipt")._value.get() == 1
    assert skipped(worker) == 1  # the second one found "expired"


async def test_a_pruned_message_stays_unsent_after_the_maximum_delay_is_raised_or_off() -> None:
    delivery, ledger, sender, _ = make_delivery()
    decided = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    clock = with_clock(delivery, decided)
    m = message(1, decided_at=decided)
    await delivery.attempt(m, attempt=1, partition=0)
    clock.at = decided + timedelta(hours=74)
    assert delivery.prune(0) == 1
    for hours in (0, 24 * 365):  # off, then a year: too_late_to_send alone would send
        delivery.settings = settings(max_send_delay_hours=hours)
        ledger.entries.clear()
        await delivery.attempt(m, attempt=1, partition=0)
        assert ledger.entries[m.message_id.encode()].state == "expired"
    assert len(sender.sent) == 1


async def test_no_maximum_delay_prunes_nothing() -> None:
    delivery, ledger, _, _ = make_delivery()
    delivery.settings = settings(max_send_delay_hours=0)
    decided = datetime(2020, 1, 1, tzinfo=UTC)
    clock = with_clock(delivery, decided)
    await delivery.attempt(message(1, decided_at=decided), attempt=1, partition=0)
    clock.at = decided + timedelta(days=3650)
    assert delivery.prune(0) == 0
    assert len(ledger.entries) == 1
    assert delivery.expiry_store.index == {}  # type: ignore[attr-defined]


async def test_pruning_runs_at_most_once_per_interval_per_partition() -> None:
    delivery, ledger, _, worker = make_delivery()
    decided = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    clock = with_clock(delivery, decided)
    first, second = message(1, decided_at=decided), message(2, decided_at=decided)
    await delivery.attempt(first, attempt=1, partition=0)
    clock.at = decided + timedelta(hours=74)
    assert delivery.prune(0) == 1
    # Filed now (expired on arrival): its bucket is already due, but the next look at
    # this partition is a minute away (loop time), so the record stream pays once.
    await delivery.attempt(second, attempt=1, partition=0)
    clock.at += timedelta(hours=2)
    assert delivery.prune(0) == 0
    assert second.message_id.encode() in ledger.entries
    delivery._last_prune[0] -= 60
    assert delivery.prune(0) == 1
    assert pruned(worker) == 2


async def test_an_attempt_in_flight_when_its_entry_is_pruned_does_not_send() -> None:
    """A retry already past its checks when pruning deletes its 'retrying' entry: the
    compare-and-set before the dot sees the change and drops the connection."""
    delivery, ledger, sender, worker = make_delivery()
    decided = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    clock = with_clock(delivery, decided)
    m = message(1, decided_at=decided)
    key = m.message_id.encode()
    delivery.expiry_index(0).file(m.message_id, decided, decided)
    ledger.put(key, LedgerEntry(state="retrying", at=decided, attempt=1))
    clock.at = decided + timedelta(hours=71)  # still in time for attempt 2
    sender.hold_hook = asyncio.Event()
    task = asyncio.create_task(delivery.attempt(m, attempt=2, partition=0))
    await sender.hook_reached.wait()
    clock.at = decided + timedelta(hours=74)
    assert delivery.prune(0) == 1
    sender.hold_hook.set()
    await task
    assert sender.sent == []
    assert skipped(worker) == 1


async def test_an_unrendered_message_expires_unsent_even_in_time() -> None:
    """The engine leaves unrendered only what is already past the maximum delay; if the
    delay was raised meanwhile, the empty message must still never go out."""
    delivery, ledger, sender, worker = make_delivery()
    m = message(1).model_copy(update={"subject": "", "text": "", "html": "", "rendered": False})
    await delivery.attempt(m, attempt=1, partition=0)
    assert sender.sent == []
    entry = ledger.entries[m.message_id.encode()]
    assert entry.state == "expired"
    assert entry.detail is not None
    assert "too long ago for the engine to render" in entry.detail
    assert worker.metrics.emails_expired.labels("receipt")._value.get() == 1


# -- hard bounces go back to the engine, dated in event time -----------------------------


class RefusingSender(FakeSender):
    async def send(
        self,
        envelope_from: str,
        recipients: Sequence[str],
        message_bytes: bytes,
        *,
        before_commit: BeforeCommit | None = None,
    ) -> SmtpReceipt:
        raise PermanentSmtpError(
            "refused", stage="rcpt", code=550, reply="5.1.1 No such mailbox here"
        )


@pytest.mark.parametrize(("ticker", "dated"), [("wall", "attempt"), ("external", "decision")])
async def test_a_hard_bounce_is_dated_by_the_attempt_live_and_by_its_message_in_external_time(
    ticker: str, dated: str
) -> None:
    delivery, ledger, _, worker = make_delivery()
    # As the demo runs it: no maximum delay, so an email decided "months ago" is still sent.
    delivery.settings = settings(ticker=ticker, max_send_delay_hours=0)
    delivery.new_sender = RefusingSender
    decided = datetime(2026, 4, 10, 9, 0, tzinfo=UTC)
    attempted = decided + timedelta(days=240)  # the wall clock, far from simulated time
    with_clock(delivery, attempted)
    await delivery.attempt(message(1, decided_at=decided), attempt=1)

    [(key, value, _)] = worker.topics.customer_events.records
    bounce = parse_event(value)
    assert isinstance(bounce, EmailBounced)
    assert key == b"c1"
    assert bounce.permanent
    assert bounce.occurred_at == (attempted if dated == "attempt" else decided)
    assert ledger.entries[message(1, decided_at=decided).message_id.encode()].state == "failed"
