"""Make one event of a batch the one Faust's tables write for.

Private name used (faust-streaming 0.15): ``faust.streams._current_event``, the context
variable behind the public :func:`faust.streams.current_event`. Faust sets it for each
event its stream iteration yields, and every table write goes to the changelog partition
(and, on RocksDB, the local partition store) of that event.

Why: the engine agent takes its records in batches (``Stream.take_events``) and writes
their tables after the whole batch's outbox records are acknowledged. While a batch is
processed or written, the current event must be the record whose write it is, not the
last one Faust buffered; :func:`acting_for` sets it for a block and restores the previous
value after.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import faust.streams
from faust.types import EventT

__all__ = ["acting_for"]


@contextmanager
def acting_for(event: EventT[Any]) -> Iterator[None]:
    """Within the block, Faust's ``current_event()`` is ``event``."""
    token = faust.streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust.streams._current_event.reset(token)
