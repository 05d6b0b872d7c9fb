"""SmtpSender against a real aiosmtpd server on loopback (tests/support/smtp_server.py)."""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio

from lifecycle.mail.mime import Mailbox, UnsubscribeLinks, build_email
from lifecycle.mail.outbox import OutboxMessage, derive_message_id
from streams.delivery.smtp import (
    PermanentSmtpError,
    SmtpSender,
    SmtpSettings,
    TransientSmtpError,
)
from tests.support.smtp_fixtures import SMTP_TEST_CREDENTIALS, SmtpServerFactory, SmtpTls
from tests.support.smtp_server import SmtpTestServer

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

NOW = datetime(2026, 11, 2, 13, 0, tzinfo=UTC)
FROM = "shop@example.com"
PASSWORD = SMTP_TEST_CREDENTIALS[1]


def outbox(n: int, **changes: Any) -> OutboxMessage:
    fields: dict[str, Any] = {
        "message_id": derive_message_id(f"c-{n}", "onboarding", 0, f"e-{n}"),
        "customer_id": f"c-{n}",
        "campaign_id": "onboarding",
        "variant": "a",
        "step": 0,
        "category": "transactional",
        "decided_at": NOW,
        "to_address": f"customer{n}@example.net",
        "to_name": "Åsa Öberg",
        "locale": "sv-SE",
        "subject": f"Välkommen #{n}",
        "text": "Hej!\n.a line that starts with a dot\n..and two\n.\n",
        "html": "<html><body><p>Hej!</p></body></html>",
    }
    fields.update(changes)
    return OutboxMessage(**fields)


def email_bytes(message: OutboxMessage) -> bytes:
    return build_email(
        message,
        sender=Mailbox(FROM, "Sklep"),
        now=NOW,
        unsubscribe=UnsubscribeLinks("https://shop.example.com/u/t0k3n", "u@shop.example.com"),
    )


async def send_one(sender: SmtpSender, n: int, **changes: Any) -> str:
    message = outbox(n, **changes)
    await sender.send(FROM, [message.to_address], email_bytes(message))
    return message.message_id


def settings_for(server: SmtpTestServer, **overrides: Any) -> SmtpSettings:
    return SmtpSettings(**server.client_settings(**{"timeout": 5.0, **overrides}))


@pytest_asyncio.fixture
async def plain(smtp_server: SmtpTestServer) -> AsyncIterator[tuple[SmtpTestServer, SmtpSender]]:
    async with SmtpSender(settings_for(smtp_server)) as sender:
        yield smtp_server, sender


# -- the plain path --------------------------------------------------------------------


async def test_plain_send_delivers_the_exact_bytes(
    plain: tuple[SmtpTestServer, SmtpSender],
) -> None:
    server, sender = plain
    message = outbox(1)
    raw = email_bytes(message)

    receipt = await sender.send(FROM, [message.to_address], raw)

    assert receipt.code == 250
    assert receipt.recipients == (message.to_address,)
    [received] = await server.wait_for_messages([message.message_id])
    # dot-stuffing on the wire, unstuffed by the server: the message is unchanged
    assert received.raw == raw
    assert received.mail_from == FROM
    assert received.rcpt_tos == (message.to_address,)
    assert not received.tls
    assert b"\r\n..a line that starts with a dot" in server.connections[0].transcript


async def test_non_ascii_headers_arrive_decoded(plain: tuple[SmtpTestServer, SmtpSender]) -> None:
    server, sender = plain
    cases = [
        ("Välkommen tillbaka, Åsa! 🎉", "Åsa Öberg"),
        ("Zażółć gęślą jaźń: łśżźćń", "Łukasz Świątek"),
        ("Tervetuloa, Jääskeläinen! Äiti", "Jääskeläinen Äijä"),
    ]
    for n, (subject, name) in enumerate(cases):
        await send_one(sender, n, subject=subject, to_name=name, category="marketing")

    received = await server.wait_for_messages(count=len(cases))
    for (subject, name), message in zip(cases, received, strict=True):
        assert message.message["Subject"] == subject
        assert message.message["To"].addresses[0].display_name == name
        assert message.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message.message["List-Unsubscribe"].startswith("<https://shop.example.com/u/t0k3n>")


# -- TLS and AUTH ----------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_starttls_with_auth(
    smtp_server_factory: SmtpServerFactory, smtp_tls: SmtpTls, mechanism: str
) -> None:
    server = await smtp_server_factory("starttls", auth_mechanisms=[mechanism])
    async with SmtpSender(settings_for(server), tls_context=smtp_tls.client_context) as sender:
        message_id = await send_one(sender, 1)

    received = server.message(message_id)
    assert received.tls
    assert received.auth_user == SMTP_TEST_CREDENTIALS[0]
    assert [(m, ok) for m, _, ok in server.auth_attempts] == [(mechanism, True)]


