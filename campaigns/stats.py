"""What a campaign has really granted: read from the ledger, never from its own counters alone.

A campaign's bonus lots are the `bonus` entries keyed `tx:{transaction id}:cmp:{campaign id}`
(the key suffix is exact and portable, unlike JSON filters); refunds take points back from
those lots with `clawback` entries that reference them (`reverses_entry_id`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from campaigns.models import Campaign, CampaignVersion
from rewards.db import db
from rewards.errors import NotFound
from rewards.models import LedgerEntry, Program

BATCH = 5000


def campaign_stats(*, program_id: int, campaign_id: int) -> dict[str, Any]:
    """Points issued and clawed back (totals and per program-local day), participants, budget."""
    campaign = db.session.scalar(
        select(Campaign).where(Campaign.id == campaign_id, Campaign.program_id == program_id)
    )
    if campaign is None:
        raise NotFound(f"Campaign {campaign_id} not found.")
    zone = ZoneInfo(db.session.get_one(Program, program_id).timezone)
    lots = (
        select(LedgerEntry.id)
        .where(
            LedgerEntry.program_id == program_id,
            LedgerEntry.kind == "bonus",
            LedgerEntry.idempotency_key.like(f"%:cmp:{campaign_id}"),
        )
        .scalar_subquery()
    )
    per_day: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    issued = clawed = 0
    rows = db.session.execute(
        select(LedgerEntry.kind, LedgerEntry.points, LedgerEntry.occurred_at)
        .where(
            (LedgerEntry.id.in_(lots))
            | ((LedgerEntry.kind == "clawback") & LedgerEntry.reverses_entry_id.in_(lots))
        )
        .execution_options(yield_per=BATCH)
    )
    for kind, points, occurred_at in rows:
        day = _local_day(occurred_at, zone)
        if kind == "bonus":
            issued += points
            per_day[day][0] += points
        else:
            clawed -= points
            per_day[day][1] -= points
    budget = _budget(campaign_id, campaign.current_version)
    return {
        "campaign_id": campaign_id,
        "points_issued": issued,
        "clawed_back": clawed,
        "net_points": issued - clawed,
        "participants": campaign.participants,
        "budget_points": budget,
        "budget_used": campaign.budget_used,
        "budget_remaining": None if budget is None else max(0, budget - campaign.budget_used),
        "per_day": [
            {"date": day, "points": points, "clawed_back": back}
            for day, (points, back) in sorted(per_day.items())
        ],
    }


def _budget(campaign_id: int, version: int) -> int | None:
    definition = db.session.scalar(
        select(CampaignVersion.definition).where(
            CampaignVersion.campaign_id == campaign_id, CampaignVersion.version == version
        )
    )
    return (definition or {}).get("budget_points")


def _local_day(moment: datetime, zone: ZoneInfo) -> str:
    # SQLite (embedded mode) hands back naive UTC values.
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(zone).date().isoformat()
