"""Copying scores from PostgreSQL to the Redis boards: after a feed chunk, and rebuilds.

After a chunk commits, the worker writes the absolute current scores of the chunk's customers
who may appear to every current board of their program (`sync_transactions`). A cardholder
opting in or out is written or taken off at once (`sync_customer`). Both are best-effort: if
they fail, nothing is lost, since every board can be rebuilt from PostgreSQL
(`rebuild_boards`, the `rewards leaderboards rebuild` command), a board Redis lost is rebuilt
when first read (`ensure_board`), and a read takes off anyone it would show who may no
longer appear (`reading`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection
from datetime import date, datetime

from sqlalchemy import select

from campaigns.challenges.windows import local_day
from campaigns.leaderboards.catalogue import BoardSpec, program_boards
from campaigns.leaderboards.sources import (
    board_scores,
    challenge_board_scores,
    may_appear_today,
)
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
    """Write the current scores of those of `customer_ids` (any programs) who may appear to
    every current board of their program. Returns how many customers were written.

    Customers who may not appear are not looked at: most cardholders never opt in, and
    reading their scores only to remove them from boards they are not on was most of a
    chunk's sync. Consent withdrawn in the app is taken off the boards when it is withdrawn
    (`sync_customer`), and again here if it was withdrawn while this sync ran; anyone else
    who may no longer appear (a birth date or consent changed by enrolment, an erasure) is
    taken off by the next read that would show them (`reading`, which never shows them), and
    by a rebuild."""
    if not customer_ids:
        return 0
    by_program: dict[int, list[int]] = defaultdict(list)
    for program_id, customer_id in db.session.execute(
        select(Customer.program_id, Customer.id).where(among(Customer.id, customer_ids))
    ):
        by_program[program_id].append(customer_id)
    writes: list[Write] = []
    written: dict[int, tuple[date, list[BoardSpec], list[int]]] = {}
    for program_id, ids in by_program.items():
        today = _today(program_id, now)
        shown = [c for c, ok in may_appear_today(ids, today).items() if ok]
        if shown:
            specs = program_boards(program_id, now)
            written[program_id] = (today, specs, shown)
            writes.extend(_writes(specs, shown, today))
    store.write(writes)
    # Checked again after the write: an opt-out committed between the read and the write took
    # its customer off the boards before this wrote them back; take them off again.
    for today, specs, shown in written.values():
        gone = [c for c, ok in may_appear_today(shown, today).items() if not ok]
        if gone:
            store.write(_taken_off(specs, gone))
    return sum(len(shown) for _, _, shown in written.values())


def sync_customer(customer_id: int, *, store: Leaderboards, now: datetime) -> None:
    """Put one customer on their program's current boards with their scores, or take them
    off every one of them if they may not appear (their consent just changed)."""
    if sync_customers([customer_id], store=store, now=now):
        return
    program_id = db.session.scalar(select(Customer.program_id).where(Customer.id == customer_id))
    if program_id is not None:
        store.write(_taken_off(program_boards(program_id, now), [customer_id]))


def _taken_off(specs: list[BoardSpec], customer_ids: list[int]) -> list[Write]:
    """Writes taking these customers off every one of the boards."""
    return [Write(spec.board, {}, customer_ids, spec.expires_at) for spec in specs]


def _writes(specs: list[BoardSpec], customer_ids: list[int], today: date) -> list[Write]:
    """The boards' scores of these customers, as writes."""
    found = {
        spec: board_scores(spec, today=today, customer_ids=customer_ids)
        for spec in specs
        if spec.challenge_id is None
    }
    found.update(
        challenge_board_scores(
            [spec for spec in specs if spec.challenge_id is not None],
            today=today,
            customer_ids=customer_ids,
        )
    )
    return [
        Write(spec.board, scores.shown, scores.hidden, spec.expires_at)
        for spec, scores in found.items()
        if scores.shown or scores.hidden
    ]


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


def _today(program_id: int, now: datetime) -> date:
    return local_day(now, zone(db.session.get_one(Program, program_id).timezone))
