"""Delivery on a real broker and a real SMTP server with records it cannot send, and with
a worker killed while the server holds its reply to the final dot (an email in doubt)."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.integration.test_delivery import ids, outbox_message, produce_outbox
from tests.support.worker_fixtures import WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def headers_of(record) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers}


async def test_a_poison_outbox_record_is_dead_lettered_with_its_reason_and_the_next_is_sent(
    worker_factory: WorkerFactory, kafka_kit, smtp_server
) -> None:
    env, worker = await worker_factory(smtp_port=smtp_server.port)
    crashing = outbox_message(1, to="john.@example.com")  # the email package refuses it
    good = [outbox_message(n) for n in range(2, 5)]
    await kafka_kit.produce(
        env.topic("outbox"),
        [
            ("c-1", b"[" * 100_000),  # nesting deeper than any decoder recurses
            ("c-1", b'{"message_id": ' + b"7" * 5000 + b"}"),
            (crashing.customer_id, crashing.to_json_bytes()),
            *[(m.customer_id, m.to_json_bytes()) for m in good],
        ],
    )
    await smtp_server.wait_for_messages(ids(good), within=60)
    dead = await kafka_kit.consume_until(env.topic("dead_letter"), lambda got: len(got) >= 3)
    by_kind = Counter(headers_of(r)["lifecycle.reason-kind"] for r in dead)
    assert by_kind == {"invalid_outbox": 2, "unbuildable": 1}
    [unbuildable] = [r for r in dead if headers_of(r)["lifecycle.reason-kind"] == "unbuildable"]
    reason = headers_of(unbuildable)["lifecycle.reason"]
    assert reason.startswith("cannot build the email: ")
    assert "john" not in reason
    assert unbuildable.value == crashing.to_json_bytes()
    assert await worker.metric("lifecycle_emails_dead_lettered_total", reason="unbuildable") == 1
    assert await worker.metric("lifecycle_events_dead_lettered_total", reason="invalid_outbox") == 2
    assert Counter(m.message_id for m in smtp_server.messages) == dict.fromkeys(ids(good), 1)
    assert "Crashed" not in worker.log_path.read_text()  # no agent restarted


@pytest.mark.parametrize("action", ["skip", "resend"])
async def test_a_worker_killed_before_the_servers_reply_leaves_an_email_in_doubt_reported(
    worker_factory: WorkerFactory, kafka_kit, smtp_server, action: str
) -> None:
    env, worker = await worker_factory(
        smtp_port=smtp_server.port, LIFECYCLE_IN_DOUBT_TRANSACTIONAL=action
    )
    held = outbox_message(1)
    smtp_server.hold_reply_to_dot()
    await produce_outbox(kafka_kit, env, [held])
    await smtp_server.wait_until(lambda: smtp_server.held_after_dot == 1, within=60)
    await worker.kill()  # the server has the email; the worker never heard its 250
    smtp_server.release_reply()
    await worker.start()
    await worker.wait_metric(
        "lifecycle_emails_in_doubt_total", lambda v: v == 1, category="transactional"
    )
    dead = await kafka_kit.consume_until(
        env.topic("dead_letter"),
        lambda got: any(headers_of(r)["lifecycle.reason-kind"] == "in_doubt" for r in got),
    )
    [report] = [r for r in dead if headers_of(r)["lifecycle.reason-kind"] == "in_doubt"]
    assert held.message_id in headers_of(report)["lifecycle.reason"]
    assert f"email {held.message_id} in doubt" in worker.log_path.read_text()
    later = outbox_message(2)  # delivery goes on
    await produce_outbox(kafka_kit, env, [later])
    await smtp_server.wait_for_messages({later.message_id}, within=60)
    copies = Counter(m.message_id for m in smtp_server.messages)[held.message_id]
    if action == "skip":
        assert copies == 1
        assert await worker.metric("lifecycle_emails_in_doubt_total", action="skip") == 1
    else:
        await smtp_server.wait_until(
            lambda: Counter(m.message_id for m in smtp_server.messages)[held.message_id] == 2,
            within=60,
        )
        assert await worker.metric("lifecycle_emails_sent_total") >= 2
