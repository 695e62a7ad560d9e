"""Limits that several workers use at once (campaign budgets and participant limits, challenge
reward budgets, perk stock), read optimistically and confirmed under row locks.

A chunk reads how much of each limit is used when it starts, without a lock, so workers do not
queue behind each other for a whole chunk. Just before the commit (an extra's `finish`, after
the accounts), `confirm` locks the rows in ascending id order in one statement and compares:
if another worker changed a row meanwhile and this chunk's use would now overrun a limit (or
the caller doubts a decision it took on the stale read), it raises `LimitRace`, an
`OptimisticRace`: the job rolls back and runs the chunk again with `lock_early`, where `read`
takes the same locks up front and nothing can race. What is limited is described by
`LimitedRows`: a table's id column and its counters of use, one per limit; the limits
themselves (a column, or a value from a versioned definition) come from the caller.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update

from rewards.db import db
from rewards.processing.extras import OptimisticRace

Limit = tuple[int | None, ...]  # per counter: the most it may reach, None for no limit
Used = tuple[int, ...]  # per counter: what it holds


class LimitRace(OptimisticRace):
    """Another worker used a limited row (`row_id` of `table`) between this chunk's read and
    its write in a way that matters: run the chunk again with `lock_early`."""

    def __init__(self, table: str, row_id: int) -> None:
        super().__init__(f"{table} {row_id}")
        self.table, self.row_id = table, row_id


@dataclass(frozen=True)
class LimitedRows:
    """What is limited: rows of one table, their id column, and their counters of use (e.g.
    `campaigns.budget_used`, `campaigns.participants`), each paired with one limit."""

    id: Any  # a mapped or table column
    used: tuple[Any, ...]

    @property
    def table(self) -> Any:
        return self.id.table

    def select_used(self, ids: Collection[int], *, lock: bool) -> Any:
        """`id, *used` of these rows in id order; locked `FOR NO KEY UPDATE` if `lock` (rows
        referencing them can still be inserted meanwhile)."""
        stmt = select(self.id, *self.used).where(self.id.in_(sorted(ids))).order_by(self.id)
        return stmt.with_for_update(key_share=True) if lock else stmt


class OptimisticLimits:
    """One chunk's view of some limited rows: what it read, and the check before it writes."""

    def __init__(self, rows: LimitedRows, *, lock_early: bool = False) -> None:
        self.rows = rows
        self.lock_early = lock_early
        self.limits: dict[int, Limit] = {}  # row id → its limits, for every row watched
        self.seen: dict[int, Used] = {}  # row id → its counters as read (absent: never read)

    def read(self, limits: Mapping[int, Limit]) -> dict[int, Used]:
        """Watch these rows (those with no limit at all are ignored) and read their counters:
        without a lock, or locked in id order with `lock_early`. Returns what was read."""
        wanted = {i: limit for i, limit in limits.items() if any(x is not None for x in limit)}
        self.limits.update(wanted)
        if not wanted:
            return {}
        stmt = self.rows.select_used(wanted, lock=self.lock_early)
        for row_id, *used in db.session.execute(stmt):
            self.seen[row_id] = tuple(used)
        return {i: self.seen[i] for i in wanted if i in self.seen}

    def watch_unread(self, limits: Mapping[int, Limit]) -> None:
        """Watch rows the chunk found it touches only after `read` (an unlinked refund matched
        meanwhile): `confirm` locks them too, and treats them as changed since no read."""
        for row_id, limit in sorted(limits.items()):
            if row_id not in self.limits and any(x is not None for x in limit):
                self.limits[row_id] = limit

    def left(self, row_id: int) -> Limit:
        """Room left per counter as read (None: unlimited); a row not read has all its room."""
        limit = self.limits.get(row_id)
        if limit is None:
            return ()
        used = self.seen.get(row_id, (0,) * len(limit))
        pairs = zip(limit, used, strict=True)
        return tuple(None if most is None else most - u for most, u in pairs)

    def confirm(
        self, deltas: Mapping[int, Sequence[int]], *, doubtful: Collection[int] = ()
    ) -> dict[int, Used]:
        """Lock every watched row (id order, one statement) and check the read still holds.

        `deltas` is what this chunk adds to each row's counters (net of what its refunds give
        back); `doubtful` rows are those where the chunk took a decision on the read that a
        change could make wrong (a limit refused or cut a grant). If a row changed since the
        read (or was never read) and the chunk would now overrun it, or it is doubtful, raise
        `LimitRace`; never in `lock_early` mode, where nothing could change. Returns the
        counters as locked, before this chunk's deltas."""
        if not self.limits:
            return {}
        locked: dict[int, Used] = {}
        for row_id, *counters in db.session.execute(self.rows.select_used(self.limits, lock=True)):
            used = locked[row_id] = tuple(counters)
            if self.lock_early or used == self.seen.get(row_id):
                continue
            delta = deltas.get(row_id) or (0,) * len(used)
            over = any(
                most is not None and u + d > most
                for most, u, d in zip(self.limits[row_id], used, delta, strict=True)
            )
            if over or row_id in doubtful:
                raise LimitRace(self.rows.table.name, row_id)
        return locked

    def add_used(self, deltas: Mapping[int, Sequence[int]]) -> None:
        """Add `deltas` to the counters of rows `confirm` locked (one statement). Users with
        their own writer (campaigns: `bookkeeping.add_usage`) need not call this."""
        rows = [
            {"row_id": i, **{f"d{n}": d for n, d in enumerate(delta)}}
            for i, delta in sorted(deltas.items())
            if i in self.limits and any(delta)
        ]
        if not rows:
            return
        stmt = (
            update(self.rows.table)
            .where(self.rows.id == bindparam("row_id"))
            .values({c: c + bindparam(f"d{n}") for n, c in enumerate(self.rows.used)})
        )
        db.session.execute(stmt, rows)
