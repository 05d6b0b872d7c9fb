"""backoff_delay: doubling, cap, and jitter that only ever shortens the wait."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifecycle.mail.backoff import backoff_delay


def delay(attempt: int, rng_value: float = 0.0, jitter_fraction: float = 0.5) -> float:
    return backoff_delay(
        attempt, base=2.0, cap=60.0, jitter_fraction=jitter_fraction, rng_value=rng_value
    )


def test_doubles_per_attempt_without_jitter() -> None:
    assert [delay(n) for n in range(1, 7)] == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0]


def test_stops_at_cap_even_for_absurd_attempts() -> None:
    assert delay(7) == 60.0
    assert delay(10_000) == 60.0


def test_jitter_takes_off_its_fraction() -> None:
    assert delay(3, rng_value=0.5, jitter_fraction=0.5) == pytest.approx(8.0 * 0.75)
    assert delay(3, rng_value=0.999, jitter_fraction=1.0) == pytest.approx(8.0 * 0.001)


@given(
    attempt=st.integers(min_value=1, max_value=200),
    jitter_fraction=st.floats(min_value=0.0, max_value=1.0),
    rng_value=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_always_within_bounds(attempt: int, jitter_fraction: float, rng_value: float) -> None:
    undisturbed = min(60.0, 2.0 * 2.0 ** min(attempt - 1, 100))
    result = delay(attempt, rng_value=rng_value, jitter_fraction=jitter_fraction)
    assert (1.0 - jitter_fraction) * undisturbed - 1e-9 <= result <= undisturbed <= 60.0


@pytest.mark.parametrize(
    ("kwargs", "complaint"),
    [
        ({"attempt": 0}, "attempt"),
        ({"base": 0.0}, "base"),
        ({"cap": 1.0}, "base <= cap"),
        ({"jitter_fraction": 1.5}, "jitter_fraction"),
        ({"jitter_fraction": -0.1}, "jitter_fraction"),
        ({"rng_value": 1.0}, "rng_value"),
        ({"rng_value": -0.5}, "rng_value"),
    ],
)
def test_invalid_arguments(kwargs: dict[str, float], complaint: str) -> None:
    arguments: dict[str, float] = {
        "base": 2.0,
        "cap": 60.0,
        "jitter_fraction": 0.5,
        "rng_value": 0.1,
    }
    attempt = int(kwargs.pop("attempt", 1))
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=complaint):
        backoff_delay(attempt, **arguments)
