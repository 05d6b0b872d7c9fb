"""Send finished email bytes over SMTP: pooled aiosmtplib connections, TLS, AUTH, a rate limit.

One call, :meth:`SmtpSender.send`, runs one SMTP transaction and either returns an
:class:`SmtpReceipt` (the server took the message for every recipient) or raises:

- :class:`TransientSmtpError`: try again later (4xx replies, refused/reset
  connections, timeouts, a server that went away);
- :class:`PermanentSmtpError`: retrying the same thing will not help (5xx replies,
  rejected credentials, a certificate that does not verify);
- whatever ``before_commit`` raised, unchanged (the message was then not sent).

A transaction is all or nothing: if any recipient is refused, the envelope is reset
and nothing is sent to the others, so a retry can never duplicate mail for the
recipients that were accepted. ``stage`` on the error says where it failed;
``"connect"`` and ``"auth"`` mean the sender is misconfigured or the server is
unreachable, not that the message is bad.

Retries and backoff are the caller's (see :func:`lifecycle.mail.backoff.backoff_delay`);
``send`` only reconnects transparently when a pooled connection turns out to be dead
before the transaction started, which cannot send anything twice.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import aiosmtplib

from lifecycle.exceptions import LifecycleError
from lifecycle.mail import TokenBucket
from streams.failures import caused_by
from streams.internals import data_in_steps, normalize_message_line_endings
from streams.settings import SmtpSettings, TlsMode

__all__ = [
    "BeforeCommit",
    "PermanentSmtpError",
    "SmtpError",
    "SmtpReceipt",
    "SmtpSender",
    "SmtpSettings",
    "SmtpStage",
    "TlsMode",
    "TransientSmtpError",
]

log = logging.getLogger(__name__)

SmtpStage = Literal["connect", "auth", "mail", "rcpt", "data", "commit"]
BeforeCommit = Callable[[], Awaitable[None]]

# Network-level failures: no reply from the server to judge by.
_NETWORK_ERRORS = (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError)


@dataclass(frozen=True, slots=True)
class SmtpReceipt:
    """The server's final reply to a message it accepted."""

    code: int
    reply: str
    recipients: tuple[str, ...]


class SmtpError(LifecycleError):
    """A send that did not go through. ``code``/``reply`` are the server's, if it replied."""

    def __init__(
        self,
        message: str,
        *,
        stage: SmtpStage,
        code: int | None = None,
        reply: str = "",
        recipient: str | None = None,
    ) -> None:
        super().__init__(message)
        self.stage: SmtpStage = stage
        self.code = code
        self.reply = reply
        self.recipient = recipient

    @property
    def may_have_been_delivered(self) -> bool:
        """True when the final dot was written but no reply came back: outcome unknown."""
        return self.stage == "commit" and self.code is None


class TransientSmtpError(SmtpError):
    """Try again later: 4xx reply, connection refused or lost, timeout."""


class PermanentSmtpError(SmtpError):
    """Retrying the same send will not help: 5xx reply, rejected credentials, bad certificate."""


class _StaleConnection(Exception):
    """A reused pooled connection was found dead before the transaction began."""


@dataclass(slots=True)
class _Progress:
    """How far a transaction got, so a failure can be told apart from a refusal."""

    stage: SmtpStage = "mail"
    recipient: str | None = None
    hook_failed: bool = False


@dataclass(eq=False, slots=True)
class _Connection:
    client: aiosmtplib.SMTP
    last_used: float
    reused: bool = False
    usable: bool = True

    def discard(self) -> None:
        self.usable = False
        self.client.close()


