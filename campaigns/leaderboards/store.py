"""Leaderboards kept in Redis sorted sets: one set per (program, metric, period).

Redis holds only a fast copy. PostgreSQL stays the truth: every board can be rebuilt from it
(`rebuild`), and a board whose marker key is missing (Redis flushed or evicted) is rebuilt
the first time it is read (`ensure`). Scores are written as absolute values, never as
increments, so writing a customer's score twice (a retried job) changes nothing.

Only customers who may appear (see `privacy.may_appear`) are members. Ranking is by score,
highest first; equal scores rank by customer id, lowest (earliest enrolled) first. Redis
orders equal scores by member bytes, so members are `MEMBER_BASE - customer_id`, zero-padded:
the reverse byte order of those strings is the ascending order of the ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
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


def _score(value: int) -> int:
    if not 0 <= value <= MAX_SCORE:
        raise ValueError("leaderboard score out of range")
    return value


class Leaderboards:
    """Reads and writes the boards of one deployment (`prefix` = its QUEUE_PREFIX)."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def set_scores(
        self, board: Board, scores: Mapping[int, int], hidden: Iterable[int] = ()
    ) -> None:
        """Write the current scores of some customers; remove those in `hidden` (no longer
        allowed to appear). A score of 0 removes the customer too: nobody ranks for nothing."""
        key = board.key(self.prefix)
        present = {member(c): _score(s) for c, s in scores.items() if s > 0}
        gone = [member(c) for c, s in scores.items() if s <= 0] + [member(c) for c in hidden]
        with self.redis.pipeline(transaction=True) as pipe:
            if present:
                pipe.zadd(key, present)
            if gone:
                pipe.zrem(key, *gone)
            pipe.execute()

    def rebuild(self, board: Board, scores: Mapping[int, int]) -> int:
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
            pipe.execute()
        return len(present)

    def ensure(self, board: Board, load: Callable[[], Mapping[int, int]]) -> bool:
        """Rebuild the board from `load()` (PostgreSQL) if Redis lost it; True if it did."""
        if self.redis.exists(board.marker(self.prefix)):
            return False
        self.rebuild(board, load())
        return True

    def drop(self, board: Board) -> None:
        self.redis.delete(board.key(self.prefix), board.marker(self.prefix))

    def standing(
        self, board: Board, customer_id: int | None, *, top: int = 10, around: int = 2
    ) -> Standing:
        """The first `top` entries, the caller's entry and `around` neighbours on each side."""
        key = board.key(self.prefix)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(key)
            pipe.zrevrange(key, 0, top - 1, withscores=True)
            if customer_id is not None:
                pipe.zrevrank(key, member(customer_id))
            replies = pipe.execute()
        members, first = replies[0], _entries(replies[1], 0)
        rank = replies[2] if customer_id is not None else None
        if rank is None:
            return Standing(members=members, top=first, own=None, around=[])
        start = max(0, rank - around)
        raw: Any = self.redis.zrevrange(key, start, rank + around, withscores=True)
        near = _entries(raw, start)
        own = next((e for e in near if e.customer_id == customer_id), None)
        return Standing(members=members, top=first, own=own, around=near)

    def scores(self, board: Board) -> list[tuple[int, int]]:
        """The whole ranking as (customer id, score), best first (rebuild checks, tests)."""
        raw: Any = self.redis.zrevrange(board.key(self.prefix), 0, -1, withscores=True)
        return [(customer_of(m), int(s)) for m, s in raw]


def _entries(raw: list[tuple[bytes, float]], offset: int) -> list[Entry]:
    return [
        Entry(rank=offset + i + 1, customer_id=customer_of(m), score=int(s))
        for i, (m, s) in enumerate(raw)
    ]


def _chunks(items: list[tuple[str, int]], size: int) -> Iterable[list[tuple[str, int]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
