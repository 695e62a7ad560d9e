"""Campaigns: create, edit (versioned), read, and move through their lifecycle.

Campaigns are one kind (`CAMPAIGNS`) of the marketer-resource mechanism in `campaigns.resources`;
this module adds what only campaigns have: budget and participant counters, the segment check.
Every change is audited and bumps the program's `rules_revision` in the same transaction, so
workers that cache compiled rules per (program, revision) notice it from any process. A change
first takes the program's rules lock exclusively (`rewards.programs.lock_rules`: a
transaction-level advisory lock, not the program row). Feed chunks hold the same lock shared
from the moment they lock their rows (`share_rules`), so a change waits for the chunks still
using the old rules, and chunks after it compile the new revision; both then take campaign
rows, so the order is rules lock → campaign rows everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from campaigns.earning.definition import validate_definition
from campaigns.earning.models import Campaign, CampaignVersion
from campaigns.earning.usage import CampaignDay
from campaigns.resources import (
    EDITABLE,
    LIFECYCLE_FILTERS,
    LIVE,
    Item,
    Kind,
    Versions,
    effective_status,
    mirror_window,
)
from rewards.db import db
from rewards.errors import InvalidInput
from rewards.models import Program

__all__ = [
    "CAMPAIGNS",
    "EDITABLE",
    "LIVE",
    "CampaignView",
    "Usage",
    "activate_campaign",
    "create_campaign",
    "effective_status",
    "end_campaign",
    "get_campaign",
    "get_version",
    "list_campaigns",
    "list_versions",
    "pause_campaign",
    "update_campaign",
    "usage_of",
]


@dataclass(frozen=True)
class CampaignView:
    """A campaign with its current version."""

    campaign: Campaign
    version: CampaignVersion

    @classmethod
    def of(cls, item: Item) -> CampaignView:
        """The view of a campaign the generic operations returned."""
        return cls(item.row, item.version)

    def snapshot(self) -> dict[str, Any]:
        """What the audit log keeps of the campaign."""
        return CAMPAIGNS.snapshot(Item(self.campaign, self.version))


@dataclass(frozen=True)
class Usage:
    """How much of its budget and participant room a campaign has used."""

    budget_used: int
    participants: int


def usage_of(views: list[CampaignView] | list[Item]) -> dict[int, Usage]:
    """Per campaign: a budgeted campaign's budget use and a limited one's participants come
    from its row (the feed adds to it under a row lock); otherwise from its daily figures. One
    grouped query for any number of campaigns."""
    ids = [v.row.id if isinstance(v, Item) else v.campaign.id for v in views]
    if not ids:
        return {}
    totals = {
        campaign_id: (net, joined)
        for campaign_id, net, joined in db.session.execute(
            select(
                CampaignDay.campaign_id,
                func.sum(CampaignDay.points - CampaignDay.clawed_back),
                func.sum(CampaignDay.participants),
            )
            .where(CampaignDay.campaign_id.in_(ids))
            .group_by(CampaignDay.campaign_id)
        )
    }
    found = {}
    for view in views:
        campaign = view.row if isinstance(view, Item) else view.campaign
        definition = view.version.definition
        net, joined = totals.get(campaign.id, (0, 0))
        found[campaign.id] = Usage(
            budget_used=campaign.budget_used
            if definition.get("budget_points") is not None
            else int(net or 0),
            participants=campaign.participants
            if definition.get("max_participants") is not None
            else int(joined or 0),
        )
    return found


def _validate(raw: Any, program: Program) -> dict[str, Any]:
    return validate_definition(raw, excluded_mccs=program.excluded_mccs or ())


def _check(program_id: int, values: dict[str, Any], current: Item | None) -> None:
    """A limit added to a live campaign starts from what it has granted and may not be below
    it; the audience names a segment of this program."""
    if current is not None:
        _start_counting(CampaignView.of(current), values)
        _check_counters(current.row, values)
    _check_segment(program_id, values)


CAMPAIGNS = Kind(
    name="campaign",
    model=Campaign,
    validate=_validate,
    mirror=mirror_window,
    versions=Versions(CampaignVersion, parent="campaign_id"),
    lifecycle=True,
    filters=LIFECYCLE_FILTERS,
    check=_check,
)


def create_campaign(
    *, program_id: int, definition: Any, actor: str, actor_role: str = "marketer"
) -> CampaignView:
    """A new draft campaign at version 1; InvalidInput names every bad field."""
    item = CAMPAIGNS.create(
        program_id=program_id, body=definition, actor=actor, actor_role=actor_role
    )
    return CampaignView.of(item)


def update_campaign(
    *,
    program_id: int,
    campaign_id: int,
    changes: dict[str, Any],
    actor: str,
    actor_role: str = "marketer",
) -> CampaignView:
    """Apply a JSON Merge Patch to the definition. A draft is edited in place; a scheduled,
    active or paused campaign gets a new version (the old one stays readable); ended: 409."""
    item = CAMPAIGNS.update(
        program_id=program_id,
        object_id=campaign_id,
        changes=changes,
        actor=actor,
        actor_role=actor_role,
    )
    return CampaignView.of(item)


def activate_campaign(*, program_id: int, campaign_id: int, **who: Any) -> CampaignView:
    """Draft or paused → scheduled (start in the future) or active; 409 once the window is
    over. `who`: actor, and optionally actor_role, reason, now (see `Kind.transition`)."""
    item = CAMPAIGNS.transition("activate", program_id=program_id, object_id=campaign_id, **who)
    return CampaignView.of(item)


def pause_campaign(*, program_id: int, campaign_id: int, **who: Any) -> CampaignView:
    """Scheduled or active → paused (it stops granting until activated again)."""
    item = CAMPAIGNS.transition("pause", program_id=program_id, object_id=campaign_id, **who)
    return CampaignView.of(item)


def end_campaign(*, program_id: int, campaign_id: int, **who: Any) -> CampaignView:
    """Any status but ended → ended, for good (an ended campaign cannot be edited or resumed)."""
    item = CAMPAIGNS.transition("end", program_id=program_id, object_id=campaign_id, **who)
    return CampaignView.of(item)


def get_campaign(*, program_id: int, campaign_id: int, for_update: bool = False) -> CampaignView:
    """The campaign and its current version; NotFound outside the caller's program."""
    item = CAMPAIGNS.get(program_id=program_id, object_id=campaign_id, for_update=for_update)
    return CampaignView.of(item)


