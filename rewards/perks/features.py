"""Cardholders' taste as the feed sees it: `Features` (pure: what purchases and refunds do to
the counts) and `FeaturesExtra`, the feed extra that keeps `customer_features` up to date in
each chunk's transaction, one read and one write per chunk.

Per category and per partner: purchases and net spend (a refund takes its amount back, never
below zero); per category and part of the day in the program's timezone: purchases; the
latest purchase, overall and per partner. The ranking (`rewards.perks.ranking`) reads one row.
A purchase an operator resets and runs again is counted again: these are tastes, not money.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, text

from rewards.db import among, db, dialect_insert, is_postgres, json_rows
from rewards.models import Transaction
from rewards.partners import partners_for
from rewards.perks.models import CustomerFeatures
from rewards.processing.extras import Clawback, Refund
from rewards.processing.rules import Award, ProgramTerms, TxFacts

NAMESPACE = "features"
# Parts of the day by local hour: [start, end).
DAYPARTS = (("night", 0, 6), ("morning", 6, 11), ("midday", 11, 14), ("afternoon", 14, 18),
            ("evening", 18, 24))  # fmt: skip


def daypart(moment: datetime, zone: ZoneInfo) -> str:
    """The part of the day `moment` falls in, in `zone`."""
    hour = moment.astimezone(zone).hour
    return next(name for name, start, end in DAYPARTS if start <= hour < end)


@dataclass
class Features:
    """One customer's counts (see the module docstring); JSON-ready lists and strings."""

    purchases: int = 0
    categories: dict[str, list[int]] = field(default_factory=dict)
    partners: dict[str, list[int]] = field(default_factory=dict)
    dayparts: dict[str, int] = field(default_factory=dict)
    last_purchase_at: datetime | None = None
    partner_last_at: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, row: CustomerFeatures | None) -> Features:
        if row is None:
            return cls()
        return cls(
            purchases=row.purchases,
            categories={k: list(v) for k, v in (row.categories or {}).items()},
            partners={k: list(v) for k, v in (row.partners or {}).items()},
            dayparts=dict(row.dayparts or {}),
            last_purchase_at=row.last_purchase_at,
            partner_last_at=dict(row.partner_last_at or {}),
        )

    def add(
        self, *, category: str | None, partner: str | None, amount: int, part: str, at: datetime
    ) -> None:
        """Count a purchase of `amount` minor units made at `at` (`part` of the local day)."""
        self.purchases += 1
        for counts, key in ((self.categories, category), (self.partners, partner)):
            if key is not None:
                n, spend = counts.get(key, [0, 0])
                counts[key] = [n + 1, spend + amount]
        if category is not None:
            slot = f"{category}|{part}"
            self.dayparts[slot] = self.dayparts.get(slot, 0) + 1
        if self.last_purchase_at is None or at > self.last_purchase_at:
            self.last_purchase_at = at
        if partner is not None:
            seen = self.partner_last_at.get(partner)
            if seen is None or at > datetime.fromisoformat(seen):
                self.partner_last_at[partner] = at.isoformat()

    def refund(self, *, category: str | None, partner: str | None, amount: int) -> None:
        """Take a refunded amount back from the purchase's category and partner spend."""
        for counts, key in ((self.categories, category), (self.partners, partner)):
            if key is not None and key in counts:
                counts[key][1] = max(0, counts[key][1] - amount)

    def row(self, customer_id: int) -> dict[str, Any]:
        return {
            "customer_id": customer_id,
            "purchases": self.purchases,
            "categories": self.categories,
            "partners": self.partners,
            "dayparts": self.dayparts,
            "last_purchase_at": self.last_purchase_at,
            "partner_last_at": self.partner_last_at,
        }


_UPSERT = text(
    "INSERT INTO customer_features AS f (customer_id, purchases, categories, partners, "
    "dayparts, last_purchase_at, partner_last_at) "
    "SELECT v.customer_id, v.purchases, v.categories, v.partners, v.dayparts, "
    "v.last_purchase_at, v.partner_last_at FROM json_to_recordset(CAST(:rows AS json)) AS "
    "v(customer_id bigint, purchases bigint, categories jsonb, partners jsonb, dayparts jsonb, "
    "last_purchase_at timestamptz, partner_last_at jsonb) "
    "ON CONFLICT (customer_id) DO UPDATE SET purchases = EXCLUDED.purchases, "
    "categories = EXCLUDED.categories, partners = EXCLUDED.partners, "
    "dayparts = EXCLUDED.dayparts, last_purchase_at = EXCLUDED.last_purchase_at, "
    "partner_last_at = EXCLUDED.partner_last_at, updated_at = now()"
)


