"""A Faust producer whose ``flush()`` returns only once every record it took is on the broker.

Faust commits a source offset right after ``app.producer.flush()``, so everything produced
while processing that record (table changelog writes above all: customer state, the due
index, the delivery ledger) must be acknowledged by then, or a crash after the commit
loses it for good: the record is not processed again, and the table rebuilt from its
changelog lacks the write. Stock ``flush()`` (faust-streaming 0.15.3) does not guarantee
that: the buffer's ``flush_atmost`` returns after 0.1 s without progress, its ``size``
does not count the record being handed to aiokafka at that moment, and aiokafka's
``flush`` waits only for batches already in its accumulator. Under load that lost due
times across a SIGKILL (tests/integration/test_ticks_and_recovery.py).

:class:`DrainingProducer` keeps every future it hands out (``send_soon``, the path of table
writes, and ``send``) until it resolves, and ``flush()`` waits for all of them after the
stock flush. A record the broker refused is logged and dropped from the set: flush does
not raise, as Faust's commit would then crash the worker; the record's own future still
carries the error to whoever awaits it. Only public methods are overridden.

It also lets Faust's producer buffer hold :data:`BUFFERED_RECORDS` records (``max_messages``
of ``ProducerBufferT``, public but undocumented) instead of 100: the consumer stops handing
records to every agent while the buffer is over it, waiting for it to drain and logging
``producer buffer full`` per record, and one engine batch writes a state per customer in it
(up to ``LIFECYCLE_ENGINE_BATCH_SIZE``, 500 by default). Nothing else depends on the bound:
the flush before each commit waits for every record, however many.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import FutureMessage

__all__ = ["DrainingProducer", "OutstandingRecords"]

log = logging.getLogger(__name__)


class OutstandingRecords:
    """Futures of records produced and not yet acknowledged (or refused)."""

    def __init__(self) -> None:
        self._pending: set[asyncio.Future[Any]] = set()

    def __len__(self) -> int:
        return len(self._pending)

    def track(self, future: Awaitable[Any]) -> None:
        if not isinstance(future, asyncio.Future) or future.done():
            return
        self._pending.add(future)
        future.add_done_callback(self._resolved)

    def _resolved(self, future: asyncio.Future[Any]) -> None:
        self._pending.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("a produced record was not acknowledged: %r", future.exception())

    async def wait(self) -> None:
        """Until every tracked record (including those produced meanwhile) resolved."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)


#: Records in Faust's producer buffer before the consumer waits for it to drain: four
#: default engine batches' state writes (Faust's own, 100, is a fifth of one). Two were
#: not enough on a loaded machine: the engine's batch, a tick's wake-ups and the delivery
#: agent's ledger writes can all be in it while its sender waits for a core (1,038 once,
#: in a run of the whole test suite on 2 cores).
BUFFERED_RECORDS = 2_000


class DrainingProducer(aiokafka_driver.Producer):
    outstanding: OutstandingRecords

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.buffer.max_messages = BUFFERED_RECORDS

    def __post_init__(self) -> None:
        super().__post_init__()
        self.outstanding = OutstandingRecords()

    def send_soon(self, fut: FutureMessage) -> None:
        self.outstanding.track(fut)
        super().send_soon(fut)

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        acknowledged = await super().send(*args, **kwargs)
        self.outstanding.track(acknowledged)
        return acknowledged

    async def flush(self) -> None:
        await super().flush()
        await self.outstanding.wait()
