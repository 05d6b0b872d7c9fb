"""Ingest agents, one per shop topic: decode, validate, re-key by customer, or dead-letter.

Upstream keys and partitioners are not trusted: every valid event is re-published to the
customer-events topic keyed by ``customer_id``, so all of one customer's events land on the
partition that holds that customer's state. Invalid records are filtered here, before
re-keying, and go to the dead-letter topic with the original bytes.

Records come in batches (up to ``batch_size``, or whatever arrived within
``batch_seconds``); a batch's valid events are produced as one aiokafka batch per
partition (:class:`~streams.internals.BatchPublisher`), in their order, and the agent
waits for the broker's acknowledgement before Faust acks the batch's records. An event
the broker refused is dead-lettered (``republish_failed``) with the original bytes, so
none is lost without a trace; a batch left early (the worker stopping, the producer
failing) acks none of its records that were not handled, which come again after a
restart (the engine drops an event it has already applied).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from faust.streams import Stream
from faust.types import EventT, Message, StreamT, TopicT

from lifecycle.events import dump_event, parse_event
from lifecycle.exceptions import EventError
from streams.dead_letter import DeadLetters
from streams.failures import describe
from streams.internals import BatchPublisher, acks_withheld_unless_handled
from streams.metrics import WorkerMetrics

__all__ = ["IngestAgent"]


class IngestAgent:
    """The agent of one source topic; :meth:`run` is what Faust iterates."""

    def __init__(
        self,
        topic_name: str,
        *,
        customer_events: TopicT,
        publisher: BatchPublisher,
        dead_letters: DeadLetters,
        metrics: WorkerMetrics,
        max_event_bytes: int,
        batch_size: int = 500,
        batch_seconds: float = 0.02,
    ) -> None:
        self.topic_name = topic_name
        self.customer_events = customer_events
        self.publisher = publisher
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.max_bytes = max_event_bytes
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds

    @property
    def name(self) -> str:
        return f"lifecycle.ingest.{self.topic_name}"

    async def run(self, stream: StreamT[bytes]) -> None:
        # ``take_events`` is public on faust's Stream, but missing from its StreamT type.
        batches = cast("Stream[bytes]", stream).take_events(
            self.batch_size, within=self.batch_seconds
        )
        async for records in batches:
            await self.process_batch(records)

    async def process_batch(self, records: Sequence[EventT[Any]]) -> None:
        """Dead-letter the invalid records, re-key the rest, and wait for the broker."""
        #: (record, key, normalised value, event type) of each valid event, in order.
        valid: list[tuple[EventT[Any], bytes, bytes, str]] = []
        with acks_withheld_unless_handled(records) as handled:
            for record in records:
                found = await self._validated(record.message)
                if found is None:
                    handled.add(id(record))
                else:
                    valid.append((record, *found))
            published = await self.publisher.publish(
                self.customer_events.get_topic_name(), [(key, value) for _, key, value, _ in valid]
            )
            results = await asyncio.gather(
                *(batch.acknowledged for batch in published),
                return_exceptions=True,
            )
            refused: dict[int, BaseException] = {}
            for batch, result in zip(published, results, strict=True):
                if isinstance(result, BaseException):
                    refused.update(dict.fromkeys(batch.indexes, result))
            for index, (record, _, _, event_type) in enumerate(valid):
                if index in refused:
                    message = record.message
                    reason = f"re-keying refused by the broker: {describe(refused[index])}"
                    await self._dead_letter(
                        message, message.value or b"", reason, "republish_failed"
                    )
                else:
                    self.metrics.events_ingested.labels(self.topic_name, event_type).inc()
                handled.add(id(record))

    async def _validated(self, message: Message) -> tuple[bytes, bytes, str] | None:
        """(key, normalised value, type) of a valid event; None once it is dead-lettered."""
        value = message.value or b""
        try:
            event = parse_event(value, max_bytes=self.max_bytes)
        except EventError as exc:
            await self._dead_letter(message, value, exc.reason, exc.kind)
            return None
        normalised = dump_event(event)
        if len(normalised) > self.max_bytes:
            reason = (
                f"record is {len(normalised)} bytes once normalised; the limit is"
                f" {self.max_bytes} (LIFECYCLE_MAX_EVENT_BYTES)"
            )
            await self._dead_letter(message, value, reason, "oversized")
            return None
        return event.customer_id.encode(), normalised, event.type

    async def _dead_letter(self, message: Message, value: bytes, reason: str, kind: str) -> None:
        await self.dead_letters.publish_record(
            message,
            value=value,
            reason=reason,
            kind=kind,
            stage="ingest",
        )
        self.metrics.events_dead_lettered.labels(self.topic_name, kind).inc()
