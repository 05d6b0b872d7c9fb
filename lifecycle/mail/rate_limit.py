"""A token bucket for send-rate limits, with time passed in (no clock inside).

``reserve(now)`` books the next send slot and says how long to wait for it. Booking
happens at once, before the wait, so concurrent callers that reserve one after the
other get successive slots and the limit holds without a lock.
"""

from __future__ import annotations

__all__ = ["TokenBucket"]


class TokenBucket:
    """At most ``burst`` sends at once, refilled at ``rate`` per second.

    Time is any monotonic float in seconds (``loop.time()``, ``time.monotonic()`` or a
    fake clock in tests). The bucket starts full.
    """

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._updated = now

    def reserve(self, now: float) -> float:
        """Take one token and return the seconds to wait before using it (0 if none).

        The balance may go negative: that is the queue of callers already promised a
        later slot.
        """
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._updated = max(self._updated, now)
        self._tokens -= 1.0
        if self._tokens >= 0.0:
            return 0.0
        return -self._tokens / self.rate
