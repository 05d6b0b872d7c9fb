"""Delivery: outbox records to SMTP, exactly once as far as a worker crash can tell.

Two agents share one pooled :class:`~streams.smtp.SmtpSender`:

* the outbox agent makes the first attempt of every message;
* the retry agent makes later attempts from the retry topic, each after its backoff, so a
  message that waits never holds up the rest of its outbox partition.

Every attempt checks the ledger first (:func:`lifecycle.ledger.may_send`), so a redelivered
or replayed outbox record is not sent again. See :mod:`lifecycle.ledger` for the states
and the remaining at-least-once window.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any

from lifecycle.backoff import backoff_delay
from lifecycle.events import EmailBounced, dump_event
from lifecycle.exceptions import LifecycleError
from lifecycle.ledger import LedgerEntry, RetryRecord, may_send
from lifecycle.mime import Mailbox, UnsubscribeLinks, build_email, normalize_address
from lifecycle.outbox import OutboxMessage
from lifecycle.unsubscribe import make_token
from streams.smtp import PermanentSmtpError, SmtpError, SmtpSender, SmtpSettings, TransientSmtpError

if TYPE_CHECKING:
    from streams.app import Worker

__all__ = ["Delivery", "register"]

# A refused connection or login is the setup's fault, not the message's: keep retrying.
_SETUP_STAGES = frozenset({"connect", "auth"})


def register(worker: Worker) -> None:
    delivery = Delivery(worker)
    worker.app.agent(worker.topics.outbox, name="lifecycle.delivery")(delivery.outbox_agent)
    worker.app.agent(worker.topics.outbox_retry, name="lifecycle.delivery-retry")(
        delivery.retry_agent
    )


def smtp_settings(worker: Worker) -> SmtpSettings:
    s = worker.settings
    return SmtpSettings(
        host=s.smtp_host,
        port=s.smtp_port,
        tls_mode=s.smtp_tls,
        username=s.smtp_username,
        password=s.smtp_password,
        timeout=s.smtp_timeout_seconds,
        pool_size=s.smtp_pool_size,
        max_per_second=s.smtp_rate_limit_per_second,
        ca_file=None if s.smtp_ca_file is None else str(s.smtp_ca_file),
    )


def _mailbox(text: str) -> Mailbox:
    name, address = parseaddr(text)
    return Mailbox(address=address, name=name or None)


class Delivery:
    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.ledger = worker.tables.delivery_ledger
        self._sender: SmtpSender | None = None
        self._users = 0
        s = worker.settings
        self.sender_mailbox = _mailbox(s.mail_from)
        self.reply_to = None if s.mail_reply_to is None else _mailbox(s.mail_reply_to)
        self.secret = (
            None
            if s.unsubscribe_secret is None
            else s.unsubscribe_secret.get_secret_value().encode()
        )
        self._random = random.Random()

    # -- agents ---------------------------------------------------------------------

    async def outbox_agent(self, stream: Any) -> None:
        async with self._sending():
            async for record in stream.events():
                message = await self._decode(record, OutboxMessage.from_json_bytes)
                if message is not None:
                    await self.attempt(message, attempt=1)

    async def retry_agent(self, stream: Any) -> None:
        async with self._sending():
            async for record in stream.events():
                retry = await self._decode(record, RetryRecord.from_bytes)
                if retry is None:
                    continue
                wait = (retry.not_before - datetime.now(UTC)).total_seconds()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self.attempt(retry.message, attempt=retry.attempt)

    # -- one attempt ----------------------------------------------------------------

    async def attempt(self, message: OutboxMessage, *, attempt: int) -> None:
        metrics = self.worker.metrics
        key = message.message_id.encode()
        raw = self.ledger.get(key)
        if not may_send(None if raw is None else LedgerEntry.from_bytes(raw), attempt=attempt):
            metrics.emails_skipped_duplicate.inc()
            return
        now = datetime.now(UTC)
        try:
            email_bytes = build_email(
                message,
                sender=self.sender_mailbox,
                reply_to=self.reply_to,
                now=now,
                unsubscribe=self._unsubscribe_links(message, now),
            )
            recipient = normalize_address(message.to_address)
        except LifecycleError as exc:
            await self._give_up(message, attempt, f"cannot build the email: {exc}", "unbuildable")
            return

        async def record_commit() -> None:
            # Durable before the final dot: after this, a crash means "sent", never "send again".
            self._write(key, LedgerEntry(state="committing", at=now, attempt=attempt))
            await self.worker.app.producer.flush()

        assert self._sender is not None
        started = asyncio.get_running_loop().time()
        try:
            receipt = await self._sender.send(
                self.sender_mailbox.address, [recipient], email_bytes, before_commit=record_commit
            )
        except PermanentSmtpError as exc:
            await self._permanent(message, attempt, exc)
            return
        except TransientSmtpError as exc:
            await self._transient(message, attempt, exc)
            return
        metrics.smtp_send_seconds.observe(asyncio.get_running_loop().time() - started)
        self._write(
            key,
            LedgerEntry(
                state="sent", at=datetime.now(UTC), attempt=attempt, detail=str(receipt.code)
            ),
        )
        metrics.emails_sent.labels(message.campaign_id, message.category).inc()

    async def _transient(
        self, message: OutboxMessage, attempt: int, exc: TransientSmtpError
    ) -> None:
        metrics = self.worker.metrics
        metrics.email_failures.labels(f"transient_{exc.stage}").inc()
        if exc.may_have_been_delivered:
            # The dot went out and no reply came: the ledger already says "committing",
            # which counts as sent. Retrying could send it twice; we do not.
            self.worker.app.log.warning(
                "no reply after the final dot for %s; counted as sent, not retried",
                message.message_id,
            )
            return
        await self._retry_or_give_up(message, attempt, exc)

    async def _permanent(
        self, message: OutboxMessage, attempt: int, exc: PermanentSmtpError
    ) -> None:
        metrics = self.worker.metrics
        metrics.email_failures.labels(f"permanent_{exc.stage}").inc()
        if exc.stage in _SETUP_STAGES:
            self.worker.app.log.error("SMTP setup problem (%s): %s", exc.stage, exc)
            await self._retry_or_give_up(message, attempt, exc)
            return
        reason = f"SMTP {exc.code} at {exc.stage}: {exc.reply}".strip()
        await self._give_up(message, attempt, reason, "smtp_permanent")
        if exc.stage == "rcpt":
            await self._suppress(message, reason)

    async def _retry_or_give_up(self, message: OutboxMessage, attempt: int, exc: SmtpError) -> None:
        s = self.worker.settings
        reason = f"{exc.stage}: {exc}"
        if attempt >= s.smtp_max_attempts:
            await self._give_up(
                message,
                attempt,
                f"gave up after {attempt} attempts; last: {reason}",
                "smtp_exhausted",
            )
            return
        delay = backoff_delay(
            attempt,
            base=s.smtp_retry_base_seconds,
            cap=s.smtp_retry_cap_seconds,
            jitter_fraction=0.5,
            rng_value=self._random.random(),
        )
        now = datetime.now(UTC)
        retry = RetryRecord(
            message=message, attempt=attempt + 1, not_before=now + timedelta(seconds=delay)
        )
        pending = await self.worker.topics.outbox_retry.send(
            key=message.customer_id.encode(), value=retry.to_bytes()
        )
        await pending
        self._write(
            message.message_id.encode(),
            LedgerEntry(state="retrying", at=now, attempt=attempt, detail=reason[:300]),
        )

    async def _give_up(self, message: OutboxMessage, attempt: int, reason: str, kind: str) -> None:
        from faust import current_event

        event = current_event()
        assert event is not None
        source = event.message
        await self.worker.dead_letters.publish(
            key=message.customer_id.encode(),
            value=message.to_json_bytes(),
            reason=reason,
            kind=kind,
            stage="delivery",
            topic=source.topic,
            partition=source.partition,
            offset=source.offset,
        )
        self._write(
            message.message_id.encode(),
            LedgerEntry(state="failed", at=datetime.now(UTC), attempt=attempt, detail=reason[:300]),
        )
        self.worker.metrics.emails_dead_lettered.labels(kind).inc()

    async def _suppress(self, message: OutboxMessage, reason: str) -> None:
        """Tell the engine, through the normal event path, that this address hard-bounced."""
        bounce = EmailBounced(
            type="email.bounced",
            event_id=f"bounce-{message.message_id.strip('<>')}",
            customer_id=message.customer_id,
            occurred_at=datetime.now(UTC),
            email=message.to_address,
            reason=reason[:500],
            permanent=True,
            message_id=message.message_id,
        )
        pending = await self.worker.topics.customer_events.send(
            key=message.customer_id.encode(), value=dump_event(bounce)
        )
        await pending
        self.worker.metrics.suppressed_addresses.inc()

    # -- helpers --------------------------------------------------------------------

    def _write(self, key: bytes, entry: LedgerEntry) -> None:
        self.ledger[key] = entry.to_bytes()

    def _unsubscribe_links(self, message: OutboxMessage, now: datetime) -> UnsubscribeLinks | None:
        if message.category != "marketing":
            return None
        if self.secret is None:
            raise LifecycleError("marketing mail needs LIFECYCLE_UNSUBSCRIBE_SECRET")
        token = make_token(self.secret, message.customer_id, now)
        base = self.worker.settings.public_base_url.rstrip("/")
        mailto = self.worker.settings.unsubscribe_mailto
        return UnsubscribeLinks(url=f"{base}/unsubscribe?token={token}", mailto=mailto)

    async def _decode(self, record: Any, decode: Any) -> Any:
        source = record.message
        try:
            return decode(source.value or b"")
        except ValueError as exc:
            reason = str(exc).splitlines()[0]
            await self.worker.dead_letters.publish(
                key=source.key,
                value=source.value,
                reason=f"not a delivery record: {reason}",
                kind="invalid_outbox",
                stage="delivery",
                topic=source.topic,
                partition=source.partition,
                offset=source.offset,
            )
            return None

    def _sending(self) -> _SenderLease:
        return _SenderLease(self)


class _SenderLease:
    """Both agents share one sender; the last one to stop closes its pool."""

    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery

    async def __aenter__(self) -> None:
        d = self.delivery
        if d._sender is None:
            d._sender = SmtpSender(smtp_settings(d.worker))
        d._users += 1

    async def __aexit__(self, *exc_info: object) -> None:
        d = self.delivery
        d._users -= 1
        if d._users == 0 and d._sender is not None:
            sender, d._sender = d._sender, None
            await sender.close()
