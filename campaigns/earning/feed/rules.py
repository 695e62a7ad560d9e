"""`CampaignRules`: the `ExtraRules` the worker plugs into the chunk job (see the package)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, true

from campaigns.audiences.segments import segment_memberships
from campaigns.earning import bookkeeping
from campaigns.earning.compiled import Campaign, Purchase, Shopper, day_bucket
from campaigns.earning.engine import CapState, RuleSet
from campaigns.earning.feed.limits import CAMPAIGN_LIMITS, LimitChecks
from campaigns.earning.feed.lots import BONUS_RULE, Grant, Usage, explain
from campaigns.earning.feed.refunds import RefundRoom, refunded_versions
from campaigns.earning.feed.rulesets import ruleset
from campaigns.earning.shoppers import load_shoppers
from campaigns.earning.usage import CampaignCounter
from rewards.db import among, db
from rewards.models import Program, Transaction
from rewards.processing.extras import Reclaim, Refund
from rewards.processing.limits import OptimisticLimits
from rewards.processing.rules import Award, ProgramTerms, TxFacts

SHARDS = 16  # rows per (campaign, day) in `campaign_days`, so workers rarely share one


class CampaignRules(LimitChecks, RefundRoom):
    """Campaign bonuses for one chunk (see `rewards.processing.extras.ExtraRules`).

    A purchase's bonuses from every campaign it earns from go into ONE ledger lot
    (`tx:{id}:bonus`) whose explanation lists each campaign version, its points and what it
    charged against caps: two ledger rows per purchase whatever the number of campaigns.
    Its lots are of kind `bonus` (also those written before 0005, keyed `tx:{id}:cmp:{id}`),
    so refunds hand it the clawbacks of every `bonus` lot."""

    lot_kinds = frozenset({"bonus"})
    key_namespace = BONUS_RULE
    # Bonus lots go back proportionally with the refunded share (the generic refund path),
    # and `restore` gives their campaigns back what they used.
    reclaimed_kinds: frozenset[str] = frozenset()

    def __init__(self, *, lock_early: bool = False) -> None:
        self.lock_early = lock_early
        self.rules: dict[int, RuleSet] = {}
        self.zones: dict[int, ZoneInfo] = {}
        self.shoppers: dict[int, Shopper] = {}
        self.state = CapState()
        self.matched: dict[int, list[Campaign]] = {}  # transaction id → campaigns it meets
        self.granted: dict[str, Grant] = {}  # ledger key → what it holds
        # Limited campaigns this chunk may touch: (budget, max participants), and the
        # (budget used, participants) read in `prepare`, confirmed in `finish`.
        self.limits = OptimisticLimits(CAMPAIGN_LIMITS, lock_early=lock_early)
        self.budgeted: set[int] = set()  # of those, the ones with a budget
        self.program_of: dict[int, int] = {}  # live limited campaign → program
        self.cut: set[int] = set()  # a participant limit refused someone here
        self.versions: dict[tuple[int, int], Campaign] = {}  # behind lots refunds may claw
        # Drawn per chunk: two chunks running at once rarely add to the same row, and when
        # they do, only once (a per-process number could pair two workers for good).
        self.shard = random.randrange(SHARDS)
        # What the chunk's grants and refunds used and gave back: written once, by `finish`.
        self.usage = Usage()
        self.granted_from: dict[int, int] = {}  # campaign → program, for bonuses written
        self.checked: set[int] = set()  # campaigns whose limits `_read_limits` looked up
        self.participation: dict[int, set[int]] = {}  # customer → campaigns earned from before
        self.offered: tuple[int, Grant] | None = None  # sized by `awards`, not yet accepted

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
        self.versions = refunded_versions([t for _, t in refunded])
        self._read_limits(touched, {c for c, _ in self.versions})

    def _touched(self, purchases: Sequence[tuple[TxFacts, int]]) -> set[int]:
        """Campaigns whose conditions some purchase of this chunk meets (caps aside)."""
        touched: set[int] = set()
        for tx, customer_id in purchases:
            rules = self.rules.get(tx.program_id)
            if rules is None:
                continue
            # Kept for `awards`: conditions do not depend on base points or cap state.
            found = rules.matching(Purchase.of(tx), self.shoppers[customer_id])
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

    def awards(self, tx: TxFacts, customer_id: int, base_points: int) -> list[Award]:
        """The purchase's bonus lot, sized but not charged: caps and budgets count it only
        when the chunk `accept`s it (a purchase the chunk rejects uses nothing)."""
        self.offered = None
        rules = self.rules.get(tx.program_id)
        if rules is None:
            return []
        bonuses = rules.evaluate(
            Purchase.of(tx, base_points),
            self.shoppers[customer_id],
            self.state,
            self.matched.get(tx.id),
            charge=False,
        )
        self._note_full(tx.id, customer_id)
        if not bonuses:
            return []
        day = tx.occurred_at.astimezone(rules.zone).date()
        self.offered = (tx.id, Grant(tx.program_id, customer_id, day, bonuses))
        return [
            Award(
                rule=BONUS_RULE,
                kind="bonus",
                points=sum(b.points for b in bonuses),
                explanation=explain(bonuses, customer_id, rules.zone),
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

    def refunds(self, refund: Refund) -> list[Reclaim]:
        """Nothing: what a refund gives back to campaigns follows their lots (`restore`)."""
        return []

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
        self.usage = Usage()
