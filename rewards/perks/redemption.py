"""Redeeming points for a perk, in the caller's one DB transaction.

Locks, always in this order: the customer's account row, then the perk row. The account lock
serialises everything one customer does (two taps, two phones), so the balance, the tier
and the per-customer limit read under it cannot move before the commit; the perk lock serialises the
units of its stock. Nothing else takes an account and then a perk, or a perk and then an
account: the feed locks the rules and then accounts, a marketer's edit the rules and then the
perk, so no cycle can form.

Under the locks: every rule of `rewards.perks.eligibility` (the first refusal is raised and
nothing is written), then the redemption row, a `redeem` ledger entry debiting the price from
the oldest available lots (keyed `redemption:{id}`; pending points are never spent and a
redemption never leaves debt), one unit of stock and its voucher (`rewards.perks.vouchers`:
a generated code, or the next of the partner's uploaded pool). The HTTP layer requires an
`Idempotency-Key`, so a retried request replays the first answer instead of spending twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from rewards.balances import find_customer
from rewards.db import db
from rewards.errors import Conflict, NotFound
from rewards.ledger import (
    Movement,
    debit,
    ensure_accounts,
    open_lots,
    utcnow,
)
from rewards.maintenance import expire_lapsed
from rewards.models import Account, Customer, LedgerEntry, Partner, Program
from rewards.perks import announce
from rewards.perks.eligibility import Holder, Refusal, period_start, refusals
from rewards.perks.models import Perk, PerkVersion, Redemption, Voucher
from rewards.perks.vouchers import issue, next_pool_code
from rewards.tiers.config import ladders_for

KIND = "redeem"


# The problem type of each refusing rule (`https://rewards.example/problems/<slug>`).
SLUGS = {
    "active": "perk-not-active",
    "min_age": "not-eligible",
    "min_tier": "not-eligible",
    "limit": "limit-reached",
    "stock": "out-of-stock",
    "points": "insufficient-points",
}


class RedemptionRefused(Conflict):
    """A rule refused the redemption (409): its problem type says which kind of refusal,
    `rule` which rule, and `points_missing` how many points are missing."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.detail, field="perk_id")
        self.slug = SLUGS[refusal.rule]
        self.extensions: dict[str, Any] = {"rule": refusal.rule}
        if refusal.points_missing is not None:
            self.extensions["points_missing"] = refusal.points_missing


@dataclass(frozen=True)
class Redeemed:
    """A completed redemption with what the app shows next to it."""

    redemption: Redemption
    perk: Perk
    definition: dict[str, Any]
    partner: Partner
    entry: LedgerEntry
    available: int
    voucher: Voucher
    code: str  # in clear, for the response only


def redeem(
    *, program_id: int, external_ref: str, perk_id: int, now: datetime | None = None
) -> Redeemed:
    """Spend the perk's price on one unit of it; RedemptionRefused (naming the rule) or
    NotFound (another program's perk, or none) leaves everything as it was."""
    now = now or utcnow()
    account = _locked_account(program_id, external_ref)
    # One read of the open lots: lapsed ones expire first (never spent, even before the hourly
    # job), the rest make the spending plan and are what the debit takes from.
    lots = open_lots(account.id)
    expire_lapsed(account, lots, now)
    lots = [lot for lot in lots if (lot.remaining or 0) > 0]
    # The customer's age and tier are read after the account lock, in the perk's statement:
    # a tier change holds that lock, so the tier checked is the one in force at the commit.
    found = db.session.execute(
        select(Perk, PerkVersion.definition, Partner, Program.timezone, Customer.birth_date,
               Customer.tier)
        .join(
            PerkVersion,
            (PerkVersion.perk_id == Perk.id) & (PerkVersion.version == Perk.current_version),
        )
        .join(Partner, Partner.id == Perk.partner_id)
        .join(Program, Program.id == Perk.program_id)
        .join(Customer, Customer.id == account.customer_id)
        .where(Perk.id == perk_id, Perk.program_id == program_id)
        .with_for_update(of=Perk, key_share=True)  # FOR NO KEY UPDATE of the perk row only
        .execution_options(populate_existing=True)
    ).one_or_none()  # fmt: skip
    if found is None:
        raise NotFound(f"Perk {perk_id} not found.", field="perk_id")
    perk, definition, partner, timezone, birth_date, tier = found
    zone = ZoneInfo(timezone)
    used = redemptions_in_period(account.customer_id, perk, definition, now, zone)
    settings = definition["voucher"]
    pool_code = next_pool_code(perk.id) if settings["codes"] == "uploaded" else None
    # The ladder only when the perk names a tier (most do not): a query saved per redemption.
    ladder = ladders_for([program_id]).get(program_id) if definition.get("min_tier") else None
    refused = refusals(
        perk,
        definition,
        Holder(birth_date, tier, account.available),
        ladder=ladder.ladder if ladder else None,
        used_in_period=used,
        now=now,
        zone=zone,
        codes_left=None if settings["codes"] != "uploaded" else int(pool_code is not None),
    )
    if partner.status != "active":  # its till could not confirm the voucher
        refused.insert(0, Refusal("active", "This perk's partner is not taking part now."))
    if refused:
        raise RedemptionRefused(refused[0])
    redemption = Redemption(
        program_id=program_id,
        customer_id=account.customer_id,
        perk_id=perk.id,
        perk_version=perk.current_version,
        points=perk.cost_points,
        status="completed",
        created_at=now,
        spent_lots=_spending(lots, perk.cost_points),
    )
    db.session.add(redemption)
    db.session.flush()
    entry = _debit(account, redemption, perk, partner, lots, now)
    redemption.ledger_entry_id = entry.id
    perk.stock_used += 1
    voucher, code = issue(
        redemption=redemption, perk=perk, settings=settings, pool_code=pool_code, now=now
    )
    db.session.flush()
    announce.redeemed(redemption, voucher, perk.partner_id)
    return Redeemed(redemption, perk, definition, partner, entry, account.available, voucher, code)


