"""Batch status: how a processor follows a submission from receipt to points."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, program_id, requires
from api.fields import PageQueryArgsSchema, UtcDateTime, encode_cursor
from rewards.batches import batch_report, list_rejections

blp = Blueprint(
    "batches", __name__, url_prefix="/v1", description="Status of submitted transaction batches."
)


class BatchSchema(ma.Schema):
    id = ma.fields.Integer()
    source = ma.fields.String(metadata={"description": "api, file, marqeta or cli"})
    filename = ma.fields.String(allow_none=True)
    status = ma.fields.String(metadata={"description": "receiving, queued or failed"})
    error = ma.fields.String(allow_none=True)
    rows = ma.fields.Integer(metadata={"description": "rows read"})
    accepted = ma.fields.Integer()
    duplicates = ma.fields.Integer()
    rejected = ma.fields.Integer()
    received = ma.fields.Integer(metadata={"description": "stored, not processed yet"})
    processed = ma.fields.Integer()
    unmatched = ma.fields.Integer(metadata={"description": "card not enrolled yet"})
    waiting = ma.fields.Integer(
        metadata={"description": "refund/reversal waiting for its purchase"}
    )
    excluded = ma.fields.Integer(metadata={"description": "excluded MCC: never earns"})
    failed_rules = ma.fields.Integer(metadata={"description": "refused by a rule at processing"})
    complete = ma.fields.Boolean(metadata={"description": "stored and nothing left to process"})
    created_at = UtcDateTime()
    completed_at = UtcDateTime(allow_none=True)


class BatchRejectionSchema(ma.Schema):
    index = ma.fields.Integer(attribute="row_index")
    errors = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()))


class RejectionPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(BatchRejectionSchema))
    next_cursor = ma.fields.String(allow_none=True)


class RejectionQueryArgsSchema(PageQueryArgsSchema):
    """`?limit=&cursor=`; rejections come in row order (oldest first)."""


@blp.route("/batches/<id:batch_id>")
class BatchById(MethodView):
    @blp.doc(**auth_doc("apiKey", problems=(404,)))
    @blp.response(200, BatchSchema)
    @requires("processor")
    def get(self, batch_id: int) -> dict[str, Any]:
        """Status and counts of a batch of the caller's program"""
        return batch_report(program_id=program_id(), batch_id=batch_id)


@blp.route("/batches/<id:batch_id>/rejections")
class BatchRejections(MethodView):
    @blp.doc(**auth_doc("apiKey", problems=(404,)))
    @blp.arguments(RejectionQueryArgsSchema, location="query")
    @blp.response(200, RejectionPageSchema)
    @requires("processor")
    def get(self, args: dict[str, Any], batch_id: int) -> dict[str, Any]:
        """Rejected rows of a batch with their field-level errors (cursor pagination)"""
        page, next_cursor = list_rejections(
            program_id=program_id(),
            batch_id=batch_id,
            limit=args["limit"],
            after_id=args["cursor"],
        )
        return {"data": page, "next_cursor": encode_cursor(next_cursor) if next_cursor else None}
