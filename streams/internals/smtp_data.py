"""SMTP's DATA in steps, so that something can happen between the body and the final dot.

Private names used (aiosmtplib 5.x): ``SMTPProtocol._command_lock`` (the lock every
command holds, so nothing can interleave) and ``SMTPProtocol._drain_helper`` (waits for
the transport's buffer to drain, respecting flow control). Public but internal:
``aiosmtplib.protocol.normalize_message_line_endings``, ``SMTPProtocol.write`` and
``read_response``.

Why: aiosmtplib's ``SMTP.data()`` (``SMTPProtocol.execute_data_command``) writes the body
and the terminating dot in one go, leaving no point at which the delivery ledger can
durably record "committing" while the server still holds the message back. This does the
same steps as ``execute_data_command``: DATA and its 354, the dot-stuffed body with CRLF
line ends, then the caller's hook, and only then ``.<CRLF>``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import aiosmtplib
from aiosmtplib.protocol import normalize_message_line_endings

__all__ = ["data_in_steps", "normalize_message_line_endings"]

# RFC 5321 4.5.2: a line of the body that starts with a dot gets one more dot.
_LEADING_DOT = re.compile(rb"(?m)^\.")


async def data_in_steps(
    client: aiosmtplib.SMTP,
    body: bytes,
    *,
    reply_timeout: float,
    before_dot: Callable[[], Awaitable[None]] | None,
    dot_written: Callable[[], None],
) -> aiosmtplib.SMTPResponse:
    """DATA, the body (CRLF line ends already), ``before_dot``, the dot; the final reply.

    If ``before_dot`` raises, the dot is not written and the exception propagates: the
    caller closes the connection, and a server whose client vanished mid-DATA throws the
    message away. ``dot_written`` is called the moment the dot has been handed to the
    transport, before its reply is read.
    """
    protocol = client.protocol
    lock = getattr(protocol, "_command_lock", None)
    if protocol is None or lock is None:
        raise aiosmtplib.SMTPServerDisconnected("Server not connected")
    async with lock:
        protocol.write(b"DATA\r\n")
        start = await protocol.read_response(timeout=reply_timeout)
        if start.code != 354:
            raise aiosmtplib.SMTPDataError(start.code, start.message)
        protocol.write(_LEADING_DOT.sub(b"..", body))
        # Hand the body to the kernel (respecting flow control) before the hook runs.
        await protocol._drain_helper()
        if before_dot is not None:
            await before_dot()
        protocol.write(b".\r\n")
        dot_written()
        return await protocol.read_response(timeout=reply_timeout)
