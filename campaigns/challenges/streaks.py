"""Streaks: qualifying activity on consecutive program-local days (or ISO weeks).

The rules, exactly:

* An **active day** is a local day with at least one purchase that still counts (not refunded
  in full). The streak only sees the days of one challenge period: a new period starts from
  zero, and days of the previous period neither extend the streak nor use a freeze.
* **Freeze**: within one streak, each ISO week (Monday to Sunday) forgives at most one missed
  day, automatically. A missed day between two active days is *frozen* when no other day of
  its ISO week is frozen in the same streak; otherwise the streak breaks there and a new one
  starts at the next active day. Missed days are judged one by one, each against its own
  week, so Sunday and the following Monday can both be frozen (one freeze each week), while
  two missed days in one week always break the streak.
* **Length** counts active days only. A frozen day keeps the streak alive but adds nothing:
  "keep a 7-day streak" means seven days with a purchase, with at most one gap a week.
* **Today**: the day `today` is still under way, so not buying yet breaks nothing. The
  current streak is alive when every missed day between its last active day and today
  (exclusive) can be frozen; those days then count as frozen (so "this week's freeze is used"
  can already be true before the next purchase). Otherwise the current length is 0.
* **Best** is the longest streak among the period's days; a streak goal is reached when the
  best length reaches the target, so a later break does not undo a completion.
* **Refunds**: a refund that removes the only purchase of a day makes that day missed, and
  the whole period is evaluated again: the day may now be frozen (if its week's freeze is
  free) or split the streak in two, lowering the best length, possibly below the target
  (the completion is then revoked, see `campaigns.challenges.completion`).
* **At a period's end** pass the first day after the period as `today`: days missed up to
  the end are judged, and nothing after it counts.

Weekly streaks (unit `weeks`) count consecutive ISO weeks with at least one active day and
have no freeze: a week without a purchase breaks them; the current week is under way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

ONE_DAY = timedelta(days=1)
ONE_WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Streak:
    """A streak evaluation as of one day.

    `frozen_days` are the missed days the current streak's freezes forgave (empty when it
    is broken); `freeze_used_this_week` says whether one of them falls in `today`'s ISO week.
    """

    current: int
    best: int
    last_active_day: date | None
    frozen_days: tuple[date, ...]
    freeze_used_this_week: bool

    @property
    def alive(self) -> bool:
        """Whether a purchase today (or already made today) keeps the streak going."""
        return self.current > 0


@dataclass
class _Run:
    last: date
    length: int
    frozen: list[date]

    def frozen_weeks(self) -> set[tuple[int, int]]:
        return {_week(day) for day in self.frozen}


def daily_streak(days: Iterable[date], today: date) -> Streak:
    """The daily streak of the active `days` as of local day `today` (days after it are
    ignored: they have not happened yet as of `today`)."""
    active = sorted({day for day in days if day <= today})
    best = 0
    run: _Run | None = None
    for day in active:
        if run is not None and _bridgeable(_missed(run.last, day), run):
            run.frozen.extend(_missed(run.last, day))
            run.last, run.length = day, run.length + 1
        else:
            run = _Run(last=day, length=1, frozen=[])
        best = max(best, run.length)
    if run is None:
        return Streak(0, 0, None, (), False)
    pending = _missed(run.last, today)
    if not _bridgeable(pending, run):
        return Streak(0, best, run.last, (), False)
    frozen = (*run.frozen, *pending)
    this_week = _week(today)
    used = any(_week(day) == this_week for day in frozen)
    return Streak(run.length, best, run.last, frozen, used)


def weekly_streak(days: Iterable[date], today: date) -> Streak:
    """The streak of consecutive ISO weeks with an active day, as of local day `today`."""
    mondays = sorted({_monday(day) for day in days if day <= today})
    best = length = 0
    previous: date | None = None
    for monday in mondays:
        length = length + 1 if previous is not None and monday - previous == ONE_WEEK else 1
        best, previous = max(best, length), monday
    if previous is None:
        return Streak(0, 0, None, (), False)
    alive = _monday(today) - previous <= ONE_WEEK
    return Streak(length if alive else 0, best, previous, (), False)


def streak(unit: str, days: Iterable[date], today: date) -> Streak:
    """The streak in `unit` (`days` or `weeks`) of the active `days` as of `today`."""
    return daily_streak(days, today) if unit == "days" else weekly_streak(days, today)


def _missed(last: date, until: date) -> list[date]:
    """The days strictly between `last` and `until`."""
    return [last + ONE_DAY * n for n in range(1, (until - last).days)]


def _bridgeable(missed: list[date], run: _Run) -> bool:
    """Whether every missed day can be frozen: one per ISO week, in weeks whose freeze the
    run has not used yet."""
    weeks = [_week(day) for day in missed]
    return len(set(weeks)) == len(weeks) and not set(weeks) & run.frozen_weeks()


def _week(day: date) -> tuple[int, int]:
    year, week, _ = day.isocalendar()
    return year, week


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())
