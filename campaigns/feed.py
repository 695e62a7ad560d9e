"""Campaigns in the feed: the `ExtraRules` the worker plugs into the chunk job.

Per chunk: compiled rule sets come from a per-process cache keyed by (program, rules_revision),
so a marketer's change reaches every worker on its next chunk. The customers' accounts are
already locked, which serialises per-customer cap counters; campaigns with a budget or a
participant limit are read optimistically and row-locked (ascending id, after the accounts)
only when the chunk writes, where the read is checked: several workers never overspend them.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, true

from campaigns import bookkeeping
from campaigns.compiled import Campaign, Purchase, Shopper, day_bucket
from campaigns.engine import Bonus, CapState, RuleSet, apportion
from campaigns.models import Campaign as CampaignRow
from campaigns.models import CampaignVersion
from campaigns.segments import segment_memberships
from campaigns.shoppers import load_shoppers
from campaigns.usage import CampaignCounter
from rewards.db import among, db
from rewards.models import LedgerEntry, Program, Transaction
from rewards.processing.extras import Clawback
from rewards.processing.rules import Award, ProgramTerms, TxFacts

LIVE = ("scheduled", "active")
BONUS_RULE = "bonus"  # a purchase's campaign bonuses: one lot, `tx:{id}:bonus`
SHARDS = 16  # rows per (campaign, day) in `campaign_days`, so workers rarely share one
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


class LimitRace(Exception):
    """Another worker used a campaign's budget or participant room between this chunk's
    read and its write in a way that matters; run the chunk again with `lock_early`."""


class CampaignRules:
    """Campaign bonuses for one chunk (see `rewards.processing.extras.ExtraRules`).

    A purchase's bonuses from every campaign it earns from go into ONE ledger lot
    (`tx:{id}:bonus`) whose explanation lists each campaign version, its points and what it
    charged against caps: two ledger rows per purchase whatever the number of campaigns."""

    def __init__(self, *, lock_early: bool = False) -> None:
        self.lock_early = lock_early
        self.rules: dict[int, RuleSet] = {}
        self.zones: dict[int, ZoneInfo] = {}
        self.shoppers: dict[int, Shopper] = {}
        self.state = CapState()
        self.matched: dict[int, list[Campaign]] = {}  # transaction id → campaigns it meets
        self.granted: dict[str, _Grant] = {}  # ledger key → what it holds
        # Limited campaigns this chunk may touch: (budget, max participants), and the
        # (budget used, participants) read in `prepare`.
        self.limits: dict[int, tuple[int | None, int | None]] = {}
        self.seen: dict[int, tuple[int, int]] = {}
        self.budgeted: set[int] = set()  # of those, the ones with a budget
        self.program_of: dict[int, int] = {}  # live limited campaign → program
        self.cut: set[int] = set()  # a participant limit refused someone here
        self.versions: dict[tuple[int, int], Campaign] = {}  # behind lots refunds may claw
        # Drawn per chunk: two chunks running at once rarely add to the same row, and when
        # they do, only once (a per-process number could pair two workers for good).
        self.shard = random.randrange(SHARDS)
        # What the chunk's grants and refunds used and gave back: written once, by `finish`.
        self.usage = _Usage()
        self.granted_from: dict[int, int] = {}  # campaign → program, for bonuses written
        self.checked: set[int] = set()  # campaigns whose limits `_read_limits` looked up
        self.participation: dict[int, set[int]] = {}  # customer → campaigns earned from before
        self.offered: tuple[int, _Grant] | None = None  # sized by `awards`, not yet accepted

    def prepare(
        self,
        purchases: Sequence[tuple[TxFacts, int]],
        terms: dict[int, ProgramTerms],
        now: datetime,
        refunded: Sequence[tuple[int, int]] = (),
    ) -> None:
        programs = {tx.program_id for tx, _ in purchases} | {p for p, _ in refunded}
        if not programs:
            return
        # The chunk holds these programs' rules lock (taken when its rows were loaded): a
        # marketer's change waits for it, and chunks after the change see the new revision.
        for program_id, revision, zone in db.session.execute(
            select(Program.id, Program.rules_revision, Program.timezone).where(
                Program.id.in_(programs)
            )
        ):
            self.zones[program_id] = ZoneInfo(zone)
            rules = ruleset(program_id, revision, self.zones[program_id])
            if rules.campaigns:
                self.rules[program_id] = rules
        touched: set[int] = set()
        if self.rules:
            self._load_shoppers(purchases, now)
            touched = self._touched(purchases)
            self._load_counters(touched, purchases)
        self.versions = _refunded_versions([t for _, t in refunded])
        self._read_limits(touched, {c for c, _ in self.versions})

    def _purchase(self, tx: TxFacts, base_points: int) -> Purchase:
        return Purchase(
            id=tx.id,
            amount_minor=tx.amount_minor,
            currency=tx.currency,
            mcc=tx.mcc,
            category=tx.category,
            merchant_id=tx.merchant_id,
            merchant_name=tx.merchant_name,
            partner=tx.partner,
            channel=tx.channel,
            occurred_at=tx.occurred_at,
            base_points=base_points,
        )

    def _touched(self, purchases: Sequence[tuple[TxFacts, int]]) -> set[int]:
        """Campaigns whose conditions some purchase of this chunk meets (caps aside)."""
        touched: set[int] = set()
        for tx, customer_id in purchases:
            rules = self.rules.get(tx.program_id)
            if rules is None:
                continue
            # Kept for `awards`: conditions do not depend on base points or cap state.
            found = rules.matching(self._purchase(tx, 0), self.shoppers[customer_id])
            self.matched[tx.id] = found
            touched.update(c.id for c in found)
        return touched

    def _load_shoppers(self, purchases: Sequence[tuple[TxFacts, int]], now: datetime) -> None:
        customer_ids = {c for _, c in purchases}
        segments = self._segments(purchases, customer_ids, now)
        offers = [c.id for r in self.rules.values() for c in r.campaigns if c.requires_activation]
        self.shoppers = load_shoppers(
            customer_ids,
            offers=offers,
            segments=segments,
            known_merchants=self._known_merchants(purchases),
        )

    def _segments(
        self, purchases: Sequence[tuple[TxFacts, int]], customer_ids: set[int], now: datetime
    ) -> dict[int, set[int]]:
        """Membership of the chunk's customers in the segments live campaigns target."""
        members: dict[int, set[int]] = defaultdict(set)
        for program_id, rules in self.rules.items():
            wanted = {c.segment_id for c in rules.campaigns if c.segment_id is not None}
            in_program = {c for tx, c in purchases if tx.program_id == program_id}
            found = segment_memberships(
                program_id=program_id, segment_ids=wanted, customer_ids=in_program, now=now
            )
            for customer_id, ids in found.items():
                members[customer_id] |= ids
        return members

    def _known_merchants(self, purchases: Sequence[tuple[TxFacts, int]]) -> dict[int, set[str]]:
        """Merchants each customer bought from before, only if some campaign asks."""
        if not any(c.first_purchase_at_merchant for r in self.rules.values() for c in r.campaigns):
            return {}
        pairs = {(c, tx.merchant_id) for tx, c in purchases if tx.merchant_id}
        known: dict[int, set[str]] = defaultdict(set)
        for customer_id, merchant_id in db.session.execute(
            select(Transaction.customer_id, Transaction.merchant_id)
            .where(
                among(Transaction.customer_id, {c for c, _ in pairs}),
                among(Transaction.merchant_id, {m for _, m in pairs}),
                Transaction.kind == "purchase",
                Transaction.status == "processed",
            )
            .distinct()
        ):
            if customer_id is not None and merchant_id is not None:
                known[customer_id].add(merchant_id)
        return known

    def _load_counters(
        self, campaign_ids: set[int], purchases: Sequence[tuple[TxFacts, int]]
    ) -> None:
        """Cap counters of the capped campaigns for the periods of the chunk's purchases, and
        who already counts against the limited ones, for the chunk's customers.

        Counters are keyed by customer first and only the periods the purchases fall in are
        read: the read grows with the chunk, not with the history of every period before."""
        customer_ids = {c for _, c in purchases}
        by_id = {c.id: c for r in self.rules.values() for c in r.campaigns if c.id in campaign_ids}
        capped = [i for i, c in by_id.items() if c.per_customer or c.qualifying_spend]
        limited = [i for i, c in by_id.items() if c.max_participants]
        if capped:
            periods = {p for i in capped for p, _ in by_id[i].per_customer}
            for i in capped:
                spend_cap = by_id[i].qualifying_spend
                if spend_cap:
                    periods.add(spend_cap[0])
            days = {
                tx.occurred_at.astimezone(self.zones[tx.program_id]).date()
                for tx, _ in purchases
                if tx.program_id in self.rules
            }
            buckets = {day_bucket(period, day) for period in periods for day in days}
            wanted = set(capped)
            # PostgreSQL probes every (customer, bucket) pair: a chunk spanning months (a late
            # file) reads its customers' counters whole instead.
            by_bucket = among(CampaignCounter.bucket, buckets) if len(buckets) <= 32 else true()
            # Campaigns are filtered here, not in the query: a third array condition on the
            # key made PostgreSQL probe every (customer, bucket, campaign) combination.
            for campaign_id, customer_id, bucket, points, spend in db.session.execute(
                select(
                    CampaignCounter.campaign_id,
                    CampaignCounter.customer_id,
                    CampaignCounter.bucket,
                    CampaignCounter.points,
                    CampaignCounter.spend_minor,
                ).where(
                    among(CampaignCounter.customer_id, customer_ids),
                    by_bucket,
                )
            ):
                if campaign_id not in wanted:
                    continue
                self.state.used_points[(campaign_id, customer_id, bucket)] = points
                self.state.used_spend[(campaign_id, customer_id, bucket)] = spend
        # Who earned from which campaign before: new participants, and participant limits.
        self.participation = bookkeeping.participation(customer_ids) if by_id else {}
        if limited:
            self.state.participating.update(
                (campaign_id, customer_id)
                for customer_id, joined in self.participation.items()
                for campaign_id in joined.intersection(limited)
            )

    def _read_limits(self, touched: set[int], refunded: set[int]) -> None:
        """Read how much budget and participant room is left for every campaign with a
        budget or a participant limit that this chunk's purchases or refunds can touch.

        Optimistic by default: the rows are locked only when the chunk writes (`record`),
        so workers do not queue behind each other for a whole chunk; `lock_early` locks them
        here (in id order, one statement), for the re-run after a `LimitRace`."""
        live = {
            c.id: (program_id, c)
            for program_id, r in self.rules.items()
            for c in r.campaigns
            if c.id in touched
        }
        limits = {cid: (c.budget_points, c.max_participants) for cid, (_, c) in live.items()}
        limits.update(_current_limits(refunded - set(live)))
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
        for campaign_id, (budget, most) in sorted(_current_limits(late).items()):
            if budget is not None or most is not None:
                self.limits[campaign_id] = (budget, most)
                if budget is not None:
                    self.budgeted.add(campaign_id)

    def awards(self, tx: TxFacts, customer_id: int, base_points: int) -> list[Award]:
        """The purchase's bonus lot, sized but not charged: caps and budgets count it only
        when the chunk `accept`s it (a purchase the chunk rejects uses nothing)."""
        self.offered = None
        rules = self.rules.get(tx.program_id)
        if rules is None:
            return []
        bonuses = rules.evaluate(
            self._purchase(tx, base_points),
            self.shoppers[customer_id],
            self.state,
            self.matched.get(tx.id),
            charge=False,
        )
        self._note_full(tx.id, customer_id)
        if not bonuses:
            return []
        day = tx.occurred_at.astimezone(rules.zone).date()
        self.offered = (tx.id, _Grant(tx.program_id, customer_id, day, bonuses))
        return [
            Award(
                rule=BONUS_RULE,
                kind="bonus",
                points=sum(b.points for b in bonuses),
                explanation=_explain(bonuses, customer_id, rules.zone),
            )
        ]

    def accept(self, tx: TxFacts) -> None:
        """The chunk writes the purchase's awards: charge them to the caps and budgets that
        later purchases of the chunk see."""
        if self.offered is None or self.offered[0] != tx.id:
            return
        grant = self.offered[1]
        self.rules[grant.program_id].charge(grant.bonuses, grant.customer_id, self.state)
        self.granted[f"tx:{tx.id}:{BONUS_RULE}"] = grant
        self.offered = None

    def _note_full(self, tx_id: int, customer_id: int) -> None:
        """Remember limited campaigns that were full for this purchase's customer."""
        state = self.state
        for c in self.matched.get(tx_id, ()):
            left = state.participants_left.get(c.id)
            if left is not None and left <= 0 and (c.id, customer_id) not in state.participating:
                self.cut.add(c.id)

    def record(self, inserted_keys: set[str]) -> None:
        """What the bonuses written used (a lot not inserted was written by an earlier run of
        this chunk): participation now, counters, daily figures and budgets in `finish`."""
        usage = self.usage
        counters, days, budget = usage.counters, usage.days, usage.budget
        participation = self.participation
        new: dict[int, list[int]] = defaultdict(list)  # customer → campaigns first earned from
        programs = self.granted_from
        for key, grant in self.granted.items():
            if key not in inserted_keys:
                continue
            customer_id, day = grant.customer_id, grant.day
            known = participation.get(customer_id)
            if known is None:
                known = participation[customer_id] = set()
            for bonus in grant.bonuses:
                campaign_id = bonus.campaign_id
                figures = days[(campaign_id, day)]
                figures[0] += bonus.points
                figures[2] += 1
                for bucket in bonus.buckets:
                    counters[(campaign_id, customer_id, bucket)][0] += bonus.points
                if bonus.spend_bucket is not None:
                    spend = counters[(campaign_id, customer_id, bonus.spend_bucket)]
                    spend[1] += bonus.qualifying_minor
                budget[campaign_id] += bonus.points
                programs[campaign_id] = grant.program_id
                if campaign_id not in known:
                    known.add(campaign_id)
                    new[customer_id].append(campaign_id)
                    figures[3] += 1
                if bonus.joined:
                    usage.joined[campaign_id] += 1
        bookkeeping.add_participation(new)

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

    def finish(self) -> None:
        """Write what the grants and refunds used and gave back, once: each table in one
        statement, so two chunks never take the same rows in different orders. The limited
        campaigns are locked and checked last (after the refunds, so the check sees what they
        gave back), so the rows workers share stay locked only until the commit just after."""
        usage = self.usage
        bookkeeping.add_counters(usage.counters)
        bookkeeping.add_days(usage.days, self.shard)
        exhausted = self._confirm_limits(set(self.granted_from))
        bookkeeping.add_usage(
            {c: p for c, p in usage.budget.items() if c in self.budgeted}, usage.joined
        )
        for campaign_id in sorted(exhausted):
            program_id = self.granted_from.get(campaign_id) or self.program_of[campaign_id]
            bookkeeping.announce_exhausted(program_id, campaign_id)
        self.usage = _Usage()


