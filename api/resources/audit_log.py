"""Marketers and admins: read the audit log (marketers see their own program only)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, current_principal, program_id, requires
from api.fields import PageQueryArgsSchema, UtcDateTime, encode_cursor
from rewards.audit import AuditLine, audit_page

blp = Blueprint(
    "audit_log",
    __name__,
    url_prefix="/v1",
    description="Marketer/admin: who changed what, with before and after.",
)


class AuditLogEntrySchema(ma.Schema):
    id = ma.fields.Integer()
    program = ma.fields.String(allow_none=True, metadata={"description": "Program slug"})
    actor = ma.fields.String(metadata={"description": "user:<sub> or key:<prefix>"})
    actor_role = ma.fields.String()
    action = ma.fields.String(metadata={"example": "customer.adjust"})
    object_type = ma.fields.String()
    object_id = ma.fields.String()
    before = ma.fields.Dict(allow_none=True)
    after = ma.fields.Dict(allow_none=True)
    created_at = UtcDateTime()


class AuditLogPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(AuditLogEntrySchema))
    next_cursor = ma.fields.String(allow_none=True)


class AuditLogQueryArgsSchema(PageQueryArgsSchema):
    action = ma.fields.String(load_default=None, validate=ma.validate.Length(max=64))
    object_type = ma.fields.String(load_default=None, validate=ma.validate.Length(max=32))
    object_id = ma.fields.String(load_default=None, validate=ma.validate.Length(max=128))


def _entry(line: AuditLine) -> dict[str, Any]:
    row = line.row
    return {
        "id": row.id,
        "program": line.program_slug,
        "actor": row.actor,
        "actor_role": row.actor_role,
        "action": row.action,
        "object_type": row.object_type,
        "object_id": row.object_id,
        "before": row.before,
        "after": row.after,
        "created_at": row.created_at,
    }


@blp.route("/audit-log")
class AuditLogEntries(MethodView):
    @requires("marketer", "admin")
    @blp.doc(**auth_doc("bearerJWT"))
    @blp.arguments(AuditLogQueryArgsSchema, location="query")
    @blp.response(200, AuditLogPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Audit log entries, newest first (marketers: their program; admins: all programs)"""
        is_admin = "admin" in current_principal().roles
        page = audit_page(
            program_id=None if is_admin else program_id(),
            limit=args["limit"],
            before_id=args["cursor"],
            action=args["action"],
            object_type=args["object_type"],
            object_id=args["object_id"],
        )
        return {
            "data": [_entry(line) for line in page.lines],
            "next_cursor": encode_cursor(page.last_id) if page.last_id else None,
        }
