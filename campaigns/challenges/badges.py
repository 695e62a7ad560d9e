"""Badges as a marketer resource (the `BADGES` kind, unversioned), their criteria, and how far
a customer is from a milestone badge.

A badge's `criteria` says what awards it, exactly one of:

    {"type": "challenge"}                          a challenge whose reward names the badge
    {"type": "first_purchase"}                     the first purchase
    {"type": "distinct_partners", "count": N}      purchases at N different partners
    {"type": "streak_days", "days": N}             a daily streak of N days in a challenge
    {"type": "lifetime_points", "points": X}       lifetime points earned reach X

Milestone progress is computed on read from what the feed has settled: purchases that are
processed and not refunded in full, their merchants mapped to partners (`rewards.partners`),
the best daily streak of any challenge period (`challenge_purchases`, purchases refunded
in full left out), and the account's `lifetime_earned`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select

from campaigns.challenges.models import BADGE_STATUSES, Badge, ChallengePurchase, CustomerBadge
from campaigns.challenges.service import challenges_rewarding
from campaigns.challenges.streaks import daily_streak
from campaigns.resources import Item, Kind, effective_status
from campaigns.rules import Checker, checked
from rewards.db import db
from rewards.errors import Conflict, InvalidInput
from rewards.models import Account, Program, Transaction
from rewards.partners import partners_for

FIELDS = ("name", "description", "image_url", "criteria", "status")
# Criteria type → its one parameter and that parameter's largest value (None: no parameter).
CRITERIA: dict[str, tuple[str, int] | None] = {
    "challenge": None,
    "first_purchase": None,
    "distinct_partners": ("count", 1_000),
    "streak_days": ("days", 366),
    "lifetime_points": ("points", 10**12),
}
MILESTONES = tuple(kind for kind in CRITERIA if kind != "challenge")


def validate_badge(raw: Any, program: Program | None = None) -> dict[str, Any]:
    """The normalised badge `{name, description, image_url, criteria, status}`, or
    InvalidInput naming every bad field by its path (`criteria.count`, `image_url`)."""
    c = Checker()
    if not isinstance(raw, dict):
        c.fail("_body", "Must be an object.")
        raise InvalidInput("A badge is a JSON object.", errors=c.errors)
    values = c.obj(raw, "", FIELDS)
    c.require(values, "", ("name", "criteria"))
    found = checked(
        values,
        "",
        {
            "name": lambda v, p: c.text(v, p, 200),
            "description": lambda v, p: c.text(v, p, 1000),
            "image_url": c.https_url,
            "criteria": lambda v, p: _criteria(c, v, p),
            "status": lambda v, p: c.choice(v, p, BADGE_STATUSES),
        },
    )
    if c.errors:
        raise InvalidInput("The badge is not valid; see errors.", errors=c.errors)
    return {
        "name": found["name"],
        "description": found.get("description"),
        "image_url": found.get("image_url"),
        "criteria": found["criteria"],
        "status": found.get("status", "draft"),
    }


def _criteria(c: Checker, value: Any, path: str) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        c.fail(path, "Must be an object.")
        return None
    if value.get("type") is None:
        c.fail(f"{path}.type", "Missing data for required field.")
        return None
    kind = c.choice(value["type"], f"{path}.type", CRITERIA)
    if kind is None:
        return None
    parameter = CRITERIA[kind]
    allowed = ("type", parameter[0]) if parameter else ("type",)
    given = c.obj(value, path, allowed)
    if parameter is None:
        return {"type": kind}
    name, high = parameter
    if not c.require(given, path, (name,)):
        return None
    number = c.integer(given[name], f"{path}.{name}", 1, high)
    return None if number is None else {"type": kind, name: number}


def _read(badge: Badge) -> dict[str, Any]:
    return {
        "name": badge.name,
        "description": badge.description,
        "image_url": badge.image_url,
        "criteria": badge.criteria,
        "status": badge.status,
    }


def _write(badge: Badge, values: dict[str, Any]) -> None:
    for key, value in values.items():
        setattr(badge, key, value)


def _not_in_use(item: Item) -> None:
    """409 while a challenge that is not over awards the badge, or once customers hold it
    (their badge would vanish: retire it instead)."""
    badge: Badge = item.row
    now = datetime.now(UTC)
    users = [
        c.id
        for c in challenges_rewarding(badge.program_id, badge.id)
        if effective_status(c, now) != "ended"
    ]
    if users:
        listed = ", ".join(str(i) for i in users)
        raise Conflict(f"Challenges {listed} award this badge.", field="badge_id")
    held = db.session.scalar(
        select(CustomerBadge.badge_id).where(CustomerBadge.badge_id == badge.id).limit(1)
    )
    if held is not None:
        raise Conflict("Customers hold this badge; retire it instead.", field="status")


# The feed awards milestone badges, so a change bumps the rules revision like other rules.
BADGES = Kind(
    name="badge",
    model=Badge,
    validate=validate_badge,
    mirror=_write,
    read=_read,
    deletable=True,
    before_delete=_not_in_use,
)


# --- milestone progress --------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """How far a customer is: `current` of `target` (current never above target)."""

    current: int
    target: int


@dataclass
class Milestones:
    """One customer's milestone facts, each read on first use (one query each)."""

    program_id: int
    customer_id: int
    today: date
    _facts: dict[str, int] | None = None

    def progress(self, criteria: dict[str, Any]) -> Progress:
        """Progress towards a milestone badge's criteria (not `challenge`)."""
        kind = criteria["type"]
        parameter = CRITERIA[kind]
        target = 1 if parameter is None else criteria[parameter[0]]
        return Progress(min(self._fact(kind), target), target)

    def _fact(self, kind: str) -> int:
        if self._facts is None:
            self._facts = {}
        if kind not in self._facts:
            self._facts[kind] = getattr(self, f"_{kind}")()
        return self._facts[kind]

    def _purchases(self) -> Any:
        return select(Transaction.merchant_id).where(
            Transaction.program_id == self.program_id,
            Transaction.customer_id == self.customer_id,
            Transaction.kind == "purchase",
            Transaction.status == "processed",
            Transaction.refunded_minor < Transaction.amount_minor,
        )

    def _first_purchase(self) -> int:
        return 1 if db.session.scalar(self._purchases().limit(1).exists().select()) else 0

    def _distinct_partners(self) -> int:
        merchants = {m for m in db.session.scalars(self._purchases().distinct()) if m}
        return len(set(partners_for(self.program_id, merchants).values()))

    def _streak_days(self) -> int:
        return best_daily_streak(self.customer_id, self.today)

    def _lifetime_points(self) -> int:
        earned = db.session.scalar(
            select(Account.lifetime_earned).where(Account.customer_id == self.customer_id)
        )
        return int(earned or 0)


