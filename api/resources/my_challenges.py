"""Cardholder: my challenges (available, active with progress, completed), joining an opt-in
challenge, and my badges (earned, and still to earn with progress).

As everywhere under `/v1/me`, the customer is the token's subject: nothing here takes a
customer id from the request, and nothing shows another customer or a birth date.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import auth_doc, current_principal, program_id, requires
from api.fields import UtcDateTime
from api.idempotency import commit
from api.resources.badges import BadgeCriteriaSchema
from api.resources.challenges import GoalSchema
from campaigns.challenges import my_badges, views
from campaigns.challenges.definition import JOIN_MODES
from campaigns.challenges.models import BADGE_SOURCES, CHALLENGE_STATUSES

blp = Blueprint(
    "my_challenges",
    __name__,
    url_prefix="/v1",
    description="Cardholder: challenges, streaks and badges.",
)


class ProgressSchema(ma.Schema):
    current = ma.fields.Integer(
        metadata={"description": "In the goal's unit; for a streak, the best length so far"}
    )
    target = ma.fields.Integer()


class StreakSchema(ma.Schema):
    current = ma.fields.Integer(metadata={"description": "0 when broken"})
    best = ma.fields.Integer()
    freeze_used_this_week = ma.fields.Boolean(
        metadata={"description": "One missed day per ISO week is forgiven automatically"}
    )
    time_left_today = ma.fields.Integer(
        allow_none=True,
        metadata={"description": "Seconds to local midnight (daily streaks; null for weekly)"},
    )


class BadgeSummarySchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    image_url = ma.fields.String(allow_none=True)


class ChallengeRewardSchema(ma.Schema):
    points = ma.fields.Integer()
    badge = ma.fields.Nested(BadgeSummarySchema)
    xp = ma.fields.Integer()


class MyChallengeSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    description = ma.fields.String(
        metadata={"description": "In plain words, e.g. 'Buy 3 purchases on dining this week'"}
    )
    about = ma.fields.String(allow_none=True, metadata={"description": "The marketer's text"})
    status = ma.fields.String(metadata={"enum": list(CHALLENGE_STATUSES)})
    goal = ma.fields.Nested(GoalSchema)
    join = ma.fields.String(metadata={"enum": list(JOIN_MODES)})
    repeatable = ma.fields.Boolean()
    sponsor = ma.fields.String(allow_none=True)
    starts_at = UtcDateTime()
    ends_at = UtcDateTime(allow_none=True)
    joined_at = UtcDateTime(allow_none=True)
    period = ma.fields.String(
        allow_none=True, metadata={"description": "c (whole window), w:2026-W13 or m:2026-03"}
    )
    progress = ma.fields.Nested(ProgressSchema, allow_none=True)
    period_ends_at = UtcDateTime(allow_none=True)
    time_left = ma.fields.Integer(
        allow_none=True, metadata={"description": "Seconds to the end of the period"}
    )
    reward = ma.fields.Nested(ChallengeRewardSchema)
    streak = ma.fields.Nested(StreakSchema, allow_none=True)
    completed_at = UtcDateTime(allow_none=True)


class MyChallengesSchema(ma.Schema):
    available = ma.fields.List(
        ma.fields.Nested(MyChallengeSchema),
        metadata={"description": "Live opt-in challenges open to me, not joined yet"},
    )
    active = ma.fields.List(
        ma.fields.Nested(MyChallengeSchema),
        metadata={"description": "Challenges I am in, current period's progress"},
    )
    completed = ma.fields.List(
        ma.fields.Nested(MyChallengeSchema),
        metadata={"description": "My completed periods, newest first (the last 50)"},
    )


class MyBadgeSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    description = ma.fields.String(allow_none=True)
    image_url = ma.fields.String(allow_none=True)
    criteria = ma.fields.Nested(BadgeCriteriaSchema)


class EarnedBadgeSchema(ma.Schema):
    badge = ma.fields.Nested(MyBadgeSchema)
    awarded_at = UtcDateTime()
    source = ma.fields.String(metadata={"enum": list(BADGE_SOURCES)})
    challenge_id = ma.fields.Integer(allow_none=True)


class BadgeToEarnSchema(ma.Schema):
    badge = ma.fields.Nested(MyBadgeSchema)
    progress = ma.fields.Nested(
        ProgressSchema,
        allow_none=True,
        metadata={"description": "null: no challenge open to me awards it now"},
    )
    challenge_id = ma.fields.Integer(
        allow_none=True, metadata={"description": "The challenge the progress is in"}
    )


class MyBadgesSchema(ma.Schema):
    earned = ma.fields.List(ma.fields.Nested(EarnedBadgeSchema))
    to_earn = ma.fields.List(ma.fields.Nested(BadgeToEarnSchema))


def challenge_dict(entry: views.MyChallenge) -> dict[str, Any]:
    """The attributes `MyChallengeSchema` dumps."""
    row, d = entry.challenge, entry.definition
    return {
        "id": row.id,
        "name": d["name"],
        "description": entry.description,
        "about": d.get("description"),
        "status": entry.status,
        "goal": d["goal"],
        "join": d["join"],
        "repeatable": d["repeatable"],
        "sponsor": d.get("sponsor"),
        "starts_at": row.starts_at,
        "ends_at": row.ends_at,
        "joined_at": entry.joined_at,
        "period": entry.period,
        "progress": entry.progress,
        "period_ends_at": entry.period_ends_at,
        "time_left": entry.time_left,
        "reward": entry.reward,
        "streak": entry.streak,
        "completed_at": entry.completed_at,
    }


def _ref() -> str:
    return current_principal().subject


@blp.route("/me/challenges")
class MyChallenges(MethodView):
    @requires("cardholder")
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @blp.response(200, MyChallengesSchema)
    def get(self) -> Any:
        """My challenges: available to join, active with progress and time left, completed"""
        mine = views.my_challenges(
            program_id=program_id(), external_ref=_ref(), now=datetime.now(UTC)
        )
        return {
            "available": [challenge_dict(e) for e in mine.available],
            "active": [challenge_dict(e) for e in mine.active],
            "completed": [challenge_dict(e) for e in mine.completed],
        }


@blp.route("/me/challenges/<id:challenge_id>/join")
class MyChallengeJoin(MethodView):
    @requires("cardholder")
    @blp.doc(**auth_doc("bearerJWT", problems=(404, 409)))
    @blp.response(200, MyChallengeSchema, description="Already joined (the first time is kept)")
    @blp.alt_response(201, schema=MyChallengeSchema, description="Joined now")
    def post(self, challenge_id: int) -> Any:
        """Join an opt-in challenge: my purchases from now on count (repeat calls are harmless)"""
        joined = views.join_challenge(
            program_id=program_id(),
            external_ref=_ref(),
            challenge_id=challenge_id,
            now=datetime.now(UTC),
        )
        commit()
        return challenge_dict(joined.challenge), 201 if joined.created else 200


@blp.route("/me/badges")
class MyBadges(MethodView):
    @requires("cardholder")
    @blp.doc(**auth_doc("bearerJWT", problems=(404,)))
    @blp.response(200, MyBadgesSchema)
    def get(self) -> Any:
        """My badges: earned, and the active ones still to earn with my progress"""
        mine = my_badges.my_badges(
            program_id=program_id(), external_ref=_ref(), now=datetime.now(UTC)
        )
        return {
            "earned": [
                {
                    "badge": e.badge,
                    "awarded_at": e.awarded_at,
                    "source": e.source,
                    "challenge_id": e.challenge_id,
                }
                for e in mine.earned
            ],
            "to_earn": [
                {"badge": t.badge, "progress": t.progress, "challenge_id": t.challenge_id}
                for t in mine.to_earn
            ],
        }
