"""Streaks with the weekly freeze: hand-worked cases (March 2026: Monday 2, 9, 16 start ISO
weeks 10, 11, 12) and a naive model that walks the calendar one day at a time."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.challenges.goals import Contribution, Goal, Tally
from campaigns.challenges.streaks import daily_streak, weekly_streak


def march(*days: int) -> list[date]:
    return [date(2026, 3, d) for d in days]


def d(day: int) -> date:
    return date(2026, 3, day)


def test_consecutive_days_without_a_gap():
    s = daily_streak(march(2, 3, 4, 5, 6), today=d(6))
    assert (s.current, s.best, s.frozen_days, s.freeze_used_this_week) == (5, 5, (), False)


def test_today_is_still_under_way_and_a_missed_day_is_frozen_automatically():
    assert daily_streak(march(2, 3, 4, 5, 6), today=d(7)).current == 5  # Saturday, not yet
    sunday = daily_streak(march(2, 3, 4, 5, 6), today=d(8))  # Saturday missed: frozen
    assert (sunday.current, sunday.frozen_days, sunday.freeze_used_this_week) == (
        5,
        (d(7),),
        True,
    )
    monday = daily_streak(march(2, 3, 4, 5, 6), today=d(9))  # Saturday and Sunday missed
    assert (monday.current, monday.best, monday.alive) == (0, 5, False)


def test_a_frozen_day_keeps_the_streak_but_does_not_lengthen_it():
    s = daily_streak(march(2, 3, 5, 6), today=d(6))  # Wednesday 4 missed
    assert (s.current, s.best, s.frozen_days) == (4, 4, (d(4),))


def test_a_second_missed_day_in_the_same_week_breaks_the_streak():
    s = daily_streak(march(2, 4, 6), today=d(6))  # Tuesday frozen, Thursday cannot be
    assert (s.current, s.best, s.frozen_days, s.freeze_used_this_week) == (1, 2, (), False)


def test_each_week_has_its_own_freeze_even_back_to_back():
    # Sunday 8 (week 10) and Monday 9 (week 11) each use their own week's freeze.
    s = daily_streak(march(7, 10), today=d(10))
    assert (s.current, s.frozen_days, s.freeze_used_this_week) == (2, (d(8), d(9)), True)
    # Over two weeks, one gap a week: 9 purchase days, Thursday 5 and Wednesday 11 frozen.
    s = daily_streak(march(2, 3, 4, 6, 7, 8, 9, 10, 12), today=d(12))
    assert (s.current, s.best, s.frozen_days) == (9, 9, (d(5), d(11)))


def test_a_broken_streak_starts_again_with_a_fresh_freeze():
    s = daily_streak(march(2, 5, 6, 8), today=d(8))  # Tue, Wed missed: new streak on Thu 5
    assert (s.current, s.best, s.frozen_days) == (3, 3, (d(7),))


def test_days_after_today_are_not_seen_and_nothing_is_nothing():
    assert daily_streak(march(2, 3, 20), today=d(3)).best == 2
    empty = daily_streak([], today=d(3))
    assert (empty.current, empty.best, empty.last_active_day) == (0, 0, None)


def test_at_the_end_of_a_period_the_day_after_is_today():
    # A monthly streak of March evaluated after the month: the last five days hold.
    s = daily_streak(march(27, 28, 29, 30, 31), today=date(2026, 4, 1))
    assert (s.current, s.best) == (5, 5)
    # April starts at zero: the progress row of April has none of March's days.
    assert daily_streak([], today=date(2026, 4, 1)).current == 0


def _purchase(tx: int, day: int) -> Contribution:
    return Contribution(tx, 1000, d(day), merchant_id="m1", category="dining")


def test_a_refund_of_the_only_purchase_of_a_day_makes_it_a_missed_day():
    goal = Goal("streak", 7, "days")
    week = [_purchase(day, day) for day in range(2, 9)]
    tally = Tally.of([*week, _purchase(99, 6)])  # Friday 6 has two purchases
    assert tally.value(goal, today=d(8)) == 7
    tally.remove(_purchase(99, 6))  # Friday still has a purchase
    assert tally.value(goal, today=d(8)) == 7
    tally.remove(week[2])  # Wednesday 4 now missed: frozen, the streak holds at 6 days
    assert tally.value(goal, today=d(8)) == 6
    tally.remove(week[4])  # Friday 6 missed too: week 10's freeze is taken, it breaks
    assert tally.value(goal, today=d(8)) == 3  # Mon 2, Tue 3, Thu 5 | Sat 7, Sun 8


def test_weekly_streaks_count_consecutive_iso_weeks_without_a_freeze():
    days = [d(3), d(12), d(13), d(24)]  # weeks 10, 11, 13
    assert (weekly_streak(days, today=d(24)).current, weekly_streak(days, d(24)).best) == (1, 2)
    assert weekly_streak(days, today=d(11)).current == 1  # week 11 under way
    assert weekly_streak(days, today=d(15)).current == 2
    assert weekly_streak(days, today=d(30)).current == 1  # week 14 under way
    assert weekly_streak(days, today=date(2026, 4, 6)).current == 0  # week 14 missed


def naive(active: set[date], today: date) -> tuple[int, int, bool]:
    """Walk the calendar day by day: a missed day before today freezes if its ISO week has
    not frozen a day in this streak yet, otherwise the streak ends."""
    length = best = 0
    alive = False
    frozen_weeks: set[tuple[int, int]] = set()
    day = min(active, default=today)
    while day <= today:
        week = day.isocalendar()[:2]
        if day in active:
            if not alive:
                length, frozen_weeks, alive = 0, set(), True
            length += 1
        elif day < today and alive:
            if week in frozen_weeks:
                alive, length = False, 0
            else:
                frozen_weeks.add(week)
        best = max(best, length)
        day += timedelta(days=1)
    used = alive and today.isocalendar()[:2] in frozen_weeks
    return (length if alive else 0), best, used


@settings(max_examples=500, deadline=None)
@given(
    offsets=st.sets(st.integers(0, 59), max_size=45),
    today=st.integers(0, 70),
)
def test_daily_streak_matches_a_day_by_day_walk(offsets, today):
    start = date(2026, 2, 23)  # a Monday
    active = {start + timedelta(days=o) for o in offsets}
    as_of = start + timedelta(days=today)
    seen = {day for day in active if day <= as_of}
    s = daily_streak(active, today=as_of)
    assert (s.current, s.best, s.freeze_used_this_week) == naive(seen, as_of)
