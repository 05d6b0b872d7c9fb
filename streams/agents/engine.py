"""The engine agent: customer events and ticks in, state written back, outbox out.

Records come in batches (up to ``batch_size``, or whatever arrived within
``batch_seconds``). Order of effects per batch, so that a crash at any point only repeats
work: (1) each record is processed in order, its outbox records handed to the producer
and its table writes held (:class:`~streams.tables.WriteBehind`: later records of the
batch read them); (2) once the broker has acknowledged every outbox record of the batch,
the held writes go to the state and split-counts tables (changelogs), in order; (3) Faust
acks the batch's records. If the worker dies before (2), the batch is processed again
after restart and yields the same messages with the same ids, which the delivery ledger
drops; no table says "sent" for a message the outbox may not hold. A batch left before
(2) ends (the worker stopping) acks none of its records (:mod:`streams.internals.batch_acks`):
Faust would otherwise ack them all as the batch ends, and the last commit would pass
them. One wait for the
broker per batch, instead of one per record that sends, is most of what batching saves.
A tick that wakes more than ``batch_size`` customers goes through (2) after each
``batch_size`` of them, so a batch never holds more decoded states than that.

Whatever handling a record raises, the record is dead-lettered (``invalid`` if it does not
decode, ``engine_error`` otherwise) and counted in ``lifecycle_events_dead_lettered_total``
before the stream moves on (see :mod:`streams.agents.failures`). A customer whose stored
state does not decode fails their events (dead-lettered, the state left as it is); in a
tick that customer is taken out of the due index and their state dead-lettered, and the
other due customers go on. If the broker refuses an outbox record, the held state writes
of that customer in the batch are dropped and the batch's records that changed them are
dead-lettered (``engine_error``); other customers' writes stand.

Each partition's due index lives in memory (:mod:`lifecycle.processing.due_index`): before
a partition's first record in a consumer-group generation the agent files every stored
state of the partition that is due some time (:meth:`TableStateStore.filed_due_times`),
yielding to the loop as it goes, and takes the index's entries of earlier versions
(``due:`` keys of the split-counts table, once the due index's own) out of that table.
The index is updated as states are committed, with no changelog of its own: a crash loses
only what the next generation's filling reads back from the states. A state that does not
decode is not filed (its time is unknown) and is logged; its next event is dead-lettered.

A send decided already past delivery's maximum delay (``max_send_delay`` before the wall
clock) is decided as always but neither rendered nor published: delivery would only
expire it, and in a backfill these are most of the sends (three records each: the outbox
record, its ledger entry and its expiry filing). The state's facts count it ``expired``,
and ``lifecycle_emails_expired_at_decision_total`` counts it once its state is written
(not ``lifecycle_emails_expired_total``: that is delivery's, which with the other
outcomes accounts for every published outbox record). It has no ledger entry, and none
is needed: nothing was sent, and an input is decided again only if its state was not
written, so the expiry is counted once.

Counters ride on (2): the state written carries the facts it counts, and the ``counters_ready``
callback recovers a partition's totals before its first record in a group generation
(:mod:`streams.counters.store`). Nothing is produced per count.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from faust.streams import Stream
from faust.types import EventT, Message, StreamT, TopicT

from lifecycle.events import Event
from lifecycle.exceptions import EventError
from lifecycle.kv import MemoryBytesStore
from lifecycle.processing import (
    AllocationLedger,
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
from streams.internals import acks_withheld_unless_handled, acting_for
from streams.metrics import WorkerMetrics
from streams.tables import RawTableStore, TableStateStore, UnreadableState, WriteBehind

__all__ = ["EngineAgent"]

log = logging.getLogger(__name__)

#: States filed between two yields to the loop while a due index is filled.
_FILL_CHUNK = 2000


@dataclass
class _Batch:
    """What one batch has handed to the producer, and what it has done, by customer."""

    #: Sends decided before this are not rendered (see EngineAgent.max_send_delay).
    stale_before: datetime | None

    #: (customer, the outbox record's future), in the order produced.
    published: list[tuple[str, Awaitable[Any]]] = field(default_factory=list)
    #: The records whose held state writes are the customer's, per customer.
    records_of: dict[str, list[EventT[Any]]] = field(default_factory=dict)
    #: (customer, event type) of each event processed, counted once the batch is written.
    processed: list[tuple[str, str]] = field(default_factory=list)
    #: (customer, campaign) of each send decided too late to go out (not published).
    expired: list[tuple[str, str]] = field(default_factory=list)

    def touched(self, customer_id: str, record: EventT[Any]) -> None:
        records = self.records_of.setdefault(customer_id, [])
        if not records or records[-1] is not record:
            records.append(record)

    def settled(self) -> None:
        """Forget what has been written (the batch goes on with its next records)."""
        self.published.clear()
        self.records_of.clear()
        self.processed.clear()
        self.expired.clear()


class EngineAgent:
    """The engine over one worker's partitions of the customer-events topic."""

    name = "lifecycle.engine"

    def __init__(
        self,
        engine: Engine,
        *,
        states: TableStateStore,
        split_counts: RawTableStore,
        write_behind: WriteBehind,
        outbox: TopicT,
        counters_ready: Callable[[int], Awaitable[None]] | None = None,
        dead_letters: DeadLetters,
        metrics: WorkerMetrics,
        max_event_bytes: int,
        due_bucket_seconds: int,
        partitions: int,
        generation: Callable[[], int] = lambda: 0,
        batch_size: int = 500,
        batch_seconds: float = 0.02,
        max_send_delay: timedelta | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        #: Both stores hold their writes in ``write_behind`` while a batch is processed.
        self.states = states
        #: The adaptive splits' counts per partition (AllocationLedger).
        self.split_counts = split_counts
        self.write_behind = write_behind
        self.outbox = outbox
        #: Recovers a partition's counters before its first record (None: no counters).
        self.counters_ready = counters_ready
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.max_event_bytes = max_event_bytes
        self.due_bucket_seconds = due_bucket_seconds
        #: Partitions of the customer-events topic (whose partitioner placed each state).
        self.partitions = partitions
        #: The consumer group's generation: a new one may have moved partitions.
        self.generation = generation
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        #: Delivery expires a send decided longer ago than this, so the engine does not
        #: render it (None: every send may go, every send is rendered).
        self.max_send_delay = max_send_delay
        #: Wall clock, for the ticks' delay and ``stale_before`` only (the engine takes
        #: time from its records).
        self.clock = clock
        #: Per partition, its processor (and in it the due index) of this generation.
        self._processors: dict[int, PartitionProcessor] = {}
        self._generation: int | None = None

    async def processor(self, partition: int) -> PartitionProcessor:
        """The partition's processor, its due index filled from the states first."""
        found = self._processors.get(partition)
        if found is None:
            found = self._processors[partition] = await self._fill(partition)
        return found

    async def _fill(self, partition: int) -> PartitionProcessor:
        due = DueIndex(MemoryBytesStore(), partition, self.due_bucket_seconds)
        ledger = AllocationLedger(self.split_counts, partition)
        processor = PartitionProcessor(self.engine, self.states, due, lambda _: ledger)
        unreadable: list[UnreadableState] = []
        found = self.states.filed_due_times(partition, self.partitions, unreadable)
        filed = 0
        while chunk := list(itertools.islice(found, _FILL_CHUNK)):
            filed += due.file_all(chunk)
            await asyncio.sleep(0)  # a large partition must not stall heartbeats
        for skipped in unreadable:
            log.error(
                "customer %s: stored state does not decode (%s); not in the due index",
                skipped.customer_id,
                skipped.error,
            )
        earlier = self.split_counts.keys_with_prefix(f"due:{partition}:".encode())
        for key in earlier:
            self.split_counts.delete(key)
        log.info(
            "partition %d: %d customers filed in the due index%s",
            partition,
            filed,
            f", {len(earlier)} entries of an earlier version's due table deleted"
            if earlier
            else "",
        )
        return processor

    async def run(self, stream: StreamT[bytes]) -> None:
        # ``take_events`` is public on faust's Stream, but missing from its StreamT type.
        batches = cast("Stream[bytes]", stream).take_events(
            self.batch_size, within=self.batch_seconds
        )
        async for records in batches:
            await self.process_batch(records)

    async def process_batch(self, records: Sequence[EventT[Any]]) -> None:
        """Process ``records`` in order, then write their tables (see the module docstring).

        Faust acks the records when this returns."""
        batch = _Batch(stale_before=self._stale_before())
        generation = self.generation()
        if generation != self._generation:
            # Between batches nothing is held: the states read to fill the due indexes
            # are all there is.
            self._processors.clear()
            self._generation = generation
        behind = self.write_behind
        behind.begin()
        # Nothing of a batch is written before its end: left early (the worker stopping),
        # it acks none of its records, which come again after the restart.
        with acks_withheld_unless_handled(records) as handled:
            try:
                for record in records:
                    behind.working_for(record)
                    with acting_for(record):
                        await self._record(record, batch)
                await self._settle(batch)
            finally:
                behind.end()
            handled.update(id(record) for record in records)

    def _stale_before(self) -> datetime | None:
        """Sends decided before this are older than delivery's maximum delay already."""
        if self.max_send_delay is None:
            return None
        return self.clock() - self.max_send_delay

    async def _record(self, record: EventT[Any], batch: _Batch) -> None:
        message = record.message
        try:
            item = parse_engine_record(message.value or b"", max_bytes=self.max_event_bytes)
        except EventError as exc:
            await self._dead_letter(message, exc.reason, exc.kind)
            return
        except Exception as exc:  # a decoder bug must not drop the record uncounted
            log_failure(log, f"decoding {_where(message)} failed", exc)
            await self._dead_letter(message, f"not an engine record: {describe(exc)}", "invalid")
            return
        if self.counters_ready is not None:
            # The partition's counter totals are recovered before its first record.
            await self.counters_ready(message.partition)
        try:
            processor = await self.processor(message.partition)
            if isinstance(item, Tick):
                await self._tick(processor, item, record, batch)
            else:
                await self._event(processor, item, record, batch)
        except Exception as exc:
            context = _origin(message)
            if not isinstance(item, Tick):
                context["event_id"] = item.event_id
            log_failure(log, f"engine failed on {_where(message)}", exc, context=context)
            await self._dead_letter(message, f"engine error: {describe(exc)}", "engine_error")

    async def _event(
        self, processor: PartitionProcessor, event: Event, record: EventT[Any], batch: _Batch
    ) -> None:
        outcome = processor.on_event(event, stale_before=batch.stale_before)
        if outcome.duplicate:
            self.metrics.events_duplicate.inc()
            return
        await self._publish(outcome, batch)
        processor.commit(outcome)
        batch.touched(event.customer_id, record)
        batch.processed.append((event.customer_id, event.type))

    async def _tick(
        self, processor: PartitionProcessor, tick: Tick, record: EventT[Any], batch: _Batch
    ) -> None:
        metrics, source = self.metrics, record.message
        reads_before = processor.tick_state_reads
        woken = 0
        with self.states.skipping_unreadable() as unreadable:
            try:
                for state in processor.due_states(tick.at):
                    try:
                        outcome = processor.on_due(state, tick.at, stale_before=batch.stale_before)
                    except Exception as exc:
                        await self._quarantine(processor, state, exc, source)
                        continue
                    await self._publish(outcome, batch)
                    processor.commit(outcome)
                    batch.touched(state.customer_id, record)
                    metrics.due_customers.inc()
                    woken += 1
                    if woken % self.batch_size == 0:
                        await self._settle_so_far(batch, record)
            finally:
                # due_states read these as "no state" and took them out of the due index.
                for skipped in unreadable:
                    await self._unreadable(skipped, source)
        metrics.ticks.inc()
        metrics.tick_state_reads.inc(processor.tick_state_reads - reads_before)
        delay = (self.clock() - tick.at).total_seconds()
        metrics.tick_delay.labels(str(source.partition)).set(max(0.0, delay))

    async def _settle_so_far(self, batch: _Batch, record: EventT[Any]) -> None:
        """Write what the batch holds so far and go on holding for ``record``.

        A tick wakes every due customer of its partition at once: the first one after a
        backfill wakes nearly all of them, and holding each decoded state to the batch's
        end took tens of megabytes that the interpreter's heap then kept. Writing every
        ``batch_size`` woken customers bounds that; a crash in between is a crash after
        (2): the batch comes again, its events as duplicates, the written customers no
        longer due."""
        await self._settle(batch)
        batch.settled()
        self.write_behind.begin()
        self.write_behind.working_for(record)

    async def _publish(self, outcome: Outcome, batch: _Batch) -> None:
        """Hand the outcome's outbox records to the producer (acknowledged in _settle)."""
        metrics = self.metrics
        for message in outcome.messages:
            acknowledged = await self.outbox.send(
                key=message.customer_id.encode(), value=message.to_json_bytes()
            )
            batch.published.append((message.customer_id, acknowledged))
            metrics.outbox_published.labels(message.campaign_id).inc()
        batch.expired.extend((m.customer_id, m.campaign_id) for m in outcome.expired)
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

    async def _settle(self, batch: _Batch) -> None:
        """Wait for the batch's outbox records, then write its tables."""
        failed: dict[str, BaseException] = {}
        if batch.published:
            # The outbox must be durable before the state that says "sent" is written.
            results = await asyncio.gather(
                *(acknowledged for _, acknowledged in batch.published), return_exceptions=True
            )
            for (customer_id, _), result in zip(batch.published, results, strict=True):
                if isinstance(result, BaseException):
                    failed.setdefault(customer_id, result)
        if failed:
            await self._outbox_failed(batch, failed)
        for record, exc in self.write_behind.write():
            log_failure(log, f"writing the tables of {_where(record.message)} failed", exc)
            await self._dead_letter(
                record.message, f"table write failed: {describe(exc)}", "engine_error"
            )
        for customer_id, event_type in batch.processed:
            if customer_id not in failed:
                self.metrics.events_processed.labels(event_type).inc()
        for customer_id, campaign_id in batch.expired:
            if customer_id not in failed:
                self.metrics.emails_expired_at_decision.labels(campaign_id).inc()

    async def _outbox_failed(self, batch: _Batch, failed: dict[str, BaseException]) -> None:
        self.write_behind.discard_states_of(set(failed))
        dead: dict[int, tuple[EventT[Any], BaseException]] = {}
        for customer_id, exc in failed.items():
            log_failure(log, f"the outbox refused a message for customer {customer_id}", exc)
            for record in batch.records_of.get(customer_id, ()):
                dead.setdefault(id(record), (record, exc))
        for record, exc in dead.values():
            await self._dead_letter(
                record.message,
                f"outbox publish failed: {describe(exc)}; the customer's state is not written",
                "engine_error",
            )

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