async def test_wrong_password_is_a_clear_permanent_error_without_the_password(
    smtp_server_factory: SmtpServerFactory,
    smtp_tls: SmtpTls,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await smtp_server_factory("starttls")
    wrong = "wrong-Pa55word-never-shown"
    settings = settings_for(server, password=wrong)
    caplog.set_level(logging.DEBUG)

    async with SmtpSender(settings, tls_context=smtp_tls.client_context) as sender:
        with pytest.raises(PermanentSmtpError) as caught:
            await send_one(sender, 1)

    error = caught.value
    assert error.stage == "auth"
    assert error.code == 535
    assert "authentication failed" in str(error).lower()
    assert SMTP_TEST_CREDENTIALS[0] in str(error)
    texts = [str(error), repr(error), repr(error.args), error.reply, repr(settings)]
    texts += [str(e) for e in (error.__cause__, error.__context__) if e is not None]
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("streams")]
    for secret in (wrong, base64.b64encode(wrong.encode()).decode()):
        assert not any(secret in text for text in texts + ours)
    assert server.messages == []
    assert server.auth_attempts
    assert not any(ok for _, _, ok in server.auth_attempts)


async def test_password_is_not_in_settings_repr_or_our_logs(
    smtp_server_factory: SmtpServerFactory,
    smtp_tls: SmtpTls,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await smtp_server_factory("starttls")
    settings = settings_for(server)
    caplog.set_level(logging.DEBUG)
    async with SmtpSender(settings, tls_context=smtp_tls.client_context) as sender:
        await send_one(sender, 1)

    assert PASSWORD not in repr(settings)
    assert PASSWORD not in str(settings.model_dump())
    assert any(r.name.startswith("streams") for r in caplog.records)
    assert not any(PASSWORD in r.getMessage() for r in caplog.records)


async def test_implicit_tls_with_auth_and_ca_file(
    smtp_server_factory: SmtpServerFactory, smtp_tls: SmtpTls
) -> None:
    server = await smtp_server_factory("tls", credentials=SMTP_TEST_CREDENTIALS)
    async with SmtpSender(settings_for(server, ca_file=str(smtp_tls.ca_file))) as sender:
        message_id = await send_one(sender, 1)

    received = server.message(message_id)
    assert received.tls
    assert received.auth_user == SMTP_TEST_CREDENTIALS[0]
    assert b"STARTTLS" not in server.connections[0].transcript


async def test_untrusted_certificate_is_permanent(smtp_server_factory: SmtpServerFactory) -> None:
    server = await smtp_server_factory("tls")
    untrusting = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)  # system CAs only
    async with SmtpSender(settings_for(server), tls_context=untrusting) as sender:
        with pytest.raises(PermanentSmtpError) as caught:
            await send_one(sender, 1)
    assert caught.value.stage == "connect"
    assert "certificate" in str(caught.value).lower()
    assert server.messages == []


async def test_starttls_server_refuses_plain_client(
    smtp_server_factory: SmtpServerFactory,
) -> None:
    server = await smtp_server_factory("starttls")
    async with SmtpSender(settings_for(server, tls_mode="none", username=None)) as sender:
        with pytest.raises(PermanentSmtpError) as caught:
            await send_one(sender, 1)
    assert caught.value.code == 530
    assert server.messages == []


# -- refusals ------------------------------------------------------------------------------


async def test_550_for_one_recipient_is_permanent_and_sends_to_nobody(
    plain: tuple[SmtpTestServer, SmtpSender],
) -> None:
    server, sender = plain
    server.refuse_recipient("gone@example.net", "550 5.1.1 <gone@example.net>: User unknown")
    message = outbox(1)

    with pytest.raises(PermanentSmtpError) as caught:
        await sender.send(FROM, ["fine@example.net", "gone@example.net"], email_bytes(message))

    error = caught.value
    assert (error.code, error.stage, error.recipient) == (550, "rcpt", "gone@example.net")
    assert error.reply == "5.1.1 <gone@example.net>: User unknown"
    assert "550" in str(error)
    assert "gone@example.net" in str(error)
    assert not error.may_have_been_delivered
    # all or nothing: the accepted recipient did not get it either
    assert b"RSET" in server.connections[0].transcript
    assert server.messages == []
    # the connection survived the refusal and is reused
    await send_one(sender, 2)
    assert server.connections_opened == 1
    assert len(server.messages) == 1


async def test_451_is_transient_and_retry_later_works(
    plain: tuple[SmtpTestServer, SmtpSender],
) -> None:
    server, sender = plain
    server.set_tempfail(True)
    with pytest.raises(TransientSmtpError) as caught:
        await send_one(sender, 1)
    assert (caught.value.code, caught.value.stage) == (451, "mail")
    assert "451" in str(caught.value)
    assert server.messages == []

    server.set_tempfail(False)
    message_id = await send_one(sender, 1)
    await server.wait_for_messages([message_id])