def list_campaigns(
    *,
    program_id: int,
    limit: int,
    before_id: int | None = None,
    status: str | None = None,
    active_on: date | None = None,
    now: datetime | None = None,
) -> list[CampaignView]:
    """Newest first. `status` is the effective status at `now`; `active_on` keeps campaigns
    whose window overlaps that day in the program's timezone."""
    items = CAMPAIGNS.list_items(
        program_id=program_id,
        limit=limit,
        before_id=before_id,
        now=now,
        status=status,
        active_on=active_on,
    )
    return [CampaignView.of(item) for item in items]


def list_versions(
    *, program_id: int, campaign_id: int, limit: int, before_version: int | None = None
) -> list[CampaignVersion]:
    """A campaign's versions, newest first."""
    return CAMPAIGNS.list_versions(
        program_id=program_id, object_id=campaign_id, limit=limit, before_version=before_version
    )


def get_version(*, program_id: int, campaign_id: int, version: int) -> CampaignVersion:
    """One version of a campaign of the caller's program, or NotFound."""
    found: CampaignVersion = CAMPAIGNS.get_version(
        program_id=program_id, object_id=campaign_id, version=version
    )
    return found


def _check_segment(program_id: int, values: dict[str, Any]) -> None:
    from campaigns.audiences.segments import segment_exists  # segments imports this module

    segment_id = (values.get("audience") or {}).get("segment_id")
    if segment_id is not None and not segment_exists(program_id, segment_id):
        raise InvalidInput(
            "The audience names a segment this program does not have.",
            errors={"audience.segment_id": ["no such segment in this program"]},
        )


def _start_counting(view: CampaignView, values: dict[str, Any]) -> None:
    """A budget or participant limit the current version lacks starts from what the campaign
    has already granted: the feed keeps those counters on the row only while a limit exists.
    The caller holds the program row, so no chunk using the old rules is still running."""
    old = view.version.definition
    campaign = view.campaign
    if values.get("budget_points") is not None and old.get("budget_points") is None:
        campaign.budget_used = usage_of([view])[campaign.id].budget_used
    if values.get("max_participants") is not None and old.get("max_participants") is None:
        campaign.participants = usage_of([view])[campaign.id].participants


def _check_counters(campaign: Campaign, values: dict[str, Any]) -> None:
    """A budget or participant limit may not drop below what has already been granted."""
    errors = {}
    budget, most = values["budget_points"], values["max_participants"]
    if budget is not None and budget < campaign.budget_used:
        errors["budget_points"] = [f"Below the {campaign.budget_used} points already granted."]
    if most is not None and most < campaign.participants:
        errors["max_participants"] = [f"Below the {campaign.participants} participants so far."]
    if errors:
        raise InvalidInput("The campaign definition is not valid; see errors.", errors=errors)
