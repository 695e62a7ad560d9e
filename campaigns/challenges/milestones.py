"""Milestone badges: awarded by the feed, at the end of a chunk, to the chunk's customers who
now meet an active badge's milestone criteria — never taken away.

- `{"type": "first_purchase"}`: a purchase that earned (or was later refunded: it was made).
- `{"type": "distinct_partners", "count": N}`: processed purchases at N distinct partners
  (today's active partners and their merchant ids).
- `{"type": "streak_days", "days": N}`: a best streak of N days in any daily streak challenge
  (the challenge's own streak, weekly freeze included).
- `{"type": "lifetime_points", "points": X}`: X points earned by activity, net of clawbacks
  (the XP figure: buying and refunding cannot farm it).
Set-based: one query for the programs' milestone badges, one for badges held, one per
criteria kind that needs history, one insert (`ON CONFLICT DO NOTHING`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from campaigns.challenges.models import (
    Badge,
    Challenge,
    ChallengeProgress,
    ChallengeVersion,
    CustomerBadge,
)
from rewards.db import among, db, dialect_insert
from rewards.models import Partner, PartnerMerchant, Transaction

MILESTONE_TYPES = ("first_purchase", "distinct_partners", "streak_days", "lifetime_points")


def award_milestones(
    *,
    programs: Mapping[int, int],
    points: Mapping[int, int],
    purchasers: Collection[int],
    now: datetime,
) -> int:
    """Award the milestone badges the customers of `programs` (customer → program) now meet;
    `points` are their net earned points, `purchasers` those known to have purchased. Returns
    how many badges were newly awarded."""
    badges = _milestone_badges(set(programs.values()))
    if not badges:
        return 0
    held = _held(programs, [b.id for bs in badges.values() for b in bs])
    wanting: dict[str, list[tuple[int, Badge]]] = defaultdict(list)
    for customer_id, program_id in programs.items():
        for badge in badges.get(program_id, ()):
            if (customer_id, badge.id) not in held:
                wanting[badge.criteria["type"]].append((customer_id, badge))
    earned = [(c, b) for c, b in wanting["first_purchase"] if c in purchasers]
    earned += [(c, b) for c, b in wanting["lifetime_points"] if points.get(c, 0) >= _n(b)]
    earned += _by_count(wanting["distinct_partners"], _partner_counts)
    earned += _by_count(wanting["streak_days"], _best_daily_streaks)
    if not earned:
        return 0
    rows = [
        {"customer_id": c, "badge_id": b.id, "awarded_at": now, "source": "milestone"}
        for c, b in sorted(earned, key=lambda pair: (pair[0], pair[1].id))
    ]
    stmt = dialect_insert(CustomerBadge).values(rows).on_conflict_do_nothing()
    result: Any = db.session.execute(stmt)
    return int(result.rowcount or 0)


def _n(badge: Badge) -> int:
    """The figure a milestone asks for (count, days or points)."""
    criteria: dict[str, Any] = badge.criteria
    return int(criteria.get("count") or criteria.get("days") or criteria.get("points") or 0)


def _milestone_badges(program_ids: set[int]) -> dict[int, list[Badge]]:
    stmt = select(Badge).where(among(Badge.program_id, program_ids), Badge.status == "active")
    found: dict[int, list[Badge]] = defaultdict(list)
    for badge in db.session.scalars(stmt):
        if isinstance(badge.criteria, dict) and badge.criteria.get("type") in MILESTONE_TYPES:
            found[badge.program_id].append(badge)
    return found


def _held(programs: Mapping[int, int], badge_ids: list[int]) -> set[tuple[int, int]]:
    stmt = select(CustomerBadge.customer_id, CustomerBadge.badge_id).where(
        among(CustomerBadge.customer_id, list(programs)), among(CustomerBadge.badge_id, badge_ids)
    )
    return {(c, b) for c, b in db.session.execute(stmt)}


def _by_count(wanting: list[tuple[int, Badge]], counts_of: Any) -> list[tuple[int, Badge]]:
    """The pairs whose customer's count (from `counts_of(customer ids)`) reaches the badge's."""
    if not wanting:
        return []
    counts: dict[int, int] = counts_of({c for c, _ in wanting})
    return [(c, b) for c, b in wanting if counts.get(c, 0) >= _n(b)]


def _partner_counts(customer_ids: set[int]) -> dict[int, int]:
    """Customer → distinct active partners of their processed purchases."""
    stmt = (
        select(Transaction.customer_id, func.count(Partner.id.distinct()))
        .join(
            PartnerMerchant,
            (PartnerMerchant.program_id == Transaction.program_id)
            & (PartnerMerchant.merchant_id == Transaction.merchant_id),
        )
        .join(Partner, Partner.id == PartnerMerchant.partner_id)
        .where(
            among(Transaction.customer_id, customer_ids),
            Transaction.kind == "purchase",
            Transaction.status == "processed",
            Partner.status == "active",
        )
        .group_by(Transaction.customer_id)
    )
    return {int(c): n for c, n in db.session.execute(stmt) if c is not None}


def _best_daily_streaks(customer_ids: set[int]) -> dict[int, int]:
    """Customer → their best streak in any challenge whose goal is a streak of days."""
    stmt = (
        select(
            ChallengeProgress.customer_id,
            ChallengeVersion.definition,
            ChallengeProgress.best_streak,
        )
        .join(Challenge, Challenge.id == ChallengeProgress.challenge_id)
        .join(
            ChallengeVersion,
            (ChallengeVersion.challenge_id == Challenge.id)
            & (ChallengeVersion.version == Challenge.current_version),
        )
        .where(
            among(ChallengeProgress.customer_id, customer_ids),
            Challenge.goal_type == "streak",
            ChallengeProgress.best_streak > 0,
        )
    )
    best: dict[int, int] = {}
    for customer_id, definition, streak in db.session.execute(stmt):
        if (definition or {}).get("goal", {}).get("unit") == "days":
            best[customer_id] = max(best.get(customer_id, 0), streak)
    return best
