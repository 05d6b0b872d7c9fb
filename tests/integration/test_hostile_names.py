"""Hostile customer names through the worker to a real SMTP server: no header injection.

Issue 10: on Python 3.11.7 a name holding RFC 2047 encoded words that decode to CR/LF
added a ``Reply-To`` header and body text to a real email. Here such names go in as
sign-ups on the shop topic and the test reads what the SMTP server received: exactly the
headers of a welcome email, one recipient, the names as literal text, the body intact.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from tests.factories import event_dict
from tests.support.email_headers import header_names, headers_of_marketing_mail
from tests.support.worker_fixtures import WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SHOP = {"LIFECYCLE_CAMPAIGN__QUIET_HOURS": "null", "LIFECYCLE_CAMPAIGN__SHOP__NAME": "Nordic Goods"}
EXPECTED_HEADERS = headers_of_marketing_mail(reply_to=False)
SMUGGLED = "\r\nReply-To: evil@attacker.example\r\nBcc: victim@attacker.example\r\n\r\ninjected"
# Names as a shop's sign-up form could deliver them: encoded words (q and b) that decode
# to CR/LF and headers, one that decodes to an address, and raw CR/LF.
NAMES = {
    "c-q": "=?utf-8?q?Eve=0D=0AReply-To:_evil@attacker.example=0D=0A=0D=0Ainjected?=",
    "c-b": "=?utf-8?b?" + base64.b64encode(("Eve" + SMUGGLED).encode()).decode() + "?=",
    "c-addr": "=?utf-8?b?" + base64.b64encode(b"evil@attacker.example").decode() + "?=",
    "c-raw": "Eve" + SMUGGLED,
}


def one_line(text: str) -> str:
    return " ".join(text.replace("\r", " ").replace("\n", " ").split())


async def test_hostile_names_cannot_add_headers_recipients_or_body(
    worker_factory: WorkerFactory, kafka_broker, smtp_server
) -> None:
    env, worker = await worker_factory(smtp_port=smtp_server.port, **SHOP)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
    await producer.start()
    try:
        for customer, name in NAMES.items():
            signup = event_dict(
                "customer.signed_up",
                customer,
                datetime.now(UTC),
                email=f"{customer}@example.com",
                name=name,
                locale="en",
                timezone="UTC",
                marketing_consent=True,
            )
            await producer.send_and_wait(env.topic("customers"), json.dumps(signup).encode())
    finally:
        await producer.stop()

    received = await smtp_server.wait_for_messages(count=len(NAMES), within=90)
    assert len(received) == len(NAMES)
    by_recipient = {r.rcpt_tos: r for r in received}
    assert set(by_recipient) == {(f"{c}@example.com",) for c in NAMES}
    for customer, name in NAMES.items():
        arrived = by_recipient[(f"{customer}@example.com",)]
        raw, email = arrived.raw, arrived.message
        assert header_names(raw) == EXPECTED_HEADERS, customer
        assert raw.split(b"\r\n\r\n", 1)[0].isascii()
        assert email.defects == []
        for header in ("Reply-To", "Bcc", "Cc", "X-Evil"):
            assert email[header] is None, (customer, header)
        (to,) = email["To"].addresses
        assert to.addr_spec == f"{customer}@example.com"
        shown = one_line(name)
        # The name arrives as the text that was given (control characters as spaces);
        # Python before gh-128110 shows a space between encoded words, nothing else.
        assert to.display_name.replace(" ", "") == shown.replace(" ", ""), customer
        assert "attacker" not in to.addr_spec
        first_name = shown.split()[0]
        assert email["Subject"] == f"Welcome to Nordic Goods, {first_name}!"
        text = email.get_body(("plain",)).get_content()
        assert text.startswith(f"Hi {first_name},")
        assert "\ninjected" not in text
        assert [p.get_content_type() for p in email.iter_parts()] == ["text/plain", "text/html"]
    assert await worker.metric("lifecycle_emails_sent_total", campaign="welcome") == len(NAMES)
