"""Partner (API key bound to one partner): its own perks, uploading its voucher codes, and
confirming a voucher at its till.

A partner sees only its own perks and vouchers: anything else answers 404. It may create
perks (drafts, always its own: the marketer reviews and activates them) and fill the code
pool of a perk that issues uploaded codes. At the till, `POST /v1/partner/vouchers/{code}/
redeem` uses a voucher once: of concurrent confirmations exactly one gets 200, the others
409. Look-ups that match no voucher of the partner count towards `VOUCHER_MISS_LIMIT` for the
key and `VOUCHER_MISS_PARTNER_LIMIT` for all the partner's keys; past either, the key (or all
of them) is locked out (429 with Retry-After) until the window ends, and each miss is logged
without the code. Codes in request paths are masked in every log line.
"""

from __future__ import annotations

import logging
from typing import Any

import marshmallow as ma
from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, current_principal, partner_id, program_id, requires
from api.errors import PROBLEM_JSON, ProblemSchema, problem
from api.fields import PageQueryArgsSchema, UtcDateTime
from api.idempotency import commit
from api.ratelimit import record_voucher_miss, voucher_miss_wait
from api.resources.marketer import CheckedByService
from api.resources.perks import RESOURCE, PerkDefinitionSchema, PerkSchema, perk_dict
from api.resources.programs import page
from api.resources.transactions import STREAM_ERRORS
from campaigns.perks import PERKS, propose_perk
from rewards.db import db
from rewards.errors import InvalidInput, NotFound
from rewards.perks.pools import codes_in, upload_codes
from rewards.perks.till import VoucherMiss, confirm_use, describe_use

log = logging.getLogger(__name__)

blp = Blueprint(
    "partner_perks",
    __name__,
    url_prefix="/v1/partner",
    description="Partner: own perks, voucher code pools, and vouchers confirmed at the till.",
)

UPLOAD_TYPES = {"text/csv": "csv", "application/x-ndjson": "jsonl", "application/jsonl": "jsonl"}


class PartnerPerkCreateSchema(CheckedByService, PerkDefinitionSchema):
    """A perk definition as marketers write it; `partner` may be left out (it is always the
    caller) and the perk starts as a draft."""

    title = ma.fields.String(required=True, metadata={"example": "Free coffee"})
    cost_points = ma.fields.Integer(required=True, metadata={"example": 500})


class CodesJsonSchema(ma.Schema):
    # Items are judged one by one (a null or a number is refused in its row, not the upload).
    codes = ma.fields.List(
        ma.fields.Raw(allow_none=True), required=True, metadata={"maxItems": 100_000}
    )


class CodeRefusalSchema(ma.Schema):
    row = ma.fields.Integer(metadata={"description": "1 = the first code of the upload"})
    message = ma.fields.String()


class CodeUploadSchema(ma.Schema):
    received = ma.fields.Integer()
    added = ma.fields.Integer()
    refused_count = ma.fields.Integer()
    refused = ma.fields.List(
        ma.fields.Nested(CodeRefusalSchema), metadata={"description": "The first 1,000"}
    )
    available = ma.fields.Integer(metadata={"description": "Codes in the pool, not yet issued"})


class TillVoucherSchema(ma.Schema):
    id = ma.fields.Integer()
    status = ma.fields.String(metadata={"enum": ["used"]})
    used_at = UtcDateTime()
    perk_id = ma.fields.Integer()
    title = ma.fields.String()
    points = ma.fields.Integer(metadata={"description": "What the cardholder paid"})


def _own_perk(perk_id: int) -> Any:
    item = PERKS.get(program_id=program_id(), object_id=perk_id)
    if item.row.partner_id != partner_id():
        raise NotFound(f"Perk {perk_id} not found.")
    return item


