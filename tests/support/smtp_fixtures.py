"""pytest fixtures for a real SMTP server on loopback (see ``smtp_server.py``).

Load with ``pytest_plugins = ["tests.support.smtp_fixtures"]`` in ``tests/conftest.py``.

- ``smtp_tls`` (session): a throwaway CA and a server certificate for localhost /
  127.0.0.1 / ::1, made by trustme at test time (nothing is committed), with ready
  server and client ``ssl.SSLContext``s and the CA as a PEM file.
- ``smtp_server_factory``: ``await factory("plain" | "starttls" | "tls", ...)`` starts
  a server in the test's event loop; every server it started is stopped afterwards.
- ``smtp_server``: a started plain server.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
import trustme

from tests.support.smtp_server import ServerMode, SmtpTestServer

__all__ = [
    "SMTP_TEST_CREDENTIALS",
    "SmtpServerFactory",
    "SmtpTls",
    "smtp_server",
    "smtp_server_factory",
    "smtp_tls",
]

# Test-only credentials for a server that lives for one test on loopback.
SMTP_TEST_CREDENTIALS = ("mailer", "s3cret-Pa55word")

SmtpServerFactory = Callable[..., Awaitable[SmtpTestServer]]


@dataclass(frozen=True)
class SmtpTls:
    server_context: ssl.SSLContext
    client_context: ssl.SSLContext
    ca_file: Path


@pytest.fixture(scope="session")
def smtp_tls(tmp_path_factory: pytest.TempPathFactory) -> SmtpTls:
    ca = trustme.CA()
    certificate = ca.issue_cert("localhost", "127.0.0.1", "::1")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_context)
    client_context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(client_context)
    ca_file = tmp_path_factory.mktemp("smtp-tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return SmtpTls(server_context, client_context, ca_file)


@pytest_asyncio.fixture
async def smtp_server_factory(smtp_tls: SmtpTls) -> AsyncIterator[SmtpServerFactory]:
    servers: list[SmtpTestServer] = []

    async def start(
        mode: ServerMode = "plain",
        *,
        credentials: tuple[str, str] | None = None,
        auth_mechanisms: Iterable[str] | None = None,
        port: int = 0,
    ) -> SmtpTestServer:
        if mode == "starttls" and credentials is None:
            credentials = SMTP_TEST_CREDENTIALS
        server = SmtpTestServer(
            mode=mode,
            tls_context=smtp_tls.server_context if mode != "plain" else None,
            credentials=credentials,
            auth_mechanisms=auth_mechanisms,
            port=port,
        )
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest_asyncio.fixture
async def smtp_server(smtp_server_factory: SmtpServerFactory) -> SmtpTestServer:
    return await smtp_server_factory("plain")
