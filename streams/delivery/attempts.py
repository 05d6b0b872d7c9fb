"""Delivery: outbox records to SMTP, exactly once as far as a worker crash can tell.

Two agents (:mod:`streams.agents.delivery`) share one :class:`Delivery` and its pooled
:class:`~streams.delivery.smtp.SmtpSender`:

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

An attempt that finds ``committing`` (its worker died before the server's reply, so the
record was redelivered) or gets no reply to the dot reports the email in doubt: counted
in ``lifecycle_emails_in_doubt_total``, a warning naming the Message-ID, a dead letter of
kind ``in_doubt``; then the category's setting skips it (ledger ``in_doubt``) or resends it
(a retry record for the next attempt). An attempt whose ``committing`` mark was not
acknowledged wrote no dot: the ledger is put back to what the attempt started from
before the retry is scheduled, so nothing takes that email for sent.

Whatever else an attempt raises (an address the email package refuses, a bug), the
message is given up (``delivery_error``, ledger ``failed``, dead-lettered and counted)
instead of crashing the agent. Retry records and dead letters are produced until the
broker acknowledges them (:func:`streams.acknowledged.send_acknowledged`).

The ledger is pruned (:mod:`lifecycle.mail.ledger_expiry`): each message id is filed in its
partition's expiry index when its first attempt starts, and while an agent handles a
record of partition ``p`` (at most once per prune interval) the ids of every due bucket
of ``p`` are deleted. Both run while processing an event of ``p``, so Faust writes the
index and the tombstones to changelog partition ``p``, where the entries are.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol

from faust.types import Message, TopicT

from lifecycle.events import EmailBounced, dump_event
from lifecycle.exceptions import LifecycleError
from lifecycle.kv import BytesStore
from lifecycle.mail import (
    LedgerEntry,
    LedgerExpiry,
    LedgerExpiryIndex,
    OutboxMessage,
    RetryRecord,
    UnsubscribeLinks,
    backoff_delay,
    bounce_time,
    build_email,
    is_mailbox_failure,
    make_token,
    may_commit,
    may_send,
    normalize_address,
    too_late_to_send,
)
from lifecycle.measurement import delivery_fact
from lifecycle.state import Fact
from streams.acknowledged import send_acknowledged
from streams.dead_letter import DeadLetters
from streams.delivery.ledger import (
    CommitNotDurableError,
    DeliveryLedger,
    DuplicateAttemptError,
    KeyedLocks,
)
from streams.delivery.smtp import (
    BeforeCommit,
    PermanentSmtpError,
    SmtpReceipt,
    TransientSmtpError,
)
from streams.failures import describe, log_failure
from streams.metrics import WorkerMetrics
from streams.settings import Settings

__all__ = ["Delivery", "MailSender"]

log = logging.getLogger(__name__)

# A refused connection or login is the setup's fault, not the message's: keep retrying.
_SETUP_STAGES = frozenset({"connect", "auth"})


def _context(message: OutboxMessage) -> dict[str, str]:
    """What a log line about ``message`` carries (see streams/logs.py); never the address."""
    return {"message_id": message.message_id, "campaign": message.campaign_id}


class MailSender(Protocol):
    """What delivery needs of an SMTP client (:class:`~streams.delivery.smtp.SmtpSender`)."""

    async def send(
        self,
        envelope_from: str,
        recipients: Sequence[str],
        message_bytes: bytes,
        *,
        before_commit: BeforeCommit | None = None,
    ) -> SmtpReceipt: ...

    async def close(self) -> None: ...


def _counted(message: OutboxMessage, state: str) -> tuple[Fact, ...]:
    """The counters' fact of a final ledger state, written with it (one per message id:
    an attempt goes ahead only while no final state is recorded)."""
    fact = delivery_fact(
        decided_at=message.decided_at,
        campaign=message.campaign_id,
        variant=message.variant,
        state=state,
    )
    return (fact,)


class Delivery:
    """Attempts to send outbox messages, against the ledger, through one shared sender.

    Collaborators come in through the constructor: the ledger and the raw store its expiry
    index lives in, a factory for the sender (one is made when the first agent starts
    sending and closed when the last one stops), the retry topic, the customer-events
    topic (hard bounces go back to the engine there), dead letters, metrics, and the clock
    of every send-or-expire decision and of pruning.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        ledger: DeliveryLedger,
        expiry_store: BytesStore,
        new_sender: Callable[[], MailSender],
        retry_topic: TopicT,
        customer_events: TopicT,
        dead_letters: DeadLetters,
        metrics: WorkerMetrics,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
        counters_ready: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        #: Recovers the delivery counters of a partition before its first record is
        #: handled (see :mod:`streams.counters.store`); None counts nothing.
        self.counters_ready = counters_ready
        self.ledger = ledger
        self.expiry_store = expiry_store
        self.new_sender = new_sender
        self.retry_topic = retry_topic
        self.customer_events = customer_events
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.clock = clock
        self.rng = rng or random.Random()
        self._last_prune: dict[int, float] = {}  # partition -> loop time
        self._in_progress = KeyedLocks()
        # The broker must acknowledge "committing" well before the SMTP server could give
        # up on us in the middle of DATA (servers wait minutes, RFC 5321 4.5.3.2; our own
        # per-command timeout is the tighter bound we control).
        self.commit_timeout = settings.smtp.timeout / 2
        self._sender: MailSender | None = None
        self._users = 0
        self.sender_mailbox = settings.delivery.mail_from
        self.reply_to = settings.delivery.reply_to
        self.secret = (
            None
            if settings.unsubscribe.secret is None
            else settings.unsubscribe.secret.get_secret_value().encode()
        )

    @asynccontextmanager
    async def sending(self) -> AsyncIterator[None]:
        """Held by each agent while it runs: the last one to stop closes the sender's pool."""
        if self._sender is None:
            self._sender = self.new_sender()
        self._users += 1
        try:
            yield
        finally:
            self._users -= 1
            if self._users == 0 and self._sender is not None:
                sender, self._sender = self._sender, None
                await sender.close()

    async def ready_to_count(self, partition: int) -> None:
        """Called by the agents before each record of ``partition``."""
        if self.counters_ready is not None:
            await self.counters_ready(partition)

    # -- one attempt ----------------------------------------------------------------

    async def attempt(
        self,
        message: OutboxMessage,
        *,
        attempt: int,
        partition: int | None = None,
        source: Message | None = None,
    ) -> None:
        """One attempt to send ``message``; attempts of one Message-ID never overlap.

        ``partition`` is the partition of the record being processed (the message's
        partition); None (some unit tests) leaves the expiry index alone. ``source`` is
        that record: a dead letter names its topic, partition and offset.
        """
        async with self._in_progress.hold(message.message_id):
            try:
                await self._attempt(message, attempt, partition, source)
            except Exception as exc:  # a message we cannot handle must not stop delivery
                log_failure(log, f"attempt {attempt} of {message.message_id} failed", exc)
                await self._give_up(
                    message, attempt, f"delivery error: {describe(exc)}", "delivery_error", source
                )

    # -- pruning --------------------------------------------------------------------

    def expiry_index(self, partition: int) -> LedgerExpiryIndex:
        policy = LedgerExpiry.for_max_delay(self.settings.delivery.max_send_delay)
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
        pruned = index.prune(self.clock())
        if pruned:
            self.metrics.ledger_pruned.inc(pruned)
        return pruned

    # -- one attempt (continued) ----------------------------------------------------

    async def _attempt(
        self,
        message: OutboxMessage,
        attempt: int,
        partition: int | None,
        source: Message | None,
    ) -> None:
        metrics = self.metrics
        key = message.message_id.encode()
        seen = self.ledger.get(key)
        if seen is not None and seen.state == "committing":
            # Only an attempt that never finished leaves "committing" (a finished one moves
            # it on, even when the reply was lost): its worker died, so this record came back.
            await self._in_doubt(
                message, seen, attempt, source, "its worker stopped before the server replied"
            )
            return
        if not may_send(seen, attempt=attempt):
            metrics.emails_skipped_duplicate.inc()
            return
        now = self.clock()
        index = None if partition is None else self.expiry_index(partition)
        if seen is None and index is not None:
            # Filed before any entry is written: an id filed without an entry (a crash
            # right after) is skipped by the pruning; an entry never filed would stay.
            index.file(message.message_id, message.decided_at, now)
        # A message with no entry that is older than the partition's pruning horizon may
        # have been sent and pruned, even if the maximum delay was raised since.
        pruned_before = seen is None and index is not None and index.pruned(message.decided_at)
        too_late = too_late_to_send(message, now, self.settings.delivery.max_send_delay)
        if pruned_before or too_late or not message.rendered:
            detail = f"decided {message.decided_at.isoformat()}, " + (
                "before the ledger's pruning horizon"
                if pruned_before
                else "more than the maximum delay"
                if too_late
                # Only a raised maximum delay can leave one of these in time.
                else "too long ago for the engine to render it"
            )
            self.ledger.put(
                key,
                LedgerEntry(
                    state="expired",
                    at=now,
                    attempt=attempt,
                    detail=detail,
                    facts=_counted(message, "expired"),
                ),
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
        except Exception as exc:  # the email package raises ValueError and its own kinds
            if isinstance(exc, LifecycleError):
                detail = str(exc)
            else:
                # Its messages can quote the address or header: the type says enough.
                detail = f"{type(exc).__name__} (an address or header the email package refuses)"
            await self._give_up(
                message, attempt, f"cannot build the email: {detail}", "unbuildable", source
            )
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

        if self._sender is None:  # an attempt outside the agents' lease (unit tests)
            self._sender = self.new_sender()
        started = asyncio.get_running_loop().time()
        try:
            receipt = await self._sender.send(
                self.sender_mailbox.address, [recipient], email_bytes, before_commit=record_commit
            )
        except DuplicateAttemptError as exc:
            # The sender dropped the connection mid-DATA: the server discards the message.
            log.warning("not sent, a duplicate: %s", exc, extra=_context(message))
            metrics.emails_skipped_duplicate.inc()
            return
        except CommitNotDurableError as exc:
            # Not sent (no dot). The in-memory ledger already says "committing" (and its
            # changelog record may still land): put back what this attempt started from
            # first, so that nothing (a redelivery, a restart) takes the email for sent
            # while the retry is being scheduled; then retry like any transient failure.
            self._restore(key, seen)
            metrics.email_failures.labels("transient_ledger").inc()
            log.warning("not sent: %s", exc, extra=_context(message))
            await self._retry_or_give_up(message, attempt, exc, source)
            return
        except PermanentSmtpError as exc:
            await self._permanent(message, attempt, exc, source)
            return
        except TransientSmtpError as exc:
            await self._transient(message, attempt, exc, source)
            return
        metrics.smtp_send_seconds.observe(asyncio.get_running_loop().time() - started)
        self.ledger.put(
            key,
            LedgerEntry(
                state="sent",
                at=self.clock(),
                attempt=attempt,
                detail=str(receipt.code),
                facts=_counted(message, "sent"),
            ),
        )
        metrics.emails_sent.labels(message.campaign_id, message.variant, message.category).inc()
        accepted_after = (self.clock() - message.decided_at).total_seconds()
        metrics.decision_to_accept_seconds.observe(max(0.0, accepted_after))

    async def _transient(
        self,
        message: OutboxMessage,
        attempt: int,
        exc: TransientSmtpError,
        source: Message | None,
    ) -> None:
        metrics = self.metrics
        metrics.email_failures.labels(f"transient_{exc.stage}").inc()
        if exc.may_have_been_delivered:
            # The dot went out and no reply came: the ledger says "committing". Whether
            # the server took it only its log can tell; the category's setting decides.
            committing = self.ledger.get(message.message_id.encode())
            if committing is None or committing.state != "committing":
                committing = LedgerEntry(state="committing", at=self.clock(), attempt=attempt)
            await self._in_doubt(
                message, committing, attempt, source, "no reply from the server to the final dot"
            )
            return
        await self._retry_or_give_up(message, attempt, exc, source)

    async def _permanent(
        self,
        message: OutboxMessage,
        attempt: int,
        exc: PermanentSmtpError,
        source: Message | None,
    ) -> None:
        metrics = self.metrics
        metrics.email_failures.labels(f"permanent_{exc.stage}").inc()
        if exc.stage in _SETUP_STAGES:
            log.error("SMTP setup problem (%s): %s", exc.stage, exc, extra=_context(message))
            await self._retry_or_give_up(message, attempt, exc, source)
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
            source,
            counted_as="hard_bounce" if hard_bounce else "smtp_permanent",
        )
        if hard_bounce:
            await self._suppress(message, reason)

    async def _retry_or_give_up(
        self,
        message: OutboxMessage,
        attempt: int,
        exc: LifecycleError,
        source: Message | None,
    ) -> None:
        s = self.settings
        stage = getattr(exc, "stage", "ledger")
        reason = f"{stage}: {exc}"
        if attempt >= s.delivery.max_attempts:
            await self._give_up(
                message,
                attempt,
                f"gave up after {attempt} attempts; last: {reason}",
                "smtp_exhausted",
                source,
            )
            return
        delay = backoff_delay(
            attempt,
            base=s.delivery.retry_base_seconds,
            cap=s.delivery.retry_cap_seconds,
            jitter_fraction=0.5,
            rng_value=self.rng.random(),
        )
        await self._schedule(message, attempt, delay, reason)

    async def _schedule(
        self, message: OutboxMessage, attempt: int, delay: float, reason: str
    ) -> None:
        """Attempt ``attempt + 1`` after ``delay`` seconds: the retry record first (until the
        broker has it), then ``retrying``, so a crash between the two repeats the attempt."""
        now = self.clock()
        retry = RetryRecord(
            message=message, attempt=attempt + 1, not_before=now + timedelta(seconds=delay)
        )
        await send_acknowledged(
            self.retry_topic,
            what=f"retry record of {message.message_id}",
            key=message.customer_id.encode(),
            value=retry.to_bytes(),
        )
        self.ledger.put(
            message.message_id.encode(),
            LedgerEntry(state="retrying", at=now, attempt=attempt, detail=reason[:300]),
        )
        self.metrics.email_retries.inc()

    async def _in_doubt(
        self,
        message: OutboxMessage,
        committing: LedgerEntry,
        attempt: int,
        source: Message | None,
        why: str,
    ) -> None:
        """Report an email that may or may not have reached the server, then skip or resend it."""
        action = self.settings.delivery.in_doubt_action(message.category)
        next_step = "not sent again" if action == "skip" else "sending it again"
        log.warning(
            "email %s in doubt: %s (attempt %d, committing since %s); the mail server's log"
            " tells whether it arrived; %s (LIFECYCLE_IN_DOUBT_%s=%s)",
            message.message_id,
            why,
            committing.attempt,
            committing.at.isoformat(),
            next_step,
            message.category.upper(),
            action,
            extra=_context(message),
        )
        reason = (
            f"in doubt: {why} (attempt {committing.attempt}, committing since"
            f" {committing.at.isoformat()}); check the mail server's log for Message-ID"
            f" {message.message_id}; {next_step} ({action})"
        )
        await self._dead_letter(message, reason, "in_doubt", source)
        self.metrics.emails_in_doubt.labels(message.category, action).inc()
        key = message.message_id.encode()
        if action == "skip":
            self.ledger.put(
                key,
                LedgerEntry(
                    state="in_doubt", at=self.clock(), attempt=committing.attempt, detail=why
                ),
            )
            return
        # The next attempt number after both this record's and the unfinished one's, so
        # a stale copy of either is a skipped duplicate.
        await self._schedule(message, max(attempt, committing.attempt), 0.0, f"in doubt: {why}")

    def _restore(self, key: bytes, seen: LedgerEntry | None) -> None:
        if seen is None:
            self.ledger.delete(key)
        else:
            self.ledger.put(key, seen)

    async def _give_up(
        self,
        message: OutboxMessage,
        attempt: int,
        reason: str,
        kind: str,
        source: Message | None,
        *,
        counted_as: str | None = None,
    ) -> None:
        await self._dead_letter(message, reason, kind, source)
        self.ledger.put(
            message.message_id.encode(),
            LedgerEntry(
                state="failed",
                at=self.clock(),
                attempt=attempt,
                detail=reason[:300],
                facts=_counted(message, "failed"),
            ),
        )
        self.metrics.emails_dead_lettered.labels(counted_as or kind).inc()

    async def _dead_letter(
        self, message: OutboxMessage, reason: str, kind: str, source: Message | None
    ) -> None:
        key, value = message.customer_id.encode(), message.to_json_bytes()
        if source is None:  # outside an agent (unit tests): no record to point back at
            await self.dead_letters.publish(
                key=key,
                value=value,
                reason=reason,
                kind=kind,
                stage="delivery",
                topic="",
                partition=-1,
                offset=-1,
            )
        else:
            await self.dead_letters.publish_record(
                source, key=key, value=value, reason=reason, kind=kind, stage="delivery"
            )

    async def _suppress(self, message: OutboxMessage, reason: str) -> None:
        """Tell the engine, through the normal event path, that this address hard-bounced."""
        # Dated in event time (see lifecycle.mail.bounces): with external ticks the
        # wall clock is not the customer's clock.
        attempted_at = None if self.settings.ticker == "external" else self.clock()
        bounce = EmailBounced(
            type="email.bounced",
            event_id=f"bounce-{message.message_id.strip('<>')}",
            customer_id=message.customer_id,
            occurred_at=bounce_time(message.decided_at, attempted_at),
            email=message.to_address,
            reason=reason[:500],
            permanent=True,
            message_id=message.message_id,
        )
        pending = await self.customer_events.send(
            key=message.customer_id.encode(), value=dump_event(bounce)
        )
        await pending
        self.metrics.suppressed_addresses.inc()

    # -- helpers --------------------------------------------------------------------

    def _unsubscribe_links(self, message: OutboxMessage, now: datetime) -> UnsubscribeLinks | None:
        if message.category != "marketing":
            return None
        if self.secret is None:
            raise LifecycleError("marketing mail needs LIFECYCLE_UNSUBSCRIBE_SECRET")
        token = make_token(self.secret, message.customer_id, now)
        base = self.settings.web.public_base_url
        address = self.settings.unsubscribe.mailto
        # The token rides in the subject, so whatever reads that mailbox can verify it and
        # POST it to the one-click URL; a bare address would not say who unsubscribes.
        mailto = None if address is None else f"mailto:{address}?subject=unsubscribe%20{token}"
        return UnsubscribeLinks(url=f"{base}/unsubscribe?token={token}", mailto=mailto)
