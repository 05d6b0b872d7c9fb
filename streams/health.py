"""What ``/health`` says: the worker is alive only while every agent runs and makes progress.

Two ways a worker can look up and be dead inside, both turned into a failing ``/health``
(HTTP 503) so the orchestrator's liveness probe restarts it:

* **An agent crashed.** Our agents catch every exception a record can provoke and
  dead-letter the record, so an exception that escapes one is a bug or a broken
  dependency (a producer that cannot send). Faust restarts the actor, but what it held is
  gone; the crash is recorded with the agent's name and the exception's type and stays
  until the worker restarts.
* **An agent stopped consuming.** A partition whose committed offset has not moved for
  ``stall_seconds`` while records wait behind it (its high watermark is past the
  committed offset) is stalled: an agent stuck in an await that never returns, a hung SMTP
  connection without timeouts, a deadlock. Idle partitions are never stalled, and a slow
  but moving one is not either. The default (300 s) is above what one email can take with
  the default SMTP timeouts.

Readiness (``/ready``) is the other question, "may traffic be routed here": false while
tables recover and while the group rebalances.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from faust.types import TP, ConsumerT

__all__ = ["DEFAULT_STALL_SECONDS", "Health"]

DEFAULT_STALL_SECONDS = 300.0
#: How often :meth:`Health.observe` runs (a timer in streams.app).
OBSERVE_INTERVAL_SECONDS = 2.0

AgentRun = Callable[[Any], Awaitable[None]]


@dataclass
class _Progress:
    committed: int | None
    since: float


class Health:
    def __init__(
        self,
        topics: Collection[str],
        *,
        stall_seconds: float = DEFAULT_STALL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        #: The topics the agents read; table changelogs are assigned too, but only table
        #: recovery reads them and it commits nothing.
        self.topics = frozenset(topics)
        self.stall_seconds = stall_seconds
        self.clock = clock
        self.crashed: dict[str, str] = {}
        self._progress: dict[TP, _Progress] = {}
        self._stalled: dict[TP, tuple[int, float]] = {}  # tp -> (records behind, for seconds)

    def watch(self, name: str, run: AgentRun) -> AgentRun:
        """``run`` (an agent's body), recording here an exception that escapes it."""

        async def watched(stream: Any) -> None:
            try:
                await run(stream)
            except asyncio.CancelledError:
                raise  # a rebalance or shutdown, not a crash
            except Exception as exc:
                self.crashed[name] = type(exc).__name__
                raise  # Faust logs it and restarts the actor

        watched.__name__ = getattr(run, "__name__", name)
        return watched

    def observe(self, consumer: ConsumerT, committed: Mapping[TP, int]) -> None:
        """Note each assigned partition's progress; called every few seconds."""
        now = self.clock()
        stalled = {}
        assigned = {tp for tp in consumer.assignment() if tp.topic in self.topics}
        for tp in assigned:
            end = consumer.highwater(tp)
            position = committed.get(tp)
            seen = self._progress.get(tp)
            if seen is None or seen.committed != position:
                self._progress[tp] = seen = _Progress(position, now)
            behind = 0 if end is None else end - (position or 0)
            if behind <= 0:
                seen.since = now  # nothing waits: idle is not stalled
                continue
            if now - seen.since >= self.stall_seconds:
                stalled[tp] = (behind, now - seen.since)
        for tp in set(self._progress) - assigned:  # moved to another worker
            del self._progress[tp]
        self._stalled = stalled

    @property
    def healthy(self) -> bool:
        return not self.crashed and not self._stalled

    def report(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "crashed_agents": dict(sorted(self.crashed.items())),
            "stalled_partitions": [
                {
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "behind": behind,
                    "for_seconds": round(for_seconds, 1),
                }
                for tp, (behind, for_seconds) in sorted(self._stalled.items())
            ],
        }