@dataclass(frozen=True)
class _Grant:
    program_id: int
    customer_id: int
    day: date  # program-local day of the purchase
    bonuses: list[Bonus]


@dataclass
class _Usage:
    """Deltas to write in a few set-based statements."""

    # (campaign, customer, bucket) → [points, qualifying spend]
    counters: dict[tuple[int, int, str], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )
    # (campaign, day) → [points, clawed back, purchases, new participants]
    days: dict[tuple[int, date], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0])
    )
    # Campaign → bonus points granted less points given back (every campaign touched).
    budget: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    joined: dict[int, int] = field(default_factory=lambda: defaultdict(int))


def _explain(bonuses: list[Bonus], customer_id: int, zone: ZoneInfo) -> dict[str, Any]:
    """One bonus lot's explanation: a summary the app shows, and each campaign's part (the
    text of a part no cap limited is its version's label: `campaigns.labels`)."""
    parts = [bonus.explanation() for bonus in bonuses]
    if len(parts) == 1:
        summary = bonuses[0].summary
    else:
        total = sum(b.points for b in bonuses)
        shown = "; ".join(b.summary for b in bonuses[:3])
        more = f"; and {len(parts) - 3} more" if len(parts) > 3 else ""
        summary = f"+{total} pts from {len(parts)} campaigns: {shown}{more}"
    # With `customer_id` and the time zone of the cap periods, each part's version and points
    # let a refund give back exactly the cap room and budget used.
    return {
        "summary": summary,
        "rule": "campaigns",
        "customer_id": customer_id,
        "timezone": zone.key,
        "campaigns": parts,
    }


def _refunded_versions(purchase_ids: list[int]) -> dict[tuple[int, int], Campaign]:
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


def explained_parts(explanation: dict[str, Any], lot_points: int) -> list[dict[str, Any]]:
    """Each campaign's part of a bonus lot (a lot written before 0005 had one campaign)."""
    if "campaigns" in explanation:
        return list(explanation["campaigns"])
    if explanation.get("campaign_id") is not None:
        return [{**explanation, "points": lot_points}]
    return []


def _current_limits(campaign_ids: set[int]) -> dict[int, tuple[int | None, int | None]]:
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
