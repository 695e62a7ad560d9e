"""What a cardholder sees of challenges: available, active and completed ones, and joining.

- **available**: live (scheduled or active) opt-in challenges whose audience admits the
  customer today (program timezone) and that they have not joined.
- **active**: challenges they are in now: joined opt-in ones (a joined scheduled one shows
  with nothing counted yet) and automatic ones their audience admits (or that already hold
  their progress), in the current period, unless that period is completed (or, for a
  non-repeatable challenge, any period is). A paused one shows only where they joined or
  have progress in the current period.
- **completed**: their completed periods, newest first (revoked ones are not completed), with
  the points actually granted (the current version names the badge and XP).

Progress is what the feed settled in `challenge_progress`; a streak is evaluated on read from
the period's purchases in `challenge_purchases` (those refunded in full left out) as of today, so
a day missed yesterday shows as a used freeze before the next purchase. Everything is the
customer's own; nothing here takes a customer id from the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from campaigns.audiences.segments import segment_memberships
from campaigns.challenges.badges import Progress, badges_by_id
from campaigns.challenges.models import (
    Challenge,
    ChallengeJoin,
    ChallengeProgress,
    ChallengePurchase,
    ChallengeVersion,
)
from campaigns.challenges.streaks import streak
from campaigns.challenges.windows import Window, local_day, time_left_today
from campaigns.challenges.wording import Wording, describe
from campaigns.resources import LIVE, effective_status, load_program
from campaigns.rules import Audience, Shopper
from rewards.balances import find_customer, zone
from rewards.db import db, dialect_insert
from rewards.errors import Conflict, NotFound
from rewards.models import Customer, Program

NOT_JOINABLE = "No such challenge for you to join in your program."
COMPLETED_SHOWN = 50  # the most recent completed periods listed


@dataclass(frozen=True)
class StreakView:
    """A streak as the cardholder sees it; `time_left_today` in seconds (daily streaks)."""

    current: int
    best: int
    freeze_used_this_week: bool
    time_left_today: int | None


@dataclass(frozen=True)
class MyChallenge:
    """One challenge from the customer's side."""

    challenge: Challenge
    definition: dict[str, Any]
    status: str  # effective now
    description: str
    reward: dict[str, Any]
    joined_at: datetime | None = None
    period: str | None = None
    progress: Progress | None = None
    period_ends_at: datetime | None = None
    time_left: int | None = None  # seconds to the end of the period; None when open-ended
    streak: StreakView | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True)
class MyChallenges:
    available: list[MyChallenge]
    active: list[MyChallenge]
    completed: list[MyChallenge]


@dataclass(frozen=True)
class Joined:
    challenge: MyChallenge
    created: bool


