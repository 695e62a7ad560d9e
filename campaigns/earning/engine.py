"""The campaign rule engine: compiled campaign versions (`campaigns.earning.compiled`) indexed
(`campaigns.rules.index`) so that a transaction only meets the campaigns that could apply to
it; evaluation is pure.

The chunk job hands `evaluate` plain facts about the transaction and the customer plus the cap
and budget state it loaded, and writes what comes back: the engine reads nothing and writes
nothing itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

from campaigns.earning.compiled import Campaign, Purchase, Shopper, money_text, period_key
from campaigns.rules.index import CANDIDATES_REMEMBERED, RuleIndex

__all__ = ["CANDIDATES_REMEMBERED", "Bonus", "CapState", "RuleSet", "apportion"]


@dataclass
class CapState:
    """Points and qualifying spend already used, per (campaign, customer, period bucket), and
    budget left per campaign. Loaded by the caller under the customers' account locks; the
    engine updates it in place as it grants, so later purchases in a chunk see earlier ones."""

    used_points: dict[tuple[int, int, str], int] = field(default_factory=dict)
    used_spend: dict[tuple[int, int, str], int] = field(default_factory=dict)
    budget_left: dict[int, int | None] = field(default_factory=dict)
    participants_left: dict[int, int | None] = field(default_factory=dict)
    # (campaign, customer) pairs already counted, for campaigns with a participant limit.
    participating: set[tuple[int, int]] = field(default_factory=set)
    exhausted: set[int] = field(default_factory=set)


@dataclass(slots=True)
class Bonus:
    """Points one campaign version grants for one purchase, and what they used up.

    Not frozen: a purchase may earn a dozen of these and a frozen dataclass takes three times
    as long to make. Nothing changes one once made."""

    campaign: Campaign
    points: int
    qualifying_minor: int
    # Why the points are lower than the effect alone would give ("capped at 500 pts/week").
    limits: tuple[str, ...] = ()
    # The period bucket of each per-customer cap (in the version's order), charged `points`,
    # and of the qualifying-spend cap, charged `qualifying_minor`.
    buckets: tuple[str, ...] = ()
    spend_bucket: str | None = None
    # A new participant of a campaign with a participant limit.
    joined: bool = False

    @property
    def campaign_id(self) -> int:
        return self.campaign.id

    @property
    def version(self) -> int:
        return self.campaign.version

    @property
    def charges(self) -> tuple[tuple[str, int, int], ...]:
        """(period bucket, points, qualifying spend) charged against each per-customer cap:
        what `Campaign.charges` works out again for a refund."""
        found = [(bucket, self.points, 0) for bucket in self.buckets]
        if self.spend_bucket is not None:
            found.append((self.spend_bucket, 0, self.qualifying_minor))
        return tuple(found)

    @property
    def summary(self) -> str:
        """What the app shows: "3× on dining — Weekend Eats (capped at 500 pts/week)"."""
        label = self.campaign.label
        return f"{label} ({', '.join(self.limits)})" if self.limits else label

    def explanation(self) -> dict[str, Any]:
        """The campaign version (which pins the exact rule: name, effect, caps), its points,
        and any cap that limited them with what the app shows for that. Built only when asked
        (simulations never need it) and kept small, since a purchase may earn from a dozen
        campaigns: with no limit, what the app shows is the version's `label`, which
        `campaigns.earning.labels` works out again when the ledger is read."""
        campaign = self.campaign
        found: dict[str, Any] = {
            "campaign_id": campaign.id,
            "campaign_version": campaign.version,
            "points": self.points,
        }
        if self.limits:
            found["summary"] = self.summary
            found["limits"] = list(self.limits)
        if campaign.qualifying_spend:
            found["qualifying_minor"] = self.qualifying_minor
        return found


class RuleSet:
    """A program's live campaign versions, compiled and indexed by what they target."""

    def __init__(self, campaigns: Iterable[Campaign], zone: ZoneInfo) -> None:
        self.zone = zone
        self.campaigns = sorted(campaigns, key=lambda c: (-c.priority, c.id))
        # Candidates come back in this order: best priority first.
        self.index: RuleIndex[Campaign] = RuleIndex(self.campaigns)

    def candidates(self, p: Purchase) -> list[Campaign]:
        """Campaigns that could apply: a few dictionary look-ups, whatever the campaign count."""
        return list(self.index.candidates(p))

    def matching(self, p: Purchase, s: Shopper) -> list[Campaign]:
        """Campaigns whose conditions `p` and `s` meet, caps aside, best priority first."""
        zone, at = self.zone, p.occurred_at.astimezone(UTC)
        # Most versions only need their window checked: done here, without a call.
        return [
            c
            for c in self.index.accepting(p)
            if c._utc_starts <= at
            and (c._utc_ends is None or at < c._utc_ends)
            and (c._windowed_only or c._applies_at(p, s, zone, at))
        ]

    def evaluate(
        self,
        p: Purchase,
        s: Shopper,
        state: CapState,
        matching: list[Campaign] | None = None,
        *,
        charge: bool = True,
    ) -> list[Bonus]:
        """The bonuses `p` earns: the best exclusive campaign plus every stackable one.
        `matching` is `self.matching(p, s)` when the caller already has it. With `charge`
        false, `state` is left as it was: the caller checks the bonuses and then `charge`s
        them (a purchase whose bonuses it refuses must not use caps or budget)."""
        if matching is None:
            matching = self.matching(p, s)
        bonuses: list[Bonus] = []
        buckets: dict[str, str] = {}  # period → this purchase's bucket, worked out once
        exclusive = _exclusive(matching)
        # Each campaign has its own counters, budget and participants: sizing them all before
        # charging any gives what granting them one by one would.
        if exclusive is not None:
            self._size(exclusive, p, s, state, buckets, bonuses)
        for campaign in matching:
            if campaign.stackable:
                self._size(campaign, p, s, state, buckets, bonuses)
        if charge:
            self.charge(bonuses, s.customer_id, state)
        return bonuses

    def charge(self, bonuses: list[Bonus], customer_id: int, state: CapState) -> None:
        """Charge bonuses made by `evaluate(..., charge=False)` to the caps, budgets and
        participants in `state`, so later purchases see them."""
        for bonus in bonuses:
            bonus.joined = _charge(
                bonus.campaign,
                customer_id,
                state,
                (bonus.points, bonus.qualifying_minor),
                bonus.buckets,
                bonus.spend_bucket,
            )

    def earn(self, p: Purchase, s: Shopper, state: CapState, campaign_id: int) -> tuple[int, int]:
        """What `evaluate` grants on `p`, charged to `state` in the same way, as the points of
        campaign `campaign_id` (0 when it grants nothing) and the sum of the others' points:
        what a simulation needs."""
        mine = others = 0
        for bonus in self.evaluate(p, s, state):
            if bonus.campaign.id == campaign_id:
                mine += bonus.points
            else:
                others += bonus.points
        return mine, others

    def _bucket(self, period: str, p: Purchase, memo: dict[str, str]) -> str:
        bucket = memo.get(period)
        if bucket is None:
            bucket = memo[period] = period_key(period, p.occurred_at, self.zone)
        return bucket

    def _size(
        self,
        c: Campaign,
        p: Purchase,
        s: Shopper,
        state: CapState,
        memo: dict[str, str],
        bonuses: list[Bonus],
    ) -> None:
        """Add to `bonuses` what `c` grants on `p` within its caps, budget and participant
        limit, as `state` stands (nothing when it grants nothing); `state` is not charged.

        The feed's hot path (a purchase may earn from a dozen campaigns): dictionary
        look-ups, and tuples grown only when a cap applies."""
        cid, customer = c.id, s.customer_id
        left = state.participants_left.get(cid)
        if left is not None and left <= 0 and (cid, customer) not in state.participating:
            return
        budget = state.budget_left.get(cid)
        if budget is not None and budget <= 0 and cid in state.exhausted:
            return  # spent and known to be: whatever the points, nothing is granted
        limits: tuple[str, ...] = ()
        qualifying, spend_bucket = p.amount_minor, None
        if c.qualifying_spend:
            qualifying, spend_bucket, limits = self._qualifying(c, p, customer, state, memo)
        points = c.raw_points(p, qualifying)
        if c.per_transaction is not None and points > c.per_transaction:
            points = c.per_transaction
            limits += (f"capped at {c.per_transaction} pts per purchase",)
        buckets: tuple[str, ...] = ()
        for period, cap in c.per_customer:
            bucket = memo.get(period) or self._bucket(period, p, memo)
            room = cap - state.used_points.get((cid, customer, bucket), 0)
            if points > room:
                points = max(0, room)
                limits += (f"capped at {cap} pts/{period}",)
            buckets += (bucket,)
        if budget is not None and points > budget:
            points = max(0, budget)
            limits += ("budget reached",)
            if points <= 0:
                state.exhausted.add(cid)  # spent before this purchase: true whatever it does
        if points > 0:
            bonuses.append(Bonus(c, points, qualifying, limits, buckets, spend_bucket))

    def _qualifying(
        self, c: Campaign, p: Purchase, customer: int, state: CapState, memo: dict[str, str]
    ) -> tuple[int, str, tuple[str, ...]]:
        """The part of `p`'s amount `c`'s qualifying-spend cap still lets earn, the cap's
        period bucket, and the limit to show if the cap cut the amount."""
        assert c.qualifying_spend is not None
        period, cap = c.qualifying_spend
        bucket = memo.get(period) or self._bucket(period, p, memo)
        room = cap - state.used_spend.get((c.id, customer, bucket), 0)
        if room >= p.amount_minor:
            return p.amount_minor, bucket, ()
        return max(0, room), bucket, (f"first {money_text(cap, p.currency)} per {period}",)


