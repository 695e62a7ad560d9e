"""Transactions that arrived before their card was enrolled wait as `unmatched` until it is."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import update

from rewards.db import db
from rewards.models import Transaction


def release_unmatched(*, program_id: int, card_tokens: Iterable[str]) -> list[int]:
    """Put the program's unmatched transactions on `card_tokens` back to `received`.

    Returns their ids; the caller commits, then enqueues them (`enqueue_transactions`).
    """
    tokens = sorted(set(card_tokens))
    if not tokens:
        return []
    stmt = (
        update(Transaction)
        .where(
            Transaction.program_id == program_id,
            Transaction.card_token.in_(tokens),
            Transaction.status == "unmatched",
        )
        .values(status="received", reason=None)
        .returning(Transaction.id)
    )
    return list(db.session.scalars(stmt))
