"""A cardholder reading a board: the top, their own rank and their neighbours, nicknames only.

From Redis when the deployment has it (the board is rebuilt first if Redis lost it), else
(embedded mode, or Redis unreachable) ranked from PostgreSQL directly, with the same result.

Privacy on read, as a second line of defence behind the feed's syncs:
- The caller's own eligibility and score are read from PostgreSQL on every read. A caller who
  may appear but is missing from the board (they just opted in) is written to it; a caller
  who may not appear (consent withdrawn) is taken off it. Either way they see their own rank:
  where they would rank (`visible` false) if they may not appear.
- Every other customer about to be shown is checked against PostgreSQL; anyone who may no
  longer appear is taken off the board and the board read again, so a withdrawn consent
  takes effect the next time anyone would have seen that customer.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from redis.exceptions import RedisError
from sqlalchemy import select

from campaigns.challenges.windows import local_day
from campaigns.leaderboards.catalogue import BoardSpec, find_board
from campaigns.leaderboards.sources import appears, board_scores, score_of
from campaigns.leaderboards.store import Entry, Leaderboards, Standing
from campaigns.leaderboards.sync import ensure_board
from rewards.balances import zone
from rewards.db import among, db
from rewards.models import Customer, Program

log = logging.getLogger(__name__)

AROUND = 2  # neighbours shown on each side of the caller
_REREADS = 3  # board reads at most, when stale members had to be taken off


@dataclass(frozen=True)
class Line:
    rank: int
    nickname: str
    score: int
    you: bool


@dataclass(frozen=True)
class OwnRank:
    rank: int
    score: int
    visible: bool  # False: where they would rank; others do not see them


@dataclass(frozen=True)
class BoardView:
    spec: BoardSpec
    members: int
    top: list[Line]
    you: OwnRank | None
    around: list[Line]


def fallback_nickname(customer_id: int, *, program_id: int, secret: bytes) -> str:
    """ "Player 1234" for a customer without a nickname: four digits of a keyed hash of the
    internal id, stable across reads, revealing nothing (not the id, not the enrolment order).
    Two customers can share one; the rank tells them apart."""
    digest = hmac.new(secret, f"{program_id}:{customer_id}".encode(), hashlib.sha256).digest()
    return f"Player {1000 + int.from_bytes(digest[:4], 'big') % 9000}"


def read_board(
    *,
    customer: Customer,
    board_id: str,
    limit: int,
    store: Leaderboards | None,
    now: datetime,
    secret: bytes,
) -> BoardView:
    """What `customer` sees of board `board_id` (NotFound if it is not theirs to see)."""
    spec = find_board(customer, board_id, now)
    today = local_day(now, zone(db.session.get_one(Program, customer.program_id).timezone))
    visible = appears(customer, today)
    score = score_of(spec, customer.id)
    standing: Standing | None = None
    if store is not None:
        try:
            standing = _from_redis(spec, customer.id, visible, score, limit, store, today, now)
        except RedisError as exc:
            log.warning("leaderboard read from PostgreSQL: Redis failed (%s)", exc)
    if standing is None:
        standing = _from_postgres(spec, customer.id, visible, score, limit, today)
    return _view(spec, standing, customer, visible, secret)


def _from_redis(
    spec: BoardSpec,
    caller: int,
    visible: bool,
    score: int,
    limit: int,
    store: Leaderboards,
    today: date,
    now: datetime,
) -> Standing:
    ensure_board(spec, store=store, now=now)
    board = spec.board
    standing = store.standing(board, caller, top=limit, around=AROUND)
    wanted = visible and score > 0
    if wanted != (standing.own is not None):  # opted in or out since the last sync
        store.set_scores(board, {caller: score if wanted else 0}, expires_at=spec.expires_at)
        standing = store.standing(board, caller, top=limit, around=AROUND)
    for _ in range(_REREADS):
        stale = _may_not_appear(_shown(standing) - {caller}, today)
        if not stale:
            break
        store.set_scores(board, {}, hidden=stale, expires_at=spec.expires_at)
        standing = store.standing(board, caller, top=limit, around=AROUND)
    if not visible and score > 0:
        own, near = store.placement(board, caller, score, around=AROUND)
        standing = Standing(members=standing.members, top=standing.top, own=own, around=near)
    return standing


def _from_postgres(
    spec: BoardSpec, caller: int, visible: bool, score: int, limit: int, today: date
) -> Standing:
    shown = dict(board_scores(spec, today=today).shown)
    shown.pop(caller, None)
    if visible and score > 0:
        shown[caller] = score
    return rank_standing(shown, caller, score, top=limit, around=AROUND)


def rank_standing(
    shown: Mapping[int, int], caller: int, caller_score: int, *, top: int, around: int
) -> Standing:
    """The standing Redis would give, computed from plain scores: best score first, ties by
    the lowest customer id; a caller missing from `shown` is placed where they would rank."""
    ranking = sorted((-s, c) for c, s in shown.items() if s > 0)
    entries = [Entry(rank=i + 1, customer_id=c, score=-s) for i, (s, c) in enumerate(ranking)]
    members, first = len(entries), entries[:top]
    if caller_score <= 0:
        return Standing(members=members, top=first, own=None, around=[])
    if caller in shown:
        at = next(i for i, e in enumerate(entries) if e.customer_id == caller)
        near = entries[max(0, at - around) : at + around + 1]
        return Standing(members=members, top=first, own=entries[at], around=near)
    at = sum(1 for s, c in ranking if (s, c) < (-caller_score, caller))
    own = Entry(rank=at + 1, customer_id=caller, score=caller_score)
    near = [*entries[max(0, at - around) : at], own, *entries[at : at + around]]
    return Standing(members=members, top=first, own=own, around=near)


def _shown(standing: Standing) -> set[int]:
    return {e.customer_id for e in (*standing.top, *standing.around)}


def _may_not_appear(customer_ids: set[int], today: date) -> set[int]:
    if not customer_ids:
        return set()
    rows = db.session.scalars(select(Customer).where(among(Customer.id, customer_ids)))
    allowed = {c.id for c in rows if appears(c, today)}
    return customer_ids - allowed


def _view(
    spec: BoardSpec, standing: Standing, caller: Customer, visible: bool, secret: bytes
) -> BoardView:
    names = _nicknames(_shown(standing) - {caller.id}, caller.program_id, secret)
    names[caller.id] = caller.nickname or fallback_nickname(
        caller.id, program_id=caller.program_id, secret=secret
    )

    def line(e: Entry) -> Line:
        return Line(e.rank, names[e.customer_id], e.score, e.customer_id == caller.id)

    own = standing.own
    return BoardView(
        spec=spec,
        members=standing.members,
        top=[line(e) for e in standing.top],
        you=None if own is None else OwnRank(own.rank, own.score, visible),
        around=[line(e) for e in standing.around],
    )


def _nicknames(customer_ids: set[int], program_id: int, secret: bytes) -> dict[int, str]:
    found: dict[int, str | None] = {}
    if customer_ids:
        found = dict(
            db.session.execute(  # type: ignore[arg-type]
                select(Customer.id, Customer.nickname).where(among(Customer.id, customer_ids))
            ).all()
        )
    return {
        c: found.get(c) or fallback_nickname(c, program_id=program_id, secret=secret)
        for c in customer_ids
    }