def _charge(
    c: Campaign,
    customer: int,
    state: CapState,
    granted: tuple[int, int],
    buckets: tuple[str, ...],
    spend_bucket: str | None,
) -> bool:
    """Charge `granted` (points, qualifying spend) to the cap counters, the budget and the
    participants; whether the customer is a new participant of a limited campaign."""
    cid = c.id
    points, qualifying = granted
    used = state.used_points
    for bucket in buckets:
        key = (cid, customer, bucket)
        used[key] = used.get(key, 0) + points
    if spend_bucket is not None:
        key = (cid, customer, spend_bucket)
        state.used_spend[key] = state.used_spend.get(key, 0) + qualifying
    budget = state.budget_left.get(cid)
    if budget is not None:
        state.budget_left[cid] = budget = budget - points
        if budget == 0:
            state.exhausted.add(cid)
    # Participation is only tracked where it is limited.
    left = state.participants_left.get(cid)
    if left is None or (cid, customer) in state.participating:
        return False
    state.participating.add((cid, customer))
    state.participants_left[cid] = left - 1
    return True


def _exclusive(matching: list[Campaign]) -> Campaign | None:
    """The best-priority campaign of `matching` that does not stack (the only one granted)."""
    for campaign in matching:
        if not campaign.stackable:
            return campaign
    return None


def apportion(total: int, weights: list[int]) -> list[int]:
    """Split `total` into integer parts proportional to `weights` (D'Hondt): the parts sum to
    `total` exactly and none shrinks as `total` grows, so refunds that take a lot back in
    several steps give each campaign back exactly its share in the end."""
    whole = sum(weights)
    if whole <= 0 or total <= 0:
        return [0] * len(weights)
    parts = [w * total // whole for w in weights]
    for _ in range(total - sum(parts)):
        best = 0
        for i in range(1, len(weights)):
            # weights[i] / (parts[i] + 1) > weights[best] / (parts[best] + 1), in integers.
            if weights[i] * (parts[best] + 1) > weights[best] * (parts[i] + 1):
                best = i
        parts[best] += 1
    return parts