def best_daily_streak(customer_id: int, today: date) -> int:
    """The longest daily streak (freezes included) in any challenge period of the customer,
    from the purchases that still count."""
    days: dict[tuple[int, str], list[date]] = defaultdict(list)
    rows = db.session.execute(
        select(ChallengePurchase.counted, ChallengePurchase.local_day).where(
            ChallengePurchase.customer_id == customer_id,
            ChallengePurchase.refunded_minor < ChallengePurchase.amount_minor,
        )
    )
    for counted, day in rows:
        for challenge_id, period in counted.items():
            days[(int(challenge_id), period)].append(day)
    return max((daily_streak(found, today).best for found in days.values()), default=0)


def held_badges(customer_id: int) -> list[tuple[Badge, CustomerBadge]]:
    """The badges the customer earned, newest first."""
    stmt = (
        select(Badge, CustomerBadge)
        .join(CustomerBadge, CustomerBadge.badge_id == Badge.id)
        .where(CustomerBadge.customer_id == customer_id)
        .order_by(CustomerBadge.awarded_at.desc(), Badge.id.desc())
    )
    return [(badge, held) for badge, held in db.session.execute(stmt)]


def active_badges(program_id: int, except_ids: Iterable[int] = ()) -> list[Badge]:
    """The program's active badges, oldest first, without `except_ids`."""
    stmt = select(Badge).where(Badge.program_id == program_id, Badge.status == "active")
    skip = set(except_ids)
    return [b for b in db.session.scalars(stmt.order_by(Badge.id)) if b.id not in skip]


def badges_by_id(program_id: int, ids: Iterable[int]) -> dict[int, Badge]:
    """The program's badges among `ids`."""
    wanted = set(ids)
    if not wanted:
        return {}
    stmt = select(Badge).where(Badge.program_id == program_id, Badge.id.in_(wanted))
    return {badge.id: badge for badge in db.session.scalars(stmt)}


__all__ = [
    "BADGES",
    "CRITERIA",
    "MILESTONES",
    "Milestones",
    "Progress",
    "active_badges",
    "badges_by_id",
    "best_daily_streak",
    "held_badges",
    "validate_badge",
]
