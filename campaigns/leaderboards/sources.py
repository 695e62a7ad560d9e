"""Board scores read from PostgreSQL, the truth Redis copies.

- XP of all time: `customers.xp`.
- XP of a week or month: the sum of the customer's `xp_entries` created inside the period
  (bounds in the program's timezone, see `catalogue.xp_boards`); clawbacks count negative.
- A challenge: `challenge_progress.value` of the board's period.

Scores of 0 or less rank nobody. Who may appear is decided here too: active customers for
whom `privacy.may_appear` holds today (closed and erased customers never appear).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Select, func, select

from campaigns.challenges.models import ChallengeProgress
from campaigns.leaderboards.catalogue import BoardSpec
from campaigns.leaderboards.privacy import may_appear
from campaigns.levels.models import XpEntry
from rewards.db import among, db
from rewards.models import Customer


@dataclass
class Scores:
    """Scores of customers who may appear, and those who may not (to take off the board)."""

    shown: dict[int, int] = field(default_factory=dict)
    hidden: set[int] = field(default_factory=set)


# What decides whether a customer may be shown (`appears`), as columns to select with them.
APPEARANCE = (
    Customer.status,
    Customer.consent_leaderboard,
    Customer.leaderboard_opted_in_at,
    Customer.birth_date,
    Customer.created_at,
)


def appears(who: Any, today: date) -> bool:
    """Whether `who` — a `Customer`, or a row selected with the `APPEARANCE` columns — may
    be shown on leaderboards today."""
    return who.status == "active" and may_appear(
        consent=who.consent_leaderboard,
        opted_in_at=who.leaderboard_opted_in_at,
        birth_date=who.birth_date,
        created_at=who.created_at,
        today=today,
    )


def board_scores(
    spec: BoardSpec, *, today: date, customer_ids: Collection[int] | None = None
) -> Scores:
    """The board's scores, split by who may appear: every customer with a score (a rebuild)
    or only `customer_ids` (a sync, which also gets their zero scores, to remove them)."""
    raw = _score_query(spec, customer_ids).subquery()
    query = select(raw.c.customer_id, raw.c.score, *APPEARANCE).join(
        Customer, Customer.id == raw.c.customer_id
    )
    result = Scores()
    for row in db.session.execute(query):
        if appears(row, today):
            result.shown[row.customer_id] = int(row.score)
        else:
            result.hidden.add(row.customer_id)
    return result


def challenge_board_scores(
    specs: Collection[BoardSpec], *, today: date, customer_ids: Collection[int]
) -> dict[BoardSpec, Scores]:
    """`board_scores` of many challenge boards for a sync's customers in two queries (their
    progress on every board, then who of them may appear), where a query per board cost a
    chunk one round trip per live challenge."""
    wanted = {(spec.challenge_id, spec.period): spec for spec in specs}
    found: dict[BoardSpec, Scores] = {spec: Scores() for spec in specs}
    if not wanted or not customer_ids:
        return found
    rows = db.session.execute(
        select(
            ChallengeProgress.challenge_id,
            ChallengeProgress.period,
            ChallengeProgress.customer_id,
            ChallengeProgress.value,
        ).where(
            among(ChallengeProgress.customer_id, customer_ids),
            among(ChallengeProgress.challenge_id, sorted({cid for cid, _ in wanted})),
        )
    ).all()
    rows = [row for row in rows if (row.challenge_id, row.period) in wanted]
    visible = may_appear_today({row.customer_id for row in rows}, today)
    for row in rows:
        scores = found[wanted[(row.challenge_id, row.period)]]
        if visible.get(row.customer_id, False):
            scores.shown[row.customer_id] = int(row.value)
        else:
            scores.hidden.add(row.customer_id)
    return found


def may_appear_today(customer_ids: Collection[int], today: date) -> dict[int, bool]:
    """`customer → whether they may be shown on leaderboards today` (one query)."""
    if not customer_ids:
        return {}
    query = select(Customer.id, *APPEARANCE).where(among(Customer.id, customer_ids))
    return {row.id: appears(row, today) for row in db.session.execute(query)}


def score_of(spec: BoardSpec, customer_id: int) -> int:
    """One customer's score on the board (0 if none), whether or not they may appear."""
    row = db.session.execute(_score_query(spec, [customer_id])).first()
    return max(0, int(row.score)) if row else 0


def _score_query(spec: BoardSpec, customer_ids: Collection[int] | None) -> Select:
    program_id = spec.board.program_id
    if spec.challenge_id is not None:
        query = select(
            ChallengeProgress.customer_id.label("customer_id"),
            ChallengeProgress.value.label("score"),
        ).where(
            ChallengeProgress.challenge_id == spec.challenge_id,
            ChallengeProgress.period == spec.period,
        )
        return _restrict(
            query, ChallengeProgress.customer_id, ChallengeProgress.value, customer_ids
        )
    if spec.starts_at is None:
        query = select(Customer.id.label("customer_id"), Customer.xp.label("score")).where(
            Customer.program_id == program_id
        )
        return _restrict(query, Customer.id, Customer.xp, customer_ids)
    total = func.sum(XpEntry.xp)
    query = select(XpEntry.customer_id.label("customer_id"), total.label("score")).where(
        XpEntry.program_id == program_id, XpEntry.created_at >= spec.starts_at
    )
    if spec.ends_at is not None:
        query = query.where(XpEntry.created_at < spec.ends_at)
    query = query.group_by(XpEntry.customer_id)
    if customer_ids is None:
        return query.having(total > 0)
    return query.where(among(XpEntry.customer_id, customer_ids))


def _restrict(query: Select, who, score, customer_ids: Collection[int] | None) -> Select:  # type: ignore[no-untyped-def]
    """All positive scores (rebuild), or every score of `customer_ids` (sync)."""
    if customer_ids is None:
        return query.where(score > 0)
    return query.where(among(who, customer_ids))
