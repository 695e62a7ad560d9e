"""API keys (admin): mint processor and partner keys (shown once), list them, revoke them.

A partner key acts for one active partner of its program, named by code when it is minted.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, current_principal, requires
from api.fields import PageQueryArgsSchema, UtcDateTime
from api.idempotency import commit
from api.resources.programs import page
from rewards.access import revoke_api_key
from rewards.api_keys import issue_api_key, list_api_keys
from rewards.models.access import API_KEY_ROLES
from rewards.partners import CODE_PATTERN

blp = Blueprint(
    "api_keys", __name__, url_prefix="/v1", description="API keys for processors and partners"
)


class ApiKeyCreateSchema(ma.Schema):
    program = ma.fields.String(required=True, metadata={"description": "Program slug"})
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(API_KEY_ROLES))
    name = ma.fields.String(required=True, validate=ma.validate.Length(1, 100))
    # Required or refused depending on `role`: `rewards.access` checks it against the
    # program's partners and answers 422 naming `partner`.
    partner = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Regexp(f"^{CODE_PATTERN.pattern}$"),
        metadata={
            "description": "Code of the active partner of the program the key acts for: "
            "required for role `partner`; absent or null for role `processor`. "
            "Otherwise 422 naming `partner`.",
            "example": "star-cafe",
        },
    )


class ApiKeySchema(ma.Schema):
    """A key as listed: never the secret, never its hash."""

    id = ma.fields.Integer()
    program = ma.fields.String()
    role = ma.fields.String()
    partner = ma.fields.String(
        allow_none=True,
        metadata={
            "description": "Code of the partner a partner key acts for; null for processor "
            "keys (and for revoked partner keys minted before keys named a partner, or "
            "whose partner was deleted)"
        },
    )
    name = ma.fields.String()
    prefix = ma.fields.String(metadata={"description": "Public part, `rwk_<prefix>_...`"})
    created_by = ma.fields.String(allow_none=True)
    created_at = UtcDateTime()
    last_used_at = UtcDateTime(allow_none=True)
    revoked_at = UtcDateTime(allow_none=True)
    revoked = ma.fields.Boolean()


class ApiKeyCreatedSchema(ApiKeySchema):
    key = ma.fields.String(
        metadata={"description": "The full key. Shown only in this response; store it now."}
    )


class ApiKeyQueryArgsSchema(PageQueryArgsSchema):
    program = ma.fields.String(load_default=None, metadata={"description": "Program slug"})


class ApiKeyPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(ApiKeySchema))
    next_cursor = ma.fields.String(allow_none=True)


def _view(record: Any, program_slug: str, partner_code: str | None) -> dict[str, Any]:
    return {
        "id": record.id,
        "program": program_slug,
        "role": record.role,
        "partner": partner_code,
        "name": record.name,
        "prefix": record.prefix,
        "created_by": record.created_by,
        "created_at": record.created_at,
        "last_used_at": record.last_used_at,
        "revoked_at": record.revoked_at,
        "revoked": record.revoked_at is not None,
    }


@blp.route("/api-keys")
class ApiKeys(MethodView):
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @requires("admin")
    @blp.arguments(ApiKeyQueryArgsSchema, location="query")
    @blp.response(200, ApiKeyPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List API keys (admin), optionally of one program; secrets are never shown."""
        rows = list_api_keys(
            program_slug=args["program"], limit=args["limit"] + 1, after_id=args["cursor"]
        )
        views = [_view(key, slug, code) for key, slug, code in rows]
        return page(views, args["limit"], id_of=lambda view: view["id"])

    @blp.doc(**auth_doc("bearerJWT", problems=(400, 404, 422)))
    @requires("admin")
    @blp.arguments(ApiKeyCreateSchema)
    @blp.response(201, ApiKeyCreatedSchema)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Mint a processor key, or a partner key for one of the program's active partners
        (admin); the key is shown once."""
        minted = issue_api_key(
            program_slug=data["program"],
            role=data["role"],
            name=data["name"],
            actor=current_principal().actor,
            partner_code=data["partner"],
        )
        commit()
        view = _view(minted.record, data["program"], minted.partner_code)
        return {**view, "key": minted.secret}


@blp.route("/api-keys/<id:key_id>")
class ApiKeyById(MethodView):
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @requires("admin")
    @blp.response(204)
    def delete(self, key_id: int) -> None:
        """Revoke a key (admin); calls with it get 401 from now on."""
        revoke_api_key(key_id=key_id, actor=current_principal().actor)
        commit()
