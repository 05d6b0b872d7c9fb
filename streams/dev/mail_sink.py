"""An SMTP sink for the demo: accepts every message and stores it as a ``.eml`` file.

It runs in aiosmtpd's own :class:`~aiosmtpd.controller.Controller` (a server loop on a
thread of its own), so ``lifecycle demo`` needs no separate mail catcher; the handlers
below run on that thread. :meth:`MailSink.stop` waits for that thread ``within`` seconds
at most (2 s by default).

Files are named after the Message-ID, made safe for a file name; a message whose
Message-ID was already stored gets ``~1``, ``~2``... appended, so duplicate sends stay
visible instead of overwriting each other. Each file is the message exactly as
received, preceded by ``Return-Path`` and one ``Delivered-To`` per envelope recipient,
as a final delivery agent would write it. A file appears atomically (written under a
temporary name, then hard-linked into place), so a reader never sees half a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import threading
import uuid
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from streams.dev.brokers import free_loopback_ports

__all__ = ["MailSink"]

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=-]+")
_MAX_STEM = 150


class MailSink:
    """``async with MailSink(directory) as sink:`` listens on ``sink.host:sink.port``.

    ``port=0`` picks a free port (read it from ``sink.port`` after start).
    Recipients in ``closed`` (add with :meth:`close_mailbox`) are refused at RCPT with a
    550 5.1.1, like a mailbox that does not exist, so the demo can show hard-bounce
    suppression; ``refused`` lists each refused recipient in order.
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        #: Lower-case addresses; read on the server's thread (a set lookup: no lock needed).
        self.closed: set[str] = set()
        self.refused: list[str] = []
        self.directory = Path(directory)
        self.host = host
        self.port = port
        self.stored: list[Path] = []
        self._controller: Controller | None = None

    async def __aenter__(self) -> MailSink:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._controller is not None:
            raise RuntimeError("mail sink already running")
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.port == 0:
            # The controller checks its server by connecting to the port it was given.
            [self.port] = free_loopback_ports(1)
        controller = Controller(
            self,
            hostname=self.host,
            port=self.port,
            # given, so aiosmtpd does not resolve our FQDN per connection
            server_hostname="lifecycle-mail-sink",
            enable_SMTPUTF8=True,
        )
        await asyncio.to_thread(controller.start)
        self._controller = controller
        log.info(
            "mail sink listening on %s:%d, storing in %s", self.host, self.port, self.directory
        )

    async def stop(self, *, within: float = 2.0) -> None:
        """Stop the server and join its thread, waiting ``within`` seconds at most.

        aiosmtpd joins its thread without a timeout. The join runs on a daemon thread of
        its own, not the loop's executor (whose shutdown would wait for it); if it is not
        done in time, a warning says so and the server's thread, a daemon, is left to end
        with the process."""
        controller, self._controller = self._controller, None
        if controller is None:
            return
        loop = asyncio.get_running_loop()
        stopped: asyncio.Future[None] = loop.create_future()

        def stop_and_report() -> None:
            try:
                controller.stop()
            except Exception as exc:  # a failed stop must not end the caller's shutdown
                log.warning("mail sink: stopping its server failed: %r", exc)
            finally:
                # The loop may be gone when a join that overran its wait ends at last.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_resolve, stopped)

        threading.Thread(target=stop_and_report, name="mail-sink-stop", daemon=True).start()
        try:
            await asyncio.wait_for(asyncio.shield(stopped), within)
        except TimeoutError:
            log.warning("mail sink not stopped within %.0f s; left to end with the process", within)

    def close_mailbox(self, address: str) -> None:
        """From now on refuse mail to ``address`` (550 5.1.1: a hard bounce)."""
        self.closed.add(address.lower())

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.closed:
            self.refused.append(address)
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        trace = _trace_headers(envelope)
        path = await asyncio.to_thread(self._store, trace + raw)
        self.stored.append(path)
        log.info("mail sink stored %s", path.name)
        return "250 2.0.0 OK: stored"

    def _store(self, content: bytes) -> Path:
        stem = _file_stem(content)
        temporary = self.directory / f".{uuid.uuid4().hex}.tmp"
        temporary.write_bytes(content)
        try:
            suffix = 0
            while True:
                name = f"{stem}.eml" if suffix == 0 else f"{stem}~{suffix}.eml"
                target = self.directory / name
                try:
                    # link() fails if the name exists: no race between two equal ids.
                    os.link(temporary, target)
                except FileExistsError:
                    suffix += 1
                    continue
                return target
        finally:
            temporary.unlink()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _file_stem(content: bytes) -> str:
    # compat32 hands back the raw header text; the structured parser of the default
    # policy raises on some malformed Message-IDs, and a sink must take anything.
    headers = BytesHeaderParser(policy=compat32).parsebytes(content)
    message_id = " ".join(str(headers.get("Message-ID", "")).split()).strip("<>")
    stem = _UNSAFE.sub("_", message_id).lstrip(".")[:_MAX_STEM]
    return stem or "no-message-id"


def _trace_headers(envelope: Envelope) -> bytes:
    lines = [f"Return-Path: <{envelope.mail_from or ''}>"]
    lines += [f"Delivered-To: {recipient}" for recipient in envelope.rcpt_tos]
    # Envelope addresses come from single SMTP command lines: they hold no CR/LF.
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")
