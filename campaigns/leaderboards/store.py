"""Leaderboards kept in Redis sorted sets: one set per (program, metric, period).

Redis holds only a fast copy. PostgreSQL stays the truth: every board can be rebuilt from it
(`rebuild`), and a board whose marker key is missing (Redis flushed or evicted) is rebuilt
the first time it is read (`ensure`). Scores are written as absolute values, never as
increments, so writing a customer's score twice (a retried job) changes nothing.

Boards of a period that ended expire (`expires_at`, a few days after the end); the all-time
board never does. While a board is rebuilt, writes to it also note their customers in a
`:touched` set, so the rebuild can re-read those customers afterwards: a chunk that committed
after the rebuild read PostgreSQL is not overwritten by the older snapshot.

Only customers who may appear (see `privacy.may_appear`) are members. Ranking is by score,
highest first; equal scores rank by customer id, lowest (earliest enrolled) first. Redis
orders equal scores by member bytes, so members are `MEMBER_BASE - customer_id`, zero-padded:
the reverse byte order of those strings is the ascending order of the ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis import Redis

MEMBER_BASE = 10**12  # above any customer id (PostgreSQL bigint ids stay far below)
_WIDTH = 12
# Leaderboard scores are integers (XP, progress); Redis keeps doubles, exact to 2**53.
MAX_SCORE = 2**53


@dataclass(frozen=True)
class Board:
    """One ranking: `metric` is `xp` or `challenge:<id>`; `period` is `all`, an ISO week
    (`2026-W49`) or a month (`2026-12`), in the program's timezone."""

    program_id: int
    metric: str
    period: str

    def key(self, prefix: str) -> str:
        return f"{prefix}:leaderboard:{self.program_id}:{self.metric}:{self.period}"

    def marker(self, prefix: str) -> str:
        """Present while the set is complete (written by `rebuild`)."""
        return self.key(prefix) + ":built"

    def touched(self, prefix: str) -> str:
        """Customers written since the last rebuild began (see the module docstring)."""
        return self.key(prefix) + ":touched"


@dataclass(frozen=True)
class Write:
    """New scores of some customers on one board, and customers to take off it."""

    board: Board
    scores: Mapping[int, int]
    hidden: Iterable[int] = ()
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Entry:
    rank: int  # 1-based
    customer_id: int
    score: int


@dataclass(frozen=True)
class Standing:
    """The top of a board, the caller's place on it (if they are on it) and their neighbours."""

    members: int
    top: list[Entry]
    own: Entry | None
    around: list[Entry]


def member(customer_id: int) -> str:
    if not 0 < customer_id < MEMBER_BASE:
        raise ValueError("customer id out of range")
    return f"{MEMBER_BASE - customer_id:0{_WIDTH}d}"


def customer_of(raw: bytes | str) -> int:
    return MEMBER_BASE - int(raw)


# A caller who may not appear is placed among the members for one atomic moment, to learn
# where they would rank, then taken out again (or given back the score they had).
_PLACE = """
local key, m, n = KEYS[1], ARGV[1], tonumber(ARGV[3])
local was = redis.call('ZSCORE', key, m)
redis.call('ZADD', key, ARGV[2], m)
local r = redis.call('ZREVRANK', key, m)
local first = math.max(0, r - n)
local near = redis.call('ZREVRANGE', key, first, r + n, 'WITHSCORES')
if was then redis.call('ZADD', key, was, m) else redis.call('ZREM', key, m) end
return {r, first, near}
"""

# A reader's whole view in one round trip, from one consistent moment: whether the board is
# complete (its marker), its size, the top, the caller's rank (-1: not on it) and neighbours.
_STANDING = """
local key, m, top, n = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local built = redis.call('EXISTS', KEYS[2])
local members = redis.call('ZCARD', key)
local first = redis.call('ZREVRANGE', key, 0, top - 1, 'WITHSCORES')
local r = -1
local start, near = 0, {}
if m ~= '' then
  r = redis.call('ZREVRANK', key, m)
  if r then
    start = math.max(0, r - n)
    near = redis.call('ZREVRANGE', key, start, r + n, 'WITHSCORES')
  else
    r = -1
  end
end
return {built, members, first, r, start, near}
"""

# Writes note their customers for a rebuild in progress for this long at most.
TOUCHED_TTL_SECONDS = 3600


def _score(value: int) -> int:
    if not 0 <= value <= MAX_SCORE:
        raise ValueError("leaderboard score out of range")
    return value


