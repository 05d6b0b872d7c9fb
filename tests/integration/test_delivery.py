"""Delivery on a real broker and a real SMTP server: counted by Message-ID at the server."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import signal
from collections import Counter
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from lifecycle.mail.ledger import RetryRecord
from lifecycle.mail.outbox import OutboxMessage, derive_message_id
from lifecycle.mail.unsubscribe import make_token, make_v1_token
from streams.agents.ticker import TICK_KEY
from tests.factories import event_dict
from tests.support.kafka_helpers import create_topics
from tests.support.smtp_fixtures import SMTP_TEST_CREDENTIALS
from tests.support.worker_env import TEST_SECRET
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
        decided_at=datetime.now(UTC),
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


# Campaign runs in these tests: no quiet hours and no frequency caps, so that the decision
# for a later marketing email is about the customer's state, not about the clock.
JOURNEYS = {
    "LIFECYCLE_CAMPAIGN__QUIET_HOURS": "null",
    "LIFECYCLE_CAMPAIGN__CAPS": '{"marketing": [], "transactional": []}',
}


async def sign_up(kafka_kit, env, customer: str, email: str, *, at: datetime | None = None) -> None:
    signup = event_dict(
        "customer.signed_up",
        customer,
        at or datetime.now(UTC),
        email=email,
        name="Kim",
        marketing_consent=True,
        timezone="UTC",
    )
    await kafka_kit.produce(env.topic("customers"), [(customer, signup)])


async def order_into_a_spend_tier(kafka_kit, env, customer: str) -> None:
    """A small first order, then one that crosses a spend tier: the tier-up campaign
    (marketing) wants to send; the first order's thank-you (transactional) came before."""
    now = datetime.now(UTC)
    orders = [
        event_dict("order.placed", customer, now, total="40"),
        event_dict("order.placed", customer, now + timedelta(seconds=1), total="2000"),
    ]
    await kafka_kit.produce(env.topic("customers"), [(customer, o) for o in orders])


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


async def test_one_worker_sends_to_several_customers_at_once_each_email_once(
    worker_factory: WorkerFactory, kafka_kit, smtp_server
) -> None:
    """The outbox agent has as many messages in flight as the pool has connections (4).

    The records are on the topic before the worker starts, so its first batch can hold
    four customers. The bound is on connections open at once, not on connections ever
    opened: a batch that reaches the worker with fewer than four customers is held at
    MAIL past the SMTP timeout (5 s here), and its retry rightly opens a new connection."""
    env, worker = await worker_factory(smtp_port=smtp_server.port, start=False)
    await create_topics(
        kafka_kit.bootstrap_servers, {env.topic("outbox"): int(env.values["LIFECYCLE_PARTITIONS"])}
    )
    smtp_server.hold_at_mail()
    messages = [outbox_message(n) for n in range(8)]
    try:
        await produce_outbox(kafka_kit, env, messages)
        await worker.start()
        await smtp_server.wait_until(
            lambda: smtp_server.held_at_mail == 4, within=60, what="4 transactions at once"
        )
    finally:
        smtp_server.release_mail()
    await smtp_server.wait_for_messages(ids(messages), within=60)
    assert Counter(m.message_id for m in smtp_server.messages) == dict.fromkeys(ids(messages), 1)
    assert smtp_server.most_open_at_once == 4
    await worker.wait_metric("lifecycle_emails_sent_total", lambda v: v == len(messages))


async def test_a_worker_stopped_mid_batch_sends_the_rest_of_the_batch_after_its_restart(
    worker_factory: WorkerFactory, kafka_kit, smtp_server
) -> None:
    """SIGTERM while four emails of a batch wait at MAIL and the rest of it waits for a
    connection: the stop must not commit past the records it never handled (with Faust
    0.15.3 this holds without streams.internals.batch_acks too: its last commit comes
    before the batch's acks; the guard is for an order Faust does not promise)."""
    env, worker = await worker_factory(smtp_port=smtp_server.port)
    smtp_server.hold_at_mail()
    messages = [outbox_message(100 + n) for n in range(12)]
    try:
        await produce_outbox(kafka_kit, env, messages)
        await smtp_server.wait_until(lambda: smtp_server.held_at_mail == 4, within=60)
        stopped_with = await worker.stop()
    finally:
        smtp_server.release_mail()
    assert stopped_with != -signal.SIGKILL  # a shutdown, not the kill after its timeout
    assert smtp_server.messages == []  # the held ones never got past MAIL
    await worker.start()
    await smtp_server.wait_for_messages(ids(messages), within=60)
    assert Counter(m.message_id for m in smtp_server.messages) == dict.fromkeys(ids(messages), 1)


