"""What a chunk reads about its customers' challenges, a handful of queries per chunk
whatever its size (each keyed by customer first, as the tables' keys are), always after the
customers' accounts are locked: no other chunk changes these rows until this one commits."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import case, func, select

from campaigns.challenges.completion import COMPLETED
from campaigns.challenges.feed.progress import Counted, Progress
from campaigns.challenges.goals import Tally
from campaigns.challenges.models import ChallengeContribution, ChallengeJoin, ChallengeProgress
from rewards.db import among, db
from rewards.models import LedgerEntry

Key = tuple[int, int, str]  # (customer, challenge, period)


def counted_for(transaction_ids: Collection[int]) -> dict[tuple[int, int], Counted]:
    """`(transaction, challenge) → Counted` already stored for these purchases."""
    if not transaction_ids:
        return {}
    stmt = select(ChallengeContribution).where(
        among(ChallengeContribution.transaction_id, transaction_ids)
    )
    return {(c.transaction_id, c.challenge_id): c for c in map(_counted, db.session.scalars(stmt))}


def joins(
    customer_ids: Collection[int], challenge_ids: set[int]
) -> dict[tuple[int, int], datetime]:
    """`(customer, challenge) → joined_at` of these customers' opt-ins to these challenges."""
    if not customer_ids or not challenge_ids:
        return {}
    stmt = select(ChallengeJoin.customer_id, ChallengeJoin.challenge_id, ChallengeJoin.joined_at)
    stmt = stmt.where(among(ChallengeJoin.customer_id, customer_ids))
    return {(u, c): at for u, c, at in db.session.execute(stmt) if c in challenge_ids}


def completions(customer_ids: Collection[int]) -> dict[tuple[int, int], int]:
    """`(customer, challenge) → periods completed and not revoked`, for every challenge the
    customer has progress in (a key present means the customer already participates)."""
    if not customer_ids:
        return {}
    completed = func.sum(case((ChallengeProgress.status == COMPLETED, 1), else_=0))
    stmt = (
        select(ChallengeProgress.customer_id, ChallengeProgress.challenge_id, completed)
        .where(among(ChallengeProgress.customer_id, customer_ids))
        .group_by(ChallengeProgress.customer_id, ChallengeProgress.challenge_id)
    )
    return {(u, c): int(n or 0) for u, c, n in db.session.execute(stmt)}


def progress_rows(keys: Collection[Key]) -> dict[Key, Progress]:
    """The stored progress rows among `keys`, each with the ledger key of its live award."""
    if not keys:
        return {}
    wanted = set(keys)
    stmt = (
        select(ChallengeProgress, LedgerEntry.idempotency_key)
        .outerjoin(LedgerEntry, LedgerEntry.id == ChallengeProgress.reward_entry_id)
        .where(
            among(ChallengeProgress.customer_id, {u for u, _, _ in wanted}),
            among(ChallengeProgress.period, {p for _, _, p in wanted}),
        )
    )
    found: dict[Key, Progress] = {}
    for row, reward_key in db.session.execute(stmt):
        key = (row.customer_id, row.challenge_id, row.period)
        if key in wanted:
            found[key] = _progress(row, reward_key)
    return found


def tallies(keys: Collection[Key]) -> dict[Key, Tally]:
    """For each of these progress rows (stored or not), the tally of its purchases that
    still count."""
    found: dict[Key, Tally] = {key: Tally() for key in keys}
    for counted in period_purchases(found):
        contribution = counted.contribution()
        if contribution is not None:
            found[counted.key].add(contribution)
    return found


def period_purchases(keys: Collection[Key]) -> list[Counted]:
    """Every purchase counted towards these progress rows."""
    if not keys:
        return []
    wanted = set(keys)
    stmt = select(ChallengeContribution).where(
        among(ChallengeContribution.customer_id, {u for u, _, _ in wanted}),
        among(ChallengeContribution.challenge_id, {c for _, c, _ in wanted}),
        among(ChallengeContribution.period, {p for _, _, p in wanted}),
    )
    counted = map(_counted, db.session.scalars(stmt))
    return [c for c in counted if c.key in wanted]


def _counted(row: ChallengeContribution) -> Counted:
    return Counted(
        transaction_id=row.transaction_id,
        challenge_id=row.challenge_id,
        customer_id=row.customer_id,
        period=row.period,
        local_day=row.local_day,
        amount_minor=row.amount_minor,
        refunded_minor=row.refunded_minor,
        merchant_id=row.merchant_id,
        category=row.category,
    )


def _progress(row: ChallengeProgress, reward_key: str | None) -> Progress:
    return Progress(
        customer_id=row.customer_id,
        challenge_id=row.challenge_id,
        period=row.period,
        target=row.target,
        status=row.status,
        value=row.value,
        awards=row.awards,
        reward_points=row.reward_points,
        reward_key=reward_key,
        completed_at=row.completed_at,
        revoked_at=row.revoked_at,
        current_streak=row.current_streak,
        best_streak=row.best_streak,
        last_active_day=row.last_active_day,
        freeze_used_on=row.freeze_used_on,
        stored=True,
    )
