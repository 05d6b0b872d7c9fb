"""Keep Faust from acking the records of a batch that was left before they were handled.

Private name used (faust-streaming 0.15): ``Message.acked``, the flag Faust's own
bookkeeping sets when a record's last stream acks it (``Message.ack``), after which the
consumer counts its offset as safe to commit. A message already flagged is skipped.

Why: ``Stream.take_events`` acks every record of a batch in a ``finally`` once the batch
ends, also when the agent's body raised or was cancelled there (a worker stopping in the
middle of a batch): the consumer's last commit would then pass records that were never
handled, and what they were to do (a state write, an email) would be lost, not repeated.
:func:`withhold_unhandled` flags, per partition, every record from the first unhandled one
on, so the commit stops before it and those records come again after the restart. A
handled record after an unhandled one comes again too (Faust commits contiguous offsets
only, faust-streaming/faust#606): its effects are safe to repeat (the ledger, the engine's
dedupe window).

With faust-streaming 0.15.3 a SIGTERM in the middle of an outbox batch loses nothing even
without this (tests/integration/test_delivery.py, run both ways): the consumer's last
commit comes before the abandoned batch's acks run. Faust promises no such order (the acks
run whenever the event loop finalizes the generator), so the guard stays.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from faust.types import EventT, Message

__all__ = ["acks_withheld_unless_handled", "withhold_unhandled"]


def withhold_unhandled(records: Sequence[EventT[Any]], handled: Collection[int]) -> int:
    """Keep Faust from acking ``records`` from each partition's first one whose ``id`` is
    not in ``handled`` on; returns how many are withheld."""
    first_unhandled: dict[tuple[str, int], int] = {}
    for record in records:
        message = record.message
        if id(record) not in handled:
            tp = (message.topic, message.partition)
            first_unhandled[tp] = min(first_unhandled.get(tp, message.offset), message.offset)
    withheld = 0
    for record in records:
        message = record.message
        first = first_unhandled.get((message.topic, message.partition))
        if first is not None and message.offset >= first and not message.acked:
            _flag_acked(message)
            withheld += 1
    return withheld


@contextmanager
def acks_withheld_unless_handled(records: Sequence[EventT[Any]]) -> Iterator[set[int]]:
    """Around one batch: add ``id(record)`` to the yielded set as each record is handled.

    If the block raises (or is cancelled), the records not handled are withheld
    (:func:`withhold_unhandled`) before the exception goes on."""
    handled: set[int] = set()
    try:
        yield handled
    except BaseException:
        withhold_unhandled(records, handled)
        raise


def _flag_acked(message: Message) -> None:
    # Faust's Message.ack and Consumer.ack skip a message already flagged, so its offset
    # never joins the committable ones (and wait_empty no longer waits for it).
    message.acked = True
