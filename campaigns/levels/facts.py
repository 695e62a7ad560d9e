"""What a set of customers' XP is made of, read set-based (one grouped query per kind of fact,
whatever the number of customers), and the programs' XP rules and ladders.

Points: the earn, bonus and challenge reward lots (pending ones too: XP is feedback on
activity, not on spendable points) plus every clawback taken from a lot (a refund's share, a
revoked challenge's reward). A clawback with no lot (a refund whose purchase the platform
never saw) took points no XP was earned from, so it is not counted; nor are manual
adjustments, redemptions or expiry (the points were earned; spending or losing them undoes
no activity). They are kept per customer (`customers.xp_points`, up to the ledger entry
`xp_points_upto`), so a chunk reads only the entries written since, not the whole history.
Completed periods and streak days are counted from indexed rows of the customer's
challenges (completed periods; contributions to streak challenges).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, case, func, or_, select

from campaigns.challenges.feed.reads import counted_towards
from campaigns.challenges.models import Challenge, ChallengeProgress, ChallengePurchase
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
    """A customer's stored XP and level, and the points XP counted up to a ledger entry."""

    program_id: int
    xp: int
    level: int
    points: int = 0
    points_upto: int = 0


def new_points(customer_ids: Collection[int]) -> dict[int, tuple[int, int]]:
    """Customer → (points XP counts, newest entry id) among their ledger entries after their
    watermark (`customers.xp_points_upto`): what a chunk adds to `customers.xp_points`.
    Customers with no newer entry are absent.

    Only newer entries are read, whatever the history: every lot and clawback of an account
    is written under its account lock by a chunk that commits before the next one for the
    customer reads, and entry ids only grow, so nothing can appear below a watermark."""
    if not customer_ids:
        return {}
    counted = or_(
        LedgerEntry.kind.in_(XP_LOT_KINDS),
        and_(LedgerEntry.kind == "clawback", LedgerEntry.reverses_entry_id.is_not(None)),
    )
    stmt = (
        select(
            Account.customer_id,
            func.coalesce(func.sum(case((counted, LedgerEntry.points), else_=0)), 0),
            func.max(LedgerEntry.id),
        )
        .join(LedgerEntry, LedgerEntry.account_id == Account.id)
        .join(Customer, Customer.id == Account.customer_id)
        .where(among(Account.customer_id, customer_ids), LedgerEntry.id > Customer.xp_points_upto)
        .group_by(Account.customer_id)
    )
    return {c: (int(points), int(upto)) for c, points, upto in db.session.execute(stmt)}


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
    streaks = set(db.session.scalars(select(Challenge.id).where(Challenge.goal_type == "streak")))
    if not streaks:
        return {}
    keys = {str(challenge_id) for challenge_id in streaks}  # as `counted` names them
    stmt = select(
        ChallengePurchase.customer_id, ChallengePurchase.local_day, ChallengePurchase.counted
    ).where(
        among(ChallengePurchase.customer_id, customer_ids),
        counted_towards(streaks),
        ChallengePurchase.refunded_minor < ChallengePurchase.amount_minor,
    )
    days: dict[int, set[date]] = defaultdict(set)
    for customer_id, day, counted in db.session.execute(stmt):
        if not keys.isdisjoint(counted):
            days[customer_id].add(day)
    return {customer_id: len(active) for customer_id, active in days.items()}


def facts_of(standing: Mapping[int, Standing]) -> tuple[dict[int, Facts], dict[int, int]]:
    """Every customer's `Facts` (zeros for one with no activity), and the new points
    watermark of those whose ledger grew (customer → entry id)."""
    added = new_points(list(standing))
    challenges = completed_challenges(list(standing))
    days = streak_days(list(standing))
    facts = {
        c: Facts(s.points + added.get(c, (0, 0))[0], challenges.get(c, 0), days.get(c, 0))
        for c, s in standing.items()
    }
    return facts, {c: upto for c, (_, upto) in added.items()}


def standings(customer_ids: Collection[int]) -> dict[int, Standing]:
    """The customers' stored XP and level."""
    stmt = select(
        Customer.id,
        Customer.program_id,
        Customer.xp,
        Customer.level,
        Customer.xp_points,
        Customer.xp_points_upto,
    ).where(among(Customer.id, customer_ids))
    return {
        row.id: Standing(row.program_id, row.xp, row.level, row.xp_points, row.xp_points_upto)
        for row in db.session.execute(stmt)
    }


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
