"""TokenBucket with a fake clock: counts of granted slots, no real time involved."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifecycle.mail.rate_limit import TokenBucket


def test_burst_is_free_then_slots_are_spaced_by_one_over_rate() -> None:
    bucket = TokenBucket(rate=4.0, burst=2, now=100.0)
    waits = [bucket.reserve(100.0) for _ in range(5)]
    assert waits == [0.0, 0.0, 0.25, 0.5, 0.75]


def test_tokens_refill_with_time_up_to_burst() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, now=0.0)
    assert [bucket.reserve(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve(0.5) == 0.0  # one token back after 0.5 s
    assert bucket.reserve(0.5) == pytest.approx(0.5)
    # a long pause refills only up to burst
    assert [bucket.reserve(1000.0) for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(0.5)]


def test_clock_going_backwards_does_not_mint_tokens() -> None:
    bucket = TokenBucket(rate=1.0, burst=1, now=10.0)
    assert bucket.reserve(10.0) == 0.0
    assert bucket.reserve(5.0) == pytest.approx(1.0)


@given(
    rate=st.floats(min_value=0.5, max_value=1000.0),
    burst=st.integers(min_value=1, max_value=20),
    gaps=st.lists(st.floats(min_value=0.0, max_value=2.0), min_size=1, max_size=200),
)
def test_sends_in_any_window_never_exceed_burst_plus_rate_times_window(
    rate: float, burst: int, gaps: list[float]
) -> None:
    """Callers arrive at arbitrary times; the slots they are given obey the limit."""
    bucket = TokenBucket(rate=rate, burst=burst, now=0.0)
    now = 0.0
    slots: list[float] = []
    for gap in gaps:
        now += gap
        slots.append(now + bucket.reserve(now))
    slots.sort()
    for first in range(len(slots)):
        for last in range(first, len(slots)):
            window = slots[last] - slots[first]
            assert last - first + 1 <= burst + rate * window + 1e-6


@pytest.mark.parametrize(
    ("rate", "burst", "complaint"), [(0.0, 1, "rate"), (-1.0, 1, "rate"), (1.0, 0, "burst")]
)
def test_invalid_configuration(rate: float, burst: int, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        TokenBucket(rate=rate, burst=burst, now=0.0)
