"""What a refund gives back to the campaigns of a bonus lot it claws back from: budget, cap
room and daily figures, split exactly over the lot's campaigns."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from campaigns.earning.compiled import Campaign
from campaigns.earning.engine import RuleSet, apportion
from campaigns.earning.feed.lots import Usage, explained_parts
from campaigns.earning.models import CampaignVersion
from rewards.db import db
from rewards.models import LedgerEntry, Program
from rewards.processing.extras import Clawback


class RefundRoom:
    """The refund side of `CampaignRules` (a mixin: the attributes are the chunk's)."""

    rules: dict[int, RuleSet]
    zones: dict[int, ZoneInfo]
    usage: Usage
    versions: dict[tuple[int, int], Campaign]

    def restore(self, clawback: Clawback) -> None:
        """Split what a refund took from a bonus lot over the lot's campaigns exactly, and
        give each back its budget, cap room and daily figure (written by `finish`)."""
        explanation = clawback.explanation
        parts = explained_parts(explanation, clawback.lot_points)
        if not parts:
            return
        weights = [int(part["points"]) for part in parts]
        before = apportion(clawback.clawed_before, weights)
        after = apportion(clawback.clawed_before + clawback.taken, weights)
        day = clawback.occurred_at.astimezone(self._zone(clawback.program_id)).date()
        # Cap buckets are those of the grant: in the time zone it was made in.
        zone = (
            ZoneInfo(explanation["timezone"])
            if explanation.get("timezone")
            else self._zone(clawback.program_id)
        )
        customer_id = explanation.get("customer_id")
        for part, old, new in zip(parts, before, after, strict=True):
            campaign_id, taken = int(part["campaign_id"]), new - old
            self.usage.days[(campaign_id, day)][1] += taken
            self.usage.budget[campaign_id] -= taken
            if customer_id is not None:
                self._give_back_room(clawback, part, customer_id, taken, zone)

    def _zone(self, program_id: int) -> ZoneInfo:
        if program_id not in self.zones:
            name = db.session.scalar(select(Program.timezone).where(Program.id == program_id))
            self.zones[program_id] = ZoneInfo(name or "UTC")
        return self.zones[program_id]

    def _give_back_room(
        self,
        clawback: Clawback,
        part: dict[str, Any],
        customer_id: int,
        taken: int,
        zone: ZoneInfo,
    ) -> None:
        charges = part.get("charges")  # stored by lots written before 0005
        if charges is None:
            version = self._version(int(part["campaign_id"]), int(part["campaign_version"]))
            if version is None:
                return
            charges = version.charges(
                int(part["points"]),
                int(part.get("qualifying_minor") or 0),
                clawback.purchase_at,
                zone,
            )
        amount = clawback.amount_minor
        for bucket, points, spend in charges:
            counter = self.usage.counters[(int(part["campaign_id"]), customer_id, bucket)]
            if points:
                counter[0] -= taken
            if spend:
                counter[1] -= (
                    spend * clawback.refunded_after // amount
                    - spend * clawback.refunded_before // amount
                )

    def _version(self, campaign_id: int, number: int) -> Campaign | None:
        """A compiled campaign version behind a lot being clawed back: loaded in `prepare`,
        live (a purchase of this very chunk, refunded in it or waited for), or read now."""
        key = (campaign_id, number)
        if key not in self.versions:
            for rules in self.rules.values():
                for c in rules.campaigns:
                    self.versions.setdefault((c.id, c.version), c)
        if key not in self.versions:
            definition = db.session.scalar(
                select(CampaignVersion.definition).where(
                    CampaignVersion.campaign_id == campaign_id, CampaignVersion.version == number
                )
            )
            if definition is None:
                return None
            self.versions[key] = Campaign.compile(campaign_id, number, definition)
        return self.versions[key]


def refunded_versions(purchase_ids: list[int]) -> dict[tuple[int, int], Campaign]:
    """The campaign versions behind the bonus lots of these purchases (which refunds may claw
    back), compiled: a refund works out from them which cap buckets to give room back to."""
    if not purchase_ids:
        return {}
    wanted: set[tuple[int, int]] = set()
    for explanation in db.session.scalars(
        select(LedgerEntry.explanation).where(
            LedgerEntry.transaction_id.in_(purchase_ids), LedgerEntry.kind == "bonus"
        )
    ):
        for part in explained_parts(explanation or {}, 0):
            wanted.add((int(part["campaign_id"]), int(part.get("campaign_version") or 1)))
    if not wanted:
        return {}
    rows = db.session.execute(
        select(
            CampaignVersion.campaign_id, CampaignVersion.version, CampaignVersion.definition
        ).where(CampaignVersion.campaign_id.in_({c for c, _ in wanted}))
    )
    return {
        (cid, version): Campaign.compile(cid, version, definition)
        for cid, version, definition in rows
        if (cid, version) in wanted
    }
