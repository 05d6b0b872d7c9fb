"""A real SMTP server for tests (aiosmtpd on loopback), running in the test's event loop.

Modes:

- ``plain``: no TLS, no AUTH;
- ``starttls``: STARTTLS required before anything else, then AUTH (PLAIN or LOGIN)
  required before MAIL;
- ``tls``: implicit TLS from the first byte (like port 465); AUTH required when
  ``credentials`` are given.

It records every accepted message (:class:`ReceivedMessage`), counts connections and
keeps a transcript of the bytes each connection sent, and lets a test steer it:
refuse one recipient with 550, answer 451 to every transaction for a while, stop and
start again on the same port. Waiting is done on an ``asyncio.Condition`` with a
deadline, never by sleeping.
"""

from __future__ import annotations

import asyncio
import email
import ssl
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from functools import cached_property
from typing import Any, Literal, cast

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

__all__ = ["ReceivedMessage", "ServerMode", "SmtpTestServer"]

ServerMode = Literal["plain", "starttls", "tls"]


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the server accepted, as it arrived (after dot-unstuffing)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message_id: str | None
    connection: int  # 1-based number of the connection that delivered it
    tls: bool
    auth_user: str | None

    @cached_property
    def message(self) -> EmailMessage:
        """``raw`` parsed with ``email.policy.default`` (on first use: parsing is slow)."""
        return email.message_from_bytes(self.raw, policy=policy.default)


@dataclass
class _ConnectionState:
    number: int
    transcript: bytearray = field(default_factory=bytearray)
    open: bool = True
    data_commands: int = 0
    #: Between an accepted MAIL and the end of its DATA (or RSET): a transaction under way.
    in_transaction: bool = False


class _TestSMTP(SMTP):
    """aiosmtpd's SMTP, telling the owning server about connections, bytes and DATA."""

    def __init__(self, owner: SmtpTestServer, **kwargs: Any) -> None:
        super().__init__(owner._handler, **kwargs)
        self.owner = owner
        self.state: _ConnectionState | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None  # STARTTLS calls this again for the TLS transport
        super().connection_made(transport)
        if first:
            self.state = self.owner._opened(self)

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)
        if self.state is not None and self.state.open:
            self.owner._closed(self.state)

    def data_received(self, data: bytes) -> None:
        if self.state is not None:
            self.state.transcript.extend(data)
            self.owner._notify()
        super().data_received(data)

    async def smtp_DATA(self, arg: str) -> None:
        if self.state is not None:
            self.state.data_commands += 1
            self.owner._notify()
        await super().smtp_DATA(arg)


class _Handler:
    def __init__(self, owner: SmtpTestServer) -> None:
        self.owner = owner

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.owner.drops_at_mail > 0:
            self.owner.drops_at_mail -= 1
            assert server.transport is not None
            server.transport.close()
            await asyncio.Event().wait()  # cancelled by connection_lost; no reply is sent
        await self.owner._wait_at(self.owner._mail_gate, "held_at_mail")
        if self.owner.tempfail_reply is not None:
            return self.owner.tempfail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        self._transaction(server, under_way=True)
        return "250 OK"

    async def handle_RSET(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self._transaction(server, under_way=False)
        return "250 OK"

    def _transaction(self, server: SMTP, *, under_way: bool) -> None:
        state = cast(_TestSMTP, server).state
        if state is not None:
            state.in_transaction = under_way
            self.owner._notify()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.owner.tempfail_reply is not None:
            return self.owner.tempfail_reply
        refusal = self.owner.refused_recipients.get(address.lower())
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.owner.tempfail_reply is not None:
            return self.owner.tempfail_reply
        raw = envelope.original_content or b""
        # Only the header block, and as plain text: cheap enough for benchmarks.
        headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
        message_id = headers.get("Message-ID")
        transport = server.transport
        state = cast(_TestSMTP, server).state
        auth = session.auth_data
        received = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            raw=raw,
            message_id=" ".join(str(message_id).split()) if message_id is not None else None,
            connection=state.number if state is not None else 0,
            tls=transport is not None and transport.get_extra_info("ssl_object") is not None,
            auth_user=auth.login.decode() if isinstance(auth, LoginPassword) else None,
        )
        self.owner.messages.append(received)
        # The message is taken; the client just does not hear so yet.
        await self.owner._wait_at(self.owner._reply_gate, "held_after_dot")
        self._transaction(server, under_way=False)
        return "250 2.0.0 OK: queued"


