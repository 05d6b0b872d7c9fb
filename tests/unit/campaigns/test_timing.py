"""Customer-local time: quiet hours, waits and wait_until across DST changes."""

from __future__ import annotations

from datetime import time, timedelta
from zoneinfo import ZoneInfo

from lifecycle.campaigns.journeys.timing import add_wait, in_quiet_hours, next_local_time

from .support import utc

STOCKHOLM = ZoneInfo("Europe/Stockholm")
NIGHT = (time(21), time(8))


def test_quiet_hours_end_at_local_morning_across_the_spring_change() -> None:
    # Saturday 28 March 2026, 22:30 CET; clocks go forward at 02:00 that night.
    now = utc("2026-03-28T22:30:00+01:00")
    assert in_quiet_hours(now, *NIGHT, STOCKHOLM) == utc("2026-03-29T08:00:00+02:00")
    assert in_quiet_hours(now, *NIGHT, STOCKHOLM) == utc("2026-03-29T06:00:00+00:00")


def test_quiet_hours_end_at_local_morning_across_the_autumn_change() -> None:
    now = utc("2026-10-24T23:00:00+02:00")  # clocks go back at 03:00 that night
    assert in_quiet_hours(now, *NIGHT, STOCKHOLM) == utc("2026-10-25T08:00:00+01:00")


def test_early_morning_is_quiet_until_the_same_morning() -> None:
    now = utc("2026-06-10T05:59:00+02:00")
    assert in_quiet_hours(now, *NIGHT, STOCKHOLM) == utc("2026-06-10T08:00:00+02:00")


def test_daytime_is_not_quiet_and_the_edges_are_exact() -> None:
    assert in_quiet_hours(utc("2026-06-10T12:00:00+02:00"), *NIGHT, STOCKHOLM) is None
    assert in_quiet_hours(utc("2026-06-10T08:00:00+02:00"), *NIGHT, STOCKHOLM) is None
    assert in_quiet_hours(utc("2026-06-10T20:59:59+02:00"), *NIGHT, STOCKHOLM) is None
    assert in_quiet_hours(utc("2026-06-10T21:00:00+02:00"), *NIGHT, STOCKHOLM) is not None


def test_a_window_that_does_not_wrap_midnight() -> None:
    lunch = (time(12), time(13))
    assert in_quiet_hours(utc("2026-06-10T12:30:00+02:00"), *lunch, STOCKHOLM) == utc(
        "2026-06-10T13:00:00+02:00"
    )
    assert in_quiet_hours(utc("2026-06-10T13:30:00+02:00"), *lunch, STOCKHOLM) is None


def test_a_wait_in_days_keeps_the_local_time_of_day_across_dst() -> None:
    before = utc("2026-03-28T10:00:00+01:00")
    one_day = timedelta(days=1)
    assert add_wait(before, one_day, STOCKHOLM, calendar=True) == utc("2026-03-29T10:00:00+02:00")
    # written as 24h: exactly 24 hours, so 11:00 on the clock after the change
    assert add_wait(before, one_day, STOCKHOLM, calendar=False) == utc("2026-03-29T11:00:00+02:00")
    autumn = utc("2026-10-24T10:00:00+02:00")
    assert add_wait(autumn, timedelta(weeks=1), STOCKHOLM, calendar=True) == utc(
        "2026-10-31T10:00:00+01:00"
    )


def test_wait_until_the_next_local_time() -> None:
    now = utc("2026-03-28T09:00:00+01:00")
    assert next_local_time(now, time(10), STOCKHOLM) == utc("2026-03-28T10:00:00+01:00")
    assert next_local_time(now, time(8), STOCKHOLM) == utc("2026-03-29T08:00:00+02:00")
    # exactly that time now: no wait at all
    assert next_local_time(now, time(9), STOCKHOLM) == now


def test_wait_until_skips_to_allowed_weekdays() -> None:
    friday_noon = utc("2026-03-27T12:00:00+01:00")
    weekdays = (0, 1, 2, 3, 4)
    assert next_local_time(friday_noon, time(10), STOCKHOLM, weekdays) == utc(
        "2026-03-30T10:00:00+02:00"
    )


def test_a_time_in_the_spring_gap_moves_forward_and_a_doubled_time_means_the_first() -> None:
    before_gap = utc("2026-03-29T00:00:00+01:00")
    assert next_local_time(before_gap, time(2, 30), STOCKHOLM) == utc("2026-03-29T03:30:00+02:00")
    before_fold = utc("2026-10-25T00:00:00+02:00")
    assert next_local_time(before_fold, time(2, 30), STOCKHOLM) == utc("2026-10-25T02:30:00+02:00")
