"""The engine agent: customer events and ticks in, state and due index written back, outbox out.

Order of effects per customer, so that a crash at any point only repeats work: (1) the
outbox records are published and acknowledged by the broker, (2) then the state and the
due index are written to their tables (changelogs). If the worker dies after (1), the
input is processed again after restart and yields the same messages with the same ids,
which the delivery ledger drops; it cannot die after (2) without (1) having happened.
"""

from __future__ import annotations

import asyncio
import logging

from faust.types import Message, StreamT, TopicT

from lifecycle.events import Event
from lifecycle.exceptions import EventError
from lifecycle.kv import BytesStore
from lifecycle.measurement import counter_records
from lifecycle.processing import (
    DueIndex,
    Engine,
    Outcome,
    PartitionProcessor,
    StateStore,
    Tick,
    parse_engine_record,
)
from lifecycle.state import CustomerState
from streams.dead_letter import DeadLetters
from streams.metrics import WorkerMetrics

__all__ = ["EngineAgent"]

log = logging.getLogger(__name__)


class EngineAgent:
    """The engine over one worker's partitions of the customer-events topic."""

    name = "lifecycle.engine"

    def __init__(
        self,
        engine: Engine,
        *,
        states: StateStore,
        due_store: BytesStore,
        outbox: TopicT,
        counters: TopicT,
        dead_letters: DeadLetters,
        metrics: WorkerMetrics,
        max_event_bytes: int,
        due_bucket_seconds: int,
    ) -> None:
        self.engine = engine
        self.states = states
        self.due_store = due_store
        self.outbox = outbox
        self.counters = counters
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.max_event_bytes = max_event_bytes
        self.due_bucket_seconds = due_bucket_seconds
        self._processors: dict[int, PartitionProcessor] = {}

    def processor(self, partition: int) -> PartitionProcessor:
        if partition not in self._processors:
            due = DueIndex(self.due_store, partition, self.due_bucket_seconds)
            self._processors[partition] = PartitionProcessor(self.engine, self.states, due)
        return self._processors[partition]

    async def run(self, stream: StreamT[bytes]) -> None:
        async for record in stream.events():
            message = record.message
            try:
                item = parse_engine_record(message.value or b"", max_bytes=self.max_event_bytes)
            except EventError as exc:
                await self._dead_letter(message, exc.reason, exc.kind)
                continue
            processor = self.processor(message.partition)
            try:
                if isinstance(item, Tick):
                    await self._tick(processor, item, message)
                else:
                    await self._event(processor, item)
            except Exception as exc:
                log.exception("engine failed on %s", _where(message))
                await self._dead_letter(
                    message, f"engine error: {type(exc).__name__}", "engine_error"
                )

    async def _event(self, processor: PartitionProcessor, event: Event) -> None:
        outcome = processor.on_event(event)
        if outcome.duplicate:
            self.metrics.events_duplicate.inc()
            return
        await self._publish(outcome, event)
        processor.commit(outcome)
        self.metrics.events_processed.labels(event.type).inc()

    async def _tick(self, processor: PartitionProcessor, tick: Tick, source: Message) -> None:
        metrics = self.metrics
        reads_before = processor.tick_state_reads
        for state in processor.due_states(tick.at):
            try:
                outcome = processor.on_due(state, tick.at)
            except Exception as exc:
                await self._quarantine(processor, state, exc, source)
                continue
            await self._publish(outcome, None)
            processor.commit(outcome)
            metrics.due_customers.inc()
        metrics.ticks.inc()
        metrics.tick_state_reads.inc(processor.tick_state_reads - reads_before)

    async def _publish(self, outcome: Outcome, event: Event | None) -> None:
        metrics = self.metrics
        pending = []
        for message in outcome.messages:
            pending.append(
                await self.outbox.send(
                    key=message.customer_id.encode(), value=message.to_json_bytes()
                )
            )
            metrics.outbox_published.labels(message.campaign_id).inc()
        for key, value in counter_records(outcome, event):
            await self.counters.send(key=key, value=value)
        if pending:
            # The outbox must be durable before the state that says "sent" is written.
            await asyncio.gather(*pending)
        for signal in outcome.signals:
            metrics.signals.labels(signal.name).inc()
            if signal.name == "stage_changed":
                metrics.stage_transitions.labels(signal.data["from"], signal.data["to"]).inc()
        for output in outcome.outputs:
            record = output.to_record()
            if record.get("kind") == "decision":
                metrics.decisions.labels(record.get("campaign"), record.get("outcome")).inc()

    async def _quarantine(
        self,
        processor: PartitionProcessor,
        state: CustomerState,
        exc: Exception,
        source: Message,
    ) -> None:
        """Take a customer whose due work fails out of the due index, and say so.

        Their next event brings them back; until then they would fail on every tick.
        """
        log.exception("due work failed for customer %s", state.customer_id)
        await self.dead_letters.publish_record(
            source,
            key=state.customer_id.encode(),
            value=state.to_bytes(),
            reason=f"due work failed: {type(exc).__name__}; customer taken out of the due index",
            kind="engine_error",
            stage="engine",
        )
        processor.due.reschedule(state.customer_id, state.next_due_at, None)
        processor.states.put(state.model_copy(update={"next_due_at": None}))

    async def _dead_letter(self, message: Message, reason: str, kind: str) -> None:
        await self.dead_letters.publish_record(message, reason=reason, kind=kind, stage="engine")
        self.metrics.events_dead_lettered.labels(message.topic, kind).inc()


def _where(message: Message) -> str:
    return f"{message.topic}[{message.partition}]@{message.offset}"
