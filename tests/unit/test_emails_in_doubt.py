"""Emails in doubt are reported, and an unacknowledged commit mark never reads as "sent".

Delivery with the fakes of test_delivery_attempts: an in-memory ledger whose acknowledged
writes can fail, a sender that runs ``before_commit`` before its "dot", topics that keep
what is sent.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from lifecycle.mail.ledger import LedgerEntry, RetryRecord
from streams.delivery.smtp import TransientSmtpError
from tests.unit.test_delivery_attempts import make_delivery, message, settings, skipped

pytestmark = pytest.mark.asyncio


def in_doubt(worker: Any, category: str, action: str) -> float:
    return worker.metrics.emails_in_doubt.labels(category, action)._value.get()  # type: ignore[no-any-return]


def committing(attempt: int = 1) -> LedgerEntry:
    return LedgerEntry(
        state="committing", at=datetime.now(UTC) - timedelta(seconds=5), attempt=attempt
    )


async def test_committing_left_by_a_dead_worker_is_reported_and_skipped_by_default(
    caplog: pytest.LogCaptureFixture,
) -> None:
    delivery, ledger, sender, worker = make_delivery()
    m = message()
    key = m.message_id.encode()
    ledger.put(key, committing())
    await delivery.attempt(m, attempt=1)  # the redelivered record after the takeover
    assert sender.sent == []
    assert in_doubt(worker, "transactional", "skip") == 1
    [headers] = worker.topics.dead_letter.headers
    assert headers["lifecycle.reason-kind"] == "in_doubt"
    assert m.message_id in headers["lifecycle.reason"]
    assert "check the mail server's log" in headers["lifecycle.reason"]
    assert worker.topics.dead_letter.records[0][1] == m.to_json_bytes()
    assert f"email {m.message_id} in doubt" in caplog.text
    assert m.to_address not in caplog.text
    assert ledger.entries[key].state == "in_doubt"
    # Another copy of the record (the retry record of the same attempt) is a duplicate:
    # reported once, never sent.
    await delivery.attempt(m, attempt=2)
    assert sender.sent == []
    assert in_doubt(worker, "transactional", "skip") == 1
    assert skipped(worker) == 1
    assert worker.topics.outbox_retry.records == []


async def test_resend_for_transactional_sends_it_once_more_and_marketing_still_skips() -> None:
    delivery, ledger, sender, worker = make_delivery()
    delivery.settings = settings(in_doubt_transactional="resend")
    receipt, promo = message(1), message(2).model_copy(update={"category": "marketing"})
    for m in (receipt, promo):
        ledger.put(m.message_id.encode(), committing(attempt=3))
        await delivery.attempt(m, attempt=3)
    assert in_doubt(worker, "transactional", "resend") == 1
    assert in_doubt(worker, "marketing", "skip") == 1
    assert ledger.entries[promo.message_id.encode()].state == "in_doubt"
    [(key, value, _)] = worker.topics.outbox_retry.records
    retry = RetryRecord.from_bytes(value or b"")
    assert key == receipt.customer_id.encode()
    assert (retry.message, retry.attempt) == (receipt, 4)
    assert retry.not_before <= datetime.now(UTC)
    # A stale copy (the outbox record, attempt 1) is skipped; the retry record sends.
    await delivery.attempt(receipt, attempt=1)
    assert sender.sent == []
    await delivery.attempt(retry.message, attempt=retry.attempt)
    assert len(sender.sent) == 1
    assert ledger.entries[receipt.message_id.encode()].state == "sent"


async def test_a_reply_lost_after_the_dot_is_reported_in_doubt() -> None:
    delivery, ledger, sender, worker = make_delivery()

    async def dot_then_silence(*args: Any, before_commit: Any = None, **kwargs: Any) -> Any:
        await before_commit()
        raise TransientSmtpError("no reply after the dot", stage="commit")

    sender.send = dot_then_silence  # type: ignore[method-assign]
    m = message()
    await delivery.attempt(m, attempt=1)
    assert in_doubt(worker, "transactional", "skip") == 1
    [headers] = worker.topics.dead_letter.headers
    assert "no reply from the server to the final dot" in headers["lifecycle.reason"]
    assert ledger.entries[m.message_id.encode()].state == "in_doubt"


class FailingTopic:
    """The retry topic while the broker is unreachable: ``send`` fails ``failures`` times."""

    def __init__(self, failures: int | None) -> None:
        self.failures = failures  # None: every time
        self.records: list[tuple[bytes | None, bytes | None]] = []
        self.calls = 0

    async def send(self, *, key: bytes | None = None, value: bytes | None = None, **_: Any) -> Any:
        self.calls += 1
        if self.failures is None or self.calls <= self.failures:
            raise KafkaConnectionError("broker unreachable")
        self.records.append((key, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def test_an_unacknowledged_commit_mark_and_a_failed_retry_publish_still_send_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The review's path: the in-memory ledger said "committing" (the acknowledgement timed
    out) and the retry record could not be published. Later attempts took it for sent."""
    short_pauses(monkeypatch)
    delivery, ledger, sender, worker = make_delivery()
    ledger.fail_acknowledged = TimeoutError("no acknowledgement within 2 s")
    delivery.retry_topic = FailingTopic(failures=3)  # type: ignore[assignment]
    m = message()
    await delivery.attempt(m, attempt=1)  # must neither raise nor leave "committing"
    entry = ledger.entries[m.message_id.encode()]
    assert (entry.state, entry.attempt) == ("retrying", 1)
    [(_, value)] = delivery.retry_topic.records  # type: ignore[attr-defined]
    retry = RetryRecord.from_bytes(value or b"")
    ledger.fail_acknowledged = None
    await delivery.attempt(m, attempt=1)  # a redelivered outbox record: the retry owns it
    await delivery.attempt(retry.message, attempt=retry.attempt)
    assert len(sender.sent) == 1
    assert in_doubt(worker, "transactional", "skip") == 0


async def test_a_shutdown_while_the_retry_cannot_be_published_leaves_the_email_sendable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    short_pauses(monkeypatch)
    delivery, ledger, sender, _ = make_delivery()
    ledger.fail_acknowledged = TimeoutError("no acknowledgement within 2 s")
    delivery.retry_topic = FailingTopic(failures=None)  # type: ignore[assignment]
    m = message()
    attempt = asyncio.create_task(delivery.attempt(m, attempt=1))
    async with asyncio.timeout(5):
        while delivery.retry_topic.calls < 3:  # type: ignore[attr-defined]
            await asyncio.sleep(0)
    attempt.cancel()  # the worker stops (or loses the partition) meanwhile
    with pytest.raises(asyncio.CancelledError):
        await attempt
    assert m.message_id.encode() not in ledger.entries  # no dot was written: not "sent"
    ledger.fail_acknowledged = None
    await delivery.attempt(m, attempt=1)  # the record, redelivered after the restart
    assert len(sender.sent) == 1


def short_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retrying a publish pauses a millisecond, not up to seconds."""
    monkeypatch.setattr("streams.acknowledged._FIRST_PAUSE_SECONDS", 0.001)
    monkeypatch.setattr("streams.acknowledged._MAX_PAUSE_SECONDS", 0.001)
