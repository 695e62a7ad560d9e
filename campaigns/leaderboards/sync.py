"""Copying scores from PostgreSQL to the Redis boards: after a feed chunk, and rebuilds.

After a chunk commits, the worker writes the absolute current scores of the chunk's customers
to every current board of their program (`sync_transactions`). That is best-effort: if it
fails, nothing is lost, since every board can be rebuilt from PostgreSQL (`rebuild_boards`,
the `rewards leaderboards rebuild` command) and a board Redis lost is rebuilt when first read
(`ensure_board`). Customers who may not appear are taken off the boards by the same writes.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select

from campaigns.challenges.windows import local_day
from campaigns.leaderboards.catalogue import BoardSpec, program_boards
from campaigns.leaderboards.sources import board_scores, challenge_board_scores
from campaigns.leaderboards.store import Leaderboards, Write
from rewards.balances import zone
from rewards.db import among, db
from rewards.models import Customer, Program, Transaction

log = logging.getLogger(__name__)


def sync_transactions(
    transaction_ids: Collection[int], *, store: Leaderboards, now: datetime
) -> int:
    """Write the current scores of the customers of these (committed) transactions to their
    boards. Returns how many customers were written."""
    customers: set[int] = set(
        db.session.scalars(  # type: ignore[arg-type]
            select(Transaction.customer_id)
            .where(among(Transaction.id, transaction_ids), Transaction.customer_id.is_not(None))
            .distinct()
        )
    )
    return sync_customers(customers, store=store, now=now)


def sync_customers(customer_ids: Collection[int], *, store: Leaderboards, now: datetime) -> int:
    """Write the current scores of `customer_ids` (any programs) to every current board of
    their program, taking off those who may no longer appear (a consent withdrawn)."""
    if not customer_ids:
        return 0
    by_program: dict[int, list[int]] = defaultdict(list)
    for program_id, customer_id in db.session.execute(
        select(Customer.program_id, Customer.id).where(among(Customer.id, customer_ids))
    ):
        by_program[program_id].append(customer_id)
    writes: list[Write] = []
    for program_id, ids in by_program.items():
        today = _today(program_id, now)
        specs = program_boards(program_id, now)
        found = {
            spec: board_scores(spec, today=today, customer_ids=ids)
            for spec in specs
            if spec.challenge_id is None
        }
        found.update(
            challenge_board_scores(
                [spec for spec in specs if spec.challenge_id is not None],
                today=today,
                customer_ids=ids,
            )
        )
        for spec, scores in found.items():
            if scores.shown or scores.hidden:
                writes.append(Write(spec.board, scores.shown, scores.hidden, spec.expires_at))
    store.write(writes)
    return sum(len(ids) for ids in by_program.values())


def rebuild_board(spec: BoardSpec, *, store: Leaderboards, now: datetime) -> int:
    """Replace one board by its scores in PostgreSQL; returns its members.

    Customers a sync wrote while PostgreSQL was being read are read again afterwards, so a
    chunk that committed meanwhile is not overwritten by the older snapshot."""
    today = _today(spec.board.program_id, now)
    store.begin_rebuild(spec.board)
    members = store.rebuild(
        spec.board, board_scores(spec, today=today).shown, expires_at=spec.expires_at
    )
    late = store.touched_since(spec.board)
    if late:
        scores = board_scores(spec, today=today, customer_ids=late)
        store.set_scores(spec.board, scores.shown, scores.hidden, expires_at=spec.expires_at)
    return members


def ensure_board(spec: BoardSpec, *, store: Leaderboards, now: datetime) -> bool:
    """Rebuild the board if Redis lost it (its marker is missing); True if it did."""
    if store.is_built(spec.board):
        return False
    members = rebuild_board(spec, store=store, now=now)
    log.info("leaderboard %s rebuilt from PostgreSQL: %d members", spec.board, members)
    return True


def rebuild_boards(
    *, store: Leaderboards, now: datetime, program_id: int | None = None
) -> dict[tuple[int, str], int]:
    """Rebuild every current board of one program (or all): (program id, board id) → members."""
    query = select(Program.id).order_by(Program.id)
    if program_id is not None:
        query = query.where(Program.id == program_id)
    built: dict[tuple[int, str], int] = {}
    for pid in db.session.scalars(query):
        for spec in program_boards(pid, now):
            built[(pid, spec.id)] = rebuild_board(spec, store=store, now=now)
    return built


def _today(program_id: int, now: datetime):  # type: ignore[no-untyped-def]
    return local_day(now, zone(db.session.get_one(Program, program_id).timezone))