@blp.route("/perks")
class PartnerPerks(MethodView):
    @requires("partner")
    @blp.doc(**auth_doc("apiKey", problems=(422,)))
    @blp.arguments(PageQueryArgsSchema, location="query")
    @blp.response(200, RESOURCE.page_schema)
    def get(self, args: dict[str, Any]) -> Any:
        """My perks (this partner's), newest first"""
        items = PERKS.list_items(
            program_id=program_id(),
            limit=args["limit"] + 1,
            before_id=args["cursor"],
            partner_id=partner_id(),
        )
        found = page(items, args["limit"], id_of=lambda item: item.row.id)
        found["data"] = [perk_dict(item) for item in found["data"]]
        return found

    @requires("partner")
    @blp.doc(**auth_doc("apiKey", problems=(422,)))
    @blp.arguments(PartnerPerkCreateSchema)
    @blp.alt_response(201, schema=PerkSchema, success=True, description="Created as a draft")
    def post(self, data: dict[str, Any]) -> Any:
        """Propose a perk of mine: a draft the program's marketers review and activate"""
        item = propose_perk(
            program_id=program_id(),
            partner_id=partner_id(),
            body=data,
            actor=current_principal().actor,
        )
        commit()
        return PerkSchema().dump(perk_dict(item)), 201


@blp.route("/perks/<id:perk_id>")
class PartnerPerkById(MethodView):
    @requires("partner")
    @blp.doc(**auth_doc("apiKey", problems=(404,)))
    @blp.response(200, PerkSchema)
    def get(self, perk_id: int) -> Any:
        """One of my perks"""
        return perk_dict(_own_perk(perk_id))


@blp.route("/perks/<id:perk_id>/codes")
class PartnerPerkCodes(MethodView):
    @requires("partner")
    @blp.doc(**auth_doc("apiKey", problems=(400, 404, 409, 415, 422)))
    @blp.doc(
        requestBody={
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string", "description": "header row: code"}},
                "application/x-ndjson": {
                    "schema": {"type": "string", "description": '{"code": "..."} per line'}
                },
                "application/json": {"schema": CodesJsonSchema},
            },
        }
    )
    @blp.response(200, CodeUploadSchema)
    def post(self, perk_id: int) -> Any:
        """Add codes to my perk's pool (CSV or JSON Lines streamed, or a JSON list)"""
        _own_perk(perk_id)
        if request.mimetype == "application/json":
            body = request.get_json(silent=True)
            if not isinstance(body, dict) or CodesJsonSchema().validate(body):
                raise InvalidInput('A JSON upload is {"codes": [...]}.', field="codes")
            codes: Any = iter(body["codes"])
        elif request.mimetype in UPLOAD_TYPES:
            codes = codes_in(request.stream, UPLOAD_TYPES[request.mimetype])
        else:
            return problem(
                415,
                "Send text/csv, application/x-ndjson or application/json.",
                errors={"Content-Type": ["unsupported"]},
            )
        try:
            result = upload_codes(perk_id=perk_id, partner_id=partner_id(), codes=codes)
        except STREAM_ERRORS as exc:  # unreadable, or broke off: nothing of it is stored
            db.session.rollback()
            return problem(
                400,
                f"The upload could not be read ({type(exc).__name__}); nothing was stored.",
                errors={"file": ["could not be read"]},
            )
        commit()
        return result.__dict__


# `path`: a partner's own codes may hold a slash (sent percent-encoded).
@blp.route("/vouchers/<path:code>/redeem")
class PartnerVoucherRedemption(MethodView):
    @requires("partner")
    @blp.doc(**auth_doc("apiKey", problems=(404, 409, 429)))
    @blp.response(200, TillVoucherSchema)
    @blp.alt_response(
        409,
        schema=ProblemSchema,
        content_type=PROBLEM_JSON,
        description="voucher-not-usable: used (with used_at), expired or cancelled",
    )
    @blp.alt_response(
        429,
        schema=ProblemSchema,
        content_type=PROBLEM_JSON,
        description="Locked out after too many codes that matched nothing",
    )
    def post(self, code: str) -> Any:
        """Use a voucher at my till (single use)"""
        me, key = partner_id(), current_principal().subject
        wait = voucher_miss_wait(me, key)
        if wait is not None:
            return problem(
                429,
                "Too many codes that matched nothing; try again later.",
                headers={"Retry-After": str(wait)},
            )
        try:
            voucher = confirm_use(partner_id=me, typed=code)
        except VoucherMiss:
            record_voucher_miss(me, key)
            log.warning("voucher look-up by partner %s (key %s) matched nothing", me, key)
            raise
        commit()
        perk, redemption = describe_use(voucher)
        return {
            "id": voucher.id,
            "status": voucher.status,
            "used_at": voucher.used_at,
            "perk_id": perk.id,
            "title": perk.name,
            "points": redemption.points,
        }
