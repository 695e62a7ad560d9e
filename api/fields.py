"""Shared marshmallow fields: UTC timestamps with `Z`, opaque keyset cursors, list arguments."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma

MAX_PAGE = 100
CURSOR_PREFIX = "k1:"


class UtcDateTime(ma.fields.AwareDateTime):
    """ISO-8601 timestamp: input must carry a zone (converted to UTC); output ends in `Z`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", **kwargs)

    def _serialize(self, value: datetime | None, attr: Any, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        # Naive values come from SQLite (the embedded mode), which stores UTC without a zone.
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        spec = "milliseconds" if value.microsecond else "seconds"
        return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        return super()._deserialize(value, attr, data, **kwargs).astimezone(UTC)


def encode_cursor(last_id: int) -> str:
    """The opaque cursor that continues a newest-first list after the row `last_id`."""
    return base64.urlsafe_b64encode(f"{CURSOR_PREFIX}{last_id}".encode()).decode().rstrip("=")


class Cursor(ma.fields.String):
    """An opaque cursor from a previous page's `next_cursor`; loads as the keyset id."""

    default_error_messages = {"invalid": "Not a valid cursor; pass next_cursor unchanged."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise self.make_error("invalid") from exc
        number = decoded.removeprefix(CURSOR_PREFIX)
        if not decoded.startswith(CURSOR_PREFIX) or not number.isdigit() or len(number) > 19:
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
        metadata={"description": "`next_cursor` of the previous page; omit for the first page."},
    )