class SmtpTestServer:
    """Start with ``await server.start()``; ``host``/``port`` are valid from then on."""

    def __init__(
        self,
        *,
        mode: ServerMode = "plain",
        tls_context: ssl.SSLContext | None = None,
        credentials: tuple[str, str] | None = None,
        auth_mechanisms: Iterable[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if mode != "plain" and tls_context is None:
            raise ValueError(f"mode {mode!r} needs a server tls_context")
        if mode == "starttls" and credentials is None:
            raise ValueError("mode 'starttls' requires AUTH, so it needs credentials")
        if mode == "plain" and credentials is not None:
            raise ValueError("AUTH over plain text is not offered; use starttls or tls")
        self.mode = mode
        self.host = host
        self.port = port
        self.credentials = credentials
        self._tls_context = tls_context
        self._auth_mechanisms = {m.upper() for m in auth_mechanisms or ("PLAIN", "LOGIN")}
        self._handler = _Handler(self)
        self._server: asyncio.AbstractServer | None = None
        self._protocols: set[_TestSMTP] = set()
        self._condition: asyncio.Condition | None = None
        self._wake_tasks: set[asyncio.Task[None]] = set()

        self.messages: list[ReceivedMessage] = []
        self.connections: list[_ConnectionState] = []
        self.auth_attempts: list[tuple[str, str, bool]] = []  # (mechanism, login, success)
        self.refused_recipients: dict[str, str] = {}
        self.tempfail_reply: str | None = None
        self.drops_at_mail = 0
        self.held_at_mail = 0
        self.most_open_at_once = 0
        self._mail_gate: asyncio.Event | None = None
        self.held_after_dot = 0
        self._reply_gate: asyncio.Event | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Listen (again) on ``port``; the first start picks a free port if it is 0."""
        if self._server is not None:
            raise RuntimeError("already running")
        loop = asyncio.get_running_loop()
        self._condition = self._condition or asyncio.Condition()
        self._server = await loop.create_server(
            lambda: self._make_protocol(loop),
            host=self.host,
            port=self.port,
            ssl=self._tls_context if self.mode == "tls" else None,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self, within: float = 5.0) -> None:
        """Stop listening and cut every open connection, as a crashing server would."""
        if self._server is None:
            return
        self._server.close()
        await self._server.wait_closed()
        self._server = None
        for protocol in list(self._protocols):
            if protocol.transport is not None:
                protocol.transport.close()
        await self.wait_until(lambda: self.open_connections == 0, within=within)

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    @property
    def running(self) -> bool:
        return self._server is not None

    # -- steering ----------------------------------------------------------------------

    def refuse_recipient(
        self, address: str, reply: str = "550 5.1.1 Recipient address rejected: User unknown"
    ) -> None:
        self.refused_recipients[address.lower()] = reply

    def set_tempfail(
        self, enabled: bool, reply: str = "451 4.3.0 Temporary local problem, try again later"
    ) -> None:
        """While enabled, MAIL, RCPT and the end of DATA are all answered with ``reply``."""
        self.tempfail_reply = reply if enabled else None

    def hold_at_mail(self) -> None:
        """Answer no MAIL command until :meth:`release_mail`; ``held_at_mail`` counts waiters.

        Once no transaction is under way (:attr:`transactions_under_way` is 0), every client
        is either idle or waiting here, before its next transaction's body: killing one then
        is a crash at a known point outside delivery's commit window.
        """
        self._mail_gate = asyncio.Event()

    def release_mail(self) -> None:
        if self._mail_gate is not None:
            self._mail_gate.set()
            self._mail_gate = None

    def hold_reply_to_dot(self) -> None:
        """Take every message at its final dot (it is in :attr:`messages`) but send no reply
        until :meth:`release_reply`; ``held_after_dot`` counts the clients waiting. A client
        killed then has its email delivered and its ledger at ``committing``: in doubt."""
        self._reply_gate = asyncio.Event()

    def release_reply(self) -> None:
        if self._reply_gate is not None:
            self._reply_gate.set()
            self._reply_gate = None

    def drop_at_mail(self, count: int = 1) -> None:
        """Cut the connection, without a reply, on the next ``count`` MAIL commands.

        That is what a client sees when the server timed out an idle connection just
        as the client started a new transaction on it.
        """
        self.drops_at_mail = count

    # -- observing ---------------------------------------------------------------------

    @property
    def connections_opened(self) -> int:
        return len(self.connections)

    @property
    def open_connections(self) -> int:
        return sum(1 for c in self.connections if c.open)

    @property
    def transactions_under_way(self) -> int:
        return sum(1 for c in self.connections if c.open and c.in_transaction)

    def message(self, message_id: str) -> ReceivedMessage:
        matches = [m for m in self.messages if m.message_id == message_id]
        if len(matches) != 1:
            raise AssertionError(f"{len(matches)} messages with id {message_id}")
        return matches[0]

    async def wait_until(
        self, predicate: Callable[[], bool], *, within: float = 5.0, what: str = ""
    ) -> None:
        """Return once ``predicate()`` holds; fail the test after ``within`` seconds."""
        assert self._condition is not None, "server was never started"
        try:
            async with asyncio.timeout(within), self._condition:
                await self._condition.wait_for(predicate)
        except TimeoutError:
            raise AssertionError(
                f"timed out after {within}s waiting for {what or predicate!r}; "
                f"{len(self.messages)} messages, {self.open_connections} open connections"
            ) from None

    async def wait_for_messages(
        self,
        message_ids: Iterable[str] | None = None,
        *,
        count: int | None = None,
        within: float = 5.0,
    ) -> list[ReceivedMessage]:
        """Wait until every id in ``message_ids`` (or ``count`` messages) has arrived."""
        wanted = set(message_ids or ())

        def arrived() -> bool:
            seen = {m.message_id for m in self.messages}
            return wanted <= seen and (count is None or len(self.messages) >= count)

        await self.wait_until(arrived, within=within, what=f"messages {wanted or count}")
        if not wanted:
            return list(self.messages)
        return [m for m in self.messages if m.message_id in wanted]

    def client_settings(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for ``streams.delivery.smtp.SmtpSettings`` that reach this server."""
        settings: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "tls_mode": {"plain": "none", "starttls": "starttls", "tls": "tls"}[self.mode],
            "local_hostname": "client.test",
        }
        if self.credentials is not None:
            settings["username"], settings["password"] = self.credentials
        settings.update(overrides)
        return settings

    # -- internals -----------------------------------------------------------------------

    def _make_protocol(self, loop: asyncio.AbstractEventLoop) -> _TestSMTP:
        auth_required = self.credentials is not None
        with warnings.catch_warnings():
            # aiosmtpd only counts STARTTLS as "TLS" for AUTH; with implicit TLS the
            # whole connection is encrypted, so its warning about AUTH without TLS is moot.
            warnings.simplefilter("ignore")
            return _TestSMTP(
                self,
                hostname="smtp.test",
                loop=loop,
                enable_SMTPUTF8=True,
                tls_context=self._tls_context if self.mode == "starttls" else None,
                require_starttls=self.mode == "starttls",
                auth_required=auth_required,
                auth_require_tls=self.mode != "tls",
                authenticator=self._authenticate if auth_required else None,
                auth_exclude_mechanism=[
                    m for m in ("PLAIN", "LOGIN") if m not in self._auth_mechanisms
                ],
            )

    def _authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        assert self.credentials is not None
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = self.credentials
        ok = auth_data.login == user.encode() and auth_data.password == password.encode()
        self.auth_attempts.append((mechanism, auth_data.login.decode(errors="replace"), ok))
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def _opened(self, protocol: _TestSMTP) -> _ConnectionState:
        self._protocols.add(protocol)
        state = _ConnectionState(number=len(self.connections) + 1)
        self.connections.append(state)
        self.most_open_at_once = max(self.most_open_at_once, self.open_connections)
        self._notify()
        return state

    def _closed(self, state: _ConnectionState) -> None:
        state.open = False
        self._protocols = {p for p in self._protocols if p.state is not state}
        self._notify()

    async def _wait_at(self, gate: asyncio.Event | None, counter: str) -> None:
        """Wait for ``gate`` (if set), counting the waiters in the attribute ``counter``."""
        if gate is None:
            return
        setattr(self, counter, getattr(self, counter) + 1)
        self._notify()
        try:
            await gate.wait()
        finally:
            setattr(self, counter, getattr(self, counter) - 1)

    def _notify(self) -> None:
        condition = self._condition
        if condition is None:
            return

        async def wake() -> None:
            async with condition:
                condition.notify_all()

        # Called from protocol callbacks, which cannot await; the waiters recheck
        # their predicate when woken, so waking them a moment later is fine.
        task = asyncio.get_running_loop().create_task(wake())
        self._wake_tasks.add(task)
        task.add_done_callback(self._wake_tasks.discard)
