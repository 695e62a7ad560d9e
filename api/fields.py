"""Shared marshmallow fields: UTC timestamps with `Z`, opaque keyset cursors, list arguments."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, date, datetime
from typing import Any

import marshmallow as ma

MAX_PAGE = 100
CURSOR_PREFIX = "k1:"


# Every timestamp the API accepts lies in [EARLIEST, LATEST): year 1 or 9999 cannot be moved
# into UTC or a program's timezone without overflowing, and nothing here happens before 1970.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
EARLIEST_DAY = date(1900, 1, 1)  # calendar days reach back further: birth dates
LATEST_DAY = date(2099, 12, 31)


def utc_text(value: datetime | None) -> str | None:
    """A timestamp as every response writes it: UTC, milliseconds when there are any, `Z`."""
    if value is None:
        return None
    # Naive values come from SQLite (the embedded mode), which stores UTC without a zone.
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    spec = "milliseconds" if value.microsecond else "seconds"
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


class UtcDateTime(ma.fields.AwareDateTime):
    """ISO-8601 timestamp: input must carry a zone (converted to UTC) and lie between 1970 and
    2100 (else 422 naming the field); output ends in `Z`."""

    default_error_messages = {
        "range": "Must be between 1970-01-01T00:00:00Z and 2100-01-01T00:00:00Z (exclusive)."
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", **kwargs)

    def _serialize(self, value: datetime | None, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return utc_text(value)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        try:
            moment = super()._deserialize(value, attr, data, **kwargs).astimezone(UTC)
        except OverflowError as exc:  # e.g. 0001-01-01T00:00:00+01:00 has no UTC time
            raise self.make_error("range") from exc
        if not EARLIEST <= moment < LATEST:
            raise self.make_error("range")
        return moment


class CalendarDate(ma.fields.Date):
    """ISO-8601 date (`2026-04-01`) between 1900-01-01 and 2099-12-31, else 422 naming the
    field: a day must still be a day when turned into a time in any timezone."""

    default_error_messages = {"range": "Must be between 1900-01-01 and 2099-12-31."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> date:
        day = super()._deserialize(value, attr, data, **kwargs)
        if not EARLIEST_DAY <= day <= LATEST_DAY:
            raise self.make_error("range")
        return day


class DateOrDateTime(ma.fields.Field):
    """An ISO date, or a date-time with or without a zone (without: the caller reads it in the
    program's timezone), between 1970 and 2099 so that any timezone conversion stays in range."""

    default_error_messages = {
        "invalid": "Not a valid ISO-8601 date or date-time.",
        "range": "Must be between 1970-01-01 and 2099-12-31.",
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> date | datetime:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            if len(value) == 10:
                moment: date | datetime = date.fromisoformat(value)
            else:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise self.make_error("invalid") from exc
        # Judged by the calendar day written: far from year 1 and 9999, no timezone can push
        # it out of what datetime represents.
        day = moment.date() if isinstance(moment, datetime) else moment
        if not EARLIEST.date() <= day < LATEST.date():
            raise self.make_error("range")
        return moment


def encode_cursor(last_id: int) -> str:
    """The opaque cursor that continues a newest-first list after the row `last_id`."""
    return base64.urlsafe_b64encode(f"{CURSOR_PREFIX}{last_id}".encode()).decode().rstrip("=")


class Cursor(ma.fields.String):
    """An opaque cursor from a previous page's `next_cursor`; loads as the keyset id."""

    default_error_messages = {"invalid": "Not a valid cursor; pass next_cursor unchanged."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:  # type: ignore[override]
        text = super()._deserialize(value, attr, data, **kwargs)
        try:  # strict: characters outside the URL-safe alphabet are refused, not skipped
            raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
            decoded = raw.decode("ascii")
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise self.make_error("invalid") from exc
        number = decoded.removeprefix(CURSOR_PREFIX)
        if not decoded.startswith(CURSOR_PREFIX) or not (number.isascii() and number.isdigit()):
            raise self.make_error("invalid")
        if len(number) > 19 or int(number) >= 2**63:  # beyond any bigint id
            raise self.make_error("invalid")
        return int(number)


class PageQueryArgsSchema(ma.Schema):
    """`?limit=&cursor=` of every list endpoint (newest first)."""

    limit = ma.fields.Integer(
        load_default=20,
        validate=ma.validate.Range(min=1, max=MAX_PAGE),
        metadata={"description": f"Page size, 1 to {MAX_PAGE} (default 20)."},
    )
    cursor = Cursor(
        load_default=None,
        metadata={
            "description": "`next_cursor` of the previous page, unchanged; omit for the first "
            "page. Any other value is a 422.",
            "pattern": "^[A-Za-z0-9_-]{6,30}$",
        },
    )
