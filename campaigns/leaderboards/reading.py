"""A cardholder reading a board: the top, their own rank and their neighbours, nicknames only.

From Redis when the deployment has it (the board is rebuilt first if Redis lost it), else
(embedded mode, or Redis unreachable) ranked from PostgreSQL directly, with the same result.

Privacy on read, as a second line of defence behind the feed's syncs:
- The caller's own eligibility is read from PostgreSQL on every read (with the caller and
  their program's timezone, one query). A caller who may appear but is missing from the
  board (they just opted in) is written to it; a caller who may not appear (consent
  withdrawn) is taken off it. Either way they see their own rank: where they would rank
  (`visible` false) if they may not appear. Their score is read from PostgreSQL only when it
  is needed (they are not on the board, or may not appear): a visible caller on the board
  has their score there, kept by the syncs like everyone else's.
- Every other customer about to be shown (the top, the neighbours, also those around where
  a hidden caller would rank) is checked against PostgreSQL in the same query that reads
  their nicknames; anyone who may no longer appear is taken off the board and the board read
  again, so a withdrawn consent takes effect the next time anyone would have seen them.

Per read: two PostgreSQL queries and one Redis round trip (a script returning the top, the
caller's rank and neighbours, and whether the board is complete), plus one more of each
only when a board is rebuilt, someone's consent changed, or a hidden caller is placed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from redis.exceptions import RedisError
from sqlalchemy import ARRAY, Row, Select, any_, bindparam, cast, select

from campaigns.challenges.windows import local_day
from campaigns.leaderboards.catalogue import BoardSpec, find_board
from campaigns.leaderboards.sources import APPEARANCE, appears, board_scores, score_of
from campaigns.leaderboards.store import Board, Entry, Leaderboards, Standing
from campaigns.leaderboards.sync import ensure_board
from rewards.balances import zone
from rewards.db import db, is_postgres
from rewards.errors import NotFound
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


def find_caller(*, program_id: int, external_ref: str) -> tuple[Customer, ZoneInfo]:
    """The calling cardholder (erased customers count as unknown) and their program's
    timezone, in one query: a board read needs both, and the timezone may change any time."""
    row = db.session.execute(
        _caller_statement(), {"program_id": program_id, "external_ref": external_ref}
    ).first()
    if row is None:
        raise NotFound("No customer with this external_ref in your program.")
    return row[0], zone(row[1])


@cache
def _caller_statement() -> Select:
    """Built once: on this hot path, building the select costs about as much as running it."""
    return (
        select(Customer, Program.timezone)
        .join(Program, Program.id == Customer.program_id)
        .where(
            Customer.program_id == bindparam("program_id"),
            Customer.external_ref == bindparam("external_ref"),
            Customer.status != "erased",
        )
    )


def read_board(
    *,
    customer: Customer,
    board_id: str,
    limit: int,
    store: Leaderboards | None,
    now: datetime,
    secret: bytes,
    program_zone: ZoneInfo | None = None,
) -> BoardView:
    """What `customer` sees of board `board_id` (NotFound if it is not theirs to see).
    `program_zone`: their program's timezone if the caller already has it (`find_caller`)."""
    if program_zone is None:
        program_zone = zone(db.session.get_one(Program, customer.program_id).timezone)
    spec = find_board(customer, board_id, now, program_zone)
    today = local_day(now, program_zone)
    caller = _Caller(customer, spec, appears(customer, today))
    others = _Others(today)
    standing: Standing | None = None
    if store is not None:
        try:
            standing = _from_redis(spec, caller, others, limit, store, now)
        except RedisError as exc:
            log.warning("leaderboard read from PostgreSQL: Redis failed (%s)", exc)
    if standing is None:
        standing = _from_postgres(spec, caller, limit, today)
    return _view(spec, standing, customer, caller.visible, others, secret)


class _Caller:
    """The caller's eligibility (read with them) and their score on the board, read from
    PostgreSQL only when it is needed: a visible caller who is on the board has it there."""

    def __init__(self, customer: Customer, spec: BoardSpec, visible: bool) -> None:
        self.id = customer.id
        self.visible = visible
        self._customer, self._spec = customer, spec
        self._score: int | None = None

    @property
    def score(self) -> int:
        if self._score is None:
            spec = self._spec
            if spec.challenge_id is None and spec.starts_at is None:  # all-time XP: their row
                self._score = max(0, self._customer.xp)
            else:
                self._score = score_of(spec, self.id)
        return self._score


