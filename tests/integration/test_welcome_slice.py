"""The foundation slice: a sign-up on any Kafka client leads to one welcome email over SMTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from tests.factories import event_dict
from tests.support.worker_fixtures import WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

# Quiet hours would hold the email until morning in the customer's zone; not what this tests.
NO_QUIET_HOURS = {
    "LIFECYCLE_CAMPAIGN__QUIET_HOURS": "null",
    "LIFECYCLE_CAMPAIGN__SHOP__NAME": "Nordic Goods",
}


async def test_a_signup_with_consent_gets_one_welcome_email(
    worker_factory: WorkerFactory, kafka_broker, smtp_server
) -> None:
    env, worker = await worker_factory(smtp_port=smtp_server.port, **NO_QUIET_HOURS)
    signup = event_dict(
        "customer.signed_up",
        "cust-4711",
        datetime.now(UTC),
        email="ada@example.com",
        name="Ada Lovelace",
        locale="en-GB",
        timezone="Europe/London",
        marketing_consent=True,
    )
    no_consent = event_dict(
        "customer.signed_up",
        "cust-4712",
        datetime.now(UTC),
        email="bob@example.com",
        marketing_consent=False,
    )
    # A plain producer, keyed by something that is not the customer id, as shops do.
    producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(
            env.topic("customers"), json.dumps(signup).encode(), key=b"form-submission-991"
        )
        await producer.send_and_wait(
            env.topic("customers"), json.dumps(no_consent).encode(), key=b"form-submission-992"
        )
    finally:
        await producer.stop()

    [received] = await smtp_server.wait_for_messages(count=1, within=60)
    await worker.wait_metric(
        "lifecycle_campaign_decisions_total",
        lambda v: v >= 1,
        campaign="welcome",
        outcome="no_consent",
    )
    email = received.message
    assert received.rcpt_tos == ("ada@example.com",)
    assert email["Subject"] == "Welcome to Nordic Goods, Ada!"
    assert email["To"].addresses[0].display_name == "Ada Lovelace"
    assert email["From"].addresses[0].addr_spec == "hello@shop.test"
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = email.get_body(("plain",)).get_content()
    assert "Hi Ada," in text
    html = email.get_body(("html",)).get_content()
    assert "Ada" in html
    assert "Nordic Goods" in html
    assert len(smtp_server.messages) == 1
    assert await worker.metric("lifecycle_emails_sent_total", campaign="welcome") == 1
