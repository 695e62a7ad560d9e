"""Marketer and admin: a program's partners (brands) and the merchant ids that are theirs.

Marketers manage their own program's partners; admins name the program with `?program=<slug>`
(or use a token bound to one). Bodies are checked by `rewards.partners.validate_partner`
(every problem at once, named by its path, e.g. `merchant_ids.2`); the schemas here document
them and shape responses.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, current_principal, requires
from api.errors import PROBLEM_JSON, ProblemSchema
from api.fields import PageQueryArgsSchema, UtcDateTime
from api.idempotency import commit
from api.resources.programs import page
from rewards import partners
from rewards.errors import InvalidInput, NotFound
from rewards.models import Partner
from rewards.models.partner import PARTNER_STATUSES
from rewards.programs import get_program

blp = Blueprint(
    "partners",
    __name__,
    url_prefix="/v1",
    description="Marketer/admin: partners (brands) and the merchant ids that belong to them.",
)

PROGRAM_ARG = ma.fields.String(
    load_default=None,
    metadata={"description": "Program slug (admins; a marketer's program is their own)"},
)


class ProgramQueryArgsSchema(ma.Schema):
    program = PROGRAM_ARG


class PartnerQueryArgsSchema(PageQueryArgsSchema):
    program = PROGRAM_ARG
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(PARTNER_STATUSES))


class PartnerBodySchema(ma.Schema):
    code = ma.fields.String(
        metadata={
            "description": "Lowercase letters, digits and dashes (1-64), unique in the "
            "program, fixed once created; campaigns list it in `conditions.partners`",
            "example": "noodle-bar",
        }
    )
    name = ma.fields.String(metadata={"example": "Noodle Bar"})
    merchant_ids = ma.fields.List(
        ma.fields.String(metadata={"maxLength": partners.MAX_MERCHANT_ID}),
        metadata={
            "description": "Processor merchant ids of this brand, matched exactly; each "
            "belongs to at most one active partner of the program",
            "example": ["NB-SHIBUYA-01", "NB-UMEDA-02"],
        },
    )
    status = ma.fields.String(metadata={"enum": list(PARTNER_STATUSES)})


class _CheckedByService(ma.Schema):
    """A body documented by its fields but checked by `rewards.partners`, which reports every
    problem at once under its full path."""

    def load(self, data: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if not isinstance(data, dict):
            raise ma.ValidationError("Must be a JSON object.", "_schema")
        return data


class PartnerCreateSchema(_CheckedByService, PartnerBodySchema):
    code = ma.fields.String(required=True, metadata={"example": "noodle-bar"})
    name = ma.fields.String(required=True, metadata={"example": "Noodle Bar"})


class PartnerUpdateSchema(_CheckedByService, PartnerBodySchema):
    """A JSON Merge Patch (RFC 7396) of `name`, `merchant_ids` (replaced whole; null empties
    it) and `status`; the code cannot change."""


class PartnerSchema(PartnerBodySchema):
    id = ma.fields.Integer()
    created_by = ma.fields.String()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class PartnerPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(PartnerSchema))
    next_cursor = ma.fields.String(allow_none=True)


def scope(slug: str | None) -> int:
    """The program the call is about: a marketer's own (another slug looks absent); an
    admin's `?program=`, else the program their token is bound to."""
    principal = current_principal()
    if "admin" in principal.roles:
        if slug is not None:
            return get_program(slug).id
        if principal.program_id is None:
            raise InvalidInput("Name the program: ?program=<slug>.", field="program")
        return principal.program_id
    if principal.program_id is None or slug not in (None, principal.program_slug):
        raise NotFound(f"Program {slug!r} not found.")
    return principal.program_id


def _role() -> str:
    return "admin" if "admin" in current_principal().roles else "marketer"


@blp.route("/partners")
class Partners(MethodView):
    @requires("marketer", "admin")
    @blp.doc(**auth_doc("bearerJWT", problems=(404, 422)))
    @blp.arguments(PartnerQueryArgsSchema, location="query")
    @blp.response(200, PartnerPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the program's partners, newest first"""
        rows = partners.list_partners(
            program_id=scope(args["program"]),
            limit=args["limit"] + 1,
            before_id=args["cursor"],
            status=args["status"],
        )
        return page(rows, args["limit"])

    @requires("marketer", "admin")
    @blp.doc(**auth_doc("bearerJWT", problems=(404, 409, 422)))
    @blp.arguments(ProgramQueryArgsSchema, location="query")
    @blp.arguments(PartnerCreateSchema)
    @blp.alt_response(
        409, schema=ProblemSchema, content_type=PROBLEM_JSON, description="Code or merchant taken"
    )
    @blp.response(201, PartnerSchema)
    def post(self, args: dict[str, Any], data: dict[str, Any]) -> Partner:
        """Create a partner; 409 names `code` or each `merchant_ids.N` already taken"""
        partner = partners.create_partner(
            program_id=scope(args["program"]),
            body=data,
            actor=current_principal().actor,
            actor_role=_role(),
        )
        commit()
        return partner


@blp.route("/partners/<id:partner_id>")
class PartnerById(MethodView):
    @requires("marketer", "admin")
    @blp.doc(**auth_doc("bearerJWT", problems=(404, 422)))
    @blp.arguments(ProgramQueryArgsSchema, location="query")
    @blp.response(200, PartnerSchema)
    def get(self, args: dict[str, Any], partner_id: int) -> Partner:
        """Read a partner"""
        return partners.get_partner(program_id=scope(args["program"]), partner_id=partner_id)

    @requires("marketer", "admin")
    @blp.doc(**auth_doc("bearerJWT", problems=(404, 409, 422)))
    @blp.arguments(ProgramQueryArgsSchema, location="query")
    @blp.arguments(PartnerUpdateSchema)
    @blp.response(200, PartnerSchema)
    def patch(self, args: dict[str, Any], changes: dict[str, Any], partner_id: int) -> Partner:
        """Change a partner (merge patch); `status: inactive` frees its merchant ids"""
        partner = partners.update_partner(
            program_id=scope(args["program"]),
            partner_id=partner_id,
            changes=changes,
            actor=current_principal().actor,
            actor_role=_role(),
        )
        commit()
        return partner

    @requires("marketer", "admin")
    @blp.doc(**auth_doc("bearerJWT", problems=(404, 422)))
    @blp.arguments(ProgramQueryArgsSchema, location="query")
    @blp.response(204)
    def delete(self, args: dict[str, Any], partner_id: int) -> None:
        """Delete a partner; its code and merchant ids become free"""
        partners.delete_partner(
            program_id=scope(args["program"]),
            partner_id=partner_id,
            actor=current_principal().actor,
            actor_role=_role(),
        )
        commit()
