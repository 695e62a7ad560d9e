"""Challenges compiled for the feed, cached per (program, rules revision) in each process.

A marketer's change to a challenge bumps the program's `rules_revision`, so every worker
compiles the new revision on its next chunk (as campaigns' rule sets). Live means `scheduled`
or `active`: a paused or ended challenge counts nothing from the moment it was changed; the
window then decides per purchase (`Window.period_of`)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self
from zoneinfo import ZoneInfo

from sqlalchemy import select

from campaigns.challenges.goals import Goal, joined_in_time
from campaigns.challenges.models import Challenge, ChallengeVersion
from campaigns.challenges.windows import Window
from campaigns.rules import Audience, Conditions, Purchase, RuleIndex, Shopper
from rewards.db import db
from rewards.models import Program

LIVE = ("scheduled", "active")
# Goals whose value needs the period's contributions, not just a running total.
NEEDS_TALLY = ("distinct_merchants", "distinct_categories", "streak")


@dataclass(frozen=True)
class CompiledChallenge:
    """One challenge version as the feed judges purchases against it."""

    id: int
    version: int
    name: str
    definition: dict[str, Any]
    window: Window
    goal: Goal
    opt_in: bool
    repeatable: bool
    reward_points: int
    badge_id: int | None
    conditions: Conditions
    audience: Audience

    @classmethod
    def compile(cls, challenge_id: int, version: int, definition: dict[str, Any]) -> Self:
        """Compile a validated definition."""
        reward = definition.get("reward") or {}
        return cls(
            id=challenge_id,
            version=version,
            name=definition["name"],
            definition=definition,
            window=Window.of(definition),
            goal=Goal.of(definition),
            opt_in=definition.get("join") == "opt_in",
            repeatable=bool(definition.get("repeatable")),
            reward_points=int(reward.get("points") or 0),
            badge_id=reward.get("badge_id"),
            conditions=Conditions.compile(definition.get("conditions")),
            audience=Audience.compile(definition.get("audience")),
        )

    @property
    def needs_tally(self) -> bool:
        """Whether progress needs the period's purchases (distinct sets, streak days)."""
        return self.goal.type in NEEDS_TALLY

    def index_keys(self) -> list[tuple[str, str]]:
        """Where a `RuleIndex` files it (its conditions' most selective dimension)."""
        return self.conditions.index_keys()

    def period_for(
        self, p: Purchase, s: Shopper, zone: ZoneInfo, joined_at: datetime | None
    ) -> str | None:
        """The period `p` counts towards, or None if it does not qualify: in the window,
        conditions met, audience admitting `s` that day, and joined by then when opt-in."""
        period = self.window.period_of(p.occurred_at, zone)
        if period is None or not self.admits(p, s, zone, joined_at):
            return None
        return period

    def admits(self, p: Purchase, s: Shopper, zone: ZoneInfo, joined_at: datetime | None) -> bool:
        """Whether `p` qualifies, its window aside (`period_for` with the window checked)."""
        if not joined_in_time("opt_in" if self.opt_in else "automatic", joined_at, p.occurred_at):
            return False
        if not self.conditions.matches(p, s, zone):
            return False
        return self.audience.everyone or self.audience.admits(
            s, p.occurred_at.astimezone(zone).date()
        )


@dataclass
class ChallengeSet:
    """A program's live challenges at one rules revision, indexed by place."""

    challenges: list[CompiledChallenge]
    zone: ZoneInfo

    def __post_init__(self) -> None:
        self.index: RuleIndex[CompiledChallenge] = RuleIndex(self.challenges)
        self.segment_ids = {
            c.audience.segment_id for c in self.challenges if c.audience.segment_id is not None
        }
        self.opt_in = {c.id for c in self.challenges if c.opt_in}
        self.new_merchants = any(c.conditions.first_purchase_at_merchant for c in self.challenges)
        # Challenges share few windows: each gets the slot of its (equal) window, so a
        # purchase's period is worked out once per window, looked up by a plain int.
        slots: dict[Window, int] = {}
        self.window_slot = {c.id: slots.setdefault(c.window, len(slots)) for c in self.challenges}
        self.windows = list(slots)


_SETS: dict[tuple[int, int], ChallengeSet] = {}


def challenge_set(program_id: int, revision: int, zone: ZoneInfo) -> ChallengeSet:
    """The program's live challenges, compiled once per rules revision in this process."""
    key = (program_id, revision)
    if key not in _SETS:
        rows = _current_versions(
            (Challenge.program_id == program_id, Challenge.status.in_(LIVE)),
        )
        # Highest priority first (then oldest): the order of awards in one purchase.
        compiled = sorted(
            (CompiledChallenge.compile(cid, v, d) for cid, v, d in rows),
            key=lambda c: (-int(c.definition.get("priority") or 0), c.id),
        )
        for stale in [k for k in _SETS if k[0] == program_id]:
            del _SETS[stale]
        _SETS[key] = ChallengeSet(compiled, zone)
    return _SETS[key]


def warm_challenge_sets() -> None:
    """Compile every program's live challenges at its current revision, ahead of the chunks:
    the worker calls this before it forks each job's work horse, which inherits them (as
    campaigns' `warm_rulesets`). A change committed later is still seen: the horse reads the
    revision under the rules lock and compiles the new one itself."""
    for program_id, revision, zone in db.session.execute(
        select(Program.id, Program.rules_revision, Program.timezone)
    ):
        challenge_set(program_id, revision, ZoneInfo(zone))


def compiled_challenges(challenge_ids: Collection[int]) -> dict[int, CompiledChallenge]:
    """These challenges' current versions compiled, whatever their status (refunds reach
    challenges that ended or were paused since)."""
    if not challenge_ids:
        return {}
    rows = _current_versions((Challenge.id.in_(sorted(challenge_ids)),))
    return {cid: CompiledChallenge.compile(cid, v, d) for cid, v, d in rows}


def _current_versions(where: Iterable[Any]) -> list[tuple[int, int, dict[str, Any]]]:
    stmt = (
        select(Challenge.id, ChallengeVersion.version, ChallengeVersion.definition)
        .join(
            ChallengeVersion,
            (ChallengeVersion.challenge_id == Challenge.id)
            & (ChallengeVersion.version == Challenge.current_version),
        )
        .where(*where)
        .order_by(Challenge.id)
    )
    return [(cid, version, definition) for cid, version, definition in db.session.execute(stmt)]


def forget_challenge_sets() -> None:
    """Drop every cached challenge set (tests restart ids and revisions between cases)."""
    _SETS.clear()