async def test_451_after_data_is_transient_with_a_known_outcome(
    plain: tuple[SmtpTestServer, SmtpSender],
) -> None:
    server, sender = plain

    async def tempfail_now() -> None:
        server.set_tempfail(True)

    message = outbox(1)
    with pytest.raises(TransientSmtpError) as caught:
        await sender.send(
            FROM, [message.to_address], email_bytes(message), before_commit=tempfail_now
        )
    assert (caught.value.code, caught.value.stage) == (451, "commit")
    assert not caught.value.may_have_been_delivered
    assert server.messages == []


async def test_server_down_is_transient_and_up_again_works(
    plain: tuple[SmtpTestServer, SmtpSender],
) -> None:
    server, sender = plain
    await send_one(sender, 1)
    port = server.port

    await server.stop()
    with pytest.raises(TransientSmtpError) as caught:
        await send_one(sender, 2)
    assert caught.value.stage == "connect"
    assert caught.value.code is None

    await server.start()
    assert server.port == port
    message_id = await send_one(sender, 3)
    await server.wait_for_messages([message_id])
    assert sender.connections_opened == 2


async def test_dead_pooled_connection_is_replaced_transparently(
    plain: tuple[SmtpTestServer, SmtpSender],
) -> None:
    server, sender = plain
    await send_one(sender, 1)
    await server.restart()  # cuts the pooled connection

    message_id = await send_one(sender, 2)  # no error: reconnects before anything was sent

    await server.wait_for_messages([message_id])
    assert server.connections_opened == 2


async def test_connection_cut_at_mail_on_a_reused_connection_is_retried_on_a_new_one(
    plain: tuple[SmtpTestServer, SmtpSender],
) -> None:
    server, sender = plain
    await send_one(sender, 1)
    server.drop_at_mail(1)

    message_id = await send_one(sender, 2)

    await server.wait_for_messages([message_id])
    assert server.connections_opened == 2
    assert [m.message_id for m in server.messages].count(message_id) == 1


async def test_connection_cut_on_a_fresh_connection_is_transient(
    plain: tuple[SmtpTestServer, SmtpSender],
) -> None:
    server, sender = plain
    server.drop_at_mail(1)
    with pytest.raises(TransientSmtpError) as caught:
        await send_one(sender, 1)
    assert (caught.value.stage, caught.value.code) == ("mail", None)
    assert server.connections_opened == 1  # no silent retry loop on fresh connections
    assert server.messages == []


async def test_server_that_never_answers_times_out_as_transient() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accept the connection, never greet
        writer.close()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        settings = SmtpSettings(host="127.0.0.1", port=port, timeout=0.3, local_hostname="c")
        async with SmtpSender(settings) as sender:
            with pytest.raises(TransientSmtpError) as caught:
                await send_one(sender, 1)
        assert caught.value.stage == "connect"
        assert "Timeout" in str(caught.value) or "timed out" in str(caught.value).lower()
    finally:
        listener.close()
        await listener.wait_closed()


# -- the pool -------------------------------------------------------------------------------


async def test_no_connection_until_the_first_send(smtp_server: SmtpTestServer) -> None:
    async with SmtpSender(settings_for(smtp_server)) as sender:
        await asyncio.sleep(0)
        assert smtp_server.connections_opened == 0
        await send_one(sender, 1)
        assert smtp_server.connections_opened == 1


async def test_sequential_sends_reuse_one_connection(
    plain: tuple[SmtpTestServer, SmtpSender],
) -> None:
    server, sender = plain
    for n in range(10):
        await send_one(sender, n)
    await server.wait_for_messages(count=10)
    assert server.connections_opened == 1
    assert {m.connection for m in server.messages} == {1}


async def test_concurrent_sends_use_at_most_pool_size_connections(
    smtp_server: SmtpTestServer,
) -> None:
    async with SmtpSender(settings_for(smtp_server, pool_size=3)) as sender:
        ids = await asyncio.gather(*(send_one(sender, n) for n in range(12)))
        await asyncio.gather(*(send_one(sender, n) for n in range(12, 24)))
        assert sender.connections_opened == smtp_server.connections_opened

    await smtp_server.wait_for_messages(ids, count=24)
    assert 1 < smtp_server.connections_opened <= 3


async def test_idle_connection_is_checked_with_noop_before_reuse(
    smtp_server: SmtpTestServer,
) -> None:
    async with SmtpSender(settings_for(smtp_server, idle_check_after=0.0)) as sender:
        await send_one(sender, 1)
        await send_one(sender, 2)
    transcript = smtp_server.connections[0].transcript
    assert transcript.count(b"NOOP\r\n") == 1
    assert transcript.index(b"NOOP\r\n") > transcript.index(b"\r\n.\r\n")


