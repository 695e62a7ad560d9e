"""What a campaign has granted: per program-local day, from `campaign_days`, which the feed
writes in the same transaction as the bonus lots (and refunds as they claw them back)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, union

from campaigns.models import Campaign, CampaignVersion
from campaigns.usage import CampaignCounter, CampaignDay, CampaignParticipant
from rewards.db import db
from rewards.errors import NotFound


def campaign_stats(*, program_id: int, campaign_id: int) -> dict[str, Any]:
    """Points issued and clawed back (totals and per program-local day), participants, budget."""
    campaign = db.session.scalar(
        select(Campaign).where(Campaign.id == campaign_id, Campaign.program_id == program_id)
    )
    if campaign is None:
        raise NotFound(f"Campaign {campaign_id} not found.")
    per_day = db.session.execute(
        select(CampaignDay.day, func.sum(CampaignDay.points), func.sum(CampaignDay.clawed_back))
        .where(CampaignDay.campaign_id == campaign_id)
        .group_by(CampaignDay.day)
        .order_by(CampaignDay.day)
    ).all()
    issued = sum(int(points) for _, points, _ in per_day)
    clawed = sum(int(back) for _, _, back in per_day)
    participants = participant_counts([campaign_id]).get(campaign_id, 0)
    budget = _budget(campaign_id, campaign.current_version)
    # Only a budgeted campaign counts its budget on its row (under a lock); otherwise the
    # net points are what it has used.
    used = campaign.budget_used if budget is not None else issued - clawed
    return {
        "campaign_id": campaign_id,
        "points_issued": issued,
        "clawed_back": clawed,
        "net_points": issued - clawed,
        "participants": participants,
        "budget_points": budget,
        "budget_used": used,
        "budget_remaining": None if budget is None else max(0, budget - used),
        "per_day": [
            {"date": day.isoformat(), "points": int(points), "clawed_back": int(back)}
            for day, points, back in per_day
        ],
    }


def participant_counts(campaign_ids: list[int]) -> dict[int, int]:
    """Customers who earned from each campaign. A capped campaign's cap counters name them
    (every grant charges one), so the feed writes participant rows only for the others and
    for campaigns with a participant limit; this counts the union, in one grouped query."""
    if not campaign_ids:
        return {}
    earners = union(
        select(CampaignCounter.campaign_id, CampaignCounter.customer_id).where(
            CampaignCounter.campaign_id.in_(campaign_ids)
        ),
        select(CampaignParticipant.campaign_id, CampaignParticipant.customer_id).where(
            CampaignParticipant.campaign_id.in_(campaign_ids)
        ),
    ).subquery()
    rows = db.session.execute(
        select(earners.c.campaign_id, func.count()).group_by(earners.c.campaign_id)
    )
    return {campaign_id: int(count) for campaign_id, count in rows}


def net_points(campaign_id: int) -> int:
    """Bonus points the campaign granted, less refunds' clawbacks (all versions)."""
    total = db.session.execute(
        select(
            func.coalesce(func.sum(CampaignDay.points), 0),
            func.coalesce(func.sum(CampaignDay.clawed_back), 0),
        ).where(CampaignDay.campaign_id == campaign_id)
    ).one()
    return int(total[0]) - int(total[1])


def _budget(campaign_id: int, version: int) -> int | None:
    definition = db.session.scalar(
        select(CampaignVersion.definition).where(
            CampaignVersion.campaign_id == campaign_id, CampaignVersion.version == version
        )
    )
    return (definition or {}).get("budget_points")
