"""Marketer: the tier ladder of the caller's program (e.g. Green / Gold / Black).

The ladder is read and replaced whole. The body is checked by `rewards.tiers.config`
(every problem at once, named by its path, e.g. `tiers.1.threshold`; nothing is stored when
any is wrong); the schemas here document it and shape responses.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, current_principal, program_id, requires
from api.idempotency import commit
from api.resources.marketer import CheckedByService
from rewards.tiers import config

blp = Blueprint(
    "tiers",
    __name__,
    url_prefix="/v1",
    description="Marketer: the program's tiers, reached by qualifying points over 12 months.",
)


class TierSchema(ma.Schema):
    code = ma.fields.String(
        required=True,
        metadata={
            "description": "1-32 lowercase letters, digits, dashes and underscores; what "
            "segments and campaign audiences list in `tiers`",
            "example": "gold",
        },
    )
    name = ma.fields.String(
        required=True, metadata={"maxLength": config.MAX_NAME, "example": "Gold"}
    )
    threshold = ma.fields.Integer(
        required=True,
        metadata={
            "description": "Qualifying points over the rolling 12 months to reach the tier "
            "(purchases' base and campaign bonus points, net of refunds); the base tier's is 0",
            "minimum": 0,
            "maximum": config.MAX_THRESHOLD,
            "example": 5000,
        },
    )
    earn_multiplier = ma.fields.String(
        required=True,
        metadata={
            "description": "Multiplies base points (1 to 9999.9999, at most 4 decimals; "
            "the base tier's is 1; never below a lower tier's). A JSON number is accepted too",
            "example": "1.25",
        },
    )


class LadderSchema(ma.Schema):
    tiers = ma.fields.List(
        ma.fields.Nested(TierSchema),
        metadata={"description": "Lowest threshold first; empty when the program has no tiers"},
    )


class LadderReplaceSchema(CheckedByService, LadderSchema):
    """1 to 10 tiers with distinct codes and thresholds, one of them at threshold 0 with
    multiplier 1; replaces the whole ladder."""

    tiers = ma.fields.List(
        ma.fields.Nested(TierSchema),
        required=True,
        metadata={"minItems": 1, "maxItems": config.MAX_TIERS},
    )


@blp.route("/tiers")
class Tiers(MethodView):
    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT"))
    @blp.response(200, LadderSchema)
    def get(self) -> dict[str, Any]:
        """The program's tier ladder, lowest first"""
        return {"tiers": config.snapshot(config.ladder_rows(program_id()))}

    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(422,)))
    @blp.arguments(LadderReplaceSchema)
    @blp.response(200, LadderSchema)
    def put(self, data: dict[str, Any]) -> dict[str, Any]:
        """Replace the tier ladder; 422 names every bad path (`tiers.1.threshold`), nothing
        stored. Audited; new multipliers apply to purchases processed from now on"""
        rows = config.replace_ladder(
            program_id=program_id(),
            body=data,
            actor=current_principal().actor,
            actor_role="marketer",
        )
        commit()
        return {"tiers": config.snapshot(rows)}