class _Others:
    """Who else may be shown and by which name, one query for everyone not yet looked up."""

    def __init__(self, today: date) -> None:
        self.today = today
        self.rows: dict[int, Row] = {}

    def look_up(self, customer_ids: set[int]) -> None:
        missing = customer_ids - self.rows.keys()
        if missing:
            query = _others_statement(is_postgres())
            rows = db.session.execute(query, {"ids": list(missing)})
            self.rows.update((row.id, row) for row in rows)

    def may_not_appear(self, customer_ids: set[int]) -> set[int]:
        self.look_up(customer_ids)
        return {c for c in customer_ids if not self._appears(self.rows.get(c))}

    def _appears(self, row: Row | None) -> bool:
        return row is not None and appears(row, self.today)

    def nickname(self, customer_id: int) -> str | None:
        row = self.rows.get(customer_id)
        return None if row is None else row.nickname


@cache
def _others_statement(postgres: bool) -> Select:
    """Built once per dialect: what decides whether customers may be shown, and their names.
    On PostgreSQL one array parameter (`rewards.db.among`), elsewhere an expanding IN."""
    ids: Any = (
        any_(cast(bindparam("ids"), ARRAY(Customer.__table__.c.id.type)))
        if postgres
        else bindparam("ids", expanding=True)
    )
    where = Customer.id == ids if postgres else Customer.id.in_(ids)
    return select(Customer.id, Customer.nickname, *APPEARANCE).where(where)


def _from_redis(
    spec: BoardSpec,
    caller: _Caller,
    others: _Others,
    limit: int,
    store: Leaderboards,
    now: datetime,
) -> Standing | None:
    """The standing from Redis with nobody shown who may not appear (they are taken off the
    board as they are met); None if the last re-read still shows one (many such members at
    the top at once): the caller then ranks from PostgreSQL, which never shows them."""
    board = spec.board
    standing = store.built_standing(board, caller.id, top=limit, around=AROUND)
    if standing is None:  # Redis lost the board: rebuild it from PostgreSQL
        ensure_board(spec, store=store, now=now)
        standing = store.standing(board, caller.id, top=limit, around=AROUND)
    on_board = standing.own is not None
    if not (caller.visible and on_board):
        wanted = caller.visible and caller.score > 0
        if wanted != on_board:  # opted in or out since the last sync
            store.set_scores(
                board, {caller.id: caller.score if wanted else 0}, expires_at=spec.expires_at
            )
            standing = store.standing(board, caller.id, top=limit, around=AROUND)
    standing = _placed(standing, caller, store, board)
    for _ in range(_REREADS):
        stale = others.may_not_appear(_shown(standing) - {caller.id})
        if not stale:
            return standing
        store.set_scores(board, {}, hidden=stale, expires_at=spec.expires_at)
        standing = _placed(
            store.standing(board, caller.id, top=limit, around=AROUND), caller, store, board
        )
    if others.may_not_appear(_shown(standing) - {caller.id}):
        return None  # still someone who may not appear: rank from PostgreSQL instead
    return standing


def _placed(standing: Standing, caller: _Caller, store: Leaderboards, board: Board) -> Standing:
    """`standing`, with a caller who may not appear placed where they would rank (their
    neighbours are then members like any other, checked before they are shown)."""
    if caller.visible or caller.score <= 0:
        return standing
    own, near = store.placement(board, caller.id, caller.score, around=AROUND)
    return Standing(members=standing.members, top=standing.top, own=own, around=near)


def _from_postgres(spec: BoardSpec, caller: _Caller, limit: int, today: date) -> Standing:
    shown = dict(board_scores(spec, today=today).shown)
    shown.pop(caller.id, None)
    if caller.visible and caller.score > 0:
        shown[caller.id] = caller.score
    return rank_standing(shown, caller.id, caller.score, top=limit, around=AROUND)


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


def _view(
    spec: BoardSpec,
    standing: Standing,
    caller: Customer,
    visible: bool,
    others: _Others,
    secret: bytes,
) -> BoardView:
    shown = _shown(standing) - {caller.id}
    others.look_up(shown)  # nicknames (on the PostgreSQL path, also who is shown)
    names = {
        c: others.nickname(c) or fallback_nickname(c, program_id=caller.program_id, secret=secret)
        for c in shown
    }
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
