"""MailSink: what a real SMTP client sends ends up as .eml files, duplicates included."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest

from streams.delivery.smtp import SmtpSender, SmtpSettings, TransientSmtpError
from streams.dev.mail_sink import MailSink

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]


def message(message_id: str, subject: str = "Hej Åsa") -> bytes:
    return (
        f"From: shop@example.com\r\nTo: asa@example.se\r\nMessage-ID: {message_id}\r\n"
        f"Subject: {subject}\r\n\r\nHej!\r\n.dot line\r\n"
    ).encode()


def names_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def subject_of(path: Path) -> str:
    return str(email.message_from_bytes(path.read_bytes(), policy=policy.default)["Subject"])


def settings(sink: MailSink) -> SmtpSettings:
    return SmtpSettings(host=sink.host, port=sink.port, local_hostname="client.test", timeout=5)


async def test_stores_each_message_as_eml_named_by_message_id(tmp_path: Path) -> None:
    async with MailSink(tmp_path / "mail") as sink, SmtpSender(settings(sink)) as sender:
        await sender.send("shop@example.com", ["asa@example.se", "b@example.se"], message("<a1@x>"))
        await sender.send("shop@example.com", ["asa@example.se"], message("<b2@x>"))

    files = names_in(tmp_path / "mail")
    assert files == ["a1@x.eml", "b2@x.eml"]
    raw = (tmp_path / "mail" / "a1@x.eml").read_bytes()
    assert raw.startswith(
        b"Return-Path: <shop@example.com>\r\nDelivered-To: asa@example.se\r\n"
        b"Delivered-To: b@example.se\r\n"
    )
    assert raw.endswith(message("<a1@x>"))
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["Message-ID"] == "<a1@x>"
    assert sink.stored == [tmp_path / "mail" / "a1@x.eml", tmp_path / "mail" / "b2@x.eml"]


async def test_duplicate_message_ids_stay_visible(tmp_path: Path) -> None:
    async with MailSink(tmp_path) as sink, SmtpSender(settings(sink)) as sender:
        for subject in ("first", "second", "third"):
            await sender.send("s@example.com", ["r@example.com"], message("<dup@x>", subject))

    names = names_in(tmp_path)
    assert names == ["dup@x.eml", "dup@x~1.eml", "dup@x~2.eml"]
    assert [subject_of(tmp_path / name) for name in names] == ["first", "second", "third"]


@pytest.mark.parametrize(
    ("message_id", "expected"),
    [
        ("<../../etc/passwd@x>", "_.._etc_passwd@x.eml"),
        ("<a b/c\\d:e@x>", "a_b_c_d_e@x.eml"),
        ("<.hidden@x>", "hidden@x.eml"),
        ("<>", "no-message-id.eml"),
    ],
)
async def test_file_names_are_sanitised(tmp_path: Path, message_id: str, expected: str) -> None:
    target = tmp_path / "mail"
    async with MailSink(target) as sink, SmtpSender(settings(sink)) as sender:
        await sender.send("s@example.com", ["r@example.com"], message(message_id))
    assert names_in(target) == [expected]
    assert names_in(tmp_path) == ["mail"]  # nothing escaped the directory


async def test_stop_closes_the_port_and_start_again_on_the_same_port(tmp_path: Path) -> None:
    sink = MailSink(tmp_path)
    await sink.start()
    port = sink.port
    async with SmtpSender(settings(sink)) as sender:
        await sender.send("s@example.com", ["r@example.com"], message("<1@x>"))
        await sink.stop()
        with pytest.raises(TransientSmtpError):
            await sender.send("s@example.com", ["r@example.com"], message("<2@x>"))

        restarted = MailSink(tmp_path, port=port)
        await restarted.start()
        try:
            assert restarted.port == port
            await sender.send("s@example.com", ["r@example.com"], message("<3@x>"))
        finally:
            await restarted.stop()
    assert names_in(tmp_path) == ["1@x.eml", "3@x.eml"]