class SmtpSender:
    """A pool of up to ``pool_size`` SMTP connections, opened lazily and reused.

    Use as ``async with SmtpSender(settings) as sender: await sender.send(...)``, or
    call :meth:`close` yourself. ``tls_context`` overrides how the server certificate
    is checked (default: the system trust store, or ``settings.ca_file``). ``clock``
    (monotonic seconds) and ``sleep`` are injectable so the rate limit can be tested
    without waiting.
    """

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        tls_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._settings = settings
        if tls_context is None and settings.tls_mode != "none":
            tls_context = ssl.create_default_context(cafile=settings.ca_file)
        self._tls_context = tls_context
        self._clock = clock
        self._sleep = sleep
        self._bucket = (
            TokenBucket(settings.max_per_second, settings.burst, clock())
            if settings.max_per_second is not None
            else None
        )
        self._slots = asyncio.Semaphore(settings.pool_size)
        self._idle: list[_Connection] = []  # a stack: the most recently used goes out first
        self._closed = False
        self.connections_opened = 0

    async def __aenter__(self) -> SmtpSender:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def send(
        self,
        envelope_from: str,
        recipients: Sequence[str],
        message_bytes: bytes,
        *,
        before_commit: BeforeCommit | None = None,
    ) -> SmtpReceipt:
        """Send ``message_bytes`` (a complete RFC 5322 message) to every one of ``recipients``.

        ``before_commit``, if given, is awaited exactly once, after the server accepted
        the envelope and the whole body was written, right before the final
        ``<CRLF>.<CRLF>`` that makes the server take the message. If it raises, the
        connection is dropped without that dot (the server discards the message) and
        the exception propagates unchanged.
        """
        recipients = tuple(recipients)
        if not recipients:
            raise ValueError("at least one recipient is needed")
        if self._closed:
            raise RuntimeError("SmtpSender is closed")
        async with self._slots:
            if self._closed:
                raise RuntimeError("SmtpSender is closed")
            await self._pace()
            connection = await self._checkout()
            try:
                try:
                    return await self._transaction(
                        connection, envelope_from, recipients, message_bytes, before_commit
                    )
                except _StaleConnection:
                    log.info("pooled SMTP connection was dead; reconnecting")
                    connection = await self._open()
                    return await self._transaction(
                        connection, envelope_from, recipients, message_bytes, before_commit
                    )
            finally:
                self._release(connection)

    async def close(self) -> None:
        """Wait for sends in flight, then QUIT every pooled connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        size = self._settings.pool_size
        for _ in range(size):
            await self._slots.acquire()
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self._quit(connection) for connection in idle))
        for _ in range(size):  # let anyone still queued in send() see the closed state
            self._slots.release()

    # -- pacing and the pool ---------------------------------------------------------

    async def _pace(self) -> None:
        if self._bucket is None:
            return
        delay = self._bucket.reserve(self._clock())
        if delay > 0:
            await self._sleep(delay)

    async def _checkout(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if not connection.client.is_connected:
                connection.discard()
                continue
            if self._clock() - connection.last_used >= self._settings.idle_check_after:
                # Servers drop idle clients (often after 60-300 s); find out now rather
                # than in the middle of a transaction.
                try:
                    await connection.client.noop(timeout=self._settings.timeout)
                except _NETWORK_ERRORS:
                    connection.discard()
                    continue
                except BaseException:  # cancelled mid-check: do not leak the connection
                    connection.discard()
                    raise
            connection.reused = True
            return connection
        return await self._open()

    async def _open(self) -> _Connection:
        settings = self._settings
        password = settings.password.get_secret_value() if settings.password else None
        client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.effective_port,
            username=settings.username,
            password=password if settings.username is not None else None,
            local_hostname=settings.local_hostname,
            timeout=settings.timeout,
            use_tls=settings.tls_mode == "tls",
            # "none" means never upgrade, even if offered: an explicit choice, not a guess.
            start_tls=settings.tls_mode == "starttls",
            tls_context=self._tls_context,
        )
        where = f"{settings.host}:{settings.effective_port}"
        try:
            await client.connect()
        except aiosmtplib.SMTPAuthenticationError as exc:
            client.close()
            error_type = TransientSmtpError if 400 <= exc.code < 500 else PermanentSmtpError
            raise error_type(
                f"SMTP authentication failed for user {settings.username!r} at {where}: "
                f"{exc.code} {exc.message}",
                stage="auth",
                code=exc.code,
                reply=exc.message,
            ) from exc
        except _NETWORK_ERRORS as exc:
            client.close()
            stage: SmtpStage = "auth" if _looks_like_auth_setup(exc) else "connect"
            raise _classify(exc, stage, context=f"connecting to {where}") from exc
        self.connections_opened += 1
        log.debug("opened SMTP connection to %s (tls=%s)", where, settings.tls_mode)
        return _Connection(client, last_used=self._clock())

    def _release(self, connection: _Connection) -> None:
        if connection.usable and connection.client.is_connected:
            connection.last_used = self._clock()
            self._idle.append(connection)
        else:
            connection.discard()

    async def _quit(self, connection: _Connection) -> None:
        try:
            await connection.client.quit(timeout=min(self._settings.timeout, 5.0))
        except _NETWORK_ERRORS:
            pass
        finally:
            connection.discard()

    # -- one transaction ---------------------------------------------------------------

    async def _transaction(
        self,
        connection: _Connection,
        envelope_from: str,
        recipients: tuple[str, ...],
        message_bytes: bytes,
        before_commit: BeforeCommit | None,
    ) -> SmtpReceipt:
        client = connection.client
        body = normalize_message_line_endings(message_bytes)
        progress = _Progress()
        try:
            options, encoding = _mail_options(client, envelope_from, recipients, body)
            await client.mail(envelope_from, options=options, encoding=encoding)
            progress.stage = "rcpt"
            for recipient in recipients:
                progress.recipient = recipient
                await client.rcpt(recipient, encoding=encoding)
            progress.recipient = None
            progress.stage = "data"
            reply = await self._data(client, body, before_commit, progress)
        except BaseException as exc:
            replacement = await self._failure(connection, progress, exc)
            if replacement is None:
                raise
            raise replacement from exc
        return SmtpReceipt(code=reply.code, reply=reply.message, recipients=recipients)

    async def _failure(
        self, connection: _Connection, progress: _Progress, exc: BaseException
    ) -> Exception | None:
        """What a failed transaction raises instead (None: the error itself), and
        whether its connection survives."""
        if progress.hook_failed or not isinstance(exc, Exception):
            # before_commit's own error, or a cancellation: pass it on untouched.
            connection.discard()
            return None
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            # The server answered; the connection is fine once the envelope is reset.
            await self._reset(connection)
            return _classify(exc, progress.stage, recipient=progress.recipient)
        connection.discard()
        if (
            isinstance(exc, aiosmtplib.SMTPServerDisconnected)
            and progress.stage == "mail"
            and connection.reused
        ):
            return _StaleConnection()
        if isinstance(exc, _NETWORK_ERRORS):
            return _classify(exc, progress.stage)
        return None  # a bug of ours; the connection state is unknown, so it was dropped

    async def _data(
        self,
        client: aiosmtplib.SMTP,
        body: bytes,
        before_commit: BeforeCommit | None,
        progress: _Progress,
    ) -> aiosmtplib.SMTPResponse:
        """DATA, the body, ``before_commit``, then the final dot: one step at a time.

        aiosmtplib writes the body and the dot in one go, so this goes through
        :func:`streams.internals.data_in_steps`, which holds the dot back until
        ``before_commit`` returned. If the worker dies before the dot, the server discards
        the message; after the dot, the ledger already says "committing". The window left
        for a lost email runs from the moment ``before_commit``'s record became durable
        (delivery awaits the broker's acknowledgement) until those three bytes reach the
        server. pyproject pins aiosmtplib to the 5.x line the private names were checked
        against (tests/unit/test_library_internals.py), and the integration tests run this
        against a real server.
        """

        async def hook() -> None:
            assert before_commit is not None
            try:
                await before_commit()
            except BaseException:
                # No dot: closing mid-DATA makes the server throw the message away.
                progress.hook_failed = True
                client.close()
                raise

        def dot_written() -> None:
            progress.stage = "commit"

        reply = await data_in_steps(
            client,
            body,
            reply_timeout=self._settings.timeout,
            before_dot=None if before_commit is None else hook,
            dot_written=dot_written,
        )
        if reply.code != 250:
            raise aiosmtplib.SMTPDataError(reply.code, reply.message)
        return reply

    async def _reset(self, connection: _Connection) -> None:
        if not connection.client.is_connected:
            connection.discard()
            return
        try:
            await connection.client.rset(timeout=self._settings.timeout)
        except _NETWORK_ERRORS:
            connection.discard()


def _mail_options(
    client: aiosmtplib.SMTP, envelope_from: str, recipients: tuple[str, ...], body: bytes
) -> tuple[list[str], str]:
    options: list[str] = []
    if client.supports_extension("size"):
        options.append(f"SIZE={len(body)}")
    if not body.isascii() and client.supports_extension("8bitmime"):
        options.append("BODY=8BITMIME")
    if all(address.isascii() for address in (envelope_from, *recipients)):
        return options, "ascii"
    if not client.supports_extension("smtputf8"):
        raise aiosmtplib.SMTPNotSupported("non-ASCII addresses need SMTPUTF8; server lacks it")
    options.append("SMTPUTF8")
    return options, "utf-8"


def _looks_like_auth_setup(exc: BaseException) -> bool:
    # aiosmtplib raises a bare SMTPException when AUTH is configured but not offered.
    return type(exc) is aiosmtplib.SMTPException and "AUTH" in str(exc)


def _classify(
    exc: BaseException,
    stage: SmtpStage,
    *,
    recipient: str | None = None,
    context: str = "",
) -> SmtpError:
    """Map an aiosmtplib/network failure to Transient or Permanent, keeping the reply."""
    where = f" ({context})" if context else ""
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 400:
        about = f" for recipient {recipient}" if recipient is not None else ""
        text = f"SMTP {stage} refused{about}{where}: {exc.code} {exc.message}"
        error_type = TransientSmtpError if exc.code < 500 else PermanentSmtpError
        return error_type(text, stage=stage, code=exc.code, reply=exc.message, recipient=recipient)
    if caused_by(exc, ssl.SSLCertVerificationError):
        return PermanentSmtpError(f"TLS certificate not trusted{where}: {exc}", stage=stage)
    if isinstance(exc, aiosmtplib.SMTPNotSupported) or type(exc) is aiosmtplib.SMTPException:
        # Configuration mismatch (no STARTTLS, no AUTH, no SMTPUTF8): not going to heal.
        return PermanentSmtpError(f"SMTP {stage} failed{where}: {exc}", stage=stage)
    return TransientSmtpError(
        f"SMTP {stage} failed{where}: {type(exc).__name__}: {exc}", stage=stage
    )
