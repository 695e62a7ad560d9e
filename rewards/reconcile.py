"""Ledger reconciliation: every account's totals must equal the sum of its entries, and the
perks' stock, redemptions, vouchers and pool codes must agree with each other and with the
entries (`rewards.perks.reconcile`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select

from rewards.db import db
from rewards.models import Account, LedgerEntry
from rewards.perks.reconcile import PerkDifference, perk_differences


@dataclass(frozen=True)
class Difference:
    """One account whose stored totals disagree with its entries."""

    account_id: int
    customer_id: int
    field: str
    stored: int
    computed: int

    def describe(self) -> str:
        """The line `rewards ledger reconcile` prints."""
        return (
            f"account {self.account_id} (customer {self.customer_id}): {self.field} "
            f"stored {self.stored} but entries say {self.computed}"
        )


def reconcile(program_id: int | None = None) -> list[Difference | PerkDifference]:
    """Every difference: the accounts' (`account_differences`), then the perks'."""
    return [*account_differences(program_id), *perk_differences(program_id)]


def account_differences(program_id: int | None = None) -> list[Difference]:
    """Compare available, pending and lot remainders with the entries, in one pass.

    Checks: available = Σ available entries; pending = Σ pending entries; Σ remaining of
    available lots = max(available, 0); Σ remaining of pending lots = pending.
    """
    entry = LedgerEntry
    sums = (
        select(
            entry.account_id,
            func.sum(case((entry.state == "available", entry.points), else_=0)).label("available"),
            func.sum(case((entry.state == "pending", entry.points), else_=0)).label("pending"),
            func.sum(
                case((entry.state == "available", func.coalesce(entry.remaining, 0)), else_=0)
            ).label("lots_available"),
            func.sum(
                case((entry.state == "pending", func.coalesce(entry.remaining, 0)), else_=0)
            ).label("lots_pending"),
        )
        .group_by(entry.account_id)
        .subquery()
    )
    stmt = select(
        Account.id,
        Account.customer_id,
        Account.available,
        Account.pending,
        func.coalesce(sums.c.available, 0),
        func.coalesce(sums.c.pending, 0),
        func.coalesce(sums.c.lots_available, 0),
        func.coalesce(sums.c.lots_pending, 0),
    ).outerjoin(sums, sums.c.account_id == Account.id)
    if program_id is not None:
        stmt = stmt.where(Account.program_id == program_id)
    differences: list[Difference] = []
    for (
        acc_id,
        cust_id,
        available,
        pending,
        s_avail,
        s_pend,
        lots_avail,
        lots_pend,
    ) in db.session.execute(stmt):
        checks = (
            ("available", available, s_avail),
            ("pending", pending, s_pend),
            ("available_lots", max(available, 0), lots_avail),
            ("pending_lots", pending, lots_pend),
        )
        differences.extend(
            Difference(acc_id, cust_id, name, int(stored), int(computed))
            for name, stored, computed in checks
            if int(stored) != int(computed)
        )
    return differences
