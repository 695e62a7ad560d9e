"""XP, levels and milestone badges in the feed: the last `ExtraRules` of a chunk.

It grants no lots (empty `lot_kinds`, its own `xp` namespace); it only notes whose XP may
have changed — the customers of the chunk's purchases and of the purchases its refunds
reached — and in `finish`, after every other extra has written its lots, progress and
clawbacks, recomputes their XP (`campaigns.levels.facts`, a few grouped queries for the
whole chunk, reading only the ledger entries since each customer's watermark). What changed
is written set-based in the chunk's transaction: `customers.xp` and `customers.level`, the
points XP counts and their new watermark, one `xp_entries` row per customer whose XP moved,
one `customer.level_changed` event per level change (up, or down after a clawback), and the
milestone badges now earned. A re-run computes the same figures and writes nothing.

Those customers' accounts are locked by the chunk, so no other chunk recomputes them at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text, update

from campaigns.challenges.milestones import award_milestones
from campaigns.levels import facts as read
from campaigns.levels.models import XpEntry
from campaigns.levels.rules import level_for, xp_for
from rewards.db import among, db, dialect_insert, is_postgres, json_rows
from rewards.models import Customer, Event, Transaction
from rewards.processing.extras import Clawback
from rewards.processing.rules import Award, ProgramTerms, TxFacts

NAMESPACE = "xp"
LEVEL_CHANGED = "customer.level_changed"

_UPDATE_CUSTOMERS = text(
    "UPDATE customers AS c SET xp = v.xp, level = v.level, xp_points = v.xp_points, "
    "xp_points_upto = v.xp_points_upto FROM json_to_recordset(CAST(:rows AS json)) "
    "AS v(id bigint, xp bigint, level int, xp_points bigint, xp_points_upto bigint) "
    "WHERE c.id = v.id"
)


@dataclass(frozen=True)
class Change:
    """One customer's XP and level, before and after the recount."""

    customer_id: int
    program_id: int
    xp_before: int
    xp_after: int
    level_before: int
    level_after: int
    level_name: str | None


class XpRulesExtra:
    """The feed extra for XP, levels and milestone badges (see the module docstring)."""

    lot_kinds: frozenset[str] = frozenset()
    reclaimed_kinds: frozenset[str] = frozenset()
    key_namespace = NAMESPACE

    def __init__(self, *, lock_early: bool = False) -> None:
        del lock_early  # nothing shared to lock: only the chunk's own customers are touched
        self.customers: set[int] = set()
        self.purchaser_of: dict[int, int] = {}  # purchase id → customer
        self.purchasers: set[int] = set()  # customers with a purchase that earned
        self.now: datetime | None = None

    def prepare(
        self,
        purchases: Sequence[tuple[TxFacts, int]],
        terms: dict[int, ProgramTerms],
        now: datetime,
        refunded: Sequence[tuple[int, int]] = (),
    ) -> None:
        """Note the customers of the purchases and of the refunded purchases."""
        self.now = now
        self.purchaser_of = {tx.id: customer_id for tx, customer_id in purchases}
        self.customers.update(self.purchaser_of.values())
        if refunded:
            owners = select(Transaction.customer_id).where(
                among(Transaction.id, [purchase_id for _, purchase_id in refunded]),
                Transaction.customer_id.is_not(None),
            )
            refund_customers = {c for c in db.session.scalars(owners) if c is not None}
            self.customers |= refund_customers
            self.purchasers |= refund_customers  # their refunded purchase had earned

    def awards(self, tx: TxFacts, customer_id: int, base_points: int) -> list[Award]:
        """None: XP is no ledger lot."""
        return []

    def accept(self, tx: TxFacts) -> None:
        """The purchase earned (it passed the guard): its customer has made a purchase."""
        self.purchasers.add(self.purchaser_of[tx.id])

    def record(self, inserted_keys: set[str]) -> None:
        """Nothing: the recount in `finish` reads what was written."""

    def refunds(self, refund: Any) -> list[Any]:
        """Nothing to reclaim (later seam revisions hand every refund to every extra)."""
        self.customers.add(refund.customer_id)
        return []

    def restore(self, clawback: Clawback) -> None:
        """Nothing: the recount reads the clawbacks themselves."""

    def finish(self) -> None:
        """Recount the noted customers' XP and levels, write what changed, award milestones."""
        if not self.customers:
            return
        now = self.now or datetime.now().astimezone()
        customer_ids = sorted(self.customers)
        standing = read.standings(customer_ids)
        facts, marks = read.facts_of(standing)
        rules, ladders = read.program_settings({s.program_id for s in standing.values()})
        changes, rows = [], []
        for customer_id in customer_ids:
            was = standing[customer_id]
            xp = xp_for(facts[customer_id], rules[was.program_id])
            ladder = ladders[was.program_id]
            level = level_for(xp, ladder.thresholds)
            moved = (xp, level) != (was.xp, was.level)
            if moved:
                name = ladder.names.get(level)
                changes.append(
                    Change(customer_id, was.program_id, was.xp, xp, was.level, level, name)
                )
            if moved or customer_id in marks:
                rows.append(
                    {
                        "id": customer_id,
                        "xp": xp,
                        "level": level,
                        "xp_points": facts[customer_id].points,
                        "xp_points_upto": marks.get(customer_id, was.points_upto),
                    }
                )
        write_changes(changes, ladders)
        write_customers(rows)
        award_milestones(
            programs={c: standing[c].program_id for c in customer_ids},
            points={c: f.points for c, f in facts.items()},
            purchasers=self.purchasers & self.customers,
            now=now,
        )


