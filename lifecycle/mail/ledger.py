"""The delivery ledger's entries and rules: what may be sent, and what a record means.

States of one ``Message-ID``:

``committing``  written durably after the server accepted the envelope and the whole
                body, right before the final dot that makes it take the message
``sent``        the server replied 250 to the dot
``retrying``    a transient failure; a retry record is on the retry topic
``failed``      given up: a permanent failure, or out of attempts (dead-lettered)
``expired``     not sent because it was decided too long ago (:func:`too_late_to_send`);
                a send the engine decides already that late has no entry: it is never
                published, and the engine counts it expired
``in_doubt``    reported: a later attempt found ``committing`` left by an attempt that never
                finished (its worker died), or the server's reply to the dot never came;
                whether the server has the message only its log can tell

``committing`` counts as sent until an attempt finds it: if the worker died after writing
it, the dot may have reached the server, and a second email is the failure we refuse by
default. The attempt that finds it (the redelivered record: the dead worker never
finished it, so its offset was not committed) reports it, and the category's
:data:`InDoubtAction` says what follows: ``skip`` records ``in_doubt`` (final, nothing
sent), ``resend`` schedules the next attempt (the customer may get it twice). The loss
window under ``skip`` is a worker killed between the broker's acknowledgement of
``committing`` and the dot reaching the server (or a server that rejects the data after
the dot while the worker dies before recording it); each such email is reported.

Attempts are numbered (1 from the outbox, 2.. from the retry topic). An attempt goes
ahead only if the message is in no final state and its number is newer than the one the
ledger recorded (:func:`may_send`), and it commits (writes the dot) only if the ledger
still shows exactly what it saw when it started (:func:`may_commit`): a compare-and-set
that turns a concurrent or stale attempt of the same message into a skipped duplicate.

Entries are not kept forever: once a message is too late to send, whatever its entry
said, the entry can go (:mod:`lifecycle.mail.ledger_expiry`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from lifecycle.mail.outbox import OutboxMessage
from lifecycle.state import Fact

__all__ = [
    "FINAL_STATES",
    "InDoubtAction",
    "LedgerEntry",
    "LedgerState",
    "RetryRecord",
    "may_commit",
    "may_send",
    "too_late_to_send",
]

LedgerState = Literal["committing", "sent", "retrying", "failed", "expired", "in_doubt"]
FINAL_STATES: frozenset[str] = frozenset({"committing", "sent", "failed", "expired", "in_doubt"})
#: What follows an email in doubt: nothing (``skip``), or another attempt (``resend``).
InDoubtAction = Literal["skip", "resend"]


class LedgerEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    state: LedgerState
    at: AwareDatetime
    attempt: int = 1
    detail: str | None = None
    #: What this entry adds to the counters (a final state's fact, see
    #: :func:`lifecycle.measurement.delivery_fact`); None for the others.
    facts: tuple[Fact, ...] | None = None

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> LedgerEntry:
        return cls.model_validate_json(raw)


class RetryRecord(BaseModel):
    """A message waiting on the retry topic for its next attempt."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message: OutboxMessage
    attempt: int
    not_before: AwareDatetime

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> RetryRecord:
        return cls.model_validate_json(raw)


def may_send(entry: LedgerEntry | None, *, attempt: int) -> bool:
    """May this attempt go ahead? Not after a final state, and not an older attempt
    (a redelivered outbox record) once a retry owns the message."""
    if entry is None:
        return True
    if entry.state in FINAL_STATES:
        return False
    return attempt > entry.attempt


def too_late_to_send(message: OutboxMessage, now: datetime, max_delay: timedelta | None) -> bool:
    """Was ``message`` decided so long ago that sending it now would be wrong?

    A first deployment reads the shop's retained history, and a worker that was down for
    days catches up: both replay decisions made for moments long past ("welcome!" a year
    after signing up). State still learns from them; the email is not sent.
    ``max_delay`` None sends whatever the delay.
    """
    return max_delay is not None and now - message.decided_at > max_delay


def may_commit(seen: LedgerEntry | None, current: LedgerEntry | None, *, attempt: int) -> bool:
    """May this attempt write the final dot? Only if nobody changed the ledger entry since
    the attempt checked it (``seen``) and the attempt is still allowed to send.

    Inside one worker, attempts of one message are serialised, so ``current`` differs
    from ``seen`` only through a bug or an attempt that got around the serialisation;
    either way the safe answer is to not send.
    """
    return current == seen and may_send(current, attempt=attempt)


def entry(state: LedgerState, at: datetime, attempt: int, detail: str | None = None) -> LedgerEntry:
    return LedgerEntry(state=state, at=at, attempt=attempt, detail=detail)
