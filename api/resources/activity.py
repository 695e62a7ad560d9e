"""Cardholder: the activity feed (`GET /v1/me/activity`), newest first, in plain words.

Only the caller's own items: the customer comes from the JWT (`sub` in the token's program).
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, current_principal, program_id, requires
from api.fields import PageQueryArgsSchema, UtcDateTime
from campaigns.levels.activity import SOURCES, Position, activity_page

blp = Blueprint(
    "activity", __name__, url_prefix="/v1", description="Cardholder: the activity feed."
)

CURSOR_PREFIX = "a1:"
ITEM_TYPES = (
    "points_earned",
    "points_clawed_back",
    "points_adjusted",
    "points_expired",
    "challenge_progress",
    "challenge_completed",
    "challenge_revoked",
    "badge_earned",
    "level_changed",
    "tier_changed",
)


def encode_activity_cursor(position: Position) -> str:
    """The opaque cursor continuing the feed after `position`."""
    moment, source, key = position
    raw = f"{CURSOR_PREFIX}{moment.astimezone(UTC).isoformat()}|{source}|{key}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


class ActivityCursor(ma.fields.String):
    """A `next_cursor` of this feed, unchanged; anything else (another list's cursor) is a 422."""

    default_error_messages = {"invalid": "Not a valid cursor; pass next_cursor unchanged."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Position:  # type: ignore[override]
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
            moment, source, key = raw.decode("ascii").removeprefix(CURSOR_PREFIX).split("|")
            at = datetime.fromisoformat(moment)
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise self.make_error("invalid") from exc
        if not raw.startswith(CURSOR_PREFIX.encode()) or source not in SOURCES:
            raise self.make_error("invalid")
        number = key.split(":", 1)[0]
        if at.tzinfo is None or len(number) != 20 or not (number.isascii() and number.isdigit()):
            raise self.make_error("invalid")
        if int(number) >= 2**63:
            raise self.make_error("invalid")
        return (at.astimezone(UTC), source, key)


class ActivityQueryArgsSchema(PageQueryArgsSchema):
    cursor = ActivityCursor(  # type: ignore[assignment]
        load_default=None,
        metadata={
            "description": "`next_cursor` of the previous page, unchanged; omit for the first "
            "page. Any other value (another list's cursor too) is a 422."
        },
    )


class ActivityItemSchema(ma.Schema):
    id = ma.fields.String(metadata={"description": "Unique in the feed", "example": "ledger:42"})
    type = ma.fields.String(metadata={"enum": list(ITEM_TYPES)})
    occurred_at = UtcDateTime()
    title = ma.fields.String(
        metadata={
            "description": "What happened, in one line",
            "example": "Level 3 reached: Explorer",
        }
    )
    detail = ma.fields.String(metadata={"description": "More words, when there are any"})
    points = ma.fields.Integer(metadata={"description": "Signed: for items that moved points"})


class ActivityPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(ActivityItemSchema))
    next_cursor = ma.fields.String(allow_none=True)


@blp.route("/me/activity")
class MyActivity(MethodView):
    @requires("cardholder")
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @blp.arguments(ActivityQueryArgsSchema, location="query")
    @blp.response(200, ActivityPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Points earned and taken back, challenges, badges, level and tier changes, newest
        first"""
        items, more = activity_page(
            program_id=program_id(),
            external_ref=current_principal().subject,
            limit=args["limit"],
            after=args["cursor"],
        )
        data = []
        for item in items:
            row: dict[str, Any] = {
                "id": item.id,
                "type": item.type,
                "occurred_at": item.occurred_at,
                "title": item.title,
            }
            if item.detail is not None:
                row["detail"] = item.detail
            if item.points is not None:
                row["points"] = item.points
            data.append(row)
        return {"data": data, "next_cursor": encode_activity_cursor(more) if more else None}