async def test_smtp_down_then_up_delivers_everything_once(
    worker_factory: WorkerFactory, kafka_kit, smtp_server
) -> None:
    env, worker = await worker_factory(smtp_port=smtp_server.port)
    await smtp_server.stop()
    messages = [outbox_message(n) for n in range(15)]
    await produce_outbox(kafka_kit, env, messages)

    # Down across at least two failed attempts of every message: each has a retry record
    # for its third attempt (records put back unchanged while they wait are copies).
    def third_attempt_due(records) -> bool:
        # The ticker's pruning ticks share the topic (streams/agents/delivery.py).
        waiting = [RetryRecord.from_bytes(r.value) for r in records if r.key != TICK_KEY]
        return ids(messages) <= {r.message.message_id for r in waiting if r.attempt >= 3}

    await kafka_kit.consume_until(env.topic("outbox_retry"), third_attempt_due, within=60)
    assert smtp_server.messages == []
    assert await worker.metric("lifecycle_email_failures_total") >= 2 * len(messages)
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
    assert await worker.metric("lifecycle_emails_dead_lettered_total", reason="hard_bounce") == 1
    assert "gone@shop.test" not in {r for m in smtp_server.messages for r in m.rcpt_tos}


async def test_a_hard_bounce_suppresses_later_marketing_and_a_relay_refusal_does_not(
    worker_factory: WorkerFactory, kafka_kit, smtp_server
) -> None:
    env, worker = await worker_factory(smtp_port=smtp_server.port, **JOURNEYS)
    smtp_server.refuse_recipient("gone@shop.test")  # 550 5.1.1 ... User unknown
    smtp_server.refuse_recipient("kim@shop.test", "554 5.7.1 <kim@shop.test>: Relay access denied")
    # Each sign-up's welcome email (marketing) is refused at RCPT.
    await sign_up(kafka_kit, env, "c-gone", "gone@shop.test")
    await sign_up(kafka_kit, env, "c-relay", "kim@shop.test")
    await worker.wait_metric(
        "lifecycle_emails_dead_lettered_total", lambda v: v >= 1, reason="hard_bounce"
    )
    await worker.wait_metric(
        "lifecycle_emails_dead_lettered_total", lambda v: v >= 1, reason="smtp_permanent"
    )
    await worker.wait_metric(
        "lifecycle_events_processed_total", lambda v: v >= 1, type="email.bounced"
    )
    assert await worker.metric("lifecycle_addresses_suppressed_total") == 1
    dead = await kafka_kit.consume_until(env.topic("dead_letter"), lambda got: len(got) >= 2)
    reasons = {
        OutboxMessage.from_json_bytes(r.value).customer_id: dict(r.headers)["lifecycle.reason"]
        for r in dead
    }
    assert "5.1.1" in reasons["c-gone"].decode()
    assert "554 at rcpt: 5.7.1" in reasons["c-relay"].decode()
    events = await kafka_kit.read_topic(env.topic("customer_events"))
    bounces = [json.loads(r.value) for r in events if b'"email.bounced"' in r.value]
    assert [b["customer_id"] for b in bounces] == ["c-gone"]

    # The state says "suppressed" for c-gone only: the next marketing email (tier-up)
    # is skipped as suppressed for c-gone and decided ("send") for c-relay.
    await order_into_a_spend_tier(kafka_kit, env, "c-gone")
    await order_into_a_spend_tier(kafka_kit, env, "c-relay")
    await worker.wait_metric(
        "lifecycle_campaign_decisions_total",
        lambda v: v >= 1,
        campaign="tier-up",
        outcome="suppressed",
    )
    await worker.wait_metric(
        "lifecycle_campaign_decisions_total", lambda v: v >= 1, campaign="tier-up", outcome="send"
    )
    accepted = {r for m in smtp_server.messages for r in m.rcpt_tos}
    assert not accepted & {"gone@shop.test", "kim@shop.test"}


