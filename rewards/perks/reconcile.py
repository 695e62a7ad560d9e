"""Perk reconciliation: stock, redemptions, their ledger entries, vouchers and pool codes
must tell the same story.

- a perk's `stock_used` = its redemptions not cancelled;
- a redemption has one voucher and one `redeem` entry of -points; a cancelled one also
  `redemption_refund` entries (one per expiry of the lots it spent) of +points in all and a
  cancelled voucher (a completed one neither);
- an uploaded pool code is issued (status `issued`) exactly when one voucher carries it, so
  none is issued twice or handed out again.

Each check is a pair of SQL expressions (what the row says, what the rows that follow from
it say); a query returns only the rows where some pair differs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select

from rewards.db import db
from rewards.models import LedgerEntry
from rewards.perks.models import Perk, Redemption, Voucher, VoucherCode
from rewards.perks.redemption import KIND as REDEEM
from rewards.perks.vouchers import REFUND_KIND as REFUND


@dataclass(frozen=True)
class PerkDifference:
    """One perk, redemption or pool code whose stored state disagrees with the rows that
    follow from it: `stored` is what it says, `computed` what `source` says."""

    object_type: str  # perk, redemption, voucher_code
    object_id: int
    field: str
    stored: int
    computed: int
    source: str

    def describe(self) -> str:
        """The line `rewards ledger reconcile` prints."""
        return (
            f"{self.object_type} {self.object_id}: {self.field} stored {self.stored} "
            f"but {self.source} say {self.computed}"
        )


# A check: (field, what the row says, what the rows that follow say, which rows those are).
Check = tuple[str, Any, Any, str]


def perk_differences(program_id: int | None = None) -> list[PerkDifference]:
    """Every difference among the program's (or all programs') perks, redemptions and codes."""
    return [*_stock(program_id), *_redemptions(program_id), *_pool_codes(program_id)]


def _differences(
    object_type: str, stmt: Any, key: Any, checks: list[Check]
) -> Iterator[PerkDifference]:
    """Run `stmt` (selecting `key`) for the rows where a check differs; one difference each."""
    columns = [part for _, stored, computed, _ in checks for part in (stored, computed)]
    differs = or_(*(stored != computed for _, stored, computed, _ in checks))
    for row in db.session.execute(stmt.add_columns(*columns).where(differs).order_by(key)):
        values = iter(row[1:])
        for (field, _, _, source), stored, computed in zip(checks, values, values, strict=True):
            if int(stored) != int(computed):
                yield PerkDifference(
                    object_type, int(row[0]), field, int(stored), int(computed), source
                )


def _stock(program_id: int | None) -> Iterator[PerkDifference]:
    live = (
        select(Redemption.perk_id, func.count().label("units"))
        .where(Redemption.status != "cancelled")
        .group_by(Redemption.perk_id)
        .subquery()
    )
    stmt = select(Perk.id).outerjoin(live, live.c.perk_id == Perk.id)
    if program_id is not None:
        stmt = stmt.where(Perk.program_id == program_id)
    units = func.coalesce(live.c.units, 0)
    checks = [("stock_used", Perk.stock_used, units, "redemptions not cancelled")]
    return _differences("perk", stmt, Perk.id, checks)


def _redemptions(program_id: int | None) -> Iterator[PerkDifference]:
    entry = LedgerEntry
    redeem, refund = entry.kind == REDEEM, entry.kind == REFUND
    entries = (
        select(
            entry.source_id,
            func.count().filter(redeem).label("redeems"),
            func.coalesce(func.sum(entry.points).filter(redeem), 0).label("redeemed"),
            func.count(func.distinct(entry.source_id)).filter(refund).label("refunds"),
            func.coalesce(func.sum(entry.points).filter(refund), 0).label("refunded"),
        )
        .where(entry.source_type == "redemption", entry.kind.in_((REDEEM, REFUND)))
        .group_by(entry.source_id)
        .subquery()
    )
    vouchers = (
        select(
            Voucher.redemption_id,
            func.count().label("issued"),
            func.count().filter(Voucher.status == "cancelled").label("cancelled"),
        )
        .group_by(Voucher.redemption_id)
        .subquery()
    )
    stmt = (
        select(Redemption.id)
        .outerjoin(entries, entries.c.source_id == Redemption.id)
        .outerjoin(vouchers, vouchers.c.redemption_id == Redemption.id)
    )
    if program_id is not None:
        stmt = stmt.where(Redemption.program_id == program_id)
    cancelled = Redemption.status == "cancelled"
    found = {name: func.coalesce(column, 0) for name, column in entries.c.items()}
    checks = [
        ("redeem_entries", literal(1), found["redeems"], "entries"),
        ("redeem_points", -Redemption.points, found["redeemed"], "entries"),
        ("refund_entries", case((cancelled, 1), else_=0), found["refunds"], "entries"),
        (
            "refund_points",
            case((cancelled, Redemption.points), else_=0),
            found["refunded"],
            "entries",
        ),
        ("vouchers", literal(1), func.coalesce(vouchers.c.issued, 0), "vouchers"),
        (
            "cancelled_vouchers",
            case((cancelled, 1), else_=0),
            func.coalesce(vouchers.c.cancelled, 0),
            "vouchers",
        ),
    ]
    return _differences("redemption", stmt, Redemption.id, checks)


def _pool_codes(program_id: int | None) -> Iterator[PerkDifference]:
    carried = (
        select(VoucherCode.id, func.count(Voucher.id).label("vouchers"))
        .outerjoin(
            Voucher,
            and_(
                Voucher.partner_id == VoucherCode.partner_id,
                Voucher.code_hash == VoucherCode.code_hash,
                Voucher.source == "uploaded",
            ),
        )
        .group_by(VoucherCode.id)
        .subquery()
    )
    stmt = select(VoucherCode.id).join(carried, carried.c.id == VoucherCode.id)
    if program_id is not None:
        stmt = stmt.join(Perk, Perk.id == VoucherCode.perk_id).where(Perk.program_id == program_id)
    issued = case((VoucherCode.status == "issued", 1), else_=0)
    checks = [("vouchers", issued, carried.c.vouchers, "vouchers")]
    return _differences("voucher_code", stmt, VoucherCode.id, checks)
