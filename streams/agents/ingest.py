"""Ingest agents, one per shop topic: decode, validate, re-key by customer, or dead-letter.

Upstream keys and partitioners are not trusted: every valid event is re-published to the
customer-events topic keyed by ``customer_id``, so all of one customer's events land on the
partition that holds that customer's state. Invalid records are filtered here, before
re-keying, and go to the dead-letter topic with the original bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lifecycle.events import dump_event, parse_event
from lifecycle.exceptions import EventError

if TYPE_CHECKING:
    from streams.app import Worker

__all__ = ["register"]


def register(worker: Worker) -> None:
    for topic in worker.topics.sources:
        name = topic.get_topic_name()
        worker.app.agent(topic, name=f"lifecycle.ingest.{name}")(_ingest_agent(worker, name))


def _ingest_agent(worker: Worker, topic_name: str) -> Any:
    max_bytes = worker.settings.max_event_bytes
    customer_events = worker.topics.customer_events
    metrics = worker.metrics

    async def ingest(stream: Any) -> None:
        async for record in stream.events():
            message = record.message
            value = message.value or b""
            try:
                event = parse_event(value, max_bytes=max_bytes)
            except EventError as exc:
                await worker.dead_letters.publish(
                    key=message.key,
                    value=value,
                    reason=exc.reason,
                    kind=exc.kind,
                    stage="ingest",
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                )
                metrics.events_dead_lettered.labels(topic_name, exc.kind).inc()
                continue
            normalised = dump_event(event)
            if len(normalised) > max_bytes:
                # Normalising (defaults filled in, numbers as text) can grow a record past the
                # limit the engine checks; refuse it here, where its original bytes are at hand.
                await worker.dead_letters.publish(
                    key=message.key,
                    value=value,
                    reason=(
                        f"record is {len(normalised)} bytes once normalised; the limit is"
                        f" {max_bytes} (LIFECYCLE_MAX_EVENT_BYTES)"
                    ),
                    kind="oversized",
                    stage="ingest",
                    topic=message.topic,
                    partition=message.partition,
                    offset=message.offset,
                )
                metrics.events_dead_lettered.labels(topic_name, "oversized").inc()
                continue
            await customer_events.send(key=event.customer_id.encode(), value=normalised)
            metrics.events_ingested.labels(topic_name, event.type).inc()

    ingest.__name__ = f"ingest_{topic_name.replace('.', '_').replace('-', '_')}"
    return ingest
