"""Delivery on a real broker and a real SMTP server: counted by Message-ID at the server."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime

import aiohttp
import pytest

from lifecycle.outbox import OutboxMessage, derive_message_id
from tests.support.smtp_fixtures import SMTP_TEST_CREDENTIALS
from tests.support.worker_fixtures import WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def outbox_message(
    n: int, *, category: str = "transactional", to: str | None = None
) -> OutboxMessage:
    customer = f"c-{n}"
    return OutboxMessage(
        message_id=derive_message_id(customer, "receipt", 0, f"ev-{n}"),
        customer_id=customer,
        campaign_id="receipt",
        variant="default",
        step=0,
        category=category,  # type: ignore[arg-type]
        decided_at=datetime(2026, 11, 2, 12, tzinfo=UTC),
        to_address=to or f"customer{n}@shop.test",
        to_name="Åsa Öberg-Łukasiewicz",
        locale="sv-SE",
        subject=f"Tack för din beställning #{n} 🎉",
        text=f"Hej! Order {n}.",
        html=f"<p>Hej! Order {n}.</p>",
    )


async def produce_outbox(kafka_kit, env, messages: list[OutboxMessage]) -> None:
    await kafka_kit.produce(
        env.topic("outbox"), [(m.customer_id, m.to_json_bytes()) for m in messages]
    )


def ids(messages: list[OutboxMessage]) -> set[str]:
    return {m.message_id for m in messages}


async def test_a_redelivered_outbox_record_is_sent_once(
    worker_factory: WorkerFactory, kafka_kit, smtp_server
) -> None:
    env, worker = await worker_factory(smtp_port=smtp_server.port)
    messages = [outbox_message(n) for n in range(10)]
    await produce_outbox(kafka_kit, env, messages)
    await produce_outbox(kafka_kit, env, messages[:4])  # redelivered, e.g. a replay
    await smtp_server.wait_for_messages(ids(messages), within=60)
    await worker.wait_metric("lifecycle_emails_skipped_duplicate_total", lambda v: v >= 4)
    assert Counter(m.message_id for m in smtp_server.messages) == dict.fromkeys(ids(messages), 1)
    received = smtp_server.message(messages[0].message_id).message
    assert received["Subject"] == messages[0].subject  # RFC 2047 round trip
    assert "List-Unsubscribe" not in received  # transactional


async def test_smtp_down_then_up_delivers_everything_once(
    worker_factory: WorkerFactory, kafka_kit, smtp_server
) -> None:
    env, worker = await worker_factory(smtp_port=smtp_server.port)
    await smtp_server.stop()
    messages = [outbox_message(n) for n in range(15)]
    await produce_outbox(kafka_kit, env, messages)
    await worker.wait_metric("lifecycle_email_failures_total", lambda v: v >= len(messages))
    assert smtp_server.messages == []
    await smtp_server.start()
    await smtp_server.wait_for_messages(ids(messages), within=60)
    assert Counter(m.message_id for m in smtp_server.messages) == dict.fromkeys(ids(messages), 1)
    assert await worker.metric("lifecycle_emails_dead_lettered_total") == 0


async def test_a_permanent_refusal_is_dead_lettered_and_the_address_suppressed(
    worker_factory: WorkerFactory, kafka_kit, smtp_server
) -> None:
    env, worker = await worker_factory(smtp_port=smtp_server.port)
    smtp_server.refuse_recipient("gone@shop.test")
    messages = [outbox_message(n) for n in range(6)]
    refused = outbox_message(99, category="marketing", to="gone@shop.test")
    await produce_outbox(kafka_kit, env, [*messages[:3], refused, *messages[3:]])
    await smtp_server.wait_for_messages(ids(messages), within=60)
    dead = await kafka_kit.consume_until(env.topic("dead_letter"), lambda got: len(got) >= 1)
    headers = {k: v.decode() for k, v in dead[0].headers}
    assert headers["lifecycle.reason-kind"] == "smtp_permanent"
    assert "550" in headers["lifecycle.reason"]
    assert "User unknown" in headers["lifecycle.reason"]
    assert OutboxMessage.from_json_bytes(dead[0].value) == refused
    bounced = await kafka_kit.consume_until(
        env.topic("customer_events"), lambda got: any(b"email.bounced" in r.value for r in got)
    )
    bounce = next(json.loads(r.value) for r in bounced if b"email.bounced" in r.value)
    assert (bounce["customer_id"], bounce["email"]) == ("c-99", "gone@shop.test")
    await worker.wait_metric(
        "lifecycle_events_processed_total", lambda v: v >= 1, type="email.bounced"
    )
    assert await worker.metric("lifecycle_addresses_suppressed_total") == 1
    assert "gone@shop.test" not in {r for m in smtp_server.messages for r in m.rcpt_tos}


async def test_starttls_and_auth_work_and_wrong_credentials_fail_clearly(
    worker_factory: WorkerFactory, kafka_kit, smtp_server_factory, smtp_tls
) -> None:
    server = await smtp_server_factory("starttls")
    user, password = SMTP_TEST_CREDENTIALS
    secure = dict(
        LIFECYCLE_SMTP_TLS="starttls",
        LIFECYCLE_SMTP_USERNAME=user,
        LIFECYCLE_SMTP_CA_FILE=str(smtp_tls.ca_file),
    )
    env, worker = await worker_factory(
        smtp_port=server.port, LIFECYCLE_SMTP_PASSWORD=password, **secure
    )
    messages = [outbox_message(n) for n in range(3)]
    await produce_outbox(kafka_kit, env, messages)
    delivered = await server.wait_for_messages(ids(messages), within=60)
    assert all(m.tls and m.auth_user == user for m in delivered)
    await worker.stop()

    wrong = "not-the-password-4711"
    env = env.with_overrides(LIFECYCLE_SMTP_PASSWORD=wrong)
    _, worker = await worker_factory(smtp_port=server.port, env=env, name="wrong-password")
    later = [outbox_message(n) for n in range(10, 12)]
    await produce_outbox(kafka_kit, env, later)
    await worker.wait_metric(
        "lifecycle_email_failures_total", lambda v: v >= 2, kind="permanent_auth"
    )
    assert not ids(later) & {m.message_id for m in server.messages}
    log = worker.log_path.read_text()
    assert "SMTP setup problem (auth)" in log
    assert wrong not in log
    assert password not in log


async def test_marketing_mail_carries_one_click_unsubscribe_that_works(
    worker_factory: WorkerFactory, kafka_kit, smtp_server
) -> None:
    env, worker = await worker_factory(smtp_port=smtp_server.port)
    message = outbox_message(7, category="marketing")
    await produce_outbox(kafka_kit, env, [message])
    [received] = await smtp_server.wait_for_messages([message.message_id], within=60)
    headers = received.message
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.search(r"<(http[^>]+)>", headers["List-Unsubscribe"]).group(1)  # type: ignore[union-attr]
    assert url.startswith(worker.base_url + "/unsubscribe?token=")

    async with aiohttp.ClientSession() as http:
        async with http.get(url) as page:  # a mail scanner's GET changes nothing
            assert page.status == 200
            assert "<form" in await page.text()
        for bad in (
            url[:-3],
            url.replace("token=v1.", "token=v1.x"),
            url + "A",
            url.split("?")[0] + "?token=",
        ):
            async with http.post(bad) as refused:
                assert refused.status == 400
                assert "not valid" in await refused.text()
        async with http.post(url, data={"List-Unsubscribe": "One-Click"}) as done:
            assert done.status == 200
        async with http.post(url, data={"List-Unsubscribe": "One-Click"}) as again:
            assert again.status == 200

    consent = await kafka_kit.consume_until(env.topic("customers"), lambda got: len(got) >= 2)
    events = [json.loads(r.value) for r in consent]
    assert {(e["type"], e["customer_id"], e["marketing_consent"]) for e in events} == {
        ("consent.changed", "c-7", False)
    }
    assert len({e["event_id"] for e in events}) == 1  # the second click is a duplicate
    await worker.wait_metric(
        "lifecycle_events_processed_total", lambda v: v >= 1, type="consent.changed"
    )
    assert await worker.metric("lifecycle_events_duplicate_total") == 1
