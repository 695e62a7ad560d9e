"""A program's calendar days, in Python and in SQL.

Reports count events per program-local day. PostgreSQL knows the IANA zones
(`timezone(zone, instant)`); SQLite (the embedded mode) knows none, so there the day is
found from the zone's UTC offset, piece by piece between its changes (summer time), which
Python's zoneinfo gives. Both read the same rules: an instant belongs to the day on the wall
clock of the program's timezone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, case, cast, func, literal

from rewards.db import UTCDateTime, is_postgres


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """When the program-local `day` begins, in UTC."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def today(zone: ZoneInfo, now: datetime) -> date:
    """The program-local date at `now`."""
    return now.astimezone(zone).date()


def local_day(column: Any, zone: ZoneInfo, start: datetime, end: datetime) -> Any:
    """SQL: the program-local date of the instants in `column`, exact for those in
    [`start`, `end`) (the range a report filters on). Read it back with `as_date`."""
    if is_postgres():
        return cast(func.timezone(zone.key, column), Date)
    pieces = utc_offsets(zone, start, end)
    if len(pieces) == 1:
        return func.date(column, _modifier(pieces[0][1]))
    # `until` is bound as UTCDateTime: stored and compared as the same naive UTC text.
    whens = [(column < literal(until, UTCDateTime), _modifier(o)) for until, o in pieces[:-1]]
    return func.date(column, case(*whens, else_=_modifier(pieces[-1][1])))


def as_date(value: date | str) -> date:
    """A `local_day` value as read back: a date (PostgreSQL) or ISO text (SQLite)."""
    return value if isinstance(value, date) else date.fromisoformat(value)


def _modifier(offset: int) -> str:
    return f"{offset:+d} seconds"


def utc_offsets(zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """The zone's UTC offset over [`start`, `end`) as pieces `(until, seconds)`, in order:
    one piece per offset, the last one's `until` being `end`. A change is looked for day by
    day (zones change at most a few times a year) and pinned to its second by bisection.
    `start` is a whole second (a day's start)."""

    def offset(moment: datetime) -> int:
        shift = moment.astimezone(zone).utcoffset()
        assert shift is not None
        return int(shift.total_seconds())

    def at(second: int) -> datetime:
        return datetime.fromtimestamp(second, UTC)

    pieces: list[tuple[datetime, int]] = []
    current, probe = offset(start), start
    while probe < end:
        step = min(probe + timedelta(days=1), end)
        if offset(step) != current:
            # Zones change offset on a whole second: bisect whole seconds, so `high` ends as
            # the first second of the new offset.
            low, high = int(probe.timestamp()), int(step.timestamp())
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if offset(at(middle)) == current else (low, middle)
            pieces.append((at(high), current))
            current = offset(at(high))
        probe = step
    pieces.append((end, current))
    return pieces
