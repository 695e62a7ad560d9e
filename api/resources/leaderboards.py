"""Leaderboards for cardholders: the boards of their program and where they stand on one.

Entries show a rank, a nickname and a score, never an external ref, an age or spend. Only
customers who may appear are listed (campaigns/leaderboards/privacy.py); the caller always
sees their own rank and two neighbours each side, even when others cannot see them.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, current_principal, program_id, requires
from api.fields import MAX_PAGE, UtcDateTime
from campaigns.leaderboards.catalogue import boards_for
from campaigns.leaderboards.reading import BoardView, find_caller, read_board
from rewards.ledger import utcnow
from rewards.models import Customer
from workers.queues import leaderboard_store

blp = Blueprint(
    "leaderboards",
    __name__,
    url_prefix="/v1",
    description="Cardholder: XP and challenge leaderboards (nicknames only, opt-in).",
)


class LeaderboardSchema(ma.Schema):
    id = ma.fields.String(
        metadata={"description": "`xp-week`, `xp-month`, `xp-all`, `challenge-{id}`"}
    )
    title = ma.fields.String()
    period = ma.fields.String(
        metadata={
            "description": "ISO week (`2026-W13`) or month (`2026-03`) in the program's "
            "timezone, `all`; for a challenge its period key (`c`, `w:2026-W13`, `m:2026-03`)"
        }
    )
    starts_at = UtcDateTime(allow_none=True)
    ends_at = UtcDateTime(allow_none=True, metadata={"description": "Excluded; null: never"})


class LeaderboardListSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(LeaderboardSchema))


class LeaderboardEntrySchema(ma.Schema):
    rank = ma.fields.Integer(metadata={"description": "1 is the best; ties by who joined first"})
    nickname = ma.fields.String(
        metadata={"description": "The cardholder's nickname, or `Player 1234` if they have none"}
    )
    score = ma.fields.Integer()
    you = ma.fields.Boolean(metadata={"description": "This entry is the caller"})


class OwnRankSchema(ma.Schema):
    rank = ma.fields.Integer()
    score = ma.fields.Integer()
    visible = ma.fields.Boolean(
        metadata={
            "description": "False: the caller has not opted in (or may not appear yet); this "
            "is where they would rank, and others do not see them"
        }
    )


class LeaderboardStandingSchema(LeaderboardSchema):
    members = ma.fields.Integer(metadata={"description": "Cardholders shown on the board"})
    top = ma.fields.List(ma.fields.Nested(LeaderboardEntrySchema))
    you = ma.fields.Nested(
        OwnRankSchema,
        allow_none=True,
        metadata={"description": "Null while the caller has no score on this board"},
    )
    around = ma.fields.List(
        ma.fields.Nested(LeaderboardEntrySchema),
        metadata={"description": "The caller and up to two entries each side of them"},
    )


class LeaderboardQueryArgsSchema(ma.Schema):
    limit = ma.fields.Integer(
        load_default=10,
        validate=ma.validate.Range(min=1, max=MAX_PAGE),
        metadata={"description": "Entries in `top`"},
    )


def _caller() -> tuple[Customer, ZoneInfo]:
    """The calling cardholder and their program's timezone (one query)."""
    return find_caller(program_id=program_id(), external_ref=current_principal().subject)


def _board(view: BoardView) -> dict[str, Any]:
    spec = view.spec
    return {
        "id": spec.id,
        "title": spec.title,
        "period": spec.period,
        "starts_at": spec.starts_at,
        "ends_at": spec.ends_at,
        "members": view.members,
        "top": view.top,
        "you": view.you,
        "around": view.around,
    }


@blp.route("/leaderboards")
class Leaderboards(MethodView):
    @requires("cardholder")
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @blp.response(200, LeaderboardListSchema)
    def get(self) -> Any:
        """The leaderboards the cardholder can read now: XP boards and live challenges'"""
        customer, zone = _caller()
        return {"data": boards_for(customer, utcnow(), zone)}


@blp.route("/leaderboards/<string:board_id>")
class LeaderboardById(MethodView):
    @requires("cardholder")
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @blp.arguments(LeaderboardQueryArgsSchema, location="query")
    @blp.response(200, LeaderboardStandingSchema)
    def get(self, args: dict[str, Any], board_id: str) -> Any:
        """The top of a board, the caller's own rank and their neighbours"""
        customer, zone = _caller()
        view = read_board(
            customer=customer,
            board_id=board_id,
            limit=args["limit"],
            store=leaderboard_store(),
            now=utcnow(),
            secret=current_app.config["SECRET_KEY"].encode(),
            program_zone=zone,
        )
        return _board(view)
