"""What `rewards demo` seeds for play: badges, three challenges, levels and two tiers, and two
cardholders on the leaderboards. Seeded before the demo month is imported, so the real feed
moves the cardholders part-way through the challenges, earns their XP, levels and tiers and
awards their badges: nothing here writes progress by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from campaigns.challenges.badges import BADGES
from campaigns.challenges.service import CHALLENGES
from campaigns.levels.service import replace_level_config
from rewards.models import Program
from rewards.profile import update_own_profile
from rewards.tiers.config import replace_ladder

ACTOR = "demo"
LEVELS = [(0, "Rookie"), (1_000, "Explorer"), (3_000, "Trailblazer"), (8_000, "Legend")]
TIERS = [("green", "Green", 0, "1"), ("gold", "Gold", 20_000, "1.25")]


def seed_gamification(program: Program, start: datetime, coffee_merchant: str) -> None:
    """Badges, challenges, levels and tiers of the demo program; Alice opts in to boards."""
    badge = {
        name: _create(BADGES, program, body)
        for name, body in (
            ("coffee", _badge("Coffee Lover", "Three coffees in one week.", "challenge")),
            ("first", _badge("First Tap", "Your first purchase with the card.", "first_purchase")),
            ("streak", _badge("On a Roll", "A 7-day streak.", "streak_days", days=7)),
            ("club", _badge("10k Club", "10,000 points earned.", "lifetime_points", points=10_000)),
        )
    }
    starts_at = (start - timedelta(days=10)).isoformat()
    for body in (
        {
            "name": "Coffee week",
            "description": "Three coffees at Bean There this week.",
            "goal": {"type": "count", "target": 3},
            "window": {"type": "recurring", "period": "week", "starts_at": starts_at},
            "repeatable": True,
            "conditions": {"merchant_ids": [coffee_merchant]},
            "reward": {"points": 200, "badge_id": badge["coffee"]},
        },
        {
            "name": "7-day streak",
            "goal": {"type": "streak", "target": 7, "unit": "days"},
            "window": {"type": "recurring", "period": "month", "starts_at": starts_at},
            "repeatable": True,
            "reward": {"points": 300},
        },
        {
            "name": "Explorer month",
            "description": "Shop in four different categories this month.",
            "goal": {"type": "distinct_categories", "target": 4},
            "window": {"type": "recurring", "period": "month", "starts_at": starts_at},
            "repeatable": True,
            "join": "opt_in",
            "reward": {"points": 150},
        },
    ):
        challenge_id = _create(CHALLENGES, program, body)
        CHALLENGES.transition(
            "activate", program_id=program.id, object_id=challenge_id, actor=ACTOR
        )
    replace_level_config(
        program_id=program.id,
        raw={
            "xp_rules": {"per_point": "0.1", "per_challenge": 50, "per_streak_day": 5},
            "levels": [
                {"level": n + 1, "xp": xp, "name": name} for n, (xp, name) in enumerate(LEVELS)
            ],
        },
        actor=ACTOR,
        actor_role="marketer",
    )
    replace_ladder(
        program_id=program.id,
        body={
            "tiers": [
                {"code": code, "name": name, "threshold": threshold, "earn_multiplier": rate}
                for code, name, threshold, rate in TIERS
            ]
        },
        actor=ACTOR,
        actor_role="marketer",
    )
    # Alice switched leaderboards on in the app herself; Bob's and Chika's bank sent no consent.
    update_own_profile(
        program_id=program.id,
        external_ref="demo-alice",
        changes={"leaderboard_opt_in": True},
        actor="cardholder:demo-alice",
        now=datetime.now(UTC),
    )


def _badge(name: str, description: str, kind: str, **criteria: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "criteria": {"type": kind, **criteria},
        "status": "active",
    }


def _create(kind: Any, program: Program, body: dict[str, Any]) -> int:
    return int(kind.create(program_id=program.id, body=body, actor=ACTOR).row.id)