@dataclass
class _Reader:
    """The customer's state, read once, from which every entry is built."""

    customer: Customer
    program: Program
    now: datetime
    joins: dict[int, datetime] = field(default_factory=dict)
    progress: dict[tuple[int, str], ChallengeProgress] = field(default_factory=dict)
    badges: dict[int, Any] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.program.timezone)

    def load(self, definitions: list[dict[str, Any]], challenge_ids: list[int]) -> None:
        self.joins = {
            challenge_id: at
            for challenge_id, at in db.session.execute(
                select(ChallengeJoin.challenge_id, ChallengeJoin.joined_at).where(
                    ChallengeJoin.customer_id == self.customer.id,
                    ChallengeJoin.challenge_id.in_(challenge_ids),
                )
            )
        }
        rows = db.session.scalars(
            select(ChallengeProgress).where(
                ChallengeProgress.customer_id == self.customer.id,
                ChallengeProgress.challenge_id.in_(challenge_ids),
            )
        )
        self.progress = {(row.challenge_id, row.period): row for row in rows}
        ids = {d["reward"].get("badge_id") for d in definitions} - {None}
        self.badges = badges_by_id(self.program.id, ids)

    def admitted(self, definitions: list[dict[str, Any]]) -> list[bool]:
        """Whether each definition's audience admits the customer today."""
        segment_ids = {d["audience"].get("segment_id") for d in definitions} - {None}
        segments = segment_memberships(
            program_id=self.program.id,
            segment_ids=segment_ids,
            customer_ids={self.customer.id},
            now=self.now,
        ).get(self.customer.id, set())
        c = self.customer
        shopper = Shopper(c.id, c.birth_date, c.tier, frozenset(segments))
        today = local_day(self.now, self.tz)
        return [Audience.compile(d["audience"]).admits(shopper, today) for d in definitions]

    def completed_elsewhere(self, challenge_id: int, period: str | None) -> bool:
        return any(
            row.status == "completed"
            for (cid, key), row in self.progress.items()
            if cid == challenge_id and key != period
        )

    def takes_part(
        self, row: Challenge, definition: dict[str, Any], status: str, *, joined: bool, admits: bool
    ) -> bool:
        """Whether the challenge belongs in the customer's active list now."""
        period = Window.of(definition).period_of(self.now, self.tz)
        current = self.progress.get((row.id, period)) if period else None
        if status == "scheduled":
            return joined
        if current is not None and current.status == "completed":
            return False
        if not definition["repeatable"] and self.completed_elsewhere(row.id, period):
            return False
        if status == "paused":
            return joined or current is not None
        return joined or admits or current is not None

    def entry(
        self, row: Challenge, definition: dict[str, Any], points: int | None = None, **extra: Any
    ) -> MyChallenge:
        """The entry of one challenge; `points` are those granted (completed periods)."""
        reward = self.reward(definition)
        if points is not None:
            reward["points"] = points
        return MyChallenge(
            challenge=row,
            definition=definition,
            status=effective_status(row, self.now),
            description=describe(
                definition, currency=self.program.currency, wording=_wording(definition)
            ),
            reward=reward,
            joined_at=self.joins.get(row.id),
            **extra,
        )

    def reward(self, definition: dict[str, Any]) -> dict[str, Any]:
        reward = definition["reward"]
        shown: dict[str, Any] = {"points": reward["points"]}
        badge = self.badges.get(reward.get("badge_id"))
        if badge is not None:
            shown["badge"] = {"id": badge.id, "name": badge.name, "image_url": badge.image_url}
        if "xp" in reward:
            shown["xp"] = reward["xp"]
        return shown

    def in_progress(self, row: Challenge, definition: dict[str, Any]) -> MyChallenge:
        """The entry with the current period's progress (nothing counted yet when scheduled)."""
        goal = definition["goal"]
        window = Window.of(definition)
        period = window.period_of(self.now, self.tz)
        if period is None:
            return self.entry(row, definition, progress=Progress(0, goal["target"]))
        _, ends = window.bounds(period, self.tz)
        found = self.progress.get((row.id, period))
        target = found.target if found else goal["target"]
        current = found.value if found else 0
        view = None
        if goal["type"] == "streak":
            view = self.streak(row.id, period, goal["unit"])
            current = view.best
        return self.entry(
            row,
            definition,
            period=period,
            progress=Progress(current, target),
            period_ends_at=ends,
            time_left=None if ends is None else _seconds(ends - self.now),
            streak=view,
        )

    def streak(self, challenge_id: int, period: str, unit: str) -> StreakView:
        days = db.session.scalars(
            select(ChallengePurchase.local_day).where(
                ChallengePurchase.customer_id == self.customer.id,
                ChallengePurchase.counted[str(challenge_id)].as_string() == period,
                ChallengePurchase.refunded_minor < ChallengePurchase.amount_minor,
            )
        )
        found = streak(unit, list(days), local_day(self.now, self.tz))
        left = _seconds(time_left_today(self.now, self.tz)) if unit == "days" else None
        return StreakView(found.current, found.best, found.freeze_used_this_week, left)


