"""The counters on Kafka: periodic flushes to the compacted counters topic, and recovery.

**The design.** Every write that counts carries its facts in its own changelog record (the
customer state, ``CustomerState.facts``; a final delivery ledger entry,
``LedgerEntry.facts``), so the changelogs are the journals of what was counted. Totals per
source partition live in memory (:class:`~streams.counters.journal.Journal`), take a
record's facts when the broker acknowledges that record, and are flushed every
``LIFECYCLE_COUNTERS_FLUSH_SECONDS`` to the counters topic: the changed keys with their
journal offset, then, once those are acknowledged, a marker
(:mod:`~streams.counters.codec`). No Kafka record is produced per +1.

**Recovery** of a partition (at the first record of it a worker handles in a new group
generation, so after every start and rebalance): wait until everything this worker
produced is acknowledged, read the partition's latest totals and marker from the counters
topic, then read the journal from the marker to its end and add the facts of every record
above each key's own offset. The totals are then exactly the facts of every durable
journal record: each record is counted by offset, once, either in a flushed total or from
the tail, whichever covers it.

**Why a crash cannot double count.** A fact is added only for a changelog record that is
on the broker, and only if its offset is above what the total already covers. A replayed
input whose state write landed is a duplicate to the engine and writes nothing (the ledger
likewise refuses a second final state); one whose write was lost is processed again and
its new record counted then. A partial flush leaves some keys newer than the marker; each
key's own offset keeps the tail from adding to it twice.

**Windows that remain** (each can only undercount): a journal record removed by log
compaction before a recovery read it (the changelogs keep records at least a day,
``min.compaction.lag.ms``, and a recovery reads only what was written since the
partition's last flush, seconds before); a zombie worker (one that lost its partitions
without noticing) still writing to a partition after the new owner read its tail; and a
record the broker refused, whose input Faust then commits anyway (its state is lost too).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from lifecycle.measurement import CounterKey, Number, Totals, expand, journal_of
from lifecycle.state_codec import stored_json
from streams.counters.codec import (
    CounterRecord,
    MarkerRecord,
    decode_record,
    encode_marker,
    encode_total,
)
from streams.counters.journal import Journal, PartitionCounters
from streams.internals import BatchPublisher

__all__ = ["CounterStore", "read_partition", "topic_partitions"]

log = logging.getLogger(__name__)

#: Records per read of the recovery consumer.
_BATCH = 10_000


async def read_partition(
    consumer: AIOKafkaConsumer, topic: str, partition: int, start: int = 0
) -> Any:
    """Every record of ``topic[partition]`` from ``start`` to its end at the time of the
    call, in order (an async iterator)."""
    tp = TopicPartition(topic, partition)
    end = (await consumer.end_offsets([tp]))[tp]
    if end <= start:
        return
    consumer.assign([tp])
    consumer.seek(tp, start)
    while True:
        batch = await consumer.getmany(tp, timeout_ms=1000, max_records=_BATCH)
        for record in batch.get(tp, []):
            if record.offset >= end:
                return
            yield record
        if await consumer.position(tp) >= end:
            return


async def topic_partitions(bootstrap_servers: str, topic: str) -> int | None:
    """How many partitions ``topic`` has (None: no such topic)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15_000)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"] or not described["partitions"]:
        return None
    return len(described["partitions"])


