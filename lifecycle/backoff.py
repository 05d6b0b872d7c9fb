"""Retry pacing: exponential backoff with jitter, as a pure function.

The caller supplies the random number, so the delay is reproducible in tests and in
replay; in production pass ``random.random()``.
"""

from __future__ import annotations

__all__ = ["backoff_delay"]

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
