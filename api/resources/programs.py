"""Programs (admin): create, list, read and change a co-branded card product's settings.

Also home of `page` (a list response), which the other admin resources share.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, current_principal, requires
from api.fields import PageQueryArgsSchema, UtcDateTime, encode_cursor
from api.idempotency import commit
from rewards import programs as service
from rewards.errors import NotFound
from rewards.models import Program

blp = Blueprint(
    "programs", __name__, url_prefix="/v1", description="Programs: co-branded card products"
)

# --- shared helpers ------------------------------------------------------------------


def page(rows: list[Any], limit: int, *, id_of: Any = lambda row: row.id) -> dict[str, Any]:
    """`{"data", "next_cursor"}` from up to `limit + 1` rows ordered by id."""
    more = len(rows) > limit
    rows = rows[:limit]
    return {"data": rows, "next_cursor": encode_cursor(id_of(rows[-1])) if more else None}


def domain_check(check: Any) -> Any:
    """A marshmallow validator from a `rewards` check that returns a message or None."""

    def validate(value: Any) -> None:
        message = check(value)
        if message:
            raise ma.ValidationError(message)

    return validate


# --- program schemas -------------------------------------------------------------------


class EarnRate(ma.fields.Decimal):
    """Points per major currency unit: a decimal string or number in, a string out."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return service.format_rate(value)


class ProgramSettingsSchema(ma.Schema):
    """Settings shared by create and update."""

    name = ma.fields.String(validate=ma.validate.Length(1, 200))
    brand_partner = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=200))
    currency = ma.fields.String(
        validate=domain_check(service.check_currency),
        metadata={"description": "ISO 4217 code, e.g. JPY", "example": "JPY"},
    )
    points_name = ma.fields.String(validate=ma.validate.Length(1, 50))
    earn_rate = EarnRate(
        validate=domain_check(service.check_earn_rate),
        metadata={
            "description": "Points per major currency unit, ≥ 0, up to 4 decimals",
            "example": "1.5",
            "type": "string",
        },
    )
    timezone = ma.fields.String(
        validate=domain_check(service.check_timezone),
        metadata={"description": "IANA time zone", "example": "Asia/Tokyo"},
    )
    pending_days = ma.fields.Integer(strict=True, validate=ma.validate.Range(0, 365))
    expiry_months = ma.fields.Integer(
        strict=True,
        validate=ma.validate.Range(0, 120),
        metadata={"description": "Months until a lot of points expires; 0 = never"},
    )
    min_age = ma.fields.Integer(strict=True, allow_none=True, validate=ma.validate.Range(0, 120))
    max_age = ma.fields.Integer(strict=True, allow_none=True, validate=ma.validate.Range(0, 120))
    excluded_mccs = ma.fields.List(
        ma.fields.String(validate=ma.validate.Regexp(r"^[0-9]{4}$", error="4 digits")),
        metadata={"description": "MCCs that never earn (default: cash-like and gambling)"},
    )
    point_value_per_1000 = ma.fields.Integer(
        strict=True,
        allow_none=True,
        validate=ma.validate.Range(0, service.MAX_POINT_VALUE),
        metadata={
            "description": "What the program pays a partner per 1,000 points redeemed on its "
            "perks, in minor units of `currency` (partner settlement); null: not agreed yet",
            "example": 1000,
        },
    )

    @ma.validates_schema
    def _age_range(self, data: dict[str, Any], **kwargs: Any) -> None:
        low, high = data.get("min_age"), data.get("max_age")
        if low is not None and high is not None and low > high:
            raise ma.ValidationError("must not be below min_age", "max_age")


class ProgramCreateSchema(ProgramSettingsSchema):
    slug = ma.fields.String(
        required=True,
        validate=domain_check(service.check_slug),
        metadata={"description": "Lowercase id used in tokens and URLs", "example": "youth"},
    )
    name = ma.fields.String(required=True, validate=ma.validate.Length(1, 200))
    currency = ma.fields.String(
        required=True, validate=domain_check(service.check_currency), metadata={"example": "JPY"}
    )
    earn_rate = EarnRate(
        required=True,
        validate=domain_check(service.check_earn_rate),
        metadata={
            "description": "Points per major currency unit",
            "example": "1",
            "type": "string",
        },
    )


class ProgramUpdateSchema(ProgramSettingsSchema):
    """Any subset of the settings; the slug cannot change."""


class ProgramSchema(ProgramCreateSchema):
    brand_partner = ma.fields.String(allow_none=True)
    points_name = ma.fields.String()
    timezone = ma.fields.String()
    pending_days = ma.fields.Integer()
    expiry_months = ma.fields.Integer()
    excluded_mccs = ma.fields.List(ma.fields.String())
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class ProgramPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(ProgramSchema))
    next_cursor = ma.fields.String(allow_none=True)


# --- views -----------------------------------------------------------------------------


@blp.route("/programs")
class Programs(MethodView):
    @blp.doc(**auth_doc("bearerJWT"))
    @requires("admin")
    @blp.arguments(PageQueryArgsSchema, location="query")
    @blp.response(200, ProgramPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List programs (admin), oldest first."""
        rows = service.list_programs(limit=args["limit"] + 1, after_id=args["cursor"])
        return page(rows, args["limit"])

    @blp.doc(**auth_doc("bearerJWT", problems=(400, 409)))
    @requires("admin")
    @blp.arguments(ProgramCreateSchema)
    @blp.response(201, ProgramSchema)
    def post(self, data: dict[str, Any]) -> Program:
        """Create a program (admin); the slug must be new."""
        program = service.create_program(**data, actor=current_principal().actor)
        commit()
        return program


@blp.route("/programs/<string:slug>")
class ProgramBySlug(MethodView):
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @requires("admin", "marketer")
    @blp.response(200, ProgramSchema)
    def get(self, slug: str) -> Program:
        """Read a program (admin, or a marketer of that program)."""
        return _visible_program(slug)

    @blp.doc(**auth_doc("bearerJWT", problems=(400, 404, 409)))
    @requires("admin")
    @blp.arguments(ProgramUpdateSchema)
    @blp.response(200, ProgramSchema)
    def patch(self, changes: dict[str, Any], slug: str) -> Program:
        """Change a program's settings (admin); the currency is fixed once transactions exist."""
        program = service.get_program(slug)
        service.update_program(program=program, changes=changes, actor=current_principal().actor)
        commit()
        return program


def _visible_program(slug: str) -> Program:
    """Admins see every program; anyone else only their own (others look absent)."""
    principal = current_principal()
    program = service.get_program(slug)
    if "admin" not in principal.roles and program.id != principal.program_id:
        raise NotFound(f"Program {slug!r} not found.")
    return program
