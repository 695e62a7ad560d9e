"""Campaigns in the feed: the `ExtraRules` the worker plugs into the chunk job.

Per chunk: compiled rule sets come from a per-process cache keyed by (program, rules_revision),
so a marketer's change reaches every worker on its next chunk. The customers' accounts are
already locked, which serialises per-customer cap counters; campaigns with a budget or a
participant limit that this chunk can touch are row-locked (ascending id, after the accounts),
so several workers never overspend them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, text, update

from campaigns.engine import Campaign, CapState, Purchase, RuleSet, Shopper
from campaigns.models import Campaign as CampaignRow
from campaigns.models import CampaignVersion
from campaigns.segments import segment_memberships
from campaigns.shoppers import load_shoppers
from campaigns.usage import CampaignCounter, CampaignParticipant
from rewards.db import db, dialect_insert, is_postgres
from rewards.models import Program, Transaction
from rewards.models.event import Event
from rewards.processing.rules import Award, ProgramTerms, TxFacts

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


def forget_rulesets() -> None:
    """Drop every cached rule set (tests restart ids and revisions between cases)."""
    _RULESETS.clear()


class CampaignRules:
    """Campaign bonuses for one chunk (see `rewards.processing.extras.ExtraRules`)."""

    def __init__(self) -> None:
        self.rules: dict[int, RuleSet] = {}
        self.shoppers: dict[int, Shopper] = {}
        self.state = CapState()
        self.matched: dict[int, list[Campaign]] = {}  # transaction id → campaigns it meets
        self.granted: dict[
            str, tuple[int, int, Any]
        ] = {}  # ledger key → (program, customer, bonus)

    def prepare(
        self,
        purchases: Sequence[tuple[TxFacts, int]],
        terms: dict[int, ProgramTerms],
        now: datetime,
    ) -> None:
        programs = {tx.program_id for tx, _ in purchases}
        if not programs:
            return
        for program_id, revision, zone in db.session.execute(
            select(Program.id, Program.rules_revision, Program.timezone).where(
                Program.id.in_(programs)
            )
        ):
            rules = ruleset(program_id, revision, ZoneInfo(zone))
            if rules.campaigns:
                self.rules[program_id] = rules
        if not self.rules:
            return
        self._load_shoppers(purchases, now)
        touched = self._touched(purchases)
        self._load_counters(touched, {c for _, c in purchases})
        self._lock_limited(touched)

    def _purchase(self, tx: TxFacts, base_points: int) -> Purchase:
        return Purchase(
            id=tx.id,
            amount_minor=tx.amount_minor,
            currency=tx.currency,
            mcc=tx.mcc,
            category=tx.category,
            merchant_id=tx.merchant_id,
            merchant_name=tx.merchant_name,
            partner=None,
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
                Transaction.customer_id.in_({c for c, _ in pairs}),
                Transaction.merchant_id.in_({m for _, m in pairs}),
                Transaction.kind == "purchase",
                Transaction.status == "processed",
            )
            .distinct()
        ):
            if customer_id is not None and merchant_id is not None:
                known[customer_id].add(merchant_id)
        return known

    def _load_counters(self, campaign_ids: set[int], customer_ids: set[int]) -> None:
        if not campaign_ids:
            return
        for row in db.session.scalars(
            select(CampaignCounter).where(
                CampaignCounter.campaign_id.in_(campaign_ids),
                CampaignCounter.customer_id.in_(customer_ids),
            )
        ):
            key = (row.campaign_id, row.customer_id, row.bucket)
            self.state.used_points[key] = row.points
            self.state.used_spend[key] = row.spend_minor
        for campaign_id, customer_id in db.session.execute(
            select(CampaignParticipant.campaign_id, CampaignParticipant.customer_id).where(
                CampaignParticipant.campaign_id.in_(campaign_ids),
                CampaignParticipant.customer_id.in_(customer_ids),
            )
        ):
            self.state.participating.add((campaign_id, customer_id))

    def _lock_limited(self, campaign_ids: set[int]) -> None:
        """Row-lock touched campaigns that have a budget or a participant limit, in id order,
        and read how much of either is left."""
        limited = {
            c.id: c
            for r in self.rules.values()
            for c in r.campaigns
            if c.id in campaign_ids and (c.budget_points or c.max_participants)
        }
        if not limited:
            return
        rows = db.session.execute(
            select(CampaignRow.id, CampaignRow.budget_used, CampaignRow.participants)
            .where(CampaignRow.id.in_(limited))
            .order_by(CampaignRow.id)
            .with_for_update()
        )
        for campaign_id, used, participants in rows:
            c = limited[campaign_id]
            self.state.budget_left[campaign_id] = (
                None if c.budget_points is None else c.budget_points - used
            )
            self.state.participants_left[campaign_id] = (
                None if c.max_participants is None else c.max_participants - participants
            )

    def awards(self, tx: TxFacts, customer_id: int, base_points: int) -> list[Award]:
        rules = self.rules.get(tx.program_id)
        if rules is None:
            return []
        before = set(self.state.participating)
        awards = []
        for bonus in rules.evaluate(
            self._purchase(tx, base_points),
            self.shoppers[customer_id],
            self.state,
            self.matched.get(tx.id),
        ):
            rule = f"cmp:{bonus.campaign_id}"
            # `customer_id` and `charges` let a refund give back exactly the room this used.
            explanation = {
                **bonus.explanation,
                "customer_id": customer_id,
                "charges": [list(c) for c in bonus.charges],
            }
            joined = (bonus.campaign_id, customer_id) not in before
            self.granted[f"tx:{tx.id}:{rule}"] = (tx.program_id, customer_id, (bonus, joined))
            awards.append(
                Award(rule=rule, kind="bonus", points=bonus.points, explanation=explanation)
            )
        return awards

    def record(self, inserted_keys: set[str]) -> None:
        """Counters, participants, budgets and exhaustion events for the bonuses written."""
        counters: dict[tuple[int, int, str], list[int]] = defaultdict(lambda: [0, 0])
        spent: dict[int, int] = defaultdict(int)
        joined: dict[int, int] = defaultdict(int)
        participants = set()
        programs: dict[int, int] = {}
        for key, (program_id, customer_id, (bonus, new)) in self.granted.items():
            if key not in inserted_keys:
                continue
            programs[bonus.campaign_id] = program_id
            spent[bonus.campaign_id] += bonus.points
            for bucket, points, spend in bonus.charges:
                counters[(bonus.campaign_id, customer_id, bucket)][0] += points
                counters[(bonus.campaign_id, customer_id, bucket)][1] += spend
            if new:
                participants.add((bonus.campaign_id, customer_id))
                joined[bonus.campaign_id] += 1
        _add_counters(counters)
        if participants:
            db.session.execute(  # executemany: one cached statement, batched by the driver
                dialect_insert(CampaignParticipant.__table__).on_conflict_do_nothing(),
                [{"campaign_id": c, "customer_id": u} for c, u in sorted(participants)],
            )
        _add_usage(spent, joined)
        for campaign_id in sorted(self.state.exhausted & set(programs)):
            _announce_exhausted(programs[campaign_id], campaign_id)

    def restore(self, explanation: dict[str, Any], taken: int, share: Fraction) -> None:
        """Give back the budget and cap room a clawed-back bonus had used."""
        campaign_id = explanation.get("campaign_id")
        if campaign_id is None:
            return
        db.session.execute(
            update(CampaignRow)
            .where(CampaignRow.id == campaign_id)
            .values(budget_used=CampaignRow.budget_used - taken)
        )
        customer_id = explanation.get("customer_id")
        charges = explanation.get("charges") or []
        if customer_id is None or not charges:
            return
        deltas: dict[tuple[int, int, str], list[int]] = {}
        for bucket, points, spend in charges:
            deltas[(campaign_id, customer_id, bucket)] = [
                -taken if points else 0,
                -int(spend * share) if spend else 0,
            ]
        _add_counters(deltas)


_UPSERT_COUNTERS = text(
    "INSERT INTO campaign_counters (campaign_id, customer_id, bucket, points, spend_minor) "
    "SELECT v.campaign_id, v.customer_id, v.bucket, v.points, v.spend_minor "
    "FROM json_to_recordset(CAST(:rows AS json)) AS v(campaign_id bigint, customer_id bigint, "
    "bucket text, points bigint, spend_minor bigint) "
    "ON CONFLICT (campaign_id, customer_id, bucket) DO UPDATE SET "
    "points = campaign_counters.points + EXCLUDED.points, "
    "spend_minor = campaign_counters.spend_minor + EXCLUDED.spend_minor"
)
_ADD_USAGE = text(
    "UPDATE campaigns AS c SET budget_used = c.budget_used + v.points, "
    "participants = c.participants + v.joined "
    "FROM json_to_recordset(CAST(:rows AS json)) AS v(id bigint, points bigint, joined bigint) "
    "WHERE c.id = v.id"
)


def _add_counters(deltas: dict[tuple[int, int, str], list[int]]) -> None:
    """Add to the cap counters, creating missing ones: one statement on PostgreSQL."""
    rows = [
        {"campaign_id": c, "customer_id": u, "bucket": b, "points": p, "spend_minor": s}
        for (c, u, b), (p, s) in sorted(deltas.items())
    ]
    if not rows:
        return
    if is_postgres():
        db.session.execute(_UPSERT_COUNTERS, {"rows": json.dumps(rows)})
        return
    for row in rows:
        stmt = dialect_insert(CampaignCounter).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=["campaign_id", "customer_id", "bucket"],
            set_={
                "points": CampaignCounter.points + stmt.excluded.points,
                "spend_minor": CampaignCounter.spend_minor + stmt.excluded.spend_minor,
            },
        )
        db.session.execute(stmt)


def _add_usage(spent: dict[int, int], joined: dict[int, int]) -> None:
    """Add bonus points to budgets and new participants to campaigns: one statement."""
    rows = [
        {"id": c, "points": spent.get(c, 0), "joined": joined.get(c, 0)}
        for c in sorted(set(spent) | set(joined))
    ]
    if not rows:
        return
    if is_postgres():
        db.session.execute(_ADD_USAGE, {"rows": json.dumps(rows)})
        return
    for row in rows:
        db.session.execute(
            update(CampaignRow)
            .where(CampaignRow.id == row["id"])
            .values(
                budget_used=CampaignRow.budget_used + row["points"],
                participants=CampaignRow.participants + row["joined"],
            )
        )


def _announce_exhausted(program_id: int, campaign_id: int) -> None:
    db.session.execute(
        dialect_insert(Event)
        .values(
            program_id=program_id,
            type="campaign.budget_exhausted",
            key=f"campaign.budget_exhausted:{campaign_id}",
            payload={"campaign_id": campaign_id},
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )
