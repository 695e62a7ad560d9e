"""`ChallengeRules`: the second `ExtraRules` of the feed (see the package)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from campaigns.audiences.segments import segment_memberships
from campaigns.challenges.completion import AWARD, COMPLETED, may_complete, settle
from campaigns.challenges.feed import reads, writes
from campaigns.challenges.feed.announce import SponsoredCompletion, announce
from campaigns.challenges.feed.compiled import ChallengeSet, CompiledChallenge, challenge_set
from campaigns.challenges.feed.halfway import reached
from campaigns.challenges.feed.progress import Counted, Progress
from campaigns.challenges.feed.reversals import Reversals
from campaigns.challenges.goals import Contribution
from campaigns.challenges.windows import local_day
from campaigns.challenges.wording import describe
from campaigns.earning.shoppers import load_shoppers
from campaigns.rules import Purchase, Shopper
from rewards.db import among, db
from rewards.models import Program, Transaction
from rewards.processing.extras import OptimisticRace
from rewards.processing.rules import Award, ProgramTerms, TxFacts

NAMESPACE = "challenge"  # award rules `challenge:{id}`: lots keyed `tx:{purchase}:challenge:{id}`
KIND = "challenge_reward"


class CountedRace(OptimisticRace):
    """A contribution this chunk counted was already stored: another transaction counted
    the purchase between the read and the write (the account locks should make this
    impossible). The chunk is rolled back and run again; the rerun reads it and skips it."""


@dataclass(frozen=True)
class Step:
    """What one purchase does to one challenge period, decided by `awards`."""

    challenge: CompiledChallenge
    period: str
    contribution: Contribution
    completes: bool
    open: bool  # not completed, and may still complete (not "once" and done elsewhere)


class ChallengeRules(Reversals):
    """Challenge progress and rewards for one chunk (see `rewards.processing.extras`)."""

    lot_kinds = frozenset({KIND})
    key_namespace = NAMESPACE
    # A challenge reward goes back only when refunds take its challenge below the target.
    reclaimed_kinds = frozenset({KIND})

    def __init__(self, *, lock_early: bool = False) -> None:
        # No optimistic reads: the only shared rows (counters) are only added to, in `finish`.
        self.lock_early = lock_early
        self.sets: dict[int, ChallengeSet] = {}
        self.zones: dict[int, ZoneInfo] = {}
        self.currencies: dict[int, str] = {}
        self.shoppers: dict[int, Shopper] = {}
        self.joined: dict[tuple[int, int], datetime] = {}
        self.refunded_before: dict[int, int] = {}
        self.qualified: dict[int, list[tuple[CompiledChallenge, str]]] = {}
        self.challenges: dict[int, CompiledChallenge] = {}
        self.counted: dict[int, list[Counted]] = defaultdict(list)  # purchase → its rows
        self.rows: dict[tuple[int, int, str], Progress] = {}
        self.completed: dict[tuple[int, int], int] = {}  # (customer, challenge) → periods
        self.offered: tuple[int, int, list[Step]] | None = None
        self.badges: list[dict[str, Any]] = []
        self.sponsored: list[SponsoredCompletion] = []
        self.counters: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        self._purchases_read: set[int] = set()
        self._customers_read: set[int] = set()

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
        # The chunk holds these programs' rules lock: a marketer's change waits for it.
        for program_id, revision, zone, currency in db.session.execute(
            select(Program.id, Program.rules_revision, Program.timezone, Program.currency).where(
                Program.id.in_(programs)
            )
        ):
            self.zones[program_id], self.currencies[program_id] = ZoneInfo(zone), currency
            found = challenge_set(program_id, revision, self.zones[program_id])
            if found.challenges:
                self.sets[program_id] = found
                self.challenges.update((c.id, c) for c in found.challenges)
        mine = [
            (tx, c) for tx, c in purchases if tx.program_id in self.sets and tx.amount_minor > 0
        ]
        keys: set[tuple[int, int, str]] = set()
        if mine:
            self._load_shoppers(mine, now)
            opt_in = set().union(*(s.opt_in for s in self.sets.values()))
            self.joined = reads.joins({c for _, c in mine}, opt_in)
            # Counted before (a purchase reset and run again): kept, never counted twice.
            stored = reads.counted_for([tx.id for tx, _ in mine])
            keys |= self._keep_counted({tx.id for tx, _ in mine}, lambda _: stored)
            # Refunded since: what it brings to a challenge it counts towards only now.
            self.refunded_before = {tx_id: c.refunded_minor for (tx_id, _), c in stored.items()}
            for tx, customer_id in mine:
                self._qualify(tx, customer_id, stored)
                keys.update((customer_id, c.id, p) for c, p in self.qualified.get(tx.id, ()))
        keys |= self._load_refunded([t for _, t in refunded])
        self._load_progress(keys)

    def _load_shoppers(self, purchases: list[tuple[TxFacts, int]], now: datetime) -> None:
        customer_ids = {c for _, c in purchases}
        segments: dict[int, set[int]] = defaultdict(set)
        known: dict[int, set[str]] = defaultdict(set)
        for program_id, found in self.sets.items():
            in_program = {c for tx, c in purchases if tx.program_id == program_id}
            for customer_id, ids in segment_memberships(
                program_id=program_id,
                segment_ids=found.segment_ids,
                customer_ids=in_program,
                now=now,
            ).items():
                segments[customer_id] |= ids
        if any(found.new_merchants for found in self.sets.values()):
            merchants = {tx.merchant_id for tx, _ in purchases if tx.merchant_id}
            for buyer, merchant_id in db.session.execute(
                select(Transaction.customer_id, Transaction.merchant_id)
                .where(
                    among(Transaction.customer_id, customer_ids),
                    among(Transaction.merchant_id, merchants),
                    Transaction.kind == "purchase",
                    Transaction.status == "processed",
                )
                .distinct()
            ):
                if buyer is not None and merchant_id is not None:
                    known[buyer].add(merchant_id)
        self.shoppers = load_shoppers(
            customer_ids, offers=(), segments=segments, known_merchants=known
        )

    def _qualify(
        self, tx: TxFacts, customer_id: int, stored: dict[tuple[int, int], Counted]
    ) -> None:
        """The challenge periods `tx` counts towards, except those it already counted for
        (a chunk run again after its purchase was reset: it never counts twice); none once
        it was refunded in full."""
        if self.refunded_before.get(tx.id, 0) >= tx.amount_minor:
            return
        found, zone = self.sets[tx.program_id], self.zones[tx.program_id]
        purchase = Purchase.of(tx)
        shopper = self.shoppers.get(customer_id) or Shopper(customer_id=customer_id)
        qualified = []
        periods: dict[int, str | None] = {}  # window slot → period (see ChallengeSet)
        slots = found.window_slot
        for challenge in found.index.accepting(purchase):
            if (tx.id, challenge.id) in stored:
                continue
            slot = slots[challenge.id]
            if slot in periods:
                period = periods[slot]
            else:
                period = periods[slot] = found.windows[slot].period_of(purchase.occurred_at, zone)
            if period is None:
                continue
            if challenge.admits(
                purchase, shopper, zone, self.joined.get((customer_id, challenge.id))
            ):
                qualified.append((challenge, period))
        if qualified:
            self.qualified[tx.id] = qualified

    def awards(self, tx: TxFacts, customer_id: int, base_points: int) -> list[Award]:
        """The reward of every challenge period this purchase completes, sized but not yet
        counted (`accept` does that): nothing later purchases see changes here."""
        self.offered = None
        qualified = self.qualified.get(tx.id)
        if not qualified:
            return []
        day = local_day(tx.occurred_at, self.zones[tx.program_id])
        steps, awards = [], []
        left = tx.amount_minor - self.refunded_before.get(tx.id, 0)
        contribution = Contribution(tx.id, left, day, tx.merchant_id, tx.category)
        for challenge, period in qualified:
            row = self._row(customer_id, challenge, period)
            completes = allowed = False
            # A completed period stays completed whatever a purchase adds (values only grow),
            # and one that may not complete needs no value: most pairs stop here.
            if row.status != COMPLETED:
                done = self.completed.get((customer_id, challenge.id), 0)
                allowed = may_complete(
                    repeatable=challenge.repeatable, completed_elsewhere=done > 0
                )
                if allowed:
                    value = row.value_with(contribution, challenge.goal)
                    settlement = settle(
                        status=row.status, value=value, target=row.target, may_complete=True
                    )
                    completes = settlement.action == AWARD
            steps.append(Step(challenge, period, contribution, completes, allowed))
            if completes and challenge.reward_points > 0:
                awards.append(self._award(tx, customer_id, challenge, row, period))
        self.offered = (tx.id, customer_id, steps)
        return awards

    def _award(
        self, tx: TxFacts, customer_id: int, c: CompiledChallenge, row: Progress, period: str
    ) -> Award:
        points = c.reward_points
        what = describe(c.definition, currency=self.currencies[tx.program_id])
        return Award(
            rule=f"{NAMESPACE}:{c.id}",
            kind=KIND,
            points=points,
            explanation={
                "summary": f"Challenge completed: {c.name} ({what}): +{points} pts",
                "rule": NAMESPACE,
                "challenge_id": c.id,
                "challenge_version": c.version,
                "challenge_name": c.name,
                "period": period,
                "customer_id": customer_id,
                "award": row.awards + 1,
                "goal": c.definition["goal"],
            },
        )

    def _row(self, customer_id: int, challenge: CompiledChallenge, period: str) -> Progress:
        key = (customer_id, challenge.id, period)
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = Progress(*key, target=challenge.goal.target)
        return row

    def accept(self, tx: TxFacts) -> None:
        """Count the purchase towards its challenge periods, and complete those it completes."""
        if self.offered is None or self.offered[0] != tx.id:
            return
        _, customer_id, steps = self.offered
        self.offered = None
        for step in steps:
            c, period = step.challenge, step.period
            row = self._row(customer_id, c, period)
            before = row.value
            row.add(step.contribution, c.goal)
            # Halfway only where the period can still be completed.
            fresh = row.halfway_at is None and step.open
            if fresh and reached(before, row.value, row.target):
                row.halfway_at = tx.occurred_at
            self.counted[tx.id].append(
                Counted(
                    transaction_id=tx.id,
                    challenge_id=c.id,
                    customer_id=customer_id,
                    period=period,
                    local_day=step.contribution.local_day,
                    amount_minor=tx.amount_minor,
                    refunded_minor=tx.amount_minor - step.contribution.amount_minor,
                    merchant_id=tx.merchant_id,
                    category=tx.category,
                    new=True,
                )
            )
            pair = (customer_id, c.id)
            if pair not in self.completed:
                self.completed[pair] = 0
                self.counters[c.id][0] += 1
            if step.completes:
                self._complete(tx, row, c)

    def _complete(self, tx: TxFacts, row: Progress, c: CompiledChallenge) -> None:
        row.status, row.completed_at = COMPLETED, tx.occurred_at
        if row.halfway_at is not None and row.halfway_at > tx.occurred_at:
            # Purchases fed out of time order passed half with a later one than the one that
            # completes: a "halfway there" after the completion would read backwards.
            row.halfway_at = None
        row.awards += 1
        row.reward_points = c.reward_points
        row.reward_key = f"tx:{tx.id}:{NAMESPACE}:{c.id}" if c.reward_points > 0 else None
        self.completed[(row.customer_id, c.id)] += 1
        self.counters[c.id][1] += 1
        sponsor = c.definition.get("sponsor")
        if sponsor:
            self.sponsored.append(
                SponsoredCompletion(tx.program_id, sponsor, c.id, c.name, row.customer_id,
                                    row.period, row.awards, tx.occurred_at)
            )  # fmt: skip
        if c.badge_id is not None:
            self.badges.append(
                {
                    "customer_id": row.customer_id,
                    "badge_id": c.badge_id,
                    "awarded_at": tx.occurred_at,
                    "challenge_id": c.id,
                    "program_id": tx.program_id,
                }
            )

    def record(self, inserted_keys: set[str]) -> None:
        """Nothing: reward lots are found by their keys when progress is written."""

    def finish(self) -> None:
        """Write counted purchases, refunded amounts, progress and badges (a statement each);
        the challenges' shared counters last, locked in id order until the commit."""
        new = [c for rows in self.counted.values() for c in rows if c.new]
        if not writes.insert_counted(new):
            raise CountedRace("a purchase was already counted towards a challenge")
        writes.update_refunded(
            c
            for rows in self.counted.values()
            if any(c.refund_changed and not c.new for c in rows)
            for c in rows
        )
        writes.upsert_progress([r.row() for _, r in sorted(self.rows.items()) if r.changed])
        writes.award_badges(self.badges)
        announce(self.sponsored)
        writes.add_counters(self.counters)
