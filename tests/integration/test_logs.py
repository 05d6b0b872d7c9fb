"""A whole run's log in json format: every line one JSON object; no secret, no address."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.factories import event_dict
from tests.support.smtp_fixtures import SMTP_TEST_CREDENTIALS
from tests.support.worker_env import TEST_SECRET
from tests.support.worker_fixtures import WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

ADDRESS = "ada.lovelace@example.com"


async def test_a_json_log_has_one_object_per_line_and_no_secret_or_address(
    worker_factory: WorkerFactory, kafka_kit, smtp_server_factory, smtp_tls
) -> None:
    # STARTTLS with AUTH, so the SMTP password is in the worker's hands too.
    smtp_server = await smtp_server_factory("starttls")
    user, password = SMTP_TEST_CREDENTIALS
    env, worker = await worker_factory(
        smtp_port=smtp_server.port,
        LIFECYCLE_LOG_FORMAT="json",
        LIFECYCLE_LOG_LEVEL="debug",
        LIFECYCLE_CAMPAIGN__QUIET_HOURS="null",
        LIFECYCLE_SMTP_TLS="starttls",
        LIFECYCLE_SMTP_USERNAME=user,
        LIFECYCLE_SMTP_PASSWORD=password,
        LIFECYCLE_SMTP_CA_FILE=str(smtp_tls.ca_file),
    )
    signup = event_dict(
        "customer.signed_up",
        "c-log-1",
        datetime.now(UTC),
        email=ADDRESS,
        name="Ada",
        marketing_consent=True,
    )
    await kafka_kit.produce(env.topic("customers"), [(None, signup)])
    # A record the engine cannot use, straight onto its own topic: dead-lettered.
    await kafka_kit.produce(env.topic("customer_events"), [(b"c-log-2", b'{"not": "an event"')])
    await smtp_server.wait_for_messages(count=1, within=60)
    await worker.wait_metric("lifecycle_emails_sent_total", lambda v: v >= 1)
    await worker.stop()

    text = worker.log_path.read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) > 20
    entries = [json.loads(line) for line in lines]  # every line parses
    assert all({"ts", "level", "logger", "message"} <= entry.keys() for entry in entries)
    assert {e["logger"].split(".")[0] for e in entries} >= {"faust", "streams"}
    assert TEST_SECRET not in text
    assert password not in text
    assert ADDRESS not in text
    # At debug level the records themselves are logged: the address was there, masked.
    assert "a***@example.com" in text
