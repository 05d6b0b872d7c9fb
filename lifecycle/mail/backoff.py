"""Retry pacing: exponential backoff with jitter, and what to do with a retry record.

The caller supplies the random number, so the delay is reproducible in tests and in
replay; in production pass ``random.random()``. Time is a parameter too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = ["RetryPacer", "RetryStep", "backoff_delay"]

# 2**62 times any sane base is far beyond any cap; stopping the exponent there keeps
# the arithmetic finite for absurd attempt numbers.
_MAX_EXPONENT = 62


def backoff_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    jitter_fraction: float,
    rng_value: float,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry).

    The undisturbed delay doubles per attempt, ``base * 2**(attempt - 1)``, and stops
    growing at ``cap``. Jitter then takes off up to ``jitter_fraction`` of it:
    ``delay * (1 - jitter_fraction * rng_value)`` with ``rng_value`` in ``[0, 1)``. So
    the result is never above ``cap``, never below ``(1 - jitter_fraction)`` times the
    undisturbed delay, and workers that failed together spread out instead of
    retrying in lockstep. ``jitter_fraction=1`` is "full jitter".
    """
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    if base <= 0 or cap < base:
        raise ValueError("need 0 < base <= cap")
    if not 0.0 <= jitter_fraction <= 1.0:
        raise ValueError("jitter_fraction must be within [0, 1]")
    if not 0.0 <= rng_value < 1.0:
        raise ValueError("rng_value must be within [0, 1)")
    undisturbed = min(cap, base * 2.0 ** min(attempt - 1, _MAX_EXPONENT))
    return undisturbed * (1.0 - jitter_fraction * rng_value)


@dataclass(frozen=True, slots=True)
class RetryStep:
    """What the retry agent does with one record.

    ``send``: attempt it after sleeping ``wait`` seconds (0, or less than the pacer's
    ``short_wait``). ``defer``: put it back at the end of its partition unchanged, after
    pausing ``pause`` seconds (0 unless the whole partition is waiting).
    """

    action: Literal["send", "defer"]
    wait: float = 0.0
    pause: float = 0.0


@dataclass
class RetryPacer:
    """Decides, for one retry-topic partition, whether a record is sent now or deferred.

    Why not sleep until a record is due: the backoff reaches minutes, and a sleeping agent
    holds up every later record of its partition (even ones already due) and Faust's
    wait for in-flight events on a rebalance or shutdown. Instead a record that is not due
    within ``short_wait`` seconds is deferred: re-published to the end of its partition
    and passed over. Records already due behind it go right away.

    If the partition holds only records that are not due, deferring alone would spin
    through them as fast as the broker allows. So the pacer remembers the records it
    deferred since the last send; meeting one of them again means a whole round went by
    with nothing due, and that deferral pauses for up to ``short_wait`` seconds (less if
    the earliest of them is due sooner). A record due behind waiting ones therefore waits
    at most one round of re-publishing plus ``short_wait``.
    """

    short_wait: float = 1.0
    _deferred: dict[str, datetime] = field(default_factory=dict)

    def step(self, key: str, not_before: datetime, now: datetime) -> RetryStep:
        """``key`` identifies the record (message id and attempt); times are aware."""
        wait = (not_before - now).total_seconds()
        if wait <= self.short_wait:
            self._deferred.clear()
            return RetryStep("send", wait=max(0.0, wait))
        if key not in self._deferred:
            self._deferred[key] = not_before
            return RetryStep("defer")
        # A full round with nothing due: start the next round after a short pause.
        earliest = min(self._deferred.values())
        self._deferred = {key: not_before}
        pause = min(self.short_wait, max(0.0, (earliest - now).total_seconds()))
        return RetryStep("defer", pause=pause)