def my_challenges(*, program_id: int, external_ref: str, now: datetime) -> MyChallenges:
    """The customer's available, active and completed challenges."""
    customer = find_customer(program_id=program_id, external_ref=external_ref)
    reader = _Reader(customer, load_program(program_id), now)
    live = [
        (row, d)
        for row, d in _current_versions(program_id, statuses=(*LIVE, "paused"))
        if effective_status(row, now) != "ended"
    ]
    done = _completed_rows(customer.id)
    done_ids = [p.challenge_id for p in done]
    known = {row.id: (row, d) for row, d in (*live, *_current_versions(program_id, ids=done_ids))}
    reader.load([d for _, d in known.values()], list(known))
    available, active = [], []
    for (row, d), admits in zip(live, reader.admitted([d for _, d in live]), strict=True):
        status = effective_status(row, now)
        joined = row.id in reader.joins
        if d["join"] == "opt_in" and not joined:
            if admits and status in LIVE:
                available.append(reader.entry(row, d))
        elif reader.takes_part(row, d, status, joined=joined, admits=admits):
            active.append(reader.in_progress(row, d))
    completed = [
        reader.entry(
            known[p.challenge_id][0],
            known[p.challenge_id][1],
            period=p.period,
            points=p.reward_points,
            progress=Progress(p.value, p.target),
            completed_at=p.completed_at,
        )
        for p in done
        if p.challenge_id in known
    ]
    return MyChallenges(available, active, completed)


def join_challenge(
    *, program_id: int, external_ref: str, challenge_id: int, now: datetime
) -> Joined:
    """Opt in to a live opt-in challenge the customer's audience admits; a repeat keeps the
    first time. NotFound when it is not one to join; Conflict (status) once it has ended."""
    customer = find_customer(program_id=program_id, external_ref=external_ref)
    reader = _Reader(customer, load_program(program_id), now)
    found = _current_versions(program_id, ids=[challenge_id])
    if not found or found[0][1]["join"] != "opt_in" or not reader.admitted([found[0][1]])[0]:
        raise NotFound(NOT_JOINABLE)
    row, definition = found[0]
    status = effective_status(row, now)
    if status == "ended":
        raise Conflict("This challenge has ended and can no longer be joined.", field="status")
    if status not in LIVE:
        raise NotFound(NOT_JOINABLE)
    inserted = db.session.scalar(
        dialect_insert(ChallengeJoin)
        .values(customer_id=customer.id, challenge_id=row.id, joined_at=now)
        .on_conflict_do_nothing()
        .returning(ChallengeJoin.joined_at)
    )
    reader.load([definition], [row.id])
    return Joined(reader.in_progress(row, definition), created=inserted is not None)


def _current_versions(
    program_id: int, *, statuses: tuple[str, ...] | None = None, ids: list[int] | None = None
) -> list[tuple[Challenge, dict[str, Any]]]:
    """The program's challenges (newest first) with their current definitions."""
    stmt = (
        select(Challenge, ChallengeVersion.definition)
        .join(
            ChallengeVersion,
            (ChallengeVersion.challenge_id == Challenge.id)
            & (ChallengeVersion.version == Challenge.current_version),
        )
        .where(Challenge.program_id == program_id)
        .order_by(Challenge.id.desc())
    )
    if statuses is not None:
        stmt = stmt.where(Challenge.status.in_(statuses))
    if ids is not None:
        if not ids:
            return []
        stmt = stmt.where(Challenge.id.in_(ids))
    return [(row, definition) for row, definition in db.session.execute(stmt)]


def _completed_rows(customer_id: int) -> list[ChallengeProgress]:
    stmt = (
        select(ChallengeProgress)
        .where(
            ChallengeProgress.customer_id == customer_id,
            ChallengeProgress.status == "completed",
        )
        .order_by(ChallengeProgress.completed_at.desc(), ChallengeProgress.challenge_id.desc())
        .limit(COMPLETED_SHOWN)
    )
    return list(db.session.scalars(stmt))


def _wording(definition: dict[str, Any]) -> Wording | None:
    """Where purchases must happen, when the conditions name exactly one category."""
    categories = definition["conditions"].get("categories") or []
    if len(categories) == 1:
        return Wording(where=f"on {categories[0].replace('_', ' ')}")
    return None


def _seconds(left: timedelta) -> int:
    return max(0, int(left.total_seconds()))
