"""Best-time sends in the live worker: the planted evening habit picks the hour, a customer
without history gets the fallback hour, both arrive over SMTP with ``send_time`` on their
outbox records, and a replay of the same history decides the same times."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lifecycle.events import parse_event
from lifecycle.mail import OutboxMessage
from lifecycle.measurement import CounterKey, Number
from lifecycle.processing import Engine, Replay, sorted_history
from streams.campaign_loading import load_campaign_set
from streams.counters import read_counters
from streams.settings import Settings
from tests.factories import event_dict
from tests.support.polling import settled
from tests.support.worker_fixtures import WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

STOCKHOLM = ZoneInfo("Europe/Stockholm")
CAMPAIGN = """\
id: timed
category: marketing
trigger: {event: customer.updated}
steps:
  - send: {template: hello, at: best_time, within: 24h}
"""


def _campaigns(folder: Path) -> Path:
    (folder / "templates" / "hello").mkdir(parents=True)
    (folder / "templates" / "hello" / "en.yaml").write_text("subject: Hello\ntext: Hello\n")
    (folder / "timed.yaml").write_text(CAMPAIGN)
    return folder


def _history(now: datetime) -> tuple[list[dict[str, Any]], datetime, datetime]:
    """The events, and the times the two sends must go at (UTC)."""
    day = (now.astimezone(STOCKHOLM) - timedelta(days=2)).date()
    trigger = datetime(day.year, day.month, day.day, 9, 30, tzinfo=STOCKHOLM)
    evening = trigger.replace(hour=19, minute=0)
    fallback = trigger.replace(hour=10, minute=0)  # the next 10:00, half an hour later
    events: list[dict[str, Any]] = []
    for customer in ("eve", "new"):
        events.append(
            event_dict(
                "customer.signed_up",
                customer,
                trigger - timedelta(days=20),
                email=f"{customer}@example.com",
                timezone="Europe/Stockholm",
                marketing_consent=True,
            )
        )
    for back in range(1, 9):
        at = (trigger - timedelta(days=back)).replace(hour=19, minute=25)
        events.append(event_dict("customer.logged_in", "eve", at))
    for customer in ("eve", "new"):
        events.append(event_dict("customer.updated", customer, trigger, name="Ann"))
    events.sort(key=lambda e: e["occurred_at"])
    return events, evening.astimezone(UTC), fallback.astimezone(UTC)


def _by_send_time(totals: dict[CounterKey, Number]) -> dict[str, Number]:
    found: dict[str, Number] = {}
    for key, value in totals.items():
        if key.metric == "campaign_send_time_sends" and value:
            timing = key.label("send_time") or ""
            found[timing] = found.get(timing, 0) + value
    return found


async def test_best_time_sends_go_at_the_chosen_hours(
    worker_factory: WorkerFactory, kafka_kit, smtp_server, tmp_path: Path
) -> None:
    folder = _campaigns(tmp_path / "campaigns")
    env, worker = await worker_factory(
        smtp_port=smtp_server.port, campaigns_dir=folder, LIFECYCLE_COUNTERS_FLUSH_SECONDS="0.5"
    )
    history, evening, fallback = _history(datetime.now(UTC))
    await kafka_kit.produce(env.topic("customers"), [(e["customer_id"], e) for e in history])

    received = await smtp_server.wait_for_messages(count=2, within=90)
    assert sorted(r.rcpt_tos for r in received) == [("eve@example.com",), ("new@example.com",)]
    outbox = await kafka_kit.consume_until(env.topic("outbox"), lambda got: len(got) >= 2)
    messages = {m.customer_id: m for m in (OutboxMessage.from_json_bytes(r.value) for r in outbox)}
    assert (messages["eve"].send_time, messages["eve"].decided_at) == ("optimised", evening)
    assert (messages["new"].send_time, messages["new"].decided_at) == ("fallback", fallback)
    await worker.wait_metric(
        "lifecycle_campaign_decisions_total",
        lambda v: v >= 2,
        campaign="timed",
        outcome="scheduled",
    )

    async def send_time_counts() -> dict[str, Number]:
        counted = await read_counters(kafka_kit.bootstrap_servers, env.topic("counters"))
        return _by_send_time(counted)

    # The counters carry the kind of each best-time send.
    assert await settled(send_time_counts, {"optimised": 1, "fallback": 1}) == {
        "optimised": 1,
        "fallback": 1,
    }

    # The same history replayed decides the same sends at the same times.
    settings = Settings(campaigns_dir=folder)
    engine = Engine(settings.engine, load_campaign_set(settings))
    replayed = {}
    until = datetime.now(UTC)
    events = [parse_event(json.dumps(e).encode()) for e in history]
    for outcome, _ in Replay(engine).outcomes(sorted_history(events), until=until):
        for output in outcome.outputs:
            if output.message is not None:
                replayed[output.customer_id] = output.message
    assert replayed == messages
