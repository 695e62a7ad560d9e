"""What a chunk reads about its customers' challenges, a handful of queries per chunk
whatever its size (each keyed by customer first, as the tables' keys are), always after the
customers' accounts are locked: no other chunk changes these rows until this one commits.
Plain columns, not ORM objects: tens of thousands of rows per chunk, none of them changed
through the session."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, case, cast, func, select, true, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from campaigns.challenges.completion import COMPLETED
from campaigns.challenges.feed.progress import Counted, Progress, tally_of_json
from campaigns.challenges.goals import Tally
from campaigns.challenges.models import ChallengeJoin, ChallengeProgress, ChallengePurchase
from rewards.db import among, db, is_postgres
from rewards.models import LedgerEntry

Key = tuple[int, int, str]  # (customer, challenge, period)


def counted_for(transaction_ids: Collection[int]) -> dict[tuple[int, int], Counted]:
    """`(transaction, challenge) → Counted` already stored for these purchases."""
    if not transaction_ids:
        return {}
    found = _counted(among(ChallengePurchase.transaction_id, transaction_ids))
    return {(c.transaction_id, c.challenge_id): c for c in found}


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
    """The stored progress rows among `keys`, each with the ledger key of its live award and
    its stored tally (None for count and spend goals, and rows stored before migration 0012)."""
    if not keys:
        return {}
    wanted = set(keys)
    p = ChallengeProgress
    columns = [
        LedgerEntry.idempotency_key if c == "reward_key" else p.__table__.c[c] for c in _PROGRESS
    ]
    stmt = (
        select(*columns)
        .outerjoin(LedgerEntry, LedgerEntry.id == p.reward_entry_id)
        .where(
            among(p.customer_id, {u for u, _, _ in wanted}),
            among(p.period, {p for _, _, p in wanted}),
        )
    )
    found: dict[Key, Progress] = {}
    for row in db.session.execute(stmt):
        values = dict(zip(_PROGRESS, row, strict=True))
        key = (values["customer_id"], values["challenge_id"], values["period"])
        if key in wanted:
            stored = values.pop("tally")
            tally = None if stored is None else tally_of_json(stored)
            found[key] = Progress(**values, tally=tally, stored=True)
    return found


def recounted_tallies(keys: Collection[Key]) -> dict[Key, Tally]:
    """For each of these progress rows, the tally of its purchases that still count, counted
    from `challenge_purchases` (rows stored before their tally was kept, and tests)."""
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
    found = _counted(
        among(ChallengePurchase.customer_id, {u for u, _, _ in wanted}),
        counted_towards({c for _, c, _ in wanted}),
    )
    return [c for c in found if c.key in wanted]


def counted_towards(challenge_ids: Collection[int]) -> ColumnElement[bool]:
    """SQL: the purchase counted towards one of these challenges (on PostgreSQL, where a
    customer's other purchases then never leave the database; everywhere else callers
    filter the rows they read)."""
    if not is_postgres():
        return true()
    keys = sorted(str(c) for c in challenge_ids)
    return type_coerce(ChallengePurchase.counted, JSONB).has_any(cast(keys, ARRAY(Text)))


# `Progress` fields read from `challenge_progress` (and the live award's ledger key).
_PROGRESS = (
    "customer_id",
    "challenge_id",
    "period",
    "target",
    "status",
    "value",
    "awards",
    "reward_points",
    "reward_key",
    "completed_at",
    "halfway_at",
    "revoked_at",
    "current_streak",
    "best_streak",
    "last_active_day",
    "freeze_used_on",
    "tally",
)
_PURCHASE = (
    ChallengePurchase.transaction_id,
    ChallengePurchase.customer_id,
    ChallengePurchase.counted,
    ChallengePurchase.local_day,
    ChallengePurchase.amount_minor,
    ChallengePurchase.refunded_minor,
    ChallengePurchase.merchant_id,
    ChallengePurchase.category,
)


def _counted(*where: Any) -> list[Counted]:
    """The stored purchases matching `where`, one `Counted` per challenge each counted for."""
    found: list[Counted] = []
    for tx, customer, counted, day, amount, refunded, merchant, category in db.session.execute(
        select(*_PURCHASE).where(*where)
    ):
        facts = (day, amount, refunded, merchant, category)
        found.extend(
            Counted(tx, int(challenge_id), customer, period, *facts)
            for challenge_id, period in counted.items()
        )
    return found