class FeaturesExtra:
    """The feed extra keeping `customer_features` (no ledger lots; see the module docstring).
    The chunk holds its customers' account locks, so reading and rewriting their rows cannot
    race another worker."""

    lot_kinds: frozenset[str] = frozenset()
    reclaimed_kinds: frozenset[str] = frozenset()
    key_namespace = NAMESPACE

    def __init__(self, *, lock_early: bool = False) -> None:
        del lock_early  # nothing shared with other workers
        self.zones: dict[int, ZoneInfo] = {}
        self.customer_of: dict[int, int] = {}
        self.bought: dict[int, list[TxFacts]] = defaultdict(list)
        self.refunded: dict[int, tuple[str | None, str | None]] = {}  # purchase → facts
        self.refunds_of: dict[int, list[tuple[int, int]]] = defaultdict(list)

    def prepare(
        self,
        purchases: Sequence[tuple[TxFacts, int]],
        terms: dict[int, ProgramTerms],
        now: datetime,
        refunded: Sequence[tuple[int, int]] = (),
    ) -> None:
        """Note the purchases' customers and their programs' zones (from the chunk's terms),
        and the refunded purchases' category and partner."""
        self.customer_of = {tx.id: customer_id for tx, customer_id in purchases}
        self.zones = {program_id: ZoneInfo(t.timezone) for program_id, t in terms.items()}
        if refunded:
            self._load_refunded([purchase_id for _, purchase_id in refunded])

    def _load_refunded(self, purchase_ids: list[int]) -> None:
        rows = db.session.execute(
            select(
                Transaction.id,
                Transaction.program_id,
                Transaction.category,
                Transaction.merchant_id,
            ).where(among(Transaction.id, purchase_ids))
        ).all()
        merchants: dict[int, set[str]] = defaultdict(set)
        for _, program_id, _, merchant_id in rows:
            if merchant_id:
                merchants[program_id].add(merchant_id)
        owners = {p: partners_for(p, ids) for p, ids in merchants.items()}
        for purchase_id, program_id, category, merchant_id in rows:
            partner = owners.get(program_id, {}).get(merchant_id or "")
            self.refunded[purchase_id] = (category, partner)

    def awards(self, tx: TxFacts, customer_id: int, base_points: int) -> list[Award]:
        """None: features are no ledger lot."""
        return []

    def accept(self, tx: TxFacts) -> None:
        """Count the purchase (it passed the guard)."""
        if tx.amount_minor > 0:
            self.bought[self.customer_of[tx.id]].append(tx)

    def record(self, inserted_keys: set[str]) -> None:
        """Nothing to note."""

    def refunds(self, refund: Refund) -> list[Any]:
        """Note the amount this refund took back; nothing to reclaim."""
        amount = refund.refunded_after - refund.refunded_before
        if amount > 0:
            self.refunds_of[refund.customer_id].append((refund.purchase_id, amount))
        return []

    def restore(self, clawback: Clawback) -> None:
        """Nothing: no lots."""

    def finish(self) -> None:
        """Rewrite the touched customers' rows: one read, one write."""
        customers = sorted(set(self.bought) | set(self.refunds_of))
        if not customers:
            return
        # Refunds that waited for their purchase reach `refunds` without `prepare` having
        # named their purchase: read those purchases' category and partner now.
        unknown = {p for pairs in self.refunds_of.values() for p, _ in pairs} - set(self.refunded)
        if unknown:
            self._load_refunded(sorted(unknown))
        stored = {
            row.customer_id: row
            for row in db.session.scalars(
                select(CustomerFeatures).where(among(CustomerFeatures.customer_id, customers))
            )
        }
        rows = []
        for customer_id in customers:
            features = Features.of(stored.get(customer_id))
            for tx in self.bought.get(customer_id, ()):
                part = daypart(tx.occurred_at, self.zones[tx.program_id])
                features.add(
                    category=tx.category,
                    partner=tx.partner,
                    amount=tx.amount_minor,
                    part=part,
                    at=tx.occurred_at,
                )
            for purchase_id, amount in self.refunds_of.get(customer_id, ()):
                category, partner = self.refunded.get(purchase_id, (None, None))
                features.refund(category=category, partner=partner, amount=amount)
            rows.append(features.row(customer_id))
        self._write(rows, stored)

    def _write(self, rows: list[dict[str, Any]], stored: dict[int, CustomerFeatures]) -> None:
        if is_postgres():
            db.session.execute(_UPSERT, {"rows": json_rows(rows)})
            return
        for row in rows:
            found = stored.get(row["customer_id"])
            if found is None:
                db.session.execute(dialect_insert(CustomerFeatures).values(**row))
                continue
            for key, value in row.items():
                setattr(found, key, value)
        db.session.flush()
