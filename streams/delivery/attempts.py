"""Delivery: outbox records to SMTP, exactly once as far as a worker crash can tell.

Two agents share one pooled :class:`~streams.delivery.smtp.SmtpSender`:

* the outbox agent makes the first attempt of every message;
* the retry agent makes later attempts from the retry topic, each after its backoff, so a
  message that waits never holds up the rest of its outbox partition.

Every attempt checks the ledger first (:func:`lifecycle.mail.ledger.may_send`), so a redelivered
or replayed outbox record is not sent again. See :mod:`lifecycle.mail.ledger` for the states
and the remaining at-least-once window.

Two agents could still race on one message: after a crash the redelivered outbox record
(attempt 1) and its retry record (attempt 2) can both be in flight, each in its own agent.
Both agents run in the worker that owns the customer's partition (outbox and retry topic
are keyed by customer id and co-partitioned), so attempts of one Message-ID are
serialised here with a lock per Message-ID, and the final dot is written only if the
ledger entry is still the one the attempt started from (:func:`lifecycle.mail.ledger.may_commit`).
The ``committing`` mark is produced to the ledger's changelog and awaited until the broker
acknowledges it; if that fails or times out no dot is written.

The ledger is pruned (:mod:`lifecycle.mail.ledger_expiry`): each message id is filed in its
partition's expiry index when its first attempt starts, and while an agent handles a
record of partition ``p`` (at most once per prune interval) the ids of every due bucket
of ``p`` are deleted. Both run while processing an event of ``p``, so Faust writes the
index and the tombstones to changelog partition ``p``, where the entries are.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any

from lifecycle.events import EmailBounced, dump_event
from lifecycle.exceptions import LifecycleError
from lifecycle.kv import BytesStore
from lifecycle.mail import (
    LedgerEntry,
    LedgerExpiry,
    LedgerExpiryIndex,
    Mailbox,
    OutboxMessage,
    RetryPacer,
    RetryRecord,
    UnsubscribeLinks,
    backoff_delay,
    build_email,
    is_mailbox_failure,
    make_token,
    may_commit,
    may_send,
    normalize_address,
    too_late_to_send,
)
from streams.delivery.ledger import (
    CommitNotDurableError,
    DeliveryLedger,
    DuplicateAttemptError,
    FaustLedger,
    KeyedLocks,
)
from streams.delivery.smtp import PermanentSmtpError, SmtpSender, SmtpSettings, TransientSmtpError
from streams.tables import RawTableStore

if TYPE_CHECKING:
    from streams.app import Worker

__all__ = ["Delivery", "register", "smtp_settings"]

# A refused connection or login is the setup's fault, not the message's: keep retrying.
_SETUP_STAGES = frozenset({"connect", "auth"})
# The retry agent never sleeps longer than this at a time (see lifecycle.mail.backoff.RetryPacer).
_RETRY_SHORT_WAIT_SECONDS = 1.0


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
    def __init__(
        self,
        worker: Worker,
        *,
        ledger: DeliveryLedger | None = None,
        expiry_store: BytesStore | None = None,
    ) -> None:
        self.worker = worker
        self.ledger: DeliveryLedger = (
            FaustLedger(worker.tables.delivery_ledger) if ledger is None else ledger
        )
        self.expiry_store: BytesStore = (
            RawTableStore(worker.tables.delivery_ledger) if expiry_store is None else expiry_store
        )
        self._last_prune: dict[int, float] = {}  # partition -> loop time
        self._in_progress = KeyedLocks()
        # The broker must acknowledge "committing" well before the SMTP server could give
        # up on us in the middle of DATA (servers wait minutes, RFC 5321 4.5.3.2; our own
        # per-command timeout is the tighter bound we control).
        self.commit_timeout = worker.settings.smtp_timeout_seconds / 2
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
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # tests record it
        # The clock of the send-or-expire decision and of pruning (tests move it).
        self._now: Callable[[], datetime] = lambda: datetime.now(UTC)

    # -- agents ---------------------------------------------------------------------

    async def outbox_agent(self, stream: Any) -> None:
        async with self._sending():
            async for record in stream.events():
                message = await self._decode(record, OutboxMessage.from_json_bytes)
                if message is not None:
                    partition = record.message.partition
                    self.prune(partition)
                    await self.attempt(message, attempt=1, partition=partition)

    async def retry_agent(self, stream: Any) -> None:
        # Never a long sleep here: see lifecycle.mail.backoff.RetryPacer for why and how.
        pacers: dict[int, RetryPacer] = {}
        async with self._sending():
            async for record in stream.events():
                retry = await self._decode(record, RetryRecord.from_bytes)
                if retry is None:
                    continue
                source = record.message
                self.prune(source.partition)
                pacer = pacers.setdefault(
                    source.partition, RetryPacer(short_wait=_RETRY_SHORT_WAIT_SECONDS)
                )
                step = pacer.step(
                    f"{retry.message.message_id} {retry.attempt}",
                    retry.not_before,
                    datetime.now(UTC),
                )
                if step.action == "defer":
                    if step.pause > 0:
                        await self._sleep(step.pause)  # at most one short wait
                    await self._defer(source)
                    continue
                if step.wait > 0:
                    await self._sleep(step.wait)  # at most one short wait
                await self.attempt(retry.message, attempt=retry.attempt, partition=source.partition)

    async def _defer(self, source: Any) -> None:
        """Put a retry record, unchanged, at the end of its own partition.

        Awaited until acknowledged before the stream moves on (and commits past the
        original), so a crash leaves the record at least once on the topic. A copy left
        twice (crash between the two) is a stale attempt the ledger skips.
        """
        pending = await self.worker.topics.outbox_retry.send(
            key=source.key, value=source.value, partition=source.partition
        )
        await pending

    # -- one attempt ----------------------------------------------------------------

    async def attempt(
        self, message: OutboxMessage, *, attempt: int, partition: int | None = None
    ) -> None:
        """One attempt to send ``message``; attempts of one Message-ID never overlap.

        ``partition`` is the partition of the record being processed (the message's
        partition); None (some unit tests) leaves the expiry index alone.
        """
        async with self._in_progress.hold(message.message_id):
            await self._attempt(message, attempt, partition)

    # -- pruning --------------------------------------------------------------------

    def expiry_index(self, partition: int) -> LedgerExpiryIndex:
        policy = LedgerExpiry.for_max_delay(self.worker.settings.max_send_delay)
        return LedgerExpiryIndex(self.expiry_store, partition, policy)

    def prune(self, partition: int) -> int:
        """Delete the due ledger entries of ``partition``, at most once per interval.

        Called while processing a record of ``partition``; synchronous, so it never
        interleaves with an attempt's ledger reads and writes in the other agent (and an
        attempt already under way for a pruned message finds its entry changed at the
        compare-and-set before the dot and does not send).
        """
        index = self.expiry_index(partition)
        if index.policy is None:
            return 0
        clock = asyncio.get_running_loop().time()
        last = self._last_prune.get(partition)
        if last is not None and clock - last < index.policy.prune_interval_seconds:
            return 0
        self._last_prune[partition] = clock
        pruned = index.prune(self._now())
        if pruned:
            self.worker.metrics.ledger_pruned.inc(pruned)
        return pruned

    # -- one attempt (continued) ----------------------------------------------------

    async def _attempt(self, message: OutboxMessage, attempt: int, partition: int | None) -> None:
        metrics = self.worker.metrics
        key = message.message_id.encode()
        seen = self.ledger.get(key)
        if not may_send(seen, attempt=attempt):
            metrics.emails_skipped_duplicate.inc()
            return
        now = self._now()
        index = None if partition is None else self.expiry_index(partition)
        if seen is None and index is not None:
            # Filed before any entry is written: an id filed without an entry (a crash
            # right after) is skipped by the pruning; an entry never filed would stay.
            index.file(message.message_id, message.decided_at, now)
        # A message with no entry that is older than the partition's pruning horizon may
        # have been sent and pruned, even if the maximum delay was raised since.
        pruned_before = seen is None and index is not None and index.pruned(message.decided_at)
        if pruned_before or too_late_to_send(message, now, self.worker.settings.max_send_delay):
            detail = f"decided {message.decided_at.isoformat()}, " + (
                "before the ledger's pruning horizon"
                if pruned_before
                else "more than the maximum delay"
            )
            self.ledger.put(
                key, LedgerEntry(state="expired", at=now, attempt=attempt, detail=detail)
            )
            metrics.emails_expired.labels(message.campaign_id).inc()
            return
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
            # Right before the final dot: check that no other attempt moved the ledger on
            # since we looked (compare-and-set), then make "committing" durable. After
            # this a crash means "sent", never "send again". Raising here means no dot.
            current = self.ledger.get(key)
            if not may_commit(seen, current, attempt=attempt):
                raise DuplicateAttemptError(
                    f"attempt {attempt} of {message.message_id}: ledger moved on to {current!r}"
                )
            committing = LedgerEntry(state="committing", at=now, attempt=attempt)
            await self.ledger.put_acknowledged(key, committing, within=self.commit_timeout)

        assert self._sender is not None
        started = asyncio.get_running_loop().time()
        try:
            receipt = await self._sender.send(
                self.sender_mailbox.address, [recipient], email_bytes, before_commit=record_commit
            )
        except DuplicateAttemptError as exc:
            # The sender dropped the connection mid-DATA: the server discards the message.
            self.worker.app.log.warning("not sent, a duplicate: %s", exc)
            metrics.emails_skipped_duplicate.inc()
            return
        except CommitNotDurableError as exc:
            # Not sent (no dot). Retry later like any transient failure; the in-memory
            # ledger is overwritten with "retrying" right away.
            metrics.email_failures.labels("transient_ledger").inc()
            self.worker.app.log.warning("not sent: %s", exc)
            await self._retry_or_give_up(message, attempt, exc)
            return
        except PermanentSmtpError as exc:
            await self._permanent(message, attempt, exc)
            return
        except TransientSmtpError as exc:
            await self._transient(message, attempt, exc)
            return
        metrics.smtp_send_seconds.observe(asyncio.get_running_loop().time() - started)
        self.ledger.put(
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
        # Only a refusal that says the mailbox is gone or disabled suppresses the address;
        # a relay or policy refusal ("554 5.7.1 Relay access denied") is the setup's or
        # the content's problem, and suppressing on it could suppress every customer.
        hard_bounce = exc.stage == "rcpt" and is_mailbox_failure(exc.code, exc.reply)
        await self._give_up(
            message,
            attempt,
            reason,
            "smtp_permanent",
            counted_as="hard_bounce" if hard_bounce else "smtp_permanent",
        )
        if hard_bounce:
            await self._suppress(message, reason)

    async def _retry_or_give_up(
        self, message: OutboxMessage, attempt: int, exc: LifecycleError
    ) -> None:
        s = self.worker.settings
        stage = getattr(exc, "stage", "ledger")
        reason = f"{stage}: {exc}"
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
        self.ledger.put(
            message.message_id.encode(),
            LedgerEntry(state="retrying", at=now, attempt=attempt, detail=reason[:300]),
        )

    async def _give_up(
        self,
        message: OutboxMessage,
        attempt: int,
        reason: str,
        kind: str,
        *,
        counted_as: str | None = None,
    ) -> None:
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
        self.ledger.put(
            message.message_id.encode(),
            LedgerEntry(state="failed", at=datetime.now(UTC), attempt=attempt, detail=reason[:300]),
        )
        self.worker.metrics.emails_dead_lettered.labels(counted_as or kind).inc()

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

    def _unsubscribe_links(self, message: OutboxMessage, now: datetime) -> UnsubscribeLinks | None:
        if message.category != "marketing":
            return None
        if self.secret is None:
            raise LifecycleError("marketing mail needs LIFECYCLE_UNSUBSCRIBE_SECRET")
        token = make_token(self.secret, message.customer_id, now)
        base = self.worker.settings.public_base_url.rstrip("/")
        address = self.worker.settings.unsubscribe_mailto
        # The token rides in the subject, so whatever reads that mailbox can verify it and
        # POST it to the one-click URL; a bare address would not say who unsubscribes.
        mailto = None if address is None else f"mailto:{address}?subject=unsubscribe%20{token}"
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