def _locked_account(program_id: int, external_ref: str) -> Account:
    """The cardholder's account, row-locked (opened first if the bank never got one opened);
    NotFound for an unknown or erased customer."""
    stmt = (
        select(Account)
        .join(Customer, Customer.id == Account.customer_id)
        .where(
            Customer.program_id == program_id,
            Customer.external_ref == external_ref,
            Customer.status != "erased",
        )
        .with_for_update(of=Account)
        .execution_options(populate_existing=True)
    )
    account = db.session.scalar(stmt)
    if account is None:
        customer = find_customer(program_id=program_id, external_ref=external_ref)
        ensure_accounts([(program_id, customer.id)])
        account = db.session.scalar(stmt)
    assert account is not None
    return account


def _spending(lots: list[LedgerEntry], points: int) -> list[list[Any]]:
    """What a debit of `points` takes, per expiry, from `lots` (in the order `debit` takes
    them: `open_lots`, soonest expiry first): `[[expires_at ISO or None, points], ...]`."""
    spent: list[list[Any]] = []
    left = points
    for lot in lots:
        if left <= 0:
            break
        taken = min(left, lot.remaining or 0)
        expiry = lot.expires_at.isoformat() if lot.expires_at else None
        if spent and spent[-1][0] == expiry:
            spent[-1][1] += taken
        elif taken:
            spent.append([expiry, taken])
        left -= taken
    assert left <= 0, "the balance was checked under the account lock"
    return spent


def _debit(
    account: Account,
    redemption: Redemption,
    perk: Perk,
    partner: Partner,
    lots: list[LedgerEntry],
    now: datetime,
) -> LedgerEntry:
    move = Movement(
        kind=KIND,
        points=-redemption.points,
        source_type="redemption",
        source_id=redemption.id,
        idempotency_key=f"redemption:{redemption.id}",
        occurred_at=now,
        explanation={
            "summary": f"Redeemed: {perk.name} from {partner.name} (-{redemption.points} pts)",
            "rule": "redemption",
            "perk_id": perk.id,
            "perk_version": redemption.perk_version,
            "partner": partner.code,
            "redemption_id": redemption.id,
        },
    )
    entry = debit(account, move, now=now, lots=lots)
    assert entry is not None, "a new redemption's key cannot have been used"
    return entry


def redemptions_in_period(
    customer_id: int, perk: Perk, definition: dict[str, Any], now: datetime, zone: ZoneInfo
) -> int:
    """The customer's redemptions of the perk (not cancelled) in the limit's current period;
    0 when the perk has no limit."""
    limit = definition.get("limit")
    if limit is None:
        return 0
    stmt = select(func.count()).where(
        Redemption.customer_id == customer_id,
        Redemption.perk_id == perk.id,
        Redemption.status != "cancelled",
    )
    since = period_start(limit["per"], now, zone)
    if since is not None:
        stmt = stmt.where(Redemption.created_at >= since)
    return int(db.session.scalar(stmt) or 0)
