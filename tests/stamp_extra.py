"""A small second feed extra for tests: a stamp card that grants `challenge_reward` lots from a
limited pool, keyed `tx:{id}:stamp`, on the generic optimistic limits (as challenges will).

Its pool lives in a table of its own (`test_stamp_pools`, created by the `stamp_pool` fixture,
never migrated): the limits machinery knows nothing of campaigns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import BigInteger, Column, MetaData, Table, select

from rewards.db import db
from rewards.processing.extras import Clawback, OptimisticRace, Reclaim, Refund
from rewards.processing.limits import LimitedRows, OptimisticLimits
from rewards.processing.rules import Award, ProgramTerms, TxFacts

POOLS = Table(
    "test_stamp_pools",
    MetaData(),
    Column("id", BigInteger, primary_key=True),
    Column("budget", BigInteger, nullable=True),
    Column("used", BigInteger, nullable=False),
)
POOL_LIMITS = LimitedRows(id=POOLS.c.id, used=(POOLS.c.used,))
POOL_ID = 1


class StampRules:
    """`points` per purchase that earns base points, while the pool's budget lasts.

    `clawbacks` collects every `Clawback` the chunk hands it; `interfere` runs once, in the
    first `awards` call (another worker acting between the read and the write);
    `race_in_finish` makes `finish` raise the bare retry signal unless `lock_early`."""

    lot_kinds = frozenset({"challenge_reward"})
    key_namespace = "stamp"
    reclaimed_kinds: frozenset[str] = frozenset()  # its lots go back proportionally

    def __init__(
        self,
        *,
        lock_early: bool = False,
        points: int = 7,
        clawbacks: list[Clawback] | None = None,
        interfere: Callable[[], None] | None = None,
        race_in_finish: bool = False,
    ) -> None:
        self.lock_early = lock_early
        self.points = points
        self.clawbacks = clawbacks if clawbacks is not None else []
        self.interfere = interfere
        self.race_in_finish = race_in_finish
        self.limits = OptimisticLimits(POOL_LIMITS, lock_early=lock_early)
        self.left: int | None = None
        self.cut = False
        self.offered: tuple[int, int] | None = None
        self.granted: dict[str, int] = {}
        self.delta = 0

    def prepare(
        self,
        purchases: Sequence[tuple[TxFacts, int]],
        terms: dict[int, ProgramTerms],
        now: datetime,
        refunded: Sequence[tuple[int, int]] = (),
    ) -> None:
        budget = db.session.scalar(select(POOLS.c.budget).where(POOLS.c.id == POOL_ID))
        self.limits.read({POOL_ID: (budget,)})
        (self.left,) = self.limits.left(POOL_ID) or (None,)

    def awards(self, tx: TxFacts, customer_id: int, base_points: int) -> list[Award]:
        if self.interfere is not None:
            interfere, self.interfere = self.interfere, None
            interfere()
        self.offered = None
        points = self.points if self.left is None else min(self.points, self.left)
        self.cut = self.cut or points < self.points
        if base_points <= 0 or points <= 0:
            return []
        self.offered = (tx.id, points)
        rule, (kind,) = self.key_namespace, self.lot_kinds
        explanation = {"summary": f"Stamp: +{points} pts", "rule": rule, "pool_id": POOL_ID}
        return [Award(rule, kind, points, explanation)]

    def accept(self, tx: TxFacts) -> None:
        if self.offered is None or self.offered[0] != tx.id:
            return
        points = self.offered[1]
        if self.left is not None:
            self.left -= points
        self.granted[f"tx:{tx.id}:{self.key_namespace}"] = points

    def record(self, inserted_keys: set[str]) -> None:
        self.delta += sum(p for key, p in self.granted.items() if key in inserted_keys)

    def refunds(self, refund: Refund) -> list[Reclaim]:
        return []

    def restore(self, clawback: Clawback) -> None:
        self.clawbacks.append(clawback)
        self.delta -= clawback.taken

    def finish(self) -> None:
        if self.race_in_finish and not self.lock_early:
            raise OptimisticRace("stamp pool")
        deltas = {POOL_ID: (self.delta,)}
        self.limits.confirm(deltas, doubtful={POOL_ID} if self.cut else set())
        self.limits.add_used(deltas)


def pool_used() -> int:
    return int(db.session.scalar(select(POOLS.c.used).where(POOLS.c.id == POOL_ID)))
