"""Ingest agents, one per shop topic: decode, validate, re-key by customer, or dead-letter.

Upstream keys and partitioners are not trusted: every valid event is re-published to the
customer-events topic keyed by ``customer_id``, so all of one customer's events land on the
partition that holds that customer's state. Invalid records are filtered here, before
re-keying, and go to the dead-letter topic with the original bytes.
"""

from __future__ import annotations

from faust.types import Message, StreamT, TopicT

from lifecycle.events import dump_event, parse_event
from lifecycle.exceptions import EventError
from streams.dead_letter import DeadLetters
from streams.metrics import WorkerMetrics

__all__ = ["IngestAgent"]


class IngestAgent:
    """The agent of one source topic; :meth:`run` is what Faust iterates."""

    def __init__(
        self,
        topic_name: str,
        *,
        customer_events: TopicT,
        dead_letters: DeadLetters,
        metrics: WorkerMetrics,
        max_event_bytes: int,
    ) -> None:
        self.topic_name = topic_name
        self.customer_events = customer_events
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.max_bytes = max_event_bytes

    @property
    def name(self) -> str:
        return f"lifecycle.ingest.{self.topic_name}"

    async def run(self, stream: StreamT[bytes]) -> None:
        async for record in stream.events():
            message = record.message
            value = message.value or b""
            try:
                event = parse_event(value, max_bytes=self.max_bytes)
            except EventError as exc:
                await self._dead_letter(message, value, exc.reason, exc.kind)
                continue
            normalised = dump_event(event)
            if len(normalised) > self.max_bytes:
                # Normalising (defaults filled in, numbers as text) can grow a record past the
                # limit the engine checks; refuse it here, where its original bytes are at hand.
                reason = (
                    f"record is {len(normalised)} bytes once normalised; the limit is"
                    f" {self.max_bytes} (LIFECYCLE_MAX_EVENT_BYTES)"
                )
                await self._dead_letter(message, value, reason, "oversized")
                continue
            await self.customer_events.send(key=event.customer_id.encode(), value=normalised)
            self.metrics.events_ingested.labels(self.topic_name, event.type).inc()

    async def _dead_letter(self, message: Message, value: bytes, reason: str, kind: str) -> None:
        await self.dead_letters.publish_record(
            message,
            value=value,
            reason=reason,
            kind=kind,
            stage="ingest",
        )
        self.metrics.events_dead_lettered.labels(self.topic_name, kind).inc()
