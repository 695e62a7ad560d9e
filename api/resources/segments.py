"""Marketer: segments (rule-based audiences) of the caller's program, and a live preview.

Bodies are checked by `campaigns.audiences.segments.validate_segment` (every problem at once,
named by its path, e.g. `rules.spent.days`); the schemas here document them and shape responses.
The views are the standard ones of a marketer resource (`api.resources.marketer`), plus preview.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, program_id, requires
from api.fields import UtcDateTime
from api.resources.marketer import CheckedByService, MarketerResource, register
from campaigns.audiences import segments
from campaigns.resources import Item
from rewards.mcc import CATEGORIES

blp = Blueprint(
    "segments",
    __name__,
    url_prefix="/v1",
    description="Marketer: segments (rule-based audiences) and who is in them now.",
)


class SpentSchema(ma.Schema):
    """Processed purchases in a category over the last `days` days (refunds deducted)."""

    category = ma.fields.String(metadata={"enum": list(CATEGORIES)})
    min_amount_minor = ma.fields.Integer(metadata={"minimum": 1})
    min_transactions = ma.fields.Integer(metadata={"minimum": 1})
    days = ma.fields.Integer(metadata={"minimum": 1, "maximum": 365})


class RulesSchema(ma.Schema):
    """All optional and AND-ed; no rules means every customer."""

    min_age = ma.fields.Integer(metadata={"minimum": 0, "maximum": 120})
    max_age = ma.fields.Integer(metadata={"minimum": 0, "maximum": 120})
    tiers = ma.fields.List(ma.fields.String(), metadata={"description": "Tier is one of these"})
    tags = ma.fields.List(ma.fields.String(), metadata={"description": "Has any of these tags"})
    enrolled_within_days = ma.fields.Integer(metadata={"minimum": 1, "maximum": 3650})
    spent = ma.fields.Nested(SpentSchema)


class SegmentBodySchema(ma.Schema):
    name = ma.fields.String(metadata={"example": "Young foodies"})
    rules = ma.fields.Nested(RulesSchema)


class SegmentCreateSchema(CheckedByService, SegmentBodySchema):
    name = ma.fields.String(required=True, metadata={"example": "Young foodies"})


class SegmentUpdateSchema(CheckedByService, SegmentBodySchema):
    """A JSON Merge Patch (RFC 7396): `rules` merge key by key, null removes a rule."""


class SegmentSchema(SegmentBodySchema):
    id = ma.fields.Integer()
    created_by = ma.fields.String()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class SegmentPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(SegmentSchema))
    next_cursor = ma.fields.String(allow_none=True)


class SegmentPreviewSchema(ma.Schema):
    members = ma.fields.Integer(metadata={"description": "Customers in the segment now"})
    sample = ma.fields.List(
        ma.fields.String(), metadata={"description": "Up to 20 members' external refs"}
    )


def segment_dict(item: Item) -> dict[str, Any]:
    segment = item.row
    return {
        "id": segment.id,
        "name": segment.name,
        "rules": segment.rules,
        "created_by": segment.created_by,
        "created_at": segment.created_at,
        "updated_at": segment.updated_at,
    }


register(
    blp,
    MarketerResource(
        kind=segments.SEGMENTS,
        plural="segments",
        noun="Segment",
        schema=SegmentSchema,
        page_schema=SegmentPageSchema,
        create_schema=SegmentCreateSchema,
        update_schema=SegmentUpdateSchema,
        present=segment_dict,
        summaries={
            "list": "List the program's segments, newest first",
            "create": "Create a segment",
            "get": "Read a segment",
            "update": "Change a segment (merge patch); campaigns targeting it follow from their "
            "next chunk",
            "delete": "Delete a segment; 409 while a campaign that is not ended targets it",
        },
    ),
)


@blp.route("/segments/<id:segment_id>/preview")
class SegmentPreview(MethodView):
    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @blp.response(200, SegmentPreviewSchema)
    def get(self, segment_id: int) -> dict[str, Any]:
        """Who is in the segment right now: a count and up to 20 external refs"""
        preview = segments.preview_segment(
            program_id=program_id(), segment_id=segment_id, now=datetime.now(UTC)
        )
        return {"members": preview.members, "sample": preview.sample}