def write_changes(changes: list[Change], ladders: dict[int, read.Ladder]) -> None:
    """An XP entry per XP change, an event per level change (`write_customers` stores the
    new totals and levels)."""
    if not changes:
        return
    moved = [c for c in changes if c.xp_after != c.xp_before]
    entry_of: dict[int, int] = {}
    if moved:
        rows = [
            {
                "program_id": c.program_id,
                "customer_id": c.customer_id,
                "xp": c.xp_after - c.xp_before,
                "total": c.xp_after,
                "reason": "activity" if c.xp_after > c.xp_before else "clawback",
            }
            for c in moved
        ]
        returned = db.session.execute(
            insert(XpEntry).returning(
                XpEntry.id, XpEntry.customer_id, sort_by_parameter_order=True
            ),
            rows,
        )
        entry_of = {customer_id: entry_id for entry_id, customer_id in returned}
    events = [
        _level_event(c, entry_of.get(c.customer_id), ladders[c.program_id])
        for c in changes
        if c.level_after != c.level_before
    ]
    if events:
        stmt = dialect_insert(Event).values(events).on_conflict_do_nothing(index_elements=["key"])
        db.session.execute(stmt)


def write_customers(rows: list[dict[str, Any]]) -> None:
    """Store each customer's XP, level, the points XP counts and the ledger entry they are
    counted up to (`rows`: the columns by name, with `id`), one statement for them all."""
    if not rows:
        return
    if is_postgres():
        db.session.execute(_UPDATE_CUSTOMERS, {"rows": json_rows(rows)})
    else:
        db.session.execute(update(Customer), rows)


def _level_event(change: Change, entry_id: int | None, ladder: read.Ladder) -> dict[str, Any]:
    """The `customer.level_changed` event: keyed by the XP entry that moved the level, or, when
    only the ladder changed, by the ladder itself (the same change is announced once)."""
    if entry_id is not None:
        cause = f"xp:{entry_id}"
    else:
        digest = hashlib.sha256(repr(ladder.thresholds).encode()).hexdigest()[:16]
        cause = f"ladder:{digest}:{change.xp_after}"
    return {
        "program_id": change.program_id,
        "customer_id": change.customer_id,
        "type": LEVEL_CHANGED,
        "key": f"level:{change.customer_id}:{change.level_before}>{change.level_after}:{cause}",
        "payload": {
            "customer_id": change.customer_id,
            "from_level": change.level_before,
            "to_level": change.level_after,
            "level_name": change.level_name,
            "xp": change.xp_after,
            "direction": "up" if change.level_after > change.level_before else "down",
        },
    }
