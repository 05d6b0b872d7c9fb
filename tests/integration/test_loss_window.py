"""The loss window, measured: SIGKILL the worker at random moments while mail flows.

Each round produces a batch of outbox records, waits until the first of them reached the
SMTP server (mail is flowing), sleeps a random 0-600 ms (a batch takes about that long at
the default 50 emails/s) and kills the worker with SIGKILL, then starts it again. At the
end every email must be accounted for at the server or in an ``in_doubt`` dead letter:

* lost: never arrived (under ``skip``, only an email reported in doubt may be lost);
* duplicate: arrived more than once (under ``skip``, never);
* in doubt: reported; whether it arrived says what ``resend`` would have done.

The fast variant (3 kills) runs with the integration tests. The measurement in the README
is the slow one, not part of the default suite:

    LIFECYCLE_LOSS_KILLS=20 flock /tmp/lifecycle-broker.lock env LIFECYCLE_BROKER=kafka \\
        .venv/bin/python -m pytest tests/integration/test_loss_window.py -m slow -s

It prints one ``loss window:`` line per policy.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter

import pytest

from lifecycle.mail.outbox import OutboxMessage
from tests.integration.test_delivery import outbox_message, produce_outbox
from tests.support.worker_fixtures import WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

BATCH = 30
_SLOW_KILLS = os.environ.get("LIFECYCLE_LOSS_KILLS")


def _variants() -> list:
    slow = [
        pytest.param(
            int(_SLOW_KILLS or 0),
            action,
            id=f"slow-{action}",
            marks=[
                pytest.mark.slow,
                pytest.mark.skipif(not _SLOW_KILLS, reason="set LIFECYCLE_LOSS_KILLS=N to measure"),
            ],
        )
        for action in ("skip", "resend")
    ]
    return [pytest.param(3, "skip", id="fast"), *slow]


async def in_doubt_reports(kafka_kit, env) -> set[str]:
    records = await kafka_kit.read_topic(env.topic("dead_letter"))
    return {
        OutboxMessage.from_json_bytes(r.value).message_id
        for r in records
        if dict(r.headers).get("lifecycle.reason-kind") == b"in_doubt"
    }


@pytest.mark.parametrize(("kills", "action"), _variants())
async def test_random_kills_lose_only_what_is_reported_in_doubt(
    worker_factory: WorkerFactory, kafka_kit, smtp_server, kills: int, action: str
) -> None:
    seed = int(os.environ.get("LIFECYCLE_LOSS_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    env, worker = await worker_factory(
        smtp_port=smtp_server.port,
        LIFECYCLE_IN_DOUBT_TRANSACTIONAL=action,
        LIFECYCLE_LOG_LEVEL="warning",
    )
    sent: list[OutboxMessage] = []
    for round_ in range(kills):
        batch = [outbox_message(round_ * BATCH + n) for n in range(BATCH)]
        sent += batch
        wanted = {m.message_id for m in batch}
        await produce_outbox(kafka_kit, env, batch)
        await smtp_server.wait_until(
            lambda w=wanted: any(m.message_id in w for m in smtp_server.messages), within=60
        )
        await asyncio.sleep(rng.uniform(0, 0.6))  # a random moment, not a condition
        await worker.kill()
        await worker.start()

    expected = {m.message_id for m in sent}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 180
    while True:
        arrived = Counter(m.message_id for m in smtp_server.messages)
        reported = await in_doubt_reports(kafka_kit, env)
        settled = all(arrived[i] or i in reported for i in expected)
        if action == "resend":  # a resent email in doubt arrives (again) later
            settled = settled and all(arrived[i] for i in expected)
        if settled or loop.time() > deadline:
            break
        await asyncio.sleep(1)  # polling the server and the dead-letter topic

    lost = {i for i in expected if not arrived[i]}
    duplicates = {i for i in expected if arrived[i] > 1}
    print(
        f"\nloss window: action={action} kills={kills} emails={len(expected)} seed={seed}"
        f" in_doubt={len(reported & expected)} lost={len(lost)}"
        f" duplicates={len(duplicates)} in_doubt_delivered={len(reported & set(arrived))}"
        f" P(loss per kill)={len(lost) / kills:.3f}"
        f" P(duplicate per kill)={len(duplicates) / kills:.3f}"
    )
    assert lost <= reported, "an email was lost without an in-doubt report"
    assert set(arrived) <= expected
    if action == "skip":
        assert duplicates == set()
    else:
        assert lost == set()
        assert duplicates <= reported  # only an email in doubt is sent twice
