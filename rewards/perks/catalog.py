"""The perk catalog as one cardholder sees it, and their redemptions.

The catalog lists the program's perks that are open now (live and inside their window) and
that the cardholder is eligible for (age and tier applied: a perk they may never redeem is not
shown), each with what stops them today (their limit, stock, points), so the app can show "12
more points" or "sold out" instead of letting the tap fail. Perks they can redeem, or could
with more points, come first, ranked for them from their card history
(`rewards.perks.ranking`, with a reason in plain words); those their limit or the stock
closes follow, ranked alike.
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
from rewards.perks.features import Features
from rewards.perks.models import (
    CustomerFeatures,
    Perk,
    PerkVersion,
    Redemption,
    VoucherCode,
)
from rewards.perks.popularity import popularity_for
from rewards.perks.ranking import Candidate, age_band, rank
from rewards.tiers.config import ladders_for

MAX_CATALOG = 500
PERK_COLUMNS = (
    Perk.id,
    Perk.name,
    Perk.status,
    Perk.starts_at,
    Perk.ends_at,
    Perk.cost_points,
    Perk.stock_total,
    Perk.stock_used,
)


@dataclass(frozen=True, slots=True)
class PerkFacts:
    """The columns of a perk the catalog reads (no ORM entity: 200 per request)."""

    id: int
    name: str
    status: str
    starts_at: datetime
    ends_at: datetime | None
    cost_points: int
    stock_total: int | None
    stock_used: int


@dataclass(frozen=True, slots=True)
class PartnerFacts:
    code: str
    name: str


@dataclass
class CatalogEntry:
    """A perk as one cardholder sees it now."""

    perk: PerkFacts
    definition: dict[str, Any]
    partner: PartnerFacts
    refusals: list[Refusal]
    used_in_period: int
    reason: str = ""
    score: float = 0.0

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
        select(*PERK_COLUMNS, PerkVersion.definition, Partner.code, Partner.name)
        .join(
            PerkVersion,
            (PerkVersion.perk_id == Perk.id) & (PerkVersion.version == Perk.current_version),
        )
        .join(Partner, Partner.id == Perk.partner_id)
        .where(
            Perk.program_id == program_id,
            Perk.status.in_(LIVE),
            Partner.status == "active",  # an inactive partner's till cannot confirm vouchers
            Perk.starts_at <= now,
            (Perk.ends_at.is_(None)) | (Perk.ends_at > now),
        )
        .order_by(Perk.id.desc())
        .limit(MAX_CATALOG)
    )
    rows = [
        (PerkFacts(*row[:8]), row[8], PartnerFacts(row[9], row[10]))
        for row in db.session.execute(stmt)
    ]
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
    eligible = [e for e in entries if not any(r.rule in GATES for r in e.refusals)]
    return _ranked(eligible, customer.id, _band(customer.birth_date, now, zone), now, zone)


# Rules that make a perk one the cardholder may not redeem at all (not shown).
GATES = ("min_age", "min_tier")


def _band(birth: Any, now: datetime, zone: ZoneInfo) -> str:
    return age_band(birth, now.astimezone(zone).date())


def _ranked(
    entries: list[CatalogEntry], customer_id: int, band: str, now: datetime, zone: ZoneInfo
) -> list[CatalogEntry]:
    """Ranked for the customer; those only points stand between before those closed."""
    features = Features.of(db.session.get(CustomerFeatures, customer_id))
    perk_ids = [e.perk.id for e in entries]
    popular, crowd = popularity_for(band, features, perk_ids)
    candidates = [
        Candidate(e.perk.id, e.definition.get("category"), e.partner.code, e.partner.name)
        for e in entries
    ]
    ranked = rank(candidates, features, popular, now=now, zone=zone, crowd=crowd)
    position = {r.perk_id: n for n, r in enumerate(ranked)}
    by_id = {r.perk_id: r for r in ranked}
    for e in entries:
        e.reason, e.score = by_id[e.perk.id].reason, by_id[e.perk.id].score
    return sorted(entries, key=lambda e: (_closed(e), position[e.perk.id]))


def _closed(entry: CatalogEntry) -> bool:
    """Its limit or the stock refuses the cardholder now (not only missing points)."""
    return not all(r.rule == "points" for r in entry.refusals)


def _used_in_period(
    customer_id: int, perks: list[tuple[PerkFacts, dict[str, Any]]], now: datetime, zone: ZoneInfo
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
