"""The engine agent: customer events and ticks in, state and due index written back, outbox out.

Order of effects per customer, so that a crash at any point only repeats work: (1) the
outbox records are published and acknowledged by the broker, (2) then the state and the
due index are written to their tables (changelogs). If the worker dies after (1), the
input is processed again after restart and yields the same messages with the same ids,
which the delivery ledger drops; it cannot die after (2) without (1) having happened.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from lifecycle.events import Event
from lifecycle.exceptions import EventError
from lifecycle.measurement import counter_records
from lifecycle.processing import DueIndex, Outcome, PartitionProcessor, Tick, parse_engine_record
from lifecycle.state import CustomerState
from streams.tables import RawTableStore

if TYPE_CHECKING:
    from streams.app import Worker

__all__ = ["TableStateStore", "register"]


class TableStateStore:
    """Customer state in a Faust table, serialized by the core's own codec."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, customer_id: str) -> CustomerState | None:
        raw = self.table.get(customer_id.encode())
        return None if raw is None else CustomerState.from_bytes(raw)

    def put(self, state: CustomerState) -> None:
        self.table[state.customer_id.encode()] = state.to_bytes()


def register(worker: Worker) -> None:
    runner = EngineRunner(worker)
    worker.app.agent(worker.topics.customer_events, name="lifecycle.processing.engine")(
        runner.agent
    )


class EngineRunner:
    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.states = TableStateStore(worker.tables.customer_state)
        self.due_store = RawTableStore(worker.tables.due_index)
        self._processors: dict[int, PartitionProcessor] = {}

    def processor(self, partition: int) -> PartitionProcessor:
        if partition not in self._processors:
            due = DueIndex(self.due_store, partition, self.worker.settings.due_bucket_seconds)
            self._processors[partition] = PartitionProcessor(self.worker.engine, self.states, due)
        return self._processors[partition]

    async def agent(self, stream: Any) -> None:
        async for record in stream.events():
            message = record.message
            try:
                item = parse_engine_record(
                    message.value or b"", max_bytes=self.worker.settings.max_event_bytes
                )
            except EventError as exc:
                await self._dead_letter(message, exc.reason, exc.kind)
                continue
            processor = self.processor(message.partition)
            try:
                if isinstance(item, Tick):
                    await self._tick(processor, item)
                else:
                    await self._event(processor, item)
            except Exception as exc:
                self.worker.app.log.exception("engine failed on %s", _where(message))
                await self._dead_letter(
                    message, f"engine error: {type(exc).__name__}", "engine_error"
                )

    async def _event(self, processor: PartitionProcessor, event: Event) -> None:
        outcome = processor.on_event(event)
        metrics = self.worker.metrics
        if outcome.duplicate:
            metrics.events_duplicate.inc()
            return
        await self._publish(outcome, event)
        processor.commit(outcome)
        metrics.events_processed.labels(event.type).inc()

    async def _tick(self, processor: PartitionProcessor, tick: Tick) -> None:
        metrics = self.worker.metrics
        reads_before = processor.tick_state_reads
        for state in processor.due_states(tick.at):
            try:
                outcome = processor.on_due(state, tick.at)
            except Exception as exc:
                await self._quarantine(processor, state, exc)
                continue
            await self._publish(outcome, None)
            processor.commit(outcome)
            metrics.due_customers.inc()
        metrics.ticks.inc()
        metrics.tick_state_reads.inc(processor.tick_state_reads - reads_before)

    async def _publish(self, outcome: Outcome, event: Event | None) -> None:
        worker = self.worker
        metrics = worker.metrics
        pending = []
        for message in outcome.messages:
            pending.append(
                await worker.topics.outbox.send(
                    key=message.customer_id.encode(), value=message.to_json_bytes()
                )
            )
            metrics.outbox_published.labels(message.campaign_id).inc()
        for key, value in counter_records(outcome, event):
            await worker.topics.counters.send(key=key, value=value)
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
        self, processor: PartitionProcessor, state: CustomerState, exc: Exception
    ) -> None:
        """Take a customer whose due work fails out of the due index, and say so.

        Their next event brings them back; until then they would fail on every tick.
        """
        self.worker.app.log.exception("due work failed for customer %s", state.customer_id)
        event = current_message()
        await self.worker.dead_letters.publish(
            key=state.customer_id.encode(),
            value=state.to_bytes(),
            reason=f"due work failed: {type(exc).__name__}; customer taken out of the due index",
            kind="engine_error",
            stage="engine",
            topic=event.topic,
            partition=event.partition,
            offset=event.offset,
        )
        processor.due.reschedule(state.customer_id, state.next_due_at, None)
        processor.states.put(state.model_copy(update={"next_due_at": None}))

    async def _dead_letter(self, message: Any, reason: str, kind: str) -> None:
        await self.worker.dead_letters.publish(
            key=message.key,
            value=message.value,
            reason=reason,
            kind=kind,
            stage="engine",
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
        )
        self.worker.metrics.events_dead_lettered.labels(message.topic, kind).inc()


def current_message() -> Any:
    from faust import current_event

    event = current_event()
    assert event is not None, "only called while processing a record"
    return event.message


def _where(message: Any) -> str:
    return f"{message.topic}[{message.partition}]@{message.offset}"
