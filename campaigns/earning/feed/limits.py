"""Campaign budgets and participant limits in the feed: read optimistically when a chunk
starts, row-locked and checked when it writes (several workers never overspend them). The
machinery is generic (`rewards.processing.limits`); this says what campaigns limit."""

from __future__ import annotations

from sqlalchemy import select

from campaigns.earning.engine import CapState, RuleSet
from campaigns.earning.feed.lots import Usage
from campaigns.earning.models import Campaign as CampaignRow
from campaigns.earning.models import CampaignVersion
from rewards.db import db
from rewards.processing.limits import LimitedRows, LimitRace, OptimisticLimits

__all__ = ["CAMPAIGN_LIMITS", "LimitChecks", "LimitRace", "current_limits"]

# A campaign's counters, each against one limit of its current version: budget used against
# `budget_points`, participants against `max_participants`.
CAMPAIGN_LIMITS = LimitedRows(
    id=CampaignRow.id, used=(CampaignRow.budget_used, CampaignRow.participants)
)


class LimitChecks:
    """The limit checks of `CampaignRules` (a mixin: the attributes are the chunk's)."""

    rules: dict[int, RuleSet]
    state: CapState
    usage: Usage
    limits: OptimisticLimits
    budgeted: set[int]
    program_of: dict[int, int]
    cut: set[int]
    checked: set[int]

    def _read_limits(self, touched: set[int], refunded: set[int]) -> None:
        """Read how much budget and participant room is left for every campaign with a
        budget or a participant limit that this chunk's purchases or refunds can touch.

        Optimistic by default: the rows are locked only when the chunk writes (`finish`, in
        `_confirm_limits`), so workers do not queue behind each other for a whole chunk;
        in lock-early mode (the re-run after a `LimitRace`) `read` locks them here, in id
        order, in one statement."""
        live = {
            c.id: (program_id, c)
            for program_id, r in self.rules.items()
            for c in r.campaigns
            if c.id in touched
        }
        limits = {cid: (c.budget_points, c.max_participants) for cid, (_, c) in live.items()}
        limits.update(current_limits(refunded - set(live)))
        self.checked = set(limits) | refunded
        for campaign_id in sorted(self.limits.read(limits)):
            budget, _ = limits[campaign_id]
            if budget is not None:
                self.budgeted.add(campaign_id)
            if campaign_id in live:
                self.program_of[campaign_id] = live[campaign_id][0]
                budget_left, participants_left = self.limits.left(campaign_id)
                self.state.budget_left[campaign_id] = budget_left
                self.state.participants_left[campaign_id] = participants_left

    def _confirm_limits(self, granted: set[int]) -> set[int]:
        """Lock the limited campaigns (id order, one statement) and check the optimistic
        read still holds; the campaigns whose budget this chunk uses up (`granted`: those it
        granted from), net of what its refunds give back.

        If another worker changed a row meanwhile and this chunk would now overrun it, or a
        limit cut a grant here or a budget ran out here (either may have been wrong), raise
        `LimitRace`: the job rolls back and runs the chunk again with the rows locked from
        the start."""
        self._late_limits()
        net, joined = self.usage.budget, self.usage.joined
        deltas = {c: (net.get(c, 0), joined.get(c, 0)) for c in self.limits.limits}
        locked = self.limits.confirm(deltas, doubtful=self.cut | self.state.exhausted)
        exhausted: set[int] = set()
        for campaign_id, (used, _) in locked.items():
            budget, _ = self.limits.limits[campaign_id]
            used_up = budget is not None and used + net.get(campaign_id, 0) >= budget
            if used_up and (campaign_id in granted or campaign_id in self.state.exhausted):
                exhausted.add(campaign_id)
        return exhausted

    def _late_limits(self) -> None:
        """Limits of campaigns only a refund touched that `prepare` could not foresee (an
        unlinked refund matched to a purchase another worker committed meanwhile)."""
        late = set(self.usage.budget) - self.checked
        self.checked |= late
        found = current_limits(late)
        self.limits.watch_unread(found)
        self.budgeted.update(c for c, (budget, _) in found.items() if budget is not None)


def current_limits(campaign_ids: set[int]) -> dict[int, tuple[int | None, int | None]]:
    """Budget and participant limit of these campaigns' current versions, whatever status."""
    if not campaign_ids:
        return {}
    rows = db.session.execute(
        select(CampaignRow.id, CampaignVersion.definition)
        .join(
            CampaignVersion,
            (CampaignVersion.campaign_id == CampaignRow.id)
            & (CampaignVersion.version == CampaignRow.current_version),
        )
        .where(CampaignRow.id.in_(campaign_ids))
    )
    return {
        campaign_id: (definition.get("budget_points"), definition.get("max_participants"))
        for campaign_id, definition in rows
    }
