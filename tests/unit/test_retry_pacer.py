"""RetryPacer: due records go now, later ones are deferred, a waiting partition pauses briefly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from lifecycle.mail.backoff import RetryPacer, RetryStep

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def test_a_due_record_is_sent_at_once() -> None:
    assert RetryPacer().step("a", at(-5), NOW) == RetryStep("send")


def test_a_record_due_within_the_short_wait_is_sent_after_it() -> None:
    assert RetryPacer(short_wait=1.0).step("a", at(0.4), NOW) == RetryStep("send", wait=0.4)


def test_a_later_record_is_deferred_and_one_due_behind_it_goes_right_away() -> None:
    pacer = RetryPacer()
    assert pacer.step("late", at(600), NOW) == RetryStep("defer")
    assert pacer.step("due", at(0), NOW) == RetryStep("send")
    # after a send the round starts over: meeting 'late' again is not a full idle round
    assert pacer.step("late", at(600), NOW) == RetryStep("defer")


def test_a_partition_of_waiting_records_pauses_once_per_round() -> None:
    pacer = RetryPacer(short_wait=1.0)
    steps = [pacer.step(key, at(300), NOW) for key in ("a", "b", "c", "a", "b", "c", "a")]
    assert [s.pause for s in steps] == [0, 0, 0, 1.0, 0, 0, 1.0]
    assert all(s.action == "defer" for s in steps)


def test_the_pause_ends_when_the_earliest_waiting_record_is_due() -> None:
    pacer = RetryPacer(short_wait=1.0)
    assert pacer.step("b", at(30), NOW) == RetryStep("defer")
    assert pacer.step("a", at(1.2), NOW) == RetryStep("defer")
    later = NOW + timedelta(seconds=0.5)
    step = pacer.step("b", at(30), later)
    assert step.action == "defer"
    assert step.pause == 0.7  # 'a' is due then, not a full short wait later
    assert pacer.step("a", at(1.2), later + timedelta(seconds=0.7)) == RetryStep("send")


@given(
    waits=st.lists(st.floats(min_value=-1000, max_value=1000), min_size=1, max_size=50),
    short_wait=st.floats(min_value=0.01, max_value=5),
)
def test_never_waits_or_pauses_longer_than_the_short_wait(
    waits: list[float], short_wait: float
) -> None:
    pacer = RetryPacer(short_wait=short_wait)
    for n, wait in enumerate(waits):
        step = pacer.step(str(n % 7), at(wait), NOW)
        assert 0 <= step.wait <= short_wait
        assert 0 <= step.pause <= short_wait
        if abs(wait - short_wait) > 1e-5:  # timedelta keeps microseconds only
            assert (step.action == "send") == (wait < short_wait)
