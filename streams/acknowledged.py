"""Produce one record and return only once the broker acknowledged it, however long that takes.

Some records must exist before a consumer may move past the record that caused them: a
dead letter (or the record it stands for is gone uncounted), a retry record (or the email
is never attempted again). A broker that is briefly unreachable or between leaders must
not turn those into a crashed agent, whose record Faust would then acknowledge and commit.
So :func:`send_acknowledged` keeps trying, with a pause that grows to a few seconds, for as
long as the failure is the broker's (a Kafka error, a socket error, a timeout). The agent
waits meanwhile; nothing is committed past its record, and a shutdown or rebalance cancels
the wait like any other.

A record the broker will never take (larger than its message limit) raises
:class:`RecordRefusedError` at once; anything else (a bug) propagates unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError
from faust.exceptions import ProducerSendError
from faust.types import TopicT

from lifecycle.exceptions import LifecycleError
from streams.failures import caused_by

__all__ = ["RecordRefusedError", "send_acknowledged"]

log = logging.getLogger(__name__)

#: Failures that are the broker's or the network's: worth trying again.
_RETRYABLE = (KafkaError, ProducerSendError, OSError, TimeoutError)
_TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError)
_FIRST_PAUSE_SECONDS = 0.1
_MAX_PAUSE_SECONDS = 5.0


class RecordRefusedError(LifecycleError):
    """The broker will never take this record (it is larger than the message limit)."""


async def send_acknowledged(
    topic: TopicT,
    *,
    what: str,
    key: bytes | None,
    value: bytes | None,
    partition: int | None = None,
    headers: Sequence[tuple[str, bytes]] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Any:
    """Send, await the acknowledgement, and try again while the broker fails; ``what``
    names the record in the warnings (never its content)."""
    options: dict[str, Any] = {}
    if partition is not None:
        options["partition"] = partition
    if headers is not None:
        options["headers"] = list(headers)
    pause = _FIRST_PAUSE_SECONDS
    failures = 0
    while True:
        try:
            pending = await topic.send(key=key, value=value, **options)
            return await pending
        except _RETRYABLE as exc:
            if caused_by(exc, _TOO_LARGE):
                raise RecordRefusedError(
                    f"{what} is larger than the broker accepts ({len(value or b'')} bytes)"
                ) from exc
            failures += 1
            log.warning(
                "%s not acknowledged by the broker (%s, failure %d); trying again in %.1fs",
                what,
                type(exc).__name__,
                failures,
                pause,
            )
            await sleep(pause)
            pause = min(_MAX_PAUSE_SECONDS, pause * 2)
