"""Challenge windows and their periods, in the program's timezone.

A fixed window is one period, keyed `c`, from `starts_at` to `ends_at` (or forever). A
recurring window is cut into ISO weeks (Monday 00:00 local, key `w:2026-W13`) or calendar
months (the 1st 00:00 local, key `m:2026-03`), the same keys the campaign caps use, clipped
to the window's own start and end. Local midnights are converted with the zone's rules on
that date, so a week containing a DST change lasts 167 or 169 hours, never 168 ± a bug.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

FIXED = "fixed"
RECURRING = "recurring"
WEEK = "week"
MONTH = "month"
WHOLE_WINDOW = "c"


@dataclass(frozen=True)
class Window:
    """When a challenge runs: `kind` fixed or recurring, `period` week or month (recurring
    only), and its UTC start and optional end (end excluded)."""

    kind: str
    period: str | None
    starts_at: datetime
    ends_at: datetime | None

    @classmethod
    def of(cls, definition: dict[str, Any]) -> Window:
        """The window of a validated challenge definition (timestamps as ISO strings)."""
        window = definition["window"]
        ends = window.get("ends_at")
        return cls(
            kind=window["type"],
            period=window.get("period") if window["type"] == RECURRING else None,
            starts_at=_utc(window["starts_at"]),
            ends_at=_utc(ends) if ends else None,
        )

    def contains(self, moment: datetime) -> bool:
        """Whether `moment` falls inside the window (start included, end excluded)."""
        return self.starts_at <= moment and (self.ends_at is None or moment < self.ends_at)

    def period_of(self, moment: datetime, zone: ZoneInfo) -> str | None:
        """The key of the period `moment` counts towards, or None outside the window."""
        if not self.contains(moment):
            return None
        if self.period is None:
            return WHOLE_WINDOW
        return _period_key(self.period, moment.astimezone(zone).date())

    def bounds(self, key: str, zone: ZoneInfo) -> tuple[datetime, datetime | None]:
        """The UTC start and end (excluded; None if open-ended) of period `key`, clipped to
        the window."""
        if self.period is None:
            if key != WHOLE_WINDOW:
                raise ValueError(f"A fixed window has one period, {WHOLE_WINDOW!r}; not {key!r}.")
            return self.starts_at, self.ends_at
        first, after = period_days(key)
        start = max(self.starts_at, local_midnight(first, zone))
        end = local_midnight(after, zone)
        return start, end if self.ends_at is None else min(end, self.ends_at)

    def time_left(self, moment: datetime, zone: ZoneInfo) -> timedelta | None:
        """Time from `moment` to the end of its period (what the cardholder sees as
        "2 days left"); None outside the window or when the period never ends."""
        key = self.period_of(moment, zone)
        if key is None:
            return None
        _, end = self.bounds(key, zone)
        return None if end is None else end - moment


def period_of(definition: dict[str, Any], moment: datetime, zone: ZoneInfo) -> str | None:
    """The period key of `moment` for a validated definition, or None outside its window."""
    return Window.of(definition).period_of(moment, zone)


def period_days(key: str) -> tuple[date, date]:
    """The first local day of recurring period `key` and the first day after it."""
    kind, _, value = key.partition(":")
    if kind == "w":
        iso_year, iso_week = value.split("-W")
        monday = date.fromisocalendar(int(iso_year), int(iso_week), 1)
        return monday, monday + timedelta(days=7)
    if kind == "m":
        year, month = (int(part) for part in value.split("-"))
        after = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        return date(year, month, 1), after
    raise ValueError(f"Not a recurring period key: {key!r}.")


@lru_cache(maxsize=8192)
def _period_key(period: str, local: date) -> str:
    # Remembered per day: every purchase of a day shares its key (the feed asks per row).
    if period == WEEK:
        year, week, _ = local.isocalendar()
        return f"w:{year}-W{week:02d}"
    return f"m:{local:%Y-%m}"


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    """The program-local calendar day of `moment` (streaks count these)."""
    return moment.astimezone(zone).date()


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant at which local `day` begins.

    Where a zone skips midnight itself (a DST change at 00:00, as in America/Santiago), the
    day begins at the transition: `fold=0` resolves the missing wall time with the offset in
    force before it, which is exactly that instant.
    """
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def time_left_today(moment: datetime, zone: ZoneInfo) -> timedelta:
    """Time from `moment` to the next local midnight: how long is left to keep a daily
    streak going today (23 or 25 hours long on DST days)."""
    return local_midnight(local_day(moment, zone) + timedelta(days=1), zone) - moment


def _utc(value: str | datetime) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        raise ValueError(f"A window timestamp needs a zone: {value!r}.")
    return moment.astimezone(UTC)
