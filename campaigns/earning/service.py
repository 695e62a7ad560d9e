"""Campaigns: create, edit (versioned), read, and move through their lifecycle.

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
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, or_, select

from campaigns.earning.definition import merge_patch, validate_definition
from campaigns.earning.models import STATUSES, Campaign, CampaignVersion
from campaigns.earning.usage import CampaignDay
from rewards.db import db
from rewards.errors import Conflict, InvalidInput, NotFound
from rewards.models import Program
from rewards.programs import lock_rules, record_rule_change

# Stored statuses whose effective status follows the window (see effective_status).
LIVE = ("scheduled", "active")
EDITABLE = ("draft", "scheduled", "active", "paused")


@dataclass(frozen=True)
class CampaignView:
    """A campaign with its current version."""

    campaign: Campaign
    version: CampaignVersion

    def snapshot(self) -> dict[str, Any]:
        """What the audit log keeps of the campaign."""
        return {
            "status": self.campaign.status,
            "version": self.version.version,
            "definition": self.version.definition,
        }


@dataclass(frozen=True)
class Usage:
    """How much of its budget and participant room a campaign has used."""

    budget_used: int
    participants: int


def usage_of(views: list[CampaignView]) -> dict[int, Usage]:
    """Per campaign: a budgeted campaign's budget use and a limited one's participants come
    from its row (the feed adds to it under a row lock); otherwise from its daily figures. One
    grouped query for any number of campaigns."""
    ids = [v.campaign.id for v in views]
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
        campaign, definition = view.campaign, view.version.definition
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


def effective_status(campaign: Campaign, now: datetime) -> str:
    """The status at `now`: a scheduled campaign whose start has passed is active, and a
    scheduled or active one whose end has passed is ended. Others are as stored."""
    if campaign.status not in LIVE:
        return campaign.status
    if campaign.ends_at is not None and campaign.ends_at <= now:
        return "ended"
    return "scheduled" if campaign.starts_at > now else "active"


def status_filter(status: str, now: datetime) -> ColumnElement[bool]:
    """SQL for `effective_status(campaign, now) == status`."""
    live = Campaign.status.in_(LIVE)
    over = and_(Campaign.ends_at.is_not(None), Campaign.ends_at <= now)
    if status == "ended":
        return or_(Campaign.status == "ended", and_(live, over))
    if status == "scheduled":
        return and_(live, ~over, Campaign.starts_at > now)
    if status == "active":
        return and_(live, ~over, Campaign.starts_at <= now)
    return Campaign.status == status


def create_campaign(
    *, program_id: int, definition: Any, actor: str, actor_role: str = "marketer"
) -> CampaignView:
    """A new draft campaign at version 1; InvalidInput names every bad field."""
    program = _program(program_id)
    values = validate_definition(definition, excluded_mccs=program.excluded_mccs or ())
    _check_segment(program_id, values)
    campaign = Campaign(program_id=program_id, status="draft", current_version=1, created_by=actor)
    _mirror(campaign, values)
    db.session.add(campaign)
    db.session.flush()
    version = CampaignVersion(
        campaign_id=campaign.id, version=1, definition=values, created_by=actor
    )
    db.session.add(version)
    view = CampaignView(campaign, version)
    _changed(view, "campaign.create", None, actor, actor_role)
    return view


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
    lock_rules(program_id)
    view = get_campaign(program_id=program_id, campaign_id=campaign_id, for_update=True)
    campaign, current = view.campaign, view.version
    if campaign.status not in EDITABLE:
        raise Conflict(f"A {campaign.status} campaign cannot be edited.", field="status")
    program = _program(program_id)
    values = validate_definition(
        merge_patch(current.definition, changes), excluded_mccs=program.excluded_mccs or ()
    )
    _start_counting(view, values)
    _check_counters(campaign, values)
    _check_segment(program_id, values)
    if values == current.definition:
        return view
    before = view.snapshot()
    if campaign.status == "draft":
        current.definition = values
        updated = view
    else:
        campaign.current_version = current.version + 1
        version = CampaignVersion(
            campaign_id=campaign.id,
            version=campaign.current_version,
            definition=values,
            created_by=actor,
        )
        db.session.add(version)
        updated = CampaignView(campaign, version)
    _mirror(campaign, values)
    _changed(updated, "campaign.update", before, actor, actor_role)
    return updated


def activate_campaign(
    *,
    program_id: int,
    campaign_id: int,
    actor: str,
    actor_role: str = "marketer",
    reason: str | None = None,
    now: datetime | None = None,
) -> CampaignView:
    """Draft or paused → scheduled (start in the future) or active; 409 once the window is over."""
    now = now or datetime.now(UTC)
    lock_rules(program_id)
    view = get_campaign(program_id=program_id, campaign_id=campaign_id, for_update=True)
    campaign = view.campaign
    status = effective_status(campaign, now)
    if status not in ("draft", "paused"):
        raise Conflict(f"A {status} campaign cannot be activated.", field="status")
    if campaign.ends_at is not None and campaign.ends_at <= now:
        raise Conflict("The campaign's window is over; move ends_at first.", field="ends_at")
    new = "scheduled" if campaign.starts_at > now else "active"
    return _transition(view, status, new, "campaign.activate", actor, actor_role, reason)


def pause_campaign(
    *,
    program_id: int,
    campaign_id: int,
    actor: str,
    actor_role: str = "marketer",
    reason: str | None = None,
    now: datetime | None = None,
) -> CampaignView:
    """Scheduled or active → paused (it stops granting until activated again)."""
    lock_rules(program_id)
    view = get_campaign(program_id=program_id, campaign_id=campaign_id, for_update=True)
    status = effective_status(view.campaign, now or datetime.now(UTC))
    if status not in LIVE:
        raise Conflict(f"A {status} campaign cannot be paused.", field="status")
    return _transition(view, status, "paused", "campaign.pause", actor, actor_role, reason)


def end_campaign(
    *,
    program_id: int,
    campaign_id: int,
    actor: str,
    actor_role: str = "marketer",
    reason: str | None = None,
    now: datetime | None = None,
) -> CampaignView:
    """Any status but ended → ended, for good (an ended campaign cannot be edited or resumed)."""
    lock_rules(program_id)
    view = get_campaign(program_id=program_id, campaign_id=campaign_id, for_update=True)
    if view.campaign.status == "ended":
        raise Conflict("The campaign has already ended.", field="status")
    status = effective_status(view.campaign, now or datetime.now(UTC))
    return _transition(view, status, "ended", "campaign.end", actor, actor_role, reason)


def get_campaign(*, program_id: int, campaign_id: int, for_update: bool = False) -> CampaignView:
    """The campaign and its current version; NotFound outside the caller's program."""
    stmt = select(Campaign).where(Campaign.id == campaign_id, Campaign.program_id == program_id)
    if for_update:
        stmt = stmt.with_for_update()
    campaign = db.session.scalar(stmt)
    if campaign is None:
        raise NotFound(f"Campaign {campaign_id} not found.")
    return CampaignView(campaign, _version(campaign.id, campaign.current_version))


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
    stmt = (
        select(Campaign, CampaignVersion)
        .join(
            CampaignVersion,
            and_(
                CampaignVersion.campaign_id == Campaign.id,
                CampaignVersion.version == Campaign.current_version,
            ),
        )
        .where(Campaign.program_id == program_id)
        .order_by(Campaign.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        stmt = stmt.where(Campaign.id < before_id)
    if status is not None:
        if status not in STATUSES:
            raise InvalidInput(f"Unknown status {status!r}.", field="status")
        stmt = stmt.where(status_filter(status, now or datetime.now(UTC)))
    if active_on is not None:
        zone = ZoneInfo(_program(program_id).timezone)
        day_start = datetime.combine(active_on, time(0), tzinfo=zone)
        day_end = datetime.combine(active_on + timedelta(days=1), time(0), tzinfo=zone)
        stmt = stmt.where(
            Campaign.starts_at < day_end,
            or_(Campaign.ends_at.is_(None), Campaign.ends_at > day_start),
        )
    return [CampaignView(c, v) for c, v in db.session.execute(stmt).all()]


def list_versions(
    *, program_id: int, campaign_id: int, limit: int, before_version: int | None = None
) -> list[CampaignVersion]:
    """A campaign's versions, newest first."""
    get_campaign(program_id=program_id, campaign_id=campaign_id)
    stmt = (
        select(CampaignVersion)
        .where(CampaignVersion.campaign_id == campaign_id)
        .order_by(CampaignVersion.version.desc())
        .limit(limit)
    )
    if before_version is not None:
        stmt = stmt.where(CampaignVersion.version < before_version)
    return list(db.session.scalars(stmt))


def get_version(*, program_id: int, campaign_id: int, version: int) -> CampaignVersion:
    """One version of a campaign of the caller's program, or NotFound."""
    get_campaign(program_id=program_id, campaign_id=campaign_id)
    return _version(campaign_id, version)


def _program(program_id: int) -> Program:
    program = db.session.get(Program, program_id)
    if program is None:
        raise NotFound(f"Program {program_id} not found.")
    return program


def _version(campaign_id: int, number: int) -> CampaignVersion:
    version = db.session.scalar(
        select(CampaignVersion).where(
            CampaignVersion.campaign_id == campaign_id, CampaignVersion.version == number
        )
    )
    if version is None:
        raise NotFound(f"Campaign {campaign_id} has no version {number}.")
    return version


def _mirror(campaign: Campaign, values: dict[str, Any]) -> None:
    """Copy the name and window of the current definition onto the campaign row (filters)."""
    campaign.name = values["name"]
    campaign.starts_at = datetime.fromisoformat(values["starts_at"])
    ends_at = values["ends_at"]
    campaign.ends_at = datetime.fromisoformat(ends_at) if ends_at else None


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


def _transition(
    view: CampaignView,
    old: str,
    new: str,
    action: str,
    actor: str,
    actor_role: str,
    reason: str | None,
) -> CampaignView:
    view.campaign.status = new
    db.session.flush()
    after = {"status": new, **({"reason": reason} if reason else {})}
    _audit(view, action, {"status": old}, after, actor, actor_role)
    return view


def _changed(
    view: CampaignView,
    action: str,
    before: dict[str, Any] | None,
    actor: str,
    actor_role: str,
) -> None:
    db.session.flush()
    _audit(view, action, before, view.snapshot(), actor, actor_role)


def _audit(
    view: CampaignView,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    actor: str,
    actor_role: str,
) -> None:
    """Bump the program's rules revision and write the audit row, in the caller's transaction."""
    record_rule_change(
        view.campaign.program_id,
        object_type="campaign",
        object_id=view.campaign.id,
        action=action,
        before=before,
        after={**after, "version": view.version.version},
        actor=actor,
        actor_role=actor_role,
    )