async def test_close_quits_every_pooled_connection(smtp_server: SmtpTestServer) -> None:
    sender = SmtpSender(settings_for(smtp_server, pool_size=2))
    await asyncio.gather(*(send_one(sender, n) for n in range(4)))
    assert smtp_server.open_connections >= 1

    await sender.close()

    await smtp_server.wait_until(lambda: smtp_server.open_connections == 0)
    assert all(c.transcript.endswith(b"QUIT\r\n") for c in smtp_server.connections)
    with pytest.raises(RuntimeError, match="closed"):
        await send_one(sender, 9)


# -- the rate limit (fake clock: counts, not wall-clock timing) ------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_rate_limit_spaces_sends_by_the_token_bucket(smtp_server: SmtpTestServer) -> None:
    clock = FakeClock()
    settings = settings_for(smtp_server, max_per_second=10.0, burst=2, idle_check_after=60.0)
    async with SmtpSender(settings, clock=clock, sleep=clock.sleep) as sender:
        for n in range(7):
            await send_one(sender, n)

    await smtp_server.wait_for_messages(count=7)
    assert clock.sleeps == pytest.approx([0.1] * 5)  # two free, then one per 1/rate
    elapsed = clock.now - 1000.0
    assert len(smtp_server.messages) <= 2 + 10.0 * elapsed + 1e-9


async def test_without_rate_limit_nothing_sleeps(plain: tuple[SmtpTestServer, SmtpSender]) -> None:
    server, _ = plain
    clock = FakeClock()
    async with SmtpSender(settings_for(server), clock=clock, sleep=clock.sleep) as sender:
        for n in range(5):
            await send_one(sender, n)
    assert clock.sleeps == []


# -- before_commit ----------------------------------------------------------------------------


async def test_before_commit_runs_once_after_the_body_and_before_the_final_dot(
    plain: tuple[SmtpTestServer, SmtpSender],
) -> None:
    server, sender = plain
    message = outbox(1)
    raw = email_bytes(message)
    seen: list[dict[str, object]] = []

    async def before_commit() -> None:
        connection = server.connections[0]
        # the whole (dot-stuffed) body reaches the server, but not the final dot
        await server.wait_until(lambda: connection.transcript.endswith(raw[-40:]))
        seen.append(
            {
                "data_commands": connection.data_commands,
                "messages": len(server.messages),
                "dot_sent": connection.transcript.endswith(b"\r\n.\r\n"),
            }
        )

    receipt = await sender.send(FROM, [message.to_address], raw, before_commit=before_commit)

    assert seen == [{"data_commands": 1, "messages": 0, "dot_sent": False}]
    assert receipt.code == 250
    assert server.message(message.message_id).raw == raw


async def test_before_commit_failure_leaves_no_message_and_reraises(
    plain: tuple[SmtpTestServer, SmtpSender],
) -> None:
    server, sender = plain
    message = outbox(1)
    failure = OSError("ledger unavailable")
    calls = 0

    async def before_commit() -> None:
        nonlocal calls
        calls += 1
        raise failure

    with pytest.raises(OSError, match="ledger unavailable") as caught:
        await sender.send(
            FROM, [message.to_address], email_bytes(message), before_commit=before_commit
        )

    assert caught.value is failure  # unchanged, not wrapped as an SMTP error
    assert calls == 1
    await server.wait_until(lambda: server.open_connections == 0, what="connection dropped")
    assert server.connections[0].data_commands == 1
    assert not server.connections[0].transcript.endswith(b"\r\n.\r\n")
    assert server.messages == []
    # the sender carries on with a fresh connection
    message_id = await send_one(sender, 2)
    await server.wait_for_messages([message_id])
    assert server.connections_opened == 2


async def test_cancelled_during_before_commit_leaves_no_message(
    plain: tuple[SmtpTestServer, SmtpSender],
) -> None:
    server, sender = plain
    message = outbox(1)
    entered = asyncio.Event()

    async def before_commit() -> None:
        entered.set()
        await asyncio.Event().wait()  # a ledger write that never finishes

    task = asyncio.create_task(
        sender.send(FROM, [message.to_address], email_bytes(message), before_commit=before_commit)
    )
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await server.wait_until(lambda: server.open_connections == 0, what="connection dropped")
    assert server.messages == []


async def test_server_gone_during_before_commit_is_transient_and_not_delivered(
    plain: tuple[SmtpTestServer, SmtpSender],
) -> None:
    server, sender = plain
    message = outbox(1)

    async def before_commit() -> None:
        await server.stop()

    with pytest.raises(TransientSmtpError) as caught:
        await sender.send(
            FROM, [message.to_address], email_bytes(message), before_commit=before_commit
        )
    assert caught.value.stage == "data"
    assert not caught.value.may_have_been_delivered
    assert server.messages == []
