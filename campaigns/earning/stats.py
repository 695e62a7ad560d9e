"""What a campaign has granted: per program-local day, from `campaign_days`, which the feed
writes in the same transaction as the bonus lots (and refunds as they claw them back)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from campaigns.earning.models import Campaign, CampaignVersion
from campaigns.earning.usage import CampaignDay
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
        select(
            CampaignDay.day,
            func.sum(CampaignDay.points),
            func.sum(CampaignDay.clawed_back),
            func.sum(CampaignDay.participants),
        )
        .where(CampaignDay.campaign_id == campaign_id)
        .group_by(CampaignDay.day)
        .order_by(CampaignDay.day)
    ).all()
    issued = sum(int(points) for _, points, _, _ in per_day)
    clawed = sum(int(back) for _, _, back, _ in per_day)
    participants = sum(int(joined) for _, _, _, joined in per_day)
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
            for day, points, back, _ in per_day
        ],
    }


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
