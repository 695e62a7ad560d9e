"""Compiled rule sets per (program, rules revision), cached in each worker process.

A marketer's change bumps the program's `rules_revision`, so every worker compiles the new
revision on its next chunk; the worker compiles ahead of its chunks (`warm_rulesets`)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import select

from campaigns.earning.compiled import Campaign
from campaigns.earning.engine import RuleSet
from campaigns.earning.models import Campaign as CampaignRow
from campaigns.earning.models import CampaignVersion
from rewards.db import db
from rewards.models import Program

LIVE = ("scheduled", "active")
_RULESETS: dict[tuple[int, int], RuleSet] = {}


def ruleset(program_id: int, revision: int, zone: ZoneInfo) -> RuleSet:
    """The program's live campaigns, compiled once per rules revision in this process."""
    key = (program_id, revision)
    if key not in _RULESETS:
        rows = db.session.execute(
            select(CampaignRow.id, CampaignVersion.version, CampaignVersion.definition)
            .join(
                CampaignVersion,
                (CampaignVersion.campaign_id == CampaignRow.id)
                & (CampaignVersion.version == CampaignRow.current_version),
            )
            .where(CampaignRow.program_id == program_id, CampaignRow.status.in_(LIVE))
        )
        compiled = [Campaign.compile(cid, version, definition) for cid, version, definition in rows]
        for stale in [k for k in _RULESETS if k[0] == program_id]:
            del _RULESETS[stale]
        _RULESETS[key] = RuleSet(compiled, zone)
    return _RULESETS[key]


def warm_rulesets() -> None:
    """Compile every program's live campaigns at its current revision, ahead of the chunks.

    The worker calls this before it forks each job's work horse: the horse inherits the
    compiled rule sets instead of compiling them again (about 40 ms per chunk with 1,000
    campaigns). A change committed after this is still seen: the horse reads the revision
    under the rules lock and compiles the new one itself."""
    for program_id, revision, zone in db.session.execute(
        select(Program.id, Program.rules_revision, Program.timezone)
    ):
        ruleset(program_id, revision, ZoneInfo(zone))


def forget_rulesets() -> None:
    """Drop every cached rule set (tests restart ids and revisions between cases)."""
    _RULESETS.clear()
