"""A cardholder's activity feed: points earned and taken back, challenges completed and
revoked, halfway to a challenge's target, badges earned, level and tier changes — one
newest-first list in plain words.

Items come from four sources, each read newest first from its own table (at most a page plus
one per source) and merged: `ledger` (earn, bonus, challenge reward, clawback, adjust and
expiry entries, with their stored explanations; a challenge reward is the challenge's
completion, a challenge clawback its revocation), `challenge` (completions of challenges
that grant no points, and "halfway there" milestones, from their progress rows), `badge` and
`event` (`customer.level_changed`, `customer.tier_changed`). The order — and the cursor — is
`(occurred_at, source, key)` descending, `key` a per-source string (zero-padded ids), so
pages never skip or repeat an item whatever the sources hold at equal times.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select, true

from campaigns.challenges.feed.halfway import milestone_title
from campaigns.challenges.models import Badge, Challenge, ChallengeProgress, CustomerBadge
from rewards.balances import FALLBACK_SUMMARIES, find_customer
from rewards.db import db
from rewards.models import Account, Event, LedgerEntry, Program

LEDGER_KINDS = ("earn", "bonus", "challenge_reward", "clawback", "adjust", "expire")
EVENT_TYPES = ("customer.level_changed", "customer.tier_changed")
SOURCES = ("badge", "challenge", "event", "ledger")

Position = tuple[datetime, str, str]  # (occurred_at, source, key): where a page ended


@dataclass(frozen=True)
class ActivityItem:
    """One line of the feed; `points` only for items that moved points."""

    occurred_at: datetime
    source: str
    key: str
    type: str
    title: str
    detail: str | None = None
    points: int | None = None

    @property
    def id(self) -> str:
        """Stable and unique across sources: `ledger:123`, `challenge:7:w:2026-W48`."""
        number, _, rest = self.key.partition(":")
        return ":".join([self.source, str(int(number)), *([rest] if rest else [])])

    @property
    def position(self) -> Position:
        return (self.occurred_at, self.source, self.key)


def activity_page(
    *, program_id: int, external_ref: str, limit: int, after: Position | None = None
) -> tuple[list[ActivityItem], Position | None]:
    """The cardholder's items after `after` (newest first), and the position to continue
    from when more follow."""
    customer = find_customer(program_id=program_id, external_ref=external_ref)
    items = [
        *_ledger_items(customer.id, limit, after),
        *_challenge_items(customer.id, limit, after),
        *_halfway_items(customer.id, limit, after),
        *_badge_items(customer.id, limit, after),
        *_event_items(customer.id, program_id, limit, after),
    ]
    items.sort(key=lambda item: item.position, reverse=True)
    page = items[:limit]
    return page, (page[-1].position if len(items) > limit else None)


def _key(number: int) -> str:
    return f"{number:020d}"


def _utc(moment: datetime) -> datetime:
    # SQLite (embedded mode) gives back naive UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _older(source: str, at: Any, id_column: Any, after: Position | None) -> Any:
    """SQL for "after the cursor" within one source whose key is a zero-padded id."""
    if after is None:
        return true()
    moment, cursor_source, cursor_key = after
    if source < cursor_source:
        return at <= moment
    if source > cursor_source:
        return at < moment
    return or_(at < moment, and_(at == moment, id_column < int(cursor_key)))


def _ledger_items(customer_id: int, limit: int, after: Position | None) -> list[ActivityItem]:
    account = select(Account.id).where(Account.customer_id == customer_id).scalar_subquery()
    stmt = (
        select(LedgerEntry)
        .where(
            LedgerEntry.account_id == account,
            LedgerEntry.kind.in_(LEDGER_KINDS),
            _older("ledger", LedgerEntry.occurred_at, LedgerEntry.id, after),
        )
        .order_by(LedgerEntry.occurred_at.desc(), LedgerEntry.id.desc())
        .limit(limit + 1)
    )
    return [_ledger_item(entry) for entry in db.session.scalars(stmt)]


def _ledger_item(entry: LedgerEntry) -> ActivityItem:
    explanation: dict[str, Any] = entry.explanation or {}
    summary = str(explanation.get("summary") or FALLBACK_SUMMARIES.get(entry.kind, entry.kind))
    name = explanation.get("challenge_name")
    if entry.kind == "challenge_reward" and name:
        kind, title = "challenge_completed", f"Challenge completed: {name} (+{entry.points} pts)"
    elif explanation.get("rule") == "challenge_clawback" and name:
        kind = "challenge_revoked"
        title = f"Challenge no longer completed: {name} ({entry.points} pts)"
    else:
        kind, title = _points_type(entry), summary
    detail = summary if title != summary else None
    return ActivityItem(
        _utc(entry.occurred_at), "ledger", _key(entry.id), kind, title, detail, entry.points
    )


def _points_type(entry: LedgerEntry) -> str:
    if entry.kind == "clawback":
        return "points_clawed_back"
    if entry.kind == "expire":
        return "points_expired"
    if entry.kind == "adjust":
        return "points_adjusted"
    return "points_earned"


def _challenge_items(customer_id: int, limit: int, after: Position | None) -> list[ActivityItem]:
    """Completions of challenges without a points reward (those with one are ledger items)."""
    items = [
        ActivityItem(at, "challenge", key, "challenge_completed", f"Challenge completed: {name}")
        for at, key, name, _, _, _ in _progress_moments(
            customer_id,
            limit,
            after,
            ChallengeProgress.completed_at,
            ChallengeProgress.status == "completed",
            ChallengeProgress.reward_entry_id.is_(None),
        )
    ]
    return _after(items, after)


def _halfway_items(customer_id: int, limit: int, after: Position | None) -> list[ActivityItem]:
    """Periods a purchase took to half their target ("halfway there")."""
    items = [
        ActivityItem(
            at,
            "challenge",
            f"{key}:half",
            "challenge_progress",
            milestone_title(name, goal_type, target, currency),
        )
        for at, key, name, goal_type, target, currency in _progress_moments(
            customer_id, limit, after, ChallengeProgress.halfway_at
        )
    ]
    return _after(items, after)


def _progress_moments(
    customer_id: int, limit: int, after: Position | None, moment: Any, *where: Any
) -> list[tuple[datetime, str, str, str, int, str]]:
    """(moment, key, challenge name, goal type, target, currency) of the customer's progress
    rows with `moment` set (and `where`): a page plus one of those older than the cursor's
    moment, and every row at exactly that moment (one purchase completes or passes half of
    many periods at once; `_after` keeps those past the cursor's key). Keys are
    `{challenge id, zero-padded}:{period}`."""
    stmt = (
        select(
            ChallengeProgress.challenge_id,
            ChallengeProgress.period,
            moment,
            Challenge.name,
            Challenge.goal_type,
            ChallengeProgress.target,
            Program.currency,
        )
        .join(Challenge, Challenge.id == ChallengeProgress.challenge_id)
        .join(Program, Program.id == Challenge.program_id)
        .where(ChallengeProgress.customer_id == customer_id, moment.is_not(None), *where)
    )
    # Newest first, then by key (the zero-padded id, then the period) as the feed orders.
    newest = stmt.order_by(
        moment.desc(), ChallengeProgress.challenge_id.desc(), ChallengeProgress.period.desc()
    )
    pages = [newest.limit(limit + 1)]
    if after is not None:
        pages = [pages[0].where(moment < after[0]), stmt.where(moment == after[0])]
    return [
        (_utc(at), f"{_key(cid)}:{period}", name, goal, target, currency)
        for page in pages
        for cid, period, at, name, goal, target, currency in db.session.execute(page)
    ]


def _after(items: list[ActivityItem], after: Position | None) -> list[ActivityItem]:
    """The items past the cursor (equal moments are ordered by source and key)."""
    return [i for i in items if after is None or i.position < after]


def _badge_items(customer_id: int, limit: int, after: Position | None) -> list[ActivityItem]:
    stmt = (
        select(CustomerBadge.badge_id, CustomerBadge.awarded_at, Badge.name, Badge.description)
        .join(Badge, Badge.id == CustomerBadge.badge_id)
        .where(
            CustomerBadge.customer_id == customer_id,
            _older("badge", CustomerBadge.awarded_at, CustomerBadge.badge_id, after),
        )
        .order_by(CustomerBadge.awarded_at.desc(), CustomerBadge.badge_id.desc())
        .limit(limit + 1)
    )
    return [
        ActivityItem(
            _utc(at), "badge", _key(badge_id), "badge_earned", f"Badge earned: {name}", text
        )
        for badge_id, at, name, text in db.session.execute(stmt)
    ]


def _event_items(
    customer_id: int, program_id: int, limit: int, after: Position | None
) -> list[ActivityItem]:
    stmt = (
        select(Event)
        .where(
            Event.customer_id == customer_id,
            Event.program_id == program_id,
            Event.type.in_(EVENT_TYPES),
            _older("event", Event.created_at, Event.id, after),
        )
        .order_by(Event.created_at.desc(), Event.id.desc())
        .limit(limit + 1)
    )
    return list(_event_item(event) for event in db.session.scalars(stmt))


def _event_item(event: Event) -> ActivityItem:
    payload: dict[str, Any] = event.payload or {}
    if event.type == "customer.level_changed":
        kind, title = "level_changed", _level_title(payload)
    else:
        kind, title = "tier_changed", _tier_title(payload)
    return ActivityItem(_utc(event.created_at), "event", _key(event.id), kind, title)


def _level_title(payload: dict[str, Any]) -> str:
    level, name = payload.get("to_level"), payload.get("level_name")
    named = f": {name}" if name else ""
    if payload.get("direction") == "down":
        return f"Back to level {level}{named} (points were taken back)"
    return f"Level {level} reached{named}"


def _tier_title(payload: dict[str, Any]) -> str:
    """The tier event's own summary ("You reached Gold"; rewards.tiers.standing writes it),
    else the new tier's name."""
    summary = _first(payload, ("summary",))
    if summary:
        return summary
    to = payload.get("to")
    name = to.get("name") if isinstance(to, dict) else None
    return f"Tier changed: {name}" if isinstance(name, str) and name else "Tier changed"


def _first(payload: dict[str, Any], keys: Iterable[str]) -> str | None:
    for key in keys:
        if isinstance(payload.get(key), str) and payload[key]:
            return str(payload[key])
    return None