class Leaderboards:
    """Reads and writes the boards of one deployment (`prefix` = its QUEUE_PREFIX)."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._standing_script = redis.register_script(_STANDING)

    def set_scores(
        self,
        board: Board,
        scores: Mapping[int, int],
        hidden: Iterable[int] = (),
        *,
        expires_at: datetime | None = None,
    ) -> None:
        """Write the current scores of some customers; remove those in `hidden` (no longer
        allowed to appear). A score of 0 removes the customer too: nobody ranks for nothing."""
        self.write([Write(board, scores, hidden, expires_at)])

    def write(self, writes: Iterable[Write]) -> None:
        """Several `set_scores` in one round trip and one MULTI (a chunk's boards at once)."""
        with self.redis.pipeline(transaction=True) as pipe:
            for w in writes:
                self._queue_write(pipe, w)
            pipe.execute()

    def _queue_write(self, pipe: Any, w: Write) -> None:
        key, touched = w.board.key(self.prefix), w.board.touched(self.prefix)
        present = {member(c): _score(s) for c, s in w.scores.items() if s > 0}
        gone = [member(c) for c, s in w.scores.items() if s <= 0] + [member(c) for c in w.hidden]
        if present:
            pipe.zadd(key, present)
        if gone:
            pipe.zrem(key, *gone)
        if present or gone:
            pipe.sadd(touched, *present, *gone)
            pipe.expire(touched, TOUCHED_TTL_SECONDS)
        if w.expires_at is not None:
            for name in (key, w.board.marker(self.prefix), touched):
                pipe.expireat(name, w.expires_at)

    def begin_rebuild(self, board: Board) -> None:
        """Forget who was written so far: `touched_since` then names who was written while
        the rebuild read PostgreSQL (call this before reading)."""
        self.redis.delete(board.touched(self.prefix))

    def touched_since(self, board: Board) -> set[int]:
        """Customers written since `begin_rebuild` (their snapshot scores may be stale)."""
        return {customer_of(m) for m in self.redis.smembers(board.touched(self.prefix))}

    def rebuild(
        self, board: Board, scores: Mapping[int, int], *, expires_at: datetime | None = None
    ) -> int:
        """Replace the board with `scores` (customers allowed to appear only) atomically:
        readers see the old set or the new one, never a half-built one. Returns members."""
        key = board.key(self.prefix)
        staging = key + ":staging"
        present = {member(c): _score(s) for c, s in scores.items() if s > 0}
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(staging)
            for chunk in _chunks(list(present.items()), 10_000):
                pipe.zadd(staging, dict(chunk))
            if present:
                pipe.rename(staging, key)
            else:
                pipe.delete(key)
            pipe.set(board.marker(self.prefix), 1)
            if expires_at is not None:
                pipe.expireat(key, expires_at)
                pipe.expireat(board.marker(self.prefix), expires_at)
            pipe.execute()
        return len(present)

    def is_built(self, board: Board) -> bool:
        """Whether the board is complete (its marker is present)."""
        return bool(self.redis.exists(board.marker(self.prefix)))

    def ensure(self, board: Board, load: Callable[[], Mapping[int, int]]) -> bool:
        """Rebuild the board from `load()` (PostgreSQL) if Redis lost it; True if it did."""
        if self.is_built(board):
            return False
        self.rebuild(board, load())
        return True

    def drop(self, board: Board) -> None:
        self.redis.delete(board.key(self.prefix), board.marker(self.prefix))

    def standing(
        self, board: Board, customer_id: int | None, *, top: int = 10, around: int = 2
    ) -> Standing:
        """The first `top` entries, the caller's entry and `around` neighbours on each side."""
        return self._read(board, customer_id, top, around)[1]

    def built_standing(
        self, board: Board, customer_id: int | None, *, top: int = 10, around: int = 2
    ) -> Standing | None:
        """`standing`, or None if the board is not complete (its marker is missing: rebuild
        it first). One round trip for both, where `is_built` then `standing` take three."""
        built, standing = self._read(board, customer_id, top, around)
        return standing if built else None

    def _read(
        self, board: Board, customer_id: int | None, top: int, around: int
    ) -> tuple[bool, Standing]:
        who = "" if customer_id is None else member(customer_id)
        raw: Any = self._standing_script(
            keys=[board.key(self.prefix), board.marker(self.prefix)], args=[who, top, around]
        )
        built, members, first = bool(raw[0]), int(raw[1]), _entries(_pairs(raw[2]), 0)
        rank, start = int(raw[3]), int(raw[4])
        if rank < 0:
            return built, Standing(members=members, top=first, own=None, around=[])
        near = _entries(_pairs(raw[5]), start)
        own = next((e for e in near if e.customer_id == customer_id), None)
        return built, Standing(members=members, top=first, own=own, around=near)

    def placement(
        self, board: Board, customer_id: int, score: int, *, around: int = 2
    ) -> tuple[Entry, list[Entry]]:
        """Where a customer who is not on the board would rank with `score`, and the members
        around that place (`around` each side, with their real ranks); the board is left as
        it was. Ties rank by customer id, as for members."""
        raw: Any = self.redis.eval(
            _PLACE, 1, board.key(self.prefix), member(customer_id), _score(score), around
        )
        rank, first, flat = int(raw[0]), int(raw[1]), raw[2]
        own = Entry(rank=rank + 1, customer_id=customer_id, score=score)
        near: list[Entry] = [own]
        for i in range(0, len(flat), 2):
            position = first + i // 2  # 0-based, in the board with the customer placed
            who = customer_of(flat[i])
            if who != customer_id:
                real = position + 1 if position < rank else position
                near.append(Entry(rank=real, customer_id=who, score=int(float(flat[i + 1]))))
        near.sort(key=lambda e: (e.rank, e.customer_id != customer_id))
        return own, near

    def scores(self, board: Board) -> list[tuple[int, int]]:
        """The whole ranking as (customer id, score), best first (rebuild checks, tests)."""
        raw: Any = self.redis.zrevrange(board.key(self.prefix), 0, -1, withscores=True)
        return [(customer_of(m), int(s)) for m, s in raw]


def _entries(raw: list[tuple[bytes, float]], offset: int) -> list[Entry]:
    return [
        Entry(rank=offset + i + 1, customer_id=customer_of(m), score=int(s))
        for i, (m, s) in enumerate(raw)
    ]


def _pairs(flat: list[Any]) -> list[tuple[bytes, float]]:
    """[member, score, member, score, ...] (a script's WITHSCORES reply) as pairs."""
    return [(flat[i], float(flat[i + 1])) for i in range(0, len(flat), 2)]


def _chunks(items: list[tuple[str, int]], size: int) -> Iterable[list[tuple[str, int]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
