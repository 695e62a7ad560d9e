"""The perk catalog as one cardholder sees it, and their redemptions.

The catalog lists the program's perks that are open now (live and inside their window),
each with the rules that would refuse this cardholder today (`rewards.perks.eligibility`:
age, tier, their limit, stock, points), so the app can show "12 more points" or "sold out"
next to a perk instead of letting the tap fail. Order: perks the cardholder can redeem now
first, then those only points stand between (fewest missing first), then the rest; cheaper
first within each group, then newer. (The ranking from card history that issue 10 asks for
is not built yet: this is the plain order it will replace.)
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from rewards.balances import find_customer
from rewards.db import db
from rewards.ledger import account_of_customer
from rewards.lifecycle import LIVE
from rewards.models import Partner, Program
from rewards.perks.eligibility import Holder, Refusal, period_start, refusals
from rewards.perks.models import Perk, PerkVersion, Redemption, VoucherCode
from rewards.tiers.config import ladders_for

MAX_CATALOG = 500


@dataclass(frozen=True)
class CatalogEntry:
    """A perk as one cardholder sees it now."""

    perk: Perk
    definition: dict[str, Any]
    partner: Partner
    refusals: list[Refusal]
    used_in_period: int

    @property
    def redeemable(self) -> bool:
        return not self.refusals

    @property
    def points_missing(self) -> int:
        return next((r.points_missing or 0 for r in self.refusals if r.rule == "points"), 0)


def catalog(*, program_id: int, external_ref: str, now: datetime) -> list[CatalogEntry]:
    """The open perks of the program for this cardholder, in the order described above."""
    customer = find_customer(program_id=program_id, external_ref=external_ref)
    account = account_of_customer(customer.id)
    available = account.available if account is not None else 0
    zone = ZoneInfo(db.session.get_one(Program, program_id).timezone)
    stmt = (
        select(Perk, PerkVersion.definition, Partner)
        .join(
            PerkVersion,
            (PerkVersion.perk_id == Perk.id) & (PerkVersion.version == Perk.current_version),
        )
        .join(Partner, Partner.id == Perk.partner_id)
        .where(
            Perk.program_id == program_id,
            Perk.status.in_(LIVE),
            Perk.starts_at <= now,
            (Perk.ends_at.is_(None)) | (Perk.ends_at > now),
        )
        .order_by(Perk.id.desc())
        .limit(MAX_CATALOG)
    )
    rows = db.session.execute(stmt).all()
    used = _used_in_period(customer.id, [(p, d) for p, d, _ in rows], now, zone)
    uploaded = {p.id for p, d, _ in rows if d["voucher"]["codes"] == "uploaded"}
    pools = _codes_left(uploaded)
    ladder = ladders_for([program_id]).get(program_id)
    holder = Holder(customer.birth_date, customer.tier, available)
    entries = [
        CatalogEntry(
            perk,
            definition,
            partner,
            refusals(
                perk,
                definition,
                holder,
                ladder=ladder.ladder if ladder else None,
                used_in_period=used.get(perk.id, 0),
                now=now,
                zone=zone,
                codes_left=pools.get(perk.id, 0) if perk.id in uploaded else None,
            ),
            used.get(perk.id, 0),
        )
        for perk, definition, partner in rows
    ]
    return sorted(entries, key=_order)


def _order(entry: CatalogEntry) -> tuple[int, int, int, int]:
    only_points = all(r.rule == "points" for r in entry.refusals)
    group = 0 if entry.redeemable else 1 if only_points else 2
    return (group, entry.points_missing, entry.perk.cost_points, -entry.perk.id)


def _used_in_period(
    customer_id: int, perks: list[tuple[Perk, dict[str, Any]]], now: datetime, zone: ZoneInfo
) -> dict[int, int]:
    """Per limited perk, the customer's redemptions (not cancelled) in its current period."""
    since = {p.id: period_start(d["limit"]["per"], now, zone) for p, d in perks if d.get("limit")}
    if not since:
        return {}
    counts: dict[int, int] = defaultdict(int)
    for perk_id, created_at in db.session.execute(
        select(Redemption.perk_id, Redemption.created_at).where(
            Redemption.customer_id == customer_id,
            Redemption.perk_id.in_(sorted(since)),
            Redemption.status != "cancelled",
        )
    ):
        start = since[perk_id]
        if start is None or created_at >= start:
            counts[perk_id] += 1
    return counts


def _codes_left(perk_ids: set[int]) -> dict[int, int]:
    """Available uploaded codes per perk (perks with none are absent)."""
    if not perk_ids:
        return {}
    stmt = (
        select(VoucherCode.perk_id, func.count())
        .where(VoucherCode.perk_id.in_(sorted(perk_ids)), VoucherCode.status == "available")
        .group_by(VoucherCode.perk_id)
    )
    return {perk_id: int(n) for perk_id, n in db.session.execute(stmt)}


def my_redemptions(
    *, program_id: int, external_ref: str, limit: int, after_id: int | None
) -> list[tuple[Redemption, Perk, Partner]]:
    """The cardholder's redemptions, newest first, keyset-paginated by id (`limit + 1` rows)."""
    customer = find_customer(program_id=program_id, external_ref=external_ref)
    stmt = (
        select(Redemption, Perk, Partner)
        .join(Perk, Perk.id == Redemption.perk_id)
        .join(Partner, Partner.id == Perk.partner_id)
        .where(Redemption.customer_id == customer.id)
        .order_by(Redemption.id.desc())
        .limit(limit + 1)
    )
    if after_id is not None:
        stmt = stmt.where(Redemption.id < after_id)
    return [(r, p, partner) for r, p, partner in db.session.execute(stmt)]
