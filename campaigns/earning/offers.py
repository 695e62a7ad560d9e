"""Activate-to-earn offers, as the cardholder sees them.

An offer is a live campaign (scheduled, or active and not past its end) of the customer's
program whose current version has `requires_activation` and whose audience (tiers, age today in
the program's timezone, segment) includes the customer. Live campaigns without
`requires_activation` are not offers: they earn without any action. Activation is recorded
once per customer and campaign; the feed grants only for purchases made at or after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from campaigns.audiences.segments import segment_memberships
from campaigns.earning.compiled import Campaign as Compiled
from campaigns.earning.compiled import period_key
from campaigns.earning.models import Campaign, CampaignVersion
from campaigns.earning.service import effective_status
from campaigns.earning.usage import CampaignCounter, OfferActivation
from rewards.balances import find_customer, zone
from rewards.db import db, dialect_insert
from rewards.errors import Conflict, NotFound
from rewards.models import Customer, Program

LIVE = ("scheduled", "active")
NOT_AN_OFFER = "No such offer for you in your program."


@dataclass(frozen=True)
class Offer:
    """One offer and the customer's state in it (activation, cap room, budget left)."""

    campaign: Campaign
    status: str
    definition: dict[str, Any]
    activated_at: datetime | None
    caps_left: dict[str, Any]
    budget_left: int | None


@dataclass(frozen=True)
class Activation:
    offer: Offer
    created: bool


def list_offers(*, program_id: int, external_ref: str, now: datetime) -> list[Offer]:
    """The customer's eligible live offers, newest campaign first."""
    customer = find_customer(program_id=program_id, external_ref=external_ref)
    candidates = [
        (row, d)
        for row, d in _offer_campaigns(program_id, None)
        if effective_status(row, now) in LIVE
    ]
    eligible = _eligible(customer, candidates, now)
    return _offers(customer, eligible, now)


def activate_offer(
    *, program_id: int, external_ref: str, campaign_id: int, now: datetime
) -> Activation:
    """Switch an offer on for the customer (idempotent: a repeat keeps the first time)."""
    customer = find_customer(program_id=program_id, external_ref=external_ref)
    found = _offer_campaigns(program_id, campaign_id)
    if not found or not _eligible(customer, found, now):
        raise NotFound(NOT_AN_OFFER)
    row, definition = found[0]
    status = effective_status(row, now)
    if status == "ended":
        raise Conflict("This offer has ended and can no longer be activated.")
    if status not in LIVE:
        raise NotFound(NOT_AN_OFFER)
    inserted = db.session.scalar(
        dialect_insert(OfferActivation)
        .values(campaign_id=row.id, customer_id=customer.id, activated_at=now)
        .on_conflict_do_nothing()
        .returning(OfferActivation.activated_at)
    )
    (offer,) = _offers(customer, [(row, definition)], now)
    return Activation(offer=offer, created=inserted is not None)


def _offer_campaigns(
    program_id: int, campaign_id: int | None
) -> list[tuple[Campaign, dict[str, Any]]]:
    """The program's campaigns whose current version requires activation (any status)."""
    stmt = (
        select(Campaign, CampaignVersion.definition)
        .join(
            CampaignVersion,
            (CampaignVersion.campaign_id == Campaign.id)
            & (CampaignVersion.version == Campaign.current_version),
        )
        .where(Campaign.program_id == program_id)
        .order_by(Campaign.id.desc())
    )
    if campaign_id is None:
        stmt = stmt.where(Campaign.status.in_(LIVE))
    else:
        stmt = stmt.where(Campaign.id == campaign_id)
    return [
        (row, definition)
        for row, definition in db.session.execute(stmt)
        if definition.get("requires_activation")
    ]


def _eligible(
    customer: Customer, campaigns: list[tuple[Campaign, dict[str, Any]]], now: datetime
) -> list[tuple[Campaign, dict[str, Any]]]:
    """Those whose audience includes the customer now (age on today's local date)."""
    program = db.session.get_one(Program, customer.program_id)
    today = now.astimezone(zone(program.timezone)).date()
    segment_ids = {
        d["audience"]["segment_id"]
        for _, d in campaigns
        if (d.get("audience") or {}).get("segment_id") is not None
    }
    memberships = segment_memberships(
        program_id=customer.program_id,
        segment_ids=segment_ids,
        customer_ids={customer.id},
        now=now,
    ).get(customer.id, set())
    return [
        (row, d)
        for row, d in campaigns
        if _audience_ok(d.get("audience") or {}, customer, today, memberships)
    ]


def _audience_ok(
    audience: dict[str, Any], customer: Customer, today: date, segments: set[int]
) -> bool:
    tiers = audience.get("tiers")
    if tiers and customer.tier not in tiers:
        return False
    segment_id = audience.get("segment_id")
    if segment_id is not None and segment_id not in segments:
        return False
    min_age, max_age = audience.get("min_age"), audience.get("max_age")
    if min_age is None and max_age is None:
        return True
    if customer.birth_date is None:
        return False
    born = customer.birth_date
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return (min_age is None or age >= min_age) and (max_age is None or age <= max_age)


def _offers(
    customer: Customer, campaigns: list[tuple[Campaign, dict[str, Any]]], now: datetime
) -> list[Offer]:
    if not campaigns:
        return []
    ids = [row.id for row, _ in campaigns]
    program = db.session.get_one(Program, customer.program_id)
    tz = zone(program.timezone)
    activations: dict[int, datetime] = {
        campaign_id: at
        for campaign_id, at in db.session.execute(
            select(OfferActivation.campaign_id, OfferActivation.activated_at).where(
                OfferActivation.customer_id == customer.id,
                OfferActivation.campaign_id.in_(ids),
            )
        )
    }
    counters = {
        (c.campaign_id, c.bucket): c
        for c in db.session.scalars(
            select(CampaignCounter).where(
                CampaignCounter.customer_id == customer.id, CampaignCounter.campaign_id.in_(ids)
            )
        )
    }
    offers = []
    for row, definition in campaigns:
        compiled = Compiled.compile(row.id, row.current_version, definition)
        budget = compiled.budget_points
        offers.append(
            Offer(
                campaign=row,
                status=effective_status(row, now),
                definition=definition,
                activated_at=activations.get(row.id),
                caps_left=_caps_left(compiled, counters, now, tz),
                budget_left=None if budget is None else max(0, budget - row.budget_used),
            )
        )
    return offers


def _caps_left(
    c: Compiled, counters: dict[tuple[int, str], CampaignCounter], now: datetime, tz: Any
) -> dict[str, Any]:
    """Room left in each per-customer cap, in the period bucket that contains `now`."""
    per_customer = []
    for period, points in c.per_customer:
        counter = counters.get((c.id, period_key(period, now, tz)))
        used = counter.points if counter else 0
        per_customer.append(
            {"period": period, "points": points, "used": used, "left": max(0, points - used)}
        )
    spend = None
    if c.qualifying_spend:
        period, amount = c.qualifying_spend
        counter = counters.get((c.id, period_key(period, now, tz)))
        used = counter.spend_minor if counter else 0
        spend = {
            "period": period,
            "amount_minor": amount,
            "used": used,
            "left": max(0, amount - used),
        }
    return {
        "per_transaction": c.per_transaction,
        "per_customer": per_customer,
        "qualifying_spend": spend,
    }
