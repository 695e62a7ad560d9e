"""Marketer: the program's XP rules and level ladder (`GET`/`PUT /v1/levels`).

XP accrues from activity — points earned (× `per_point`), challenges completed
(× `per_challenge`) and streak days (× `per_streak_day`) — and follows clawbacks. Without a
ladder every customer stays at level 1 while XP still accrues.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, current_principal, program_id, requires
from api.idempotency import commit
from campaigns.levels import rules, service

blp = Blueprint(
    "levels", __name__, url_prefix="/v1", description="Marketer: XP rules and level thresholds."
)


class XpRulesSchema(ma.Schema):
    per_point = ma.fields.String(
        metadata={
            "description": "XP per point earned by activity: a decimal string from 0 to 100 with "
            f"at most 4 decimals (default {rules.DEFAULT_RULES['per_point']}); the XP from "
            "points is floored once, on the exact total",
            "pattern": f"^{rules.PER_POINT_PATTERN.pattern}$",
            "example": "0.1",
        }
    )
    per_challenge = ma.fields.Integer(
        metadata={
            "description": "XP per challenge period completed (default "
            f"{rules.DEFAULT_RULES['per_challenge']}), 0-{rules.MAX_PER_EVENT}",
            "minimum": 0,
            "maximum": rules.MAX_PER_EVENT,
            "example": 50,
        }
    )
    per_streak_day = ma.fields.Integer(
        metadata={
            "description": "XP per day with a purchase counting towards a streak challenge "
            f"(default {rules.DEFAULT_RULES['per_streak_day']}), 0-{rules.MAX_PER_EVENT}",
            "minimum": 0,
            "maximum": rules.MAX_PER_EVENT,
            "example": 5,
        }
    )


class LevelSchema(ma.Schema):
    level = ma.fields.Integer(metadata={"minimum": 1, "maximum": rules.MAX_LEVELS, "example": 2})
    xp = ma.fields.Integer(
        metadata={
            "minimum": 0,
            "maximum": rules.MAX_LEVEL_XP,
            "description": "XP at which the level is reached",
            "example": 500,
        }
    )
    name = ma.fields.String(
        allow_none=True, metadata={"maxLength": rules.MAX_NAME, "example": "Explorer"}
    )


class LevelConfigSchema(ma.Schema):
    xp_rules = ma.fields.Nested(
        XpRulesSchema, metadata={"description": "Unset keys take their defaults"}
    )
    levels = ma.fields.List(
        ma.fields.Nested(LevelSchema),
        metadata={
            "description": "Levels 1, 2, 3… in order, level 1 at 0 XP, thresholds rising, at "
            f"most {rules.MAX_LEVELS}; empty: everyone stays at level 1",
            "maxItems": rules.MAX_LEVELS,
        },
    )


class LevelConfigUpdateSchema(LevelConfigSchema):
    """Both keys required: a PUT replaces the rules and the whole ladder. Checked by the
    service, which names every bad path at once (`xp_rules.per_point`, `levels.2.xp`)."""

    xp_rules = ma.fields.Nested(XpRulesSchema, required=True)
    levels = ma.fields.List(ma.fields.Nested(LevelSchema), required=True)

    def load(self, data: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return data  # the service checks it (every problem at once, by exact path)


@blp.route("/levels")
class Levels(MethodView):
    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT"))
    @blp.response(200, LevelConfigSchema)
    def get(self) -> Any:
        """The program's XP rules (defaults filled in) and level ladder"""
        return service.level_config(program_id=program_id())

    @requires("marketer")
    @blp.doc(**auth_doc("bearerJWT", problems=(422,)))
    @blp.arguments(LevelConfigUpdateSchema)
    @blp.response(200, LevelConfigSchema)
    def put(self, data: Any) -> Any:
        """Replace the XP rules and the level ladder (audited; customers move on their next
        processed transaction)"""
        config = service.replace_level_config(
            program_id=program_id(),
            raw=data,
            actor=current_principal().actor,
            actor_role="marketer",
        )
        commit()
        return config
