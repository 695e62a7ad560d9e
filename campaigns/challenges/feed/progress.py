"""One customer's progress in one challenge period as a chunk holds it in memory: read under
the customer's account lock, changed purchase by purchase and refund by refund, written once.

Count and spend goals keep a running value; distinct and streak goals keep the period's
still-counting purchases in a `Tally` (multisets), so a refund takes away exactly what its
purchase brought (a merchant bought from twice still counts after one refund). The tally is
stored in the progress row (`tally_json`), so a chunk never re-reads a period's purchases."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from campaigns.challenges.completion import ACTIVE
from campaigns.challenges.goals import Contribution, Goal, Tally
from campaigns.challenges.streaks import streak


@dataclass
class Counted:
    """A purchase counted towards one challenge period (one entry of its
    `challenge_purchases` row: every challenge it counted towards shares the purchase's
    facts and its refunded amount)."""

    transaction_id: int
    challenge_id: int
    customer_id: int
    period: str
    local_day: date
    amount_minor: int
    refunded_minor: int = 0
    merchant_id: str | None = None
    category: str | None = None
    new: bool = False  # inserted by this chunk
    refund_changed: bool = False  # a stored row whose `refunded_minor` this chunk raised

    @property
    def key(self) -> tuple[int, int, str]:
        """The progress row it counts towards."""
        return (self.customer_id, self.challenge_id, self.period)

    def contribution(self) -> Contribution | None:
        """What it contributes now; None once refunded in full (it no longer counts)."""
        left = self.amount_minor - self.refunded_minor
        if left <= 0:
            return None
        return Contribution(
            transaction_id=self.transaction_id,
            amount_minor=left,
            local_day=self.local_day,
            merchant_id=self.merchant_id,
            category=self.category,
        )


@dataclass
class Progress:
    """One `challenge_progress` row. `target` is fixed when the row is created: a marketer's
    later edit of the goal never revokes (or grants) a period already under way."""

    customer_id: int
    challenge_id: int
    period: str
    target: int
    status: str = ACTIVE
    value: int = 0
    awards: int = 0
    reward_points: int = 0
    reward_key: str | None = None  # ledger key of the live award's lot
    completed_at: datetime | None = None
    halfway_at: datetime | None = None
    revoked_at: datetime | None = None
    current_streak: int = 0
    best_streak: int = 0
    last_active_day: date | None = None
    freeze_used_on: date | None = None
    tally: Tally | None = None  # distinct and streak goals only
    stored: bool = False
    changed: bool = False

    @property
    def key(self) -> tuple[int, int, str]:
        return (self.customer_id, self.challenge_id, self.period)

    def value_with(self, c: Contribution, goal: Goal) -> int:
        """The goal's value if `c` were added (nothing changes)."""
        tally, kind = self.tally, goal.type
        if tally is None:
            return self.value + (1 if kind == "count" else c.amount_minor)
        # Distinct sets grow by one unless the purchase's merchant (category) is there.
        if kind == "distinct_merchants":
            new = c.merchant_id is not None and c.merchant_id not in tally.merchants
            return len(tally.merchants) + new
        if kind == "distinct_categories":
            new = c.category is not None and c.category not in tally.categories
            return len(tally.categories) + new
        tally.add(c)
        try:
            return _value(tally, goal)
        finally:
            tally.remove(c)

    def add(self, c: Contribution, goal: Goal) -> None:
        """Count a qualifying purchase."""
        if self.tally is None:
            self.value += 1 if goal.type == "count" else c.amount_minor
        else:
            self.tally.add(c)
            self._refresh(goal)
        self.changed = True

    def reduce(self, before: Contribution, after: Contribution | None, goal: Goal) -> None:
        """A refund took a purchase's contribution from `before` to `after` (None: all)."""
        if self.tally is None:
            if goal.type == "count":
                self.value -= 0 if after is not None else 1
            else:
                self.value -= before.amount_minor - (after.amount_minor if after else 0)
        else:
            self.tally.remove(before)
            if after is not None:
                self.tally.add(after)
            self._refresh(goal)
        self.changed = True

    def _refresh(self, goal: Goal) -> None:
        assert self.tally is not None
        self.value = _value(self.tally, goal)
        if goal.type != "streak":
            return
        days = self.tally.days
        if not days:
            self.current_streak = self.best_streak = 0
            self.last_active_day = self.freeze_used_on = None
            return
        # As of the latest active day: later days have not been judged (see streaks.py).
        found = streak(goal.unit or "days", days, max(days))
        self.current_streak, self.best_streak = found.current, found.best
        self.last_active_day = found.last_active_day
        self.freeze_used_on = max(found.frozen_days) if found.frozen_days else None

    def row(self) -> dict[str, Any]:
        """The row to upsert."""
        return {
            "customer_id": self.customer_id,
            "challenge_id": self.challenge_id,
            "period": self.period,
            "value": self.value,
            "target": self.target,
            "status": self.status,
            "completed_at": self.completed_at,
            "halfway_at": self.halfway_at,
            "revoked_at": self.revoked_at,
            "awards": self.awards,
            "reward_points": self.reward_points,
            "reward_key": self.reward_key,
            "current_streak": self.current_streak,
            "best_streak": self.best_streak,
            "last_active_day": self.last_active_day,
            "freeze_used_on": self.freeze_used_on,
            "tally": None if self.tally is None else tally_json(self.tally),
        }


def tally_json(tally: Tally) -> dict[str, Any]:
    """The tally as stored in `challenge_progress.tally` (empty multisets left out)."""
    stored: dict[str, Any] = {"n": tally.count, "s": tally.spend_minor}
    if tally.merchants:
        stored["m"] = dict(tally.merchants)
    if tally.categories:
        stored["c"] = dict(tally.categories)
    if tally.days:
        stored["d"] = {day.isoformat(): n for day, n in tally.days.items()}
    return stored


def tally_of_json(stored: dict[str, Any]) -> Tally:
    """The tally `tally_json` stored."""
    return Tally(
        count=int(stored.get("n", 0)),
        spend_minor=int(stored.get("s", 0)),
        merchants=Counter(stored.get("m") or {}),
        categories=Counter(stored.get("c") or {}),
        days=Counter({date.fromisoformat(d): n for d, n in (stored.get("d") or {}).items()}),
    )


def _value(tally: Tally, goal: Goal) -> int:
    # A streak's best length as of its latest active day (no active day: no streak).
    return tally.value(goal, max(tally.days) if tally.days else date.min)
