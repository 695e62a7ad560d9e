"""Vouchers: what a redemption gives the cardholder, and their life after it.

issued → used (the partner confirms it at the till) | expired (the scheduled job, at
`expires_at`) | cancelled (the cardholder, unused, within the perk's cancellation window:
points back as a `redemption_refund`, the unit back in stock, the per-customer limit counts
it no more). Codes are kept sealed (shown only to their cardholder and, at the till, matched
by the partner) and as keyed hashes for look-ups (`rewards.sealing`); nothing here logs one.

Locks: a cancellation takes the customer's account, then the perk, then the voucher, the
order a redemption uses; the till and the expiry job take only the voucher row, so no cycle
can form.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from rewards import sealing
from rewards.balances import find_customer
from rewards.db import db
from rewards.errors import Conflict, NotFound
from rewards.ledger import Movement, account_of_customer, credit, utcnow
from rewards.models import Partner
from rewards.perks import announce
from rewards.perks.codes import check_code, new_code, normalise_code
from rewards.perks.models import Perk, PerkVersion, Redemption, Voucher, VoucherCode

REFUND_KIND = "redemption_refund"


class VoucherNotCancellable(Conflict):
    """The voucher is used, expired, already cancelled, or past its cancellation window."""

    slug = "voucher-not-cancellable"


@dataclass(frozen=True)
class MyVoucher:
    """A voucher as its cardholder sees it: the code in clear, and until when it may be
    cancelled (None: not now, or never), from the version the redemption paid for."""

    voucher: Voucher
    redemption: Redemption
    perk: Perk
    partner: Partner
    code: str
    cancellable_until: datetime | None


@dataclass(frozen=True)
class Cancelled:
    mine: MyVoucher
    available: int


def next_pool_code(perk_id: int) -> VoucherCode | None:
    """The oldest available uploaded code of the perk, locked (the caller holds the perk)."""
    stmt = (
        select(VoucherCode)
        .where(VoucherCode.perk_id == perk_id, VoucherCode.status == "available")
        .order_by(VoucherCode.id)
        .limit(1)
        .with_for_update()
    )
    return db.session.scalar(stmt)


def issue(
    *,
    redemption: Redemption,
    perk: Perk,
    settings: dict[str, Any],
    pool_code: VoucherCode | None,
    now: datetime,
) -> tuple[Voucher, str]:
    """The voucher of a new redemption and its code in clear (for the response only):
    `pool_code` when the perk issues uploaded codes, else a generated one."""
    if pool_code is not None:
        pool_code.status = "issued"
        code_hash, sealed = pool_code.code_hash, pool_code.code_sealed
        code = sealing.unseal(sealed)
    else:
        code = new_code()
        code_hash, sealed = code_key(code), sealing.seal(code)
    voucher = Voucher(
        program_id=redemption.program_id,
        perk_id=perk.id,
        partner_id=perk.partner_id,
        customer_id=redemption.customer_id,
        redemption_id=redemption.id,
        source="uploaded" if pool_code is not None else "generated",
        code_hash=code_hash,
        code_sealed=sealed,
        status="issued",
        issued_at=now,
        expires_at=now + timedelta(days=settings["valid_days"]),
    )
    db.session.add(voucher)
    db.session.flush()
    return voucher, code


def code_of(voucher: Voucher) -> str:
    """The voucher's code in clear, for its cardholder or its partner."""
    return sealing.unseal(voucher.code_sealed)


def code_key(code: str) -> str:
    """The keyed hash a code is stored and looked up under: of its generated-code reading
    when it reads as one (case, spaces and dashes do not matter), else of the code as given
    (trimmed). One key per code, unique per partner, so a typed code names one voucher."""
    return sealing.lookup_hash(normalise_code(code) if check_code(code) else code.strip())


def cancellable_until(voucher: Voucher, settings: dict[str, Any]) -> datetime | None:
    """Until when the cardholder may cancel it (None: never, or no longer issued)."""
    hours = settings["cancel_within_hours"]
    if voucher.status != "issued" or hours <= 0:
        return None
    return min(voucher.issued_at + timedelta(hours=hours), voucher.expires_at)


def settings_of(perk_id: int, version: int) -> dict[str, Any]:
    """The voucher settings of the perk version a redemption paid for."""
    definition = db.session.scalars(
        select(PerkVersion.definition).where(
            PerkVersion.perk_id == perk_id, PerkVersion.version == version
        )
    ).one()
    settings: dict[str, Any] = definition["voucher"]
    return settings


