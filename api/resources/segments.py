"""Marketer: segments (rule-based audiences) of the caller's program, and a live preview.

Bodies are checked by `campaigns.audiences.segments.validate_segment` (every problem at once,
named by its path, e.g. `rules.spent.days`); the schemas here document them and shape responses.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, current_principal, program_id, requires
from api.errors import PROBLEM_JSON, ProblemSchema
from api.fields import PageQueryArgsSchema, UtcDateTime
from api.idempotency import commit, idempotent
from api.resources.adjustments import IDEMPOTENCY_KEY_PARAMETER
from api.resources.programs import page
from campaigns.audiences import segments
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


class _CheckedByService(ma.Schema):
    """A body documented by its fields but checked by `campaigns.audiences.segments`, which reports
    every problem at once under its full path."""

    def load(self, data: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if not isinstance(data, dict):
            raise ma.ValidationError("Must be a JSON object.", "_schema")
        return data


class SegmentCreateSchema(_CheckedByService, SegmentBodySchema):
    name = ma.fields.String(required=True, metadata={"example": "Young foodies"})


class SegmentUpdateSchema(_CheckedByService, SegmentBodySchema):
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


def segment_dict(segment: segments.Segment) -> dict[str, Any]:
    return {
        "id": segment.id,
        "name": segment.name,
        "rules": segment.rules,
        "created_by": segment.created_by,
        "created_at": segment.created_at,
        "updated_at": segment.updated_at,
    }


@blp.route("/segments")
class Segments(MethodView):
    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(422,)))
    @blp.arguments(PageQueryArgsSchema, location="query")
    @blp.response(200, SegmentPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the program's segments, newest first"""
        rows = segments.list_segments(
            program_id=program_id(), limit=args["limit"] + 1, before_id=args["cursor"]
        )
        result = page(rows, args["limit"])
        result["data"] = [segment_dict(row) for row in result["data"]]
        return result

    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(409, 422)))
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @blp.arguments(SegmentCreateSchema)
    @blp.alt_response(201, schema=SegmentSchema, success=True, description="Created")
    @blp.alt_response(
        422, schema=ProblemSchema, content_type=PROBLEM_JSON, description="Names each bad field"
    )
    @idempotent
    def post(self, data: dict[str, Any]) -> Any:
        """Create a segment"""
        segment = segments.create_segment(
            program_id=program_id(), body=data, actor=current_principal().actor
        )
        return SegmentSchema().dump(segment_dict(segment)), 201


@blp.route("/segments/<id:segment_id>")
class SegmentById(MethodView):
    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @blp.response(200, SegmentSchema)
    def get(self, segment_id: int) -> dict[str, Any]:
        """Read a segment"""
        return segment_dict(segments.get_segment(program_id=program_id(), segment_id=segment_id))

    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(404, 422)))
    @blp.arguments(SegmentUpdateSchema)
    @blp.response(200, SegmentSchema)
    def patch(self, changes: dict[str, Any], segment_id: int) -> dict[str, Any]:
        """Change a segment (merge patch); campaigns targeting it follow from their next chunk"""
        segment = segments.update_segment(
            program_id=program_id(),
            segment_id=segment_id,
            changes=changes,
            actor=current_principal().actor,
        )
        commit()
        return segment_dict(segment)

    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(404, 409)))
    @blp.response(204)
    def delete(self, segment_id: int) -> None:
        """Delete a segment; 409 while a campaign that is not ended targets it"""
        segments.delete_segment(
            program_id=program_id(), segment_id=segment_id, actor=current_principal().actor
        )
        commit()


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