async def test_old_history_builds_state_but_its_emails_expire_unsent(
    worker_factory: WorkerFactory, kafka_kit, smtp_server
) -> None:
    """A first deployment on a bus with history: a sign-up from ten days ago is learned
    from, but its three welcome emails (decided ten to seven days ago) are not sent, and
    not even published: the engine counts them expired itself."""
    env, worker = await worker_factory(
        smtp_port=smtp_server.port, LIFECYCLE_MAX_SEND_DELAY_HOURS="48", **JOURNEYS
    )
    await sign_up(
        kafka_kit, env, "c-old", "old@shop.test", at=datetime.now(UTC) - timedelta(days=10)
    )
    await sign_up(kafka_kit, env, "c-new", "new@shop.test")

    [welcome] = await smtp_server.wait_for_messages(count=1, within=60)
    assert welcome.rcpt_tos == ("new@shop.test",)
    await worker.wait_metric(
        "lifecycle_emails_expired_at_decision_total",
        lambda v: v >= 3,
        campaign="welcome",
        within=60,
    )
    assert await worker.metric("lifecycle_campaign_decisions_total", outcome="send") == 4
    assert await worker.metric("lifecycle_emails_sent_total") == 1
    assert [m.rcpt_tos for m in smtp_server.messages] == [("new@shop.test",)]
    outbox = await kafka_kit.read_topic(env.topic("outbox"))
    assert [r.key for r in outbox] == [b"c-new"]


async def sent_with_a_short_ledger_life(worker_factory: WorkerFactory, kafka_kit, smtp_server):
    """A worker whose ledger entries may go seconds after their send, and six emails sent.

    0.002 h = 7.2 s: margin 7.2 s, 7 s buckets, one look per partition every 7 s.
    """
    env, worker = await worker_factory(
        smtp_port=smtp_server.port, LIFECYCLE_MAX_SEND_DELAY_HOURS="0.002"
    )
    messages = [outbox_message(n) for n in range(6)]
    await produce_outbox(kafka_kit, env, messages)
    await smtp_server.wait_for_messages(ids(messages), within=60)
    return env, worker, messages