def my_vouchers(
    *, program_id: int, external_ref: str, limit: int, after_id: int | None
) -> list[MyVoucher]:
    """The cardholder's vouchers, newest first, keyset-paginated by id (`limit + 1` rows):
    one query, with the voucher settings of each redemption's perk version."""
    customer = find_customer(program_id=program_id, external_ref=external_ref)
    stmt = (
        select(Voucher, Redemption, Perk, Partner, PerkVersion.definition)
        .join(Redemption, Redemption.id == Voucher.redemption_id)
        .join(Perk, Perk.id == Voucher.perk_id)
        .join(Partner, Partner.id == Voucher.partner_id)
        .join(
            PerkVersion,
            (PerkVersion.perk_id == Perk.id) & (PerkVersion.version == Redemption.perk_version),
        )
        .where(Voucher.customer_id == customer.id)
        .order_by(Voucher.id.desc())
        .limit(limit + 1)
    )
    if after_id is not None:
        stmt = stmt.where(Voucher.id < after_id)
    return [
        MyVoucher(v, r, p, partner, code_of(v), cancellable_until(v, definition["voucher"]))
        for v, r, p, partner, definition in db.session.execute(stmt)
    ]


def cancel(
    *, program_id: int, external_ref: str, voucher_id: int, now: datetime | None = None
) -> Cancelled:
    """Cancel an unused voucher within its window: points back (a lot per expiry of the lots
    they were spent from, with that expiry), stock back, the limit freed. NotFound for another
    customer's voucher; VoucherNotCancellable otherwise."""
    now = now or utcnow()
    customer = find_customer(program_id=program_id, external_ref=external_ref)
    found = db.session.scalar(
        select(Voucher.perk_id).where(Voucher.id == voucher_id, Voucher.customer_id == customer.id)
    )
    if found is None:
        raise NotFound(f"Voucher {voucher_id} not found.")
    account = account_of_customer(customer.id, lock=True)
    assert account is not None
    perk = db.session.scalars(
        select(Perk).where(Perk.id == found).with_for_update(key_share=True)
    ).one()
    voucher = db.session.scalars(
        select(Voucher)
        .where(Voucher.id == voucher_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    redemption = db.session.get_one(Redemption, voucher.redemption_id)
    settings = settings_of(perk.id, redemption.perk_version)
    until = cancellable_until(voucher, settings)
    if voucher.status != "issued":
        raise VoucherNotCancellable(f"This voucher is {voucher.status}.", field="voucher_id")
    if until is None or now >= until:
        raise VoucherNotCancellable("This voucher can no longer be cancelled.", field="voucher_id")
    voucher.status, voucher.cancelled_at = "cancelled", now
    redemption.status, redemption.cancelled_at = "cancelled", now
    perk.stock_used -= 1
    for n, (expiry, points) in enumerate(redemption.spent_lots):
        # A part whose lots have lapsed since comes back already past its expiry: the next
        # expiry run takes it, as it would have taken the lot it was spent from.
        entry = credit(
            account,
            Movement(
                kind=REFUND_KIND,
                points=points,
                source_type="redemption",
                source_id=redemption.id,
                idempotency_key=f"redemption:{redemption.id}:refund:{n}",
                occurred_at=now,
                expires_at=datetime.fromisoformat(expiry) if expiry else None,
                explanation={
                    "summary": f"Voucher cancelled: {perk.name} (+{points} pts)",
                    "rule": "redemption_refund",
                    "perk_id": perk.id,
                    "redemption_id": redemption.id,
                },
            ),
            now=now,
        )
        assert entry is not None, "a redemption is refunded once: its voucher was issued"
    account.lifetime_redeemed -= redemption.points
    db.session.flush()
    announce.voucher_changed("cancelled", voucher, now)
    partner = db.session.get_one(Partner, perk.partner_id)
    shown = MyVoucher(
        voucher, redemption, perk, partner, code_of(voucher), cancellable_until(voucher, settings)
    )
    return Cancelled(shown, account.available)


def expire_due(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Mark issued vouchers past `expires_at` expired (oldest first, at most `limit`)."""
    now = now or utcnow()
    due = (
        select(Voucher.id)
        .where(Voucher.status == "issued", Voucher.expires_at <= now)
        .order_by(Voucher.expires_at, Voucher.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    expired = db.session.execute(
        update(Voucher)
        .where(Voucher.id.in_(due), Voucher.status == "issued")
        .values(status="expired", expired_at=now)
        .returning(
            Voucher.id,
            Voucher.program_id,
            Voucher.perk_id,
            Voucher.partner_id,
            Voucher.customer_id,
            Voucher.redemption_id,
        )
        .execution_options(synchronize_session=False)
    ).all()
    announce.vouchers_expired(list(expired), now)
    return len(expired)