class CounterStore:
    """Flushes and recovers the journals' counters against the counters topic."""

    def __init__(
        self,
        journals: Sequence[Journal],
        *,
        publisher: BatchPublisher,
        topic_name: str,
        bootstrap_servers: str,
        drain: Callable[[], Awaitable[None]],
    ) -> None:
        self.journals = {journal.name: journal for journal in journals}
        #: The totals of a flush go out as batches (thousands of keys during a backfill).
        self.publisher = publisher
        self.topic_name = topic_name
        self.bootstrap_servers = bootstrap_servers
        #: Waits until every record this worker produced so far is acknowledged.
        self.drain = drain
        self._consumer: AIOKafkaConsumer | None = None
        self._topic_partitions: int | None = None
        self._io = asyncio.Lock()

    async def _reader(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap_servers,
                enable_auto_commit=False,
                group_id=None,
                auto_offset_reset="earliest",
            )
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def stop(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()

    async def _counters_partition(self, source_partition: int) -> int:
        if self._topic_partitions is None:
            count = await topic_partitions(self.bootstrap_servers, self.topic_name)
            if not count:
                raise RuntimeError(f"the counters topic {self.topic_name} has no partitions")
            self._topic_partitions = count
        return source_partition % self._topic_partitions

    # -- recovery -------------------------------------------------------------------

    async def ensure_ready(self, journal: Journal, partition: int) -> None:
        """Recover ``journal``'s counters of ``partition`` unless they are current."""
        while not journal.ready(partition):
            running = journal.recovery_of(partition)
            if running is not None:
                await running.wait()
                continue
            done = journal.begin_recovery(partition)
            assert done is not None
            counters = None
            try:
                counters = await self._recover(journal, partition)
            except Exception:
                log.exception(
                    "counters of %s[%d] not recovered; trying again", journal.name, partition
                )
                await asyncio.sleep(1)  # the broker's trouble, not ours: do not spin
            finally:
                journal.finish_recovery(partition, counters)

    async def _recover(self, journal: Journal, partition: int) -> PartitionCounters:
        generation = journal.generation()
        await self.drain()
        async with self._io:
            consumer = await self._reader()
            latest: dict[CounterKey, CounterRecord] = {}
            marker = -1
            counters_partition = await self._counters_partition(partition)
            async for record in read_partition(consumer, self.topic_name, counters_partition):
                decoded = decode_record(record.key, record.value)
                if decoded is None or decoded.partition != partition:
                    continue
                if isinstance(decoded, MarkerRecord):
                    if decoded.journal == journal.name:
                        marker = decoded.through
                elif journal_of(decoded.key.metric) == journal.name:
                    latest[decoded.key] = decoded
            totals = Totals({key: r.total for key, r in latest.items()})
            through = {key: max(r.through, marker) for key, r in latest.items()}
            coverage = marker
            changed: set[CounterKey] = set()
            async for record in read_partition(consumer, journal.changelog, partition, marker + 1):
                coverage = record.offset
                for key, value in expand_record(record.value):
                    if record.offset > through.get(key, marker):
                        totals.add(key, value)
                        changed.add(key)
            totals.take_dirty()
            totals.mark_dirty(changed)
        log.info(
            "counters of %s[%d] recovered: %d keys, journal covered to offset %d",
            journal.name,
            partition,
            len(totals),
            coverage,
        )
        return PartitionCounters(totals, coverage, generation)

    # -- flushing ---------------------------------------------------------------------

    async def flush(self) -> int:
        """Publish every changed total, then the markers; the number of keys published."""
        published = 0
        async with self._io:
            for journal in self.journals.values():
                for partition, changed, coverage in journal.take_changes():
                    try:
                        await self._publish(journal, partition, changed, coverage)
                    except Exception:
                        log.exception("counters of %s[%d] not flushed", journal.name, partition)
                        journal.unflushed(partition, changed)
                        continue
                    published += len(changed)
        return published

    async def _publish(
        self, journal: Journal, partition: int, changed: dict[Any, Number], coverage: int
    ) -> None:
        target = await self._counters_partition(partition)
        totals = [encode_total(key, partition, total, coverage) for key, total in changed.items()]
        await self._publish_acknowledged(totals, target)
        # Only once every total is on the broker: the marker says they are.
        await self._publish_acknowledged([encode_marker(journal.name, partition, coverage)], target)

    async def _publish_acknowledged(self, records: list[tuple[bytes, bytes]], target: int) -> None:
        """Publish to the counters topic's partition ``target``; raises if the broker
        refused any record."""
        batches = await self.publisher.publish(self.topic_name, records, partition=target)
        await asyncio.gather(*(batch.acknowledged for batch in batches))


def expand_record(value: bytes | None) -> list[tuple[CounterKey, Number]]:
    """The counter increments of one journal record (a state or a ledger entry)."""
    if not value:
        return []
    try:
        # A state's bytes are deflated JSON (a ledger entry's are plain JSON, which
        # stored_json() passes through as it is).
        body = json.loads(stored_json(value))
    except ValueError:
        return []
    facts = body.get("facts") if isinstance(body, dict) else None
    if not facts:
        return []
    return [pair for fact in facts for pair in expand(tuple(fact))]