async def test_pruned_ledger_entries_never_let_a_redelivery_send_twice(
    worker_factory: WorkerFactory, kafka_kit, smtp_server
) -> None:
    """Entries are deleted (tombstones on the changelog) once their messages are past the
    maximum delay plus the margin; redelivering those messages then expires them."""
    env, worker, messages = await sent_with_a_short_ledger_life(
        worker_factory, kafka_kit, smtp_server
    )

    # Pruning runs while an agent handles a record of the partition: keep a trickle of
    # fresh emails to the same customers (so the same partitions) until every original
    # entry has its tombstone on the ledger's changelog.
    changelog = f"{env.app_id}-delivery-ledger-changelog"
    originals = {m.message_id.encode() for m in messages}

    def all_tombstoned(records) -> bool:
        return originals <= {r.key for r in records if r.value is None}

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 90
    fresh: list[OutboxMessage] = []
    for round_ in range(1000):
        now = datetime.now(UTC)
        more = [
            m.model_copy(
                update={
                    "message_id": derive_message_id(m.customer_id, "receipt", 0, f"more-{round_}"),
                    "decided_at": now,
                }
            )
            for m in messages
        ]
        fresh += more
        await produce_outbox(kafka_kit, env, more)
        try:
            await kafka_kit.consume_until(changelog, all_tombstoned, within=3)
            break
        except AssertionError:
            if loop.time() > deadline:
                raise
    assert await worker.metric("lifecycle_ledger_pruned_total") >= len(messages)

    # Redelivered (a replay of the outbox): no entry any more, and too late: each one gets
    # a new "expired" entry (they were "sent" before, so only the redelivery writes it).
    await produce_outbox(kafka_kit, env, messages)

    def all_expired(records) -> bool:
        expired = {r.key for r in records if r.value and b'"state":"expired"' in r.value}
        return originals <= expired

    await kafka_kit.consume_until(changelog, all_expired, within=60)
    assert await worker.metric("lifecycle_emails_expired_total") >= len(messages)
    counts = Counter(m.message_id for m in smtp_server.messages)
    assert all(counts[m.message_id] == 1 for m in messages)
    assert max(counts.values()) == 1  # nothing at all arrived twice
    assert set(counts) <= ids(messages) | ids(fresh)


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
    env, worker = await worker_factory(
        smtp_port=smtp_server.port,
        LIFECYCLE_UNSUBSCRIBE_MAILTO="unsubscribe@shop.test",
        **JOURNEYS,
    )
    await sign_up(kafka_kit, env, "c-7", "kim7@shop.test")  # the welcome email is marketing
    [received] = await smtp_server.wait_for_messages(count=1, within=60)
    headers = received.message
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.search(r"<(http[^>]+)>", headers["List-Unsubscribe"]).group(1)  # type: ignore[union-attr]
    assert url.startswith(worker.base_url + "/unsubscribe?token=")
    token = url.split("token=", 1)[1]
    # The link is a sealed v2 token: it does not show the customer id, in any spelling.
    assert token.startswith("v2.")
    assert "c-7" not in token
    assert base64.urlsafe_b64encode(b"c-7").rstrip(b"=").decode() not in token
    assert (
        f"<mailto:unsubscribe@shop.test?subject=unsubscribe%20{token}>"
        in (headers["List-Unsubscribe"])
    )
    # The same link is visible in the body (the layout's unsubscribe line), text and HTML.
    text = headers.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = headers.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f"Unsubscribe: {url}" in text.splitlines()
    assert f'<a href="{url}" style="color:#77716a">Unsubscribe</a>' in html
    assert "unsubscribe.invalid" not in text + html  # no placeholder left

    async with aiohttp.ClientSession() as http:
        async with http.get(url) as page:  # a mail scanner's GET changes nothing
            assert page.status == 200
            assert "<form" in await page.text()
        for bad in (
            url[:-3],
            url.replace("token=v2.", "token=v2.x"),
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

    # Produced to the worker's own customer-events topic, never to the shop's topics.
    def consents(records) -> list[dict]:
        return [json.loads(r.value) for r in records if b'"consent.changed"' in r.value]

    consent = await kafka_kit.consume_until(
        env.topic("customer_events"), lambda got: len(consents(got)) >= 2
    )
    events = consents(consent)
    assert {(e["customer_id"], e["marketing_consent"]) for e in events} == {("c-7", False)}
    # Each carries the link's issue time, which is no later than the click.
    assert all(
        datetime.fromisoformat(e["link_issued_at"]) <= datetime.fromisoformat(e["occurred_at"])
        for e in events
    )
    assert {r.key for r in consent if b'"consent.changed"' in r.value} == {b"c-7"}
    assert len({e["event_id"] for e in events}) == 1  # the second click is a duplicate
    shop_records = await kafka_kit.read_topic(env.topic("customers"))
    assert not consents(shop_records)
    await worker.wait_metric(
        "lifecycle_events_processed_total", lambda v: v >= 1, type="consent.changed"
    )
    await worker.wait_metric("lifecycle_events_duplicate_total", lambda v: v >= 1)

    # Marketing mail stops: the next one (tier-up) is decided "no_consent"; the
    # transactional thank-you for the first order still goes.
    await order_into_a_spend_tier(kafka_kit, env, "c-7")
    await worker.wait_metric(
        "lifecycle_campaign_decisions_total",
        lambda v: v >= 1,
        campaign="tier-up",
        outcome="no_consent",
    )
    await worker.wait_metric(
        "lifecycle_emails_sent_total", lambda v: v >= 1, category="transactional"
    )
    assert await worker.metric("lifecycle_emails_sent_total", category="marketing") == 1
    assert await worker.metric("lifecycle_events_duplicate_total") == 1


async def test_an_expired_unsubscribe_link_gets_the_same_page_as_a_forged_one(
    worker_factory: WorkerFactory, smtp_server
) -> None:
    _, worker = await worker_factory(smtp_port=smtp_server.port)
    issued = datetime.now(UTC) - timedelta(days=366)  # the default maximum age is 365 days
    expired = make_token(TEST_SECRET.encode(), "c-8", issued)
    fresh = make_token(TEST_SECRET.encode(), "c-8", datetime.now(UTC))
    # A link of the first format, sent before v2: still honoured until it expires.
    old_format = make_v1_token(TEST_SECRET.encode(), "c-8", datetime.now(UTC))
    base = worker.base_url + "/unsubscribe?token="
    async with aiohttp.ClientSession() as http:
        async with http.get(base + fresh) as page:
            assert page.status == 200  # the same customer, a valid link: accepted
        async with http.get(base + old_format) as page:
            assert page.status == 200
        async with http.post(base + fresh[:-2]) as forged:
            assert forged.status == 400
            forged_page = await forged.text()
        async with http.get(base + expired) as looked_at:
            assert looked_at.status == 400
            assert await looked_at.text() == forged_page
        async with http.post(base + expired) as posted:
            assert posted.status == 400
            assert await posted.text() == forged_page
    assert "not valid or has expired" in forged_page
    assert await worker.metric("lifecycle_unsubscribes_total") == 0
