"""Challenge windows: periods in the program's timezone, across DST changes, clipped to the
window; expected instants are worked out by hand from the zones' published rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.challenges.windows import (
    Window,
    local_midnight,
    period_of,
    time_left_today,
)

BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")
SANTIAGO = ZoneInfo("America/Santiago")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def recurring(period: str, starts: str = "2026-01-01T00:00:00Z", ends: str | None = None):
    window = {"type": "recurring", "period": period, "starts_at": starts, "ends_at": ends}
    return {"window": window}


def test_a_berlin_week_with_the_spring_change_lasts_167_hours():
    # ISO week 13 of 2026 runs Monday 23 March to Sunday 29 March, when Berlin moves from
    # CET (+1) to CEST (+2) at 02:00: Monday 00:00 CET is 22 March 23:00 UTC and the next
    # Monday 00:00 CEST is 29 March 22:00 UTC.
    window = Window.of(recurring("week"))
    assert window.bounds("w:2026-W13", BERLIN) == (utc(2026, 3, 22, 23), utc(2026, 3, 29, 22))
    assert window.period_of(utc(2026, 3, 22, 22, 59, 59), BERLIN) == "w:2026-W12"
    assert window.period_of(utc(2026, 3, 22, 23), BERLIN) == "w:2026-W13"
    assert window.period_of(utc(2026, 3, 29, 21, 59, 59), BERLIN) == "w:2026-W13"
    assert window.period_of(utc(2026, 3, 29, 22), BERLIN) == "w:2026-W14"


def test_a_berlin_week_with_the_autumn_change_lasts_169_hours():
    # Sunday 25 October 2026, CEST (+2) back to CET (+1) at 03:00.
    window = Window.of(recurring("week"))
    start, end = window.bounds("w:2026-W43", BERLIN)
    assert (start, end) == (utc(2026, 10, 18, 22), utc(2026, 10, 25, 23))
    assert end - start == timedelta(hours=169)
    assert window.period_of(utc(2026, 10, 25, 22, 59), BERLIN) == "w:2026-W43"
    assert window.period_of(utc(2026, 10, 25, 23), BERLIN) == "w:2026-W44"


def test_months_reset_at_local_midnight_in_tokyo_and_berlin():
    window = Window.of(recurring("month"))
    # Tokyo is UTC+9 all year: April begins 31 March 15:00 UTC.
    assert period_of(recurring("month"), utc(2026, 3, 31, 14, 59, 59), TOKYO) == "m:2026-03"
    assert period_of(recurring("month"), utc(2026, 3, 31, 15), TOKYO) == "m:2026-04"
    assert window.bounds("m:2026-04", TOKYO) == (utc(2026, 3, 31, 15), utc(2026, 4, 30, 15))
    # Berlin's March starts in CET and ends in CEST.
    assert window.bounds("m:2026-03", BERLIN) == (utc(2026, 2, 28, 23), utc(2026, 3, 31, 22))
    assert window.bounds("m:2026-12", BERLIN) == (utc(2026, 11, 30, 23), utc(2026, 12, 31, 23))


def test_iso_weeks_cross_the_new_year():
    # 1 January 2027 is a Friday of ISO week 53 of 2026.
    window = Window.of(recurring("week"))
    assert window.period_of(utc(2027, 1, 1, 12), TOKYO) == "w:2026-W53"
    assert window.bounds("w:2026-W53", TOKYO) == (utc(2026, 12, 27, 15), utc(2027, 1, 3, 15))


def test_periods_are_clipped_to_the_window_and_nothing_counts_outside_it():
    definition = recurring("week", "2026-03-25T10:00:00Z", "2026-04-01T12:00:00Z")
    window = Window.of(definition)
    assert window.period_of(utc(2026, 3, 25, 9, 59), BERLIN) is None
    assert window.period_of(utc(2026, 3, 25, 10), BERLIN) == "w:2026-W13"
    assert window.bounds("w:2026-W13", BERLIN) == (utc(2026, 3, 25, 10), utc(2026, 3, 29, 22))
    assert window.bounds("w:2026-W14", BERLIN) == (utc(2026, 3, 29, 22), utc(2026, 4, 1, 12))
    assert window.period_of(utc(2026, 4, 1, 11, 59), BERLIN) == "w:2026-W14"
    assert window.period_of(utc(2026, 4, 1, 12), BERLIN) is None


def test_a_fixed_window_is_one_period():
    definition = {"window": {"type": "fixed", "starts_at": "2026-05-01T00:00:00+02:00"}}
    window = Window.of(definition)
    assert window.period_of(utc(2026, 4, 30, 22), BERLIN) == "c"
    assert window.period_of(utc(2026, 4, 30, 21, 59), BERLIN) is None
    assert window.bounds("c", BERLIN) == (utc(2026, 4, 30, 22), None)
    assert window.time_left(utc(2030, 1, 1), BERLIN) is None  # never ends


def test_time_left_in_the_period_and_today():
    window = Window.of(recurring("week"))
    assert window.time_left(utc(2026, 3, 29, 12), BERLIN) == timedelta(hours=10)
    assert window.time_left(utc(2025, 12, 1), BERLIN) is None  # before the window
    # 29 March in Berlin has 23 hours: at 00:30 local, 22.5 hours are left.
    assert time_left_today(utc(2026, 3, 28, 23, 30), BERLIN) == timedelta(hours=22, minutes=30)
    # 25 October has 25 hours: at 00:30 local, 24.5 hours are left.
    assert time_left_today(utc(2026, 10, 24, 22, 30), BERLIN) == timedelta(hours=24, minutes=30)
    assert time_left_today(utc(2026, 3, 29, 14, 59), TOKYO) == timedelta(minutes=1)


def test_a_day_whose_midnight_does_not_exist_starts_at_the_change():
    # Chile moves 6 September 2026 from 00:00 (-04) straight to 01:00 (-03).
    assert local_midnight(datetime(2026, 9, 6).date(), SANTIAGO) == utc(2026, 9, 6, 4)
    assert local_midnight(datetime(2026, 9, 7).date(), SANTIAGO) == utc(2026, 9, 7, 3)


ZONES = st.sampled_from(
    ["Europe/Berlin", "Asia/Tokyo", "America/New_York", "America/Santiago", "UTC"]
)
MOMENTS = st.datetimes(datetime(2024, 1, 1), datetime(2029, 12, 31), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(zone=ZONES, moment=MOMENTS, period=st.sampled_from(["week", "month"]))
def test_periods_tile_time_and_begin_on_a_local_monday_or_first(zone, moment, period):
    tz = ZoneInfo(zone)
    window = Window.of(recurring(period, "2023-01-01T00:00:00Z"))
    key = window.period_of(moment, tz)
    assert key is not None
    start, end = window.bounds(key, tz)
    assert end is not None
    assert start <= moment < end
    # The instant before `start` is the previous day locally, `start` is the new day.
    first = start.astimezone(tz)
    assert (start - timedelta(microseconds=1)).astimezone(tz).date() < first.date()
    assert first.weekday() == 0 if period == "week" else first.day == 1
    # Consecutive periods meet exactly: the end is the next period's start.
    after = window.period_of(end, tz)
    assert after != key
    assert after is not None and window.bounds(after, tz)[0] == end
    assert window.period_of(end - timedelta(microseconds=1), tz) == key
    hours = (end - start) / timedelta(hours=1)
    days = (end.astimezone(tz).date() - first.date()).days
    assert days == 7 if period == "week" else 28 <= days <= 31
    assert abs(hours - 24 * days) <= 1  # at most one DST change inside a period
