"""An SMTP sink that notes when it accepted each message, and keeps nothing else.

:class:`AcceptanceSink` is the demo's :class:`~streams.dev.mail_sink.MailSink` (aiosmtpd on
a thread of its own) with a ``DATA`` handler that parses only the header block and
appends one :class:`Accepted` (wall-clock time of acceptance, Message-ID, envelope
recipients) instead of writing a file: the latency section measures the worker, not a
disk. The time is taken just before the ``250`` reply is returned, so it is the moment
the message was accepted as far as the sender can tell, less the reply's trip back.

Both the benchmark's producer and this handler read ``time.time()`` in one process, so
produce and acceptance times are on one clock. ``accepted`` is appended to on the sink's
thread and read on the benchmark's; a list append is atomic under the GIL, and readers
take a copy (``list(sink.accepted)``).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

from streams.dev.mail_sink import MailSink

__all__ = ["Accepted", "AcceptanceSink", "duplicates"]


@dataclass(frozen=True)
class Accepted:
    at: float  # time.time() when DATA was accepted
    message_id: str
    recipients: tuple[str, ...]


class AcceptanceSink(MailSink):
    """``async with AcceptanceSink(directory) as sink:``; read ``sink.accepted``."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.accepted: list[Accepted] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        head = raw.split(b"\r\n\r\n", 1)[0]
        headers = BytesHeaderParser(policy=compat32).parsebytes(head, headersonly=True)
        message_id = " ".join(str(headers.get("Message-ID", "")).split())
        recipients = tuple(str(r).lower() for r in envelope.rcpt_tos)
        self.accepted.append(Accepted(time.time(), message_id, recipients))
        return "250 2.0.0 OK: accepted"


def duplicates(accepted: list[Accepted]) -> int:
    """Messages accepted beyond the first of their Message-ID."""
    return sum(n - 1 for n in Counter(a.message_id for a in accepted).values())
