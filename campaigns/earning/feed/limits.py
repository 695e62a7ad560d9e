"""Campaign budgets and participant limits in the feed: read optimistically when a chunk
starts, row-locked and checked when it writes (several workers never overspend them)."""

from __future__ import annotations

from sqlalchemy import select

from campaigns.earning.engine import CapState, RuleSet
from campaigns.earning.feed.lots import Usage
from campaigns.earning.models import Campaign as CampaignRow
from campaigns.earning.models import CampaignVersion
from rewards.db import db


class LimitRace(Exception):
    """Another worker used a campaign's budget or participant room between this chunk's
    read and its write in a way that matters; run the chunk again with `lock_early`."""


class LimitChecks:
    """The limit checks of `CampaignRules` (a mixin: the attributes are the chunk's)."""

    rules: dict[int, RuleSet]
    state: CapState
    usage: Usage
    lock_early: bool
    limits: dict[int, tuple[int | None, int | None]]
    seen: dict[int, tuple[int, int]]
    budgeted: set[int]
    program_of: dict[int, int]
    cut: set[int]
    checked: set[int]

    def _read_limits(self, touched: set[int], refunded: set[int]) -> None:
        """Read how much budget and participant room is left for every campaign with a
        budget or a participant limit that this chunk's purchases or refunds can touch.

        Optimistic by default: the rows are locked only when the chunk writes (`finish`, in
        `_confirm_limits`), so workers do not queue behind each other for a whole chunk;
        `lock_early` locks them here (in id order, one statement), for the re-run after a
        `LimitRace`."""
        live = {
            c.id: (program_id, c)
            for program_id, r in self.rules.items()
            for c in r.campaigns
            if c.id in touched
        }
        limits = {cid: (c.budget_points, c.max_participants) for cid, (_, c) in live.items()}
        limits.update(current_limits(refunded - set(live)))
        self.checked = set(limits) | refunded
        self.limits = {c: limit for c, limit in sorted(limits.items()) if limit != (None, None)}
        if not self.limits:
            return
        stmt = (
            select(CampaignRow.id, CampaignRow.budget_used, CampaignRow.participants)
            .where(CampaignRow.id.in_(self.limits))
            .order_by(CampaignRow.id)
        )
        for campaign_id, used, participants in db.session.execute(
            stmt.with_for_update(key_share=True) if self.lock_early else stmt
        ):
            budget, most = self.limits[campaign_id]
            self.seen[campaign_id] = (used, participants)
            if budget is not None:
                self.budgeted.add(campaign_id)
            if campaign_id in live:
                self.program_of[campaign_id] = live[campaign_id][0]
                self.state.budget_left[campaign_id] = None if budget is None else budget - used
                self.state.participants_left[campaign_id] = (
                    None if most is None else most - participants
                )

    def _confirm_limits(self, granted: set[int]) -> set[int]:
        """Lock the limited campaigns (id order, one statement) and check the optimistic
        read still holds; the campaigns whose budget this chunk uses up (`granted`: those it
        granted from), net of what its refunds give back.

        If another worker changed a row meanwhile and this chunk would now overrun it, or a
        limit cut a grant here (the cut may have been wrong), raise `LimitRace`: the job rolls
        back and runs the chunk again with the rows locked from the start."""
        self._late_limits()
        exhausted: set[int] = set()
        if not self.limits:
            return exhausted
        net, joined = self.usage.budget, self.usage.joined
        rows = db.session.execute(
            select(CampaignRow.id, CampaignRow.budget_used, CampaignRow.participants)
            .where(CampaignRow.id.in_(self.limits))
            .order_by(CampaignRow.id)
            .with_for_update(key_share=True)  # NO KEY UPDATE: rows referencing it still insert
        )
        for campaign_id, used, participants in rows:
            budget, most = self.limits[campaign_id]
            after = used + net.get(campaign_id, 0)
            if (used, participants) != self.seen.get(campaign_id) and not self.lock_early:
                over = (budget is not None and after > budget) or (
                    most is not None and participants + joined.get(campaign_id, 0) > most
                )
                if over or campaign_id in self.cut or campaign_id in self.state.exhausted:
                    raise LimitRace(campaign_id)
            used_up = budget is not None and after >= budget
            if used_up and (campaign_id in granted or campaign_id in self.state.exhausted):
                exhausted.add(campaign_id)
        return exhausted

    def _late_limits(self) -> None:
        """Limits of campaigns only a refund touched that `prepare` could not foresee (an
        unlinked refund matched to a purchase another worker committed meanwhile)."""
        late = set(self.usage.budget) - self.checked
        self.checked |= late
        for campaign_id, (budget, most) in sorted(current_limits(late).items()):
            if budget is not None or most is not None:
                self.limits[campaign_id] = (budget, most)
                if budget is not None:
                    self.budgeted.add(campaign_id)


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
