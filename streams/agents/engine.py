"""The engine agent: customer events and ticks in, state and due index written back, outbox out.

Order of effects per customer, so that a crash at any point only repeats work: (1) the
outbox records are published and acknowledged by the broker, (2) then the state and the
due index are written to their tables (changelogs). If the worker dies after (1), the
input is processed again after restart and yields the same messages with the same ids,
which the delivery ledger drops; it cannot die after (2) without (1) having happened.

Whatever handling a record raises, the record is dead-lettered (``invalid`` if it does not
decode, ``engine_error`` otherwise) and counted in ``lifecycle_events_dead_lettered_total``
before the stream moves on (see :mod:`streams.agents.failures`). A customer whose stored
state does not decode fails their events (dead-lettered, the state left as it is); in a
tick that customer is taken out of the due index and their state dead-lettered, and the
other due customers go on.

Counters ride on (2): the state written carries the facts it counts, and the ``counters_ready``
callback recovers a partition's totals before its first record in a group generation
(:mod:`streams.counters.store`). Nothing is produced per count.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from faust.types import Message, StreamT, TopicT

from lifecycle.events import Event
from lifecycle.exceptions import EventError
from lifecycle.kv import BytesStore
from lifecycle.processing import (
    DueIndex,
    Engine,
    Outcome,
    PartitionProcessor,
    Tick,
    parse_engine_record,
)
from lifecycle.state import CustomerState
from streams.dead_letter import DeadLetters
from streams.failures import describe, log_failure
from streams.metrics import WorkerMetrics
from streams.tables import TableStateStore, UnreadableState

__all__ = ["EngineAgent"]

log = logging.getLogger(__name__)


class EngineAgent:
    """The engine over one worker's partitions of the customer-events topic."""

    name = "lifecycle.engine"

    def __init__(
        self,
        engine: Engine,
        *,
        states: TableStateStore,
        due_store: BytesStore,
        outbox: TopicT,
        counters_ready: Callable[[int], Awaitable[None]] | None = None,
        dead_letters: DeadLetters,
        metrics: WorkerMetrics,
        max_event_bytes: int,
        due_bucket_seconds: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.states = states
        self.due_store = due_store
        self.outbox = outbox
        #: Recovers a partition's counters before its first record (None: no counters).
        self.counters_ready = counters_ready
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.max_event_bytes = max_event_bytes
        self.due_bucket_seconds = due_bucket_seconds
        #: Wall clock, for the ticks' delay only (the engine takes time from its records).
        self.clock = clock
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
            except Exception as exc:  # a decoder bug must not drop the record uncounted
                log_failure(log, f"decoding {_where(message)} failed", exc)
                await self._dead_letter(
                    message, f"not an engine record: {describe(exc)}", "invalid"
                )
                continue
            if self.counters_ready is not None:
                # The partition's counter totals are recovered before its first record.
                await self.counters_ready(message.partition)
            try:
                processor = self.processor(message.partition)
                if isinstance(item, Tick):
                    await self._tick(processor, item, message)
                else:
                    await self._event(processor, item)
            except Exception as exc:
                context = _origin(message)
                if not isinstance(item, Tick):
                    context["event_id"] = item.event_id
                log_failure(log, f"engine failed on {_where(message)}", exc, context=context)
                await self._dead_letter(message, f"engine error: {describe(exc)}", "engine_error")

    async def _event(self, processor: PartitionProcessor, event: Event) -> None:
        outcome = processor.on_event(event)
        if outcome.duplicate:
            self.metrics.events_duplicate.inc()
            return
        await self._publish(outcome)
        processor.commit(outcome)
        self.metrics.events_processed.labels(event.type).inc()

    async def _tick(self, processor: PartitionProcessor, tick: Tick, source: Message) -> None:
        metrics = self.metrics
        reads_before = processor.tick_state_reads
        with self.states.skipping_unreadable() as unreadable:
            try:
                for state in processor.due_states(tick.at):
                    try:
                        outcome = processor.on_due(state, tick.at)
                    except Exception as exc:
                        await self._quarantine(processor, state, exc, source)
                        continue
                    await self._publish(outcome)
                    processor.commit(outcome)
                    metrics.due_customers.inc()
            finally:
                # due_states read these as "no state" and took them out of the due index.
                for skipped in unreadable:
                    await self._unreadable(skipped, source)
        metrics.ticks.inc()
        metrics.tick_state_reads.inc(processor.tick_state_reads - reads_before)
        delay = (self.clock() - tick.at).total_seconds()
        metrics.tick_delay.labels(str(source.partition)).set(max(0.0, delay))

    async def _publish(self, outcome: Outcome) -> None:
        metrics = self.metrics
        pending = []
        for message in outcome.messages:
            pending.append(
                await self.outbox.send(
                    key=message.customer_id.encode(), value=message.to_json_bytes()
                )
            )
            metrics.outbox_published.labels(message.campaign_id).inc()
        if pending:
            # The outbox must be durable before the state that says "sent" is written.
            await asyncio.gather(*pending)
        for signal in outcome.signals:
            metrics.signals.labels(signal.name).inc()
            if signal.name == "stage_changed":
                metrics.stage_transitions.labels(signal.data["from"], signal.data["to"]).inc()
        for output in outcome.outputs:
            record = output.to_record()
            kind = record.get("kind")
            if kind == "decision":
                metrics.decisions.labels(
                    record.get("campaign"), record.get("variant"), record.get("outcome")
                ).inc()
            elif kind == "journey":
                metrics.journeys.labels(
                    record.get("campaign"), record.get("variant"), record.get("action")
                ).inc()

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
        log_failure(
            log,
            f"due work failed for customer {state.customer_id}",
            exc,
            context={"customer_id": state.customer_id, **_origin(source)},
        )
        await self.dead_letters.publish_record(
            source,
            key=state.customer_id.encode(),
            value=state.to_bytes(),
            reason=f"due work failed: {describe(exc)}; customer taken out of the due index",
            kind="engine_error",
            stage="engine",
        )
        self.metrics.events_dead_lettered.labels(source.topic, "engine_error").inc()
        processor.due.reschedule(state.customer_id, state.next_due_at, None)
        # Nothing of this write counts: the facts the state held were its last write's.
        processor.states.put(state.model_copy(update={"next_due_at": None, "facts": ()}))

    async def _unreadable(self, unreadable: UnreadableState, source: Message) -> None:
        """A due customer whose stored state does not decode: out of the due index (done
        by the due walk), the stored bytes dead-lettered; their next event fails too."""
        log.error(
            "customer %s: stored state does not decode (%s); taken out of the due index",
            unreadable.customer_id,
            unreadable.error,
        )
        await self.dead_letters.publish_record(
            source,
            key=unreadable.customer_id.encode(),
            value=unreadable.raw,
            reason=(
                f"stored customer state does not decode ({unreadable.error});"
                " customer taken out of the due index"
            ),
            kind="engine_error",
            stage="engine",
        )
        self.metrics.events_dead_lettered.labels(source.topic, "engine_error").inc()

    async def _dead_letter(self, message: Message, reason: str, kind: str) -> None:
        await self.dead_letters.publish_record(message, reason=reason, kind=kind, stage="engine")
        self.metrics.events_dead_lettered.labels(message.topic, kind).inc()


def _origin(message: Message) -> dict[str, object]:
    """Where a record came from, as log context (see streams/logs.py)."""
    return {"topic": message.topic, "partition": message.partition, "offset": message.offset}


def _where(message: Message) -> str:
    return f"{message.topic}[{message.partition}]@{message.offset}"
