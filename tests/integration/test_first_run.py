"""A first run on a fresh cluster: the shop's topics do not exist when the worker starts.

Nothing is pre-created here (``create_sources=False``; the names are this test's own), so
the first record ever produced to a shop topic is what the worker must pick up, on Apache
Kafka and a real SMTP server, within 30 s.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import aiohttp
import pytest

from tests.factories import event_dict
from tests.support.worker_fixtures import WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

NO_QUIET_HOURS = {"LIFECYCLE_CAMPAIGN__QUIET_HOURS": "null"}
SOURCES = ("customers", "orders", "logins", "support")


async def first_signup(kafka_kit, env, customer: str, email: str) -> None:
    signup = event_dict(
        "customer.signed_up",
        customer,
        datetime.now(UTC),
        email=email,
        name="Kim",
        marketing_consent=True,
        timezone="UTC",
    )
    await kafka_kit.produce(env.topic("customers"), [(customer, signup)])


async def ready_body(worker) -> dict:
    async with aiohttp.ClientSession() as http, http.get(f"{worker.base_url}/ready") as response:
        return json.loads(await response.text())


async def test_the_worker_creates_missing_shop_topics_and_the_first_record_is_mailed(
    worker_factory: WorkerFactory, kafka_kit, smtp_server
) -> None:
    env, worker = await worker_factory(
        smtp_port=smtp_server.port, create_sources=False, **NO_QUIET_HOURS
    )
    log = worker.log_path.read_text()
    assert "created the missing shop topics" in log
    assert all(env.topic(t) in log for t in SOURCES)
    assert (await ready_body(worker))["missing_topics"] == []

    await first_signup(kafka_kit, env, "c-first", "first@shop.test")
    [welcome] = await smtp_server.wait_for_messages(count=1, within=30)
    assert welcome.rcpt_tos == ("first@shop.test",)


async def test_with_creation_off_the_first_record_to_a_new_topic_is_mailed_within_seconds(
    worker_factory: WorkerFactory, kafka_kit, smtp_server
) -> None:
    """The worker creates nothing. This broker (like many) auto-creates a topic that a
    client asks metadata for, with its own defaults: so the topics appear moments after
    the worker subscribed, or with the shop's first produce. Either way the worker used to
    see them only at its next metadata refresh, 300 s later."""
    env, worker = await worker_factory(
        smtp_port=smtp_server.port,
        create_sources=False,
        LIFECYCLE_CREATE_SOURCE_TOPICS="false",
        **NO_QUIET_HOURS,
    )
    log = worker.log_path.read_text()
    assert "shop topics missing" in log
    assert all(env.topic(t) in log for t in SOURCES)
    assert "created the missing shop topics" not in log

    await first_signup(kafka_kit, env, "c-later", "later@shop.test")
    [welcome] = await smtp_server.wait_for_messages(count=1, within=30)
    assert welcome.rcpt_tos == ("later@shop.test",)
    body = await ready_body(worker)
    assert env.topic("customers") not in body["missing_topics"]
