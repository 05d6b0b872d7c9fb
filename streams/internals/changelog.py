"""One table write whose changelog record is produced now and acknowledged before we go on.

Private names used (faust-streaming 0.15): ``Collection._on_changelog_sent`` (the callback
Faust gives every changelog send it makes itself, which keeps its own bookkeeping of
written offsets). Public but undocumented: ``Collection.data`` (the store behind the
table), ``partition_for_key``, ``changelog_topic``, ``key_serializer`` and
``value_serializer``, and ``Topic.send(..., force=True)``.

:func:`put_tracked` is ``table[key] = value`` through the table's public ``send_changelog``
(the same call Faust's own ``on_key_set`` makes), returning the changelog record's future
so the caller learns its offset when the broker acknowledges it: the counters
(:mod:`streams.counters`) count a write's facts only once its record is durable.

Why: ``table[key] = value`` only puts the changelog record in Faust's producer buffer, and
``app.producer.flush()`` does not make it durable either (the buffer's ``flush_atmost``
returns after 0.1 s without progress, and aiokafka's ``flush`` waits for batches but
swallows their delivery errors). Delivery must know that its ``committing`` mark is on the
broker before it writes SMTP's final dot.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["put_acknowledged", "put_tracked"]


async def put_acknowledged(table: Any, key: bytes, value: bytes, *, within: float) -> None:
    """What ``table[key] = value`` does, except that the changelog record is produced now
    and its acknowledgement awaited; raises whatever the send or the broker raised, or
    ``TimeoutError`` after ``within`` seconds.

    The record goes to the partition Faust would choose (``partition_for_key``: the
    partition of the event being processed), with the table's own serializers and
    sent-callback, and the ``RecordMetadata`` future fails if the broker refused it.
    """
    partition = table.partition_for_key(key)
    table.data[key] = value  # the in-memory view, without a second changelog record
    async with asyncio.timeout(within):
        acknowledged = await table.changelog_topic.send(
            key=key,
            value=value,
            partition=partition,
            key_serializer=table.key_serializer,
            value_serializer=table.value_serializer,
            callback=table._on_changelog_sent,
            force=True,  # never deferred to the event's commit ("attachments")
        )
        await acknowledged


def put_tracked(table: Any, key: bytes, value: bytes) -> asyncio.Future[Any]:
    """What ``table[key] = value`` does, returning the future of the changelog record
    (it resolves to the record's ``RecordMetadata``, or fails if the broker refused it).

    Only inside stream iteration: the record goes to the partition of the event being
    processed, as every table write does (``partition_for_key``).
    """
    future: asyncio.Future[Any] = table.send_changelog(table.partition_for_key(key), key, value)
    table.data[key] = value
    return future
