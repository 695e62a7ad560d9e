"""What a set of customers' XP is made of, read set-based (one grouped query per kind of fact,
whatever the number of customers), and the programs' XP rules and ladders.

Points: the earn, bonus and challenge reward lots (pending ones too: XP is feedback on
activity, not on spendable points) plus every clawback taken from a lot (a refund's share, a
revoked challenge's reward). A clawback with no lot (a refund whose purchase the platform
never saw) took points no XP was earned from, so it is not counted; nor are manual
adjustments, redemptions or expiry (the points were earned; spending or losing them undoes
no activity).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select

from campaigns.challenges.models import Challenge, ChallengeContribution, ChallengeProgress
from campaigns.levels.models import Level
from campaigns.levels.rules import Facts, XpRules
from rewards.db import among, db
from rewards.models import Account, Customer, LedgerEntry, Program

XP_LOT_KINDS = ("earn", "bonus", "challenge_reward")


@dataclass(frozen=True)
class Ladder:
    """A program's levels: ascending thresholds (level n at `thresholds[n - 1]`) and names."""

    thresholds: list[int]
    names: dict[int, str | None]


@dataclass(frozen=True)
class Standing:
    """A customer's stored XP and level."""

    program_id: int
    xp: int
    level: int


def earned_points(customer_ids: Collection[int]) -> dict[int, int]:
    """Customer → points earned by activity, net of clawbacks (see the module docstring)."""
    stmt = (
        select(Account.customer_id, func.sum(LedgerEntry.points))
        .join(LedgerEntry, LedgerEntry.account_id == Account.id)
        .where(
            among(Account.customer_id, customer_ids),
            or_(
                LedgerEntry.kind.in_(XP_LOT_KINDS),
                and_(LedgerEntry.kind == "clawback", LedgerEntry.reverses_entry_id.is_not(None)),
            ),
        )
        .group_by(Account.customer_id)
    )
    return {customer_id: int(points) for customer_id, points in db.session.execute(stmt)}


def completed_challenges(customer_ids: Collection[int]) -> dict[int, int]:
    """Customer → challenge periods completed and not revoked."""
    stmt = (
        select(ChallengeProgress.customer_id, func.count())
        .where(
            among(ChallengeProgress.customer_id, customer_ids),
            ChallengeProgress.status == "completed",
        )
        .group_by(ChallengeProgress.customer_id)
    )
    return dict(db.session.execute(stmt).all())


def streak_days(customer_ids: Collection[int]) -> dict[int, int]:
    """Customer → distinct local days with a purchase that still counts (not refunded in
    full) towards a streak challenge: a day counts once, however many streaks it feeds."""
    stmt = (
        select(
            ChallengeContribution.customer_id,
            func.count(ChallengeContribution.local_day.distinct()),
        )
        .join(Challenge, Challenge.id == ChallengeContribution.challenge_id)
        .where(
            among(ChallengeContribution.customer_id, customer_ids),
            Challenge.goal_type == "streak",
            ChallengeContribution.refunded_minor < ChallengeContribution.amount_minor,
        )
        .group_by(ChallengeContribution.customer_id)
    )
    return dict(db.session.execute(stmt).all())


def facts_of(customer_ids: Collection[int]) -> dict[int, Facts]:
    """Every customer's `Facts` (zeros for one with no activity)."""
    points = earned_points(customer_ids)
    challenges = completed_challenges(customer_ids)
    days = streak_days(customer_ids)
    return {c: Facts(points.get(c, 0), challenges.get(c, 0), days.get(c, 0)) for c in customer_ids}


def standings(customer_ids: Collection[int]) -> dict[int, Standing]:
    """The customers' stored XP and level."""
    stmt = select(Customer.id, Customer.program_id, Customer.xp, Customer.level).where(
        among(Customer.id, customer_ids)
    )
    return {row.id: Standing(row.program_id, row.xp, row.level) for row in db.session.execute(stmt)}


def program_settings(program_ids: Collection[int]) -> tuple[dict[int, XpRules], dict[int, Ladder]]:
    """The programs' XP rules and ladders (an empty ladder: everyone stays at level 1)."""
    stored = db.session.execute(
        select(Program.id, Program.xp_rules).where(among(Program.id, program_ids))
    )
    rules = {program_id: XpRules.from_stored(raw) for program_id, raw in stored}
    ladders = {p: Ladder([], {}) for p in program_ids}
    rows = db.session.scalars(
        select(Level).where(among(Level.program_id, program_ids)).order_by(Level.level)
    )
    for row in rows:
        ladders[row.program_id].thresholds.append(row.xp)
        ladders[row.program_id].names[row.level] = row.name
    return rules, ladders
