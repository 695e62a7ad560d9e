"""What the app shows for each campaign's part of a bonus lot.

A part that no cap limited is stored without a summary (a purchase may earn from a dozen
campaigns, and the text would double the lot's size): it is the label of the part's campaign
version ("3× on dining — Weekend Eats"), which never changes, so it is worked out again here
when the ledger is read. Parts stored with a summary (a limit applied, or written before) keep
theirs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, tuple_

from campaigns.earning.compiled import Campaign
from campaigns.earning.models import CampaignVersion
from rewards.db import db

FALLBACK = "Campaign bonus"


def fill_summaries(part_lists: Iterable[list[dict[str, Any]]]) -> None:
    """Give every part lacking a `summary` its campaign version's label: one query for all."""
    missing = [
        part
        for parts in part_lists
        for part in parts
        if isinstance(part, dict) and not part.get("summary")
    ]
    wanted = {
        (int(part["campaign_id"]), int(part.get("campaign_version") or 1))
        for part in missing
        if part.get("campaign_id") is not None
    }
    labels: dict[tuple[int, int], str] = {}
    if wanted:
        rows = db.session.execute(
            select(
                CampaignVersion.campaign_id, CampaignVersion.version, CampaignVersion.definition
            ).where(tuple_(CampaignVersion.campaign_id, CampaignVersion.version).in_(wanted))
        )
        labels = {(c, v): Campaign.compile(c, v, d).label for c, v, d in rows}
    for part in missing:
        key = (int(part.get("campaign_id") or 0), int(part.get("campaign_version") or 1))
        part["summary"] = labels.get(key, FALLBACK)
