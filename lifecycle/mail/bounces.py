"""Which permanent SMTP refusals mean "this mailbox does not exist or is disabled".

Only those suppress the address. A ``5xx`` can just as well be the relay's own problem
("554 5.7.1 Relay access denied", "550 5.7.1 Client host blocked", a content filter, a
policy or quota refusal): suppressing on those would, with one misconfigured relay,
suppress every customer. So:

* with an RFC 3463 enhanced status code (``class.subject.detail`` at the start of the
  reply text): suppress for ``5.1.x`` (addressing: bad mailbox, bad domain, moved, ...)
  and ``5.2.1`` (mailbox disabled, not accepting messages); nothing else;
* without one: suppress for the RFC 5321 mailbox replies ``550`` (mailbox unavailable),
  ``551`` (user not local) and ``553`` (mailbox name not allowed); nothing else.

Everything else that is permanent is dead-lettered with the server's reply, and the
address stays.

When a bounce happened (:func:`bounce_time`) is a time on the engine's clock, the event
time, because the engine applies the bounce like any event: everything due for the
customer up to that time runs first. Live, the wall clock at the attempt is event time,
so a bounce is dated by it. When time comes from the records instead (ticks written by
whoever drives the worker: a simulation, a backfill), the wall clock can be months away
from the customer's time; a bounce dated by it would run the customer's future at once.
There the only event time the attempt knows is its message's decision time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

__all__ = ["EnhancedStatus", "bounce_time", "enhanced_status", "is_mailbox_failure"]

# RFC 3463: class "." subject "." detail; class 2, 4 or 5, subject up to 3 digits, detail
# up to 3 digits. It leads the text of a reply line (after the basic code, which the SMTP
# client has already split off; accepted here too).
_ENHANCED = re.compile(r"^\s*(?:[245]\d\d[ -]\s*)?([245])\.(\d{1,3})\.(\d{1,3})(?!\S)")
_MAILBOX_BASIC_CODES = frozenset({550, 551, 553})


@dataclass(frozen=True, slots=True)
class EnhancedStatus:
    klass: int
    subject: int
    detail: int


def enhanced_status(reply: str) -> EnhancedStatus | None:
    """The enhanced status code at the start of ``reply``'s first line, if any."""
    first_line = reply.splitlines()[0] if reply else ""
    match = _ENHANCED.match(first_line)
    if match is None:
        return None
    klass, subject, detail = (int(part) for part in match.groups())
    return EnhancedStatus(klass, subject, detail)


def is_mailbox_failure(code: int | None, reply: str) -> bool:
    """Does this RCPT refusal say the recipient's mailbox is permanently unusable?"""
    if code is None or not 500 <= code < 600:
        return False
    status = enhanced_status(reply)
    if status is not None:
        if status.klass != 5:
            return False  # a contradictory reply is not proof of a dead mailbox
        return status.subject == 1 or (status.subject, status.detail) == (2, 1)
    return code in _MAILBOX_BASIC_CODES


def bounce_time(decided_at: datetime, attempted_at: datetime | None) -> datetime:
    """The event time of a hard bounce of the message decided at ``decided_at``.

    ``attempted_at``: when the refused attempt was made, if the worker's clock is the event
    clock (live: the wall clock); None when time comes from the records (external ticks),
    where the decision time is the latest event time the attempt knows. Never before the
    decision: a clock behind the shop's does not date a bounce before its message.
    """
    if attempted_at is None:
        return decided_at
    return max(decided_at, attempted_at)
