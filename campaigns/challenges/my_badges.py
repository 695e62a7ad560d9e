"""What a cardholder sees of badges: the ones they earned, and the program's active ones still
to earn with their progress — milestones computed on read (`campaigns.challenges.badges`),
a challenge badge from the challenge that awards it (`campaigns.challenges.views`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from campaigns.challenges.badges import Milestones, Progress, active_badges, held_badges
from campaigns.challenges.models import Badge
from campaigns.challenges.views import MyChallenge, my_challenges
from campaigns.challenges.windows import local_day
from campaigns.resources import load_program
from rewards.balances import find_customer, zone


@dataclass(frozen=True)
class EarnedBadge:
    """A badge the customer holds (it stays when a challenge reward is clawed back)."""

    badge: Badge
    awarded_at: datetime
    source: str
    challenge_id: int | None  # the challenge that awarded it (source `challenge`)


@dataclass(frozen=True)
class BadgeToEarn:
    """An active badge the customer does not hold yet, and how far they are."""

    badge: Badge
    progress: Progress | None  # None: no challenge open to the customer awards it now
    challenge_id: int | None  # for a challenge badge, the challenge the progress is in


@dataclass(frozen=True)
class MyBadges:
    earned: list[EarnedBadge]
    to_earn: list[BadgeToEarn]


def my_badges(*, program_id: int, external_ref: str, now: datetime) -> MyBadges:
    """The badges the customer earned, and the program's active badges still to earn with
    progress: milestones from their purchases, streaks and points; a challenge badge from
    the challenge that awards it (active first, else one open to join)."""
    customer = find_customer(program_id=program_id, external_ref=external_ref)
    held = held_badges(customer.id)
    earned = [
        EarnedBadge(badge, h.awarded_at, h.source, h.source_id if h.source == "challenge" else None)
        for badge, h in held
    ]
    program = load_program(program_id)
    milestones = Milestones(program_id, customer.id, local_day(now, zone(program.timezone)))
    open_challenges: list[MyChallenge] | None = None  # read once, if a challenge badge asks
    to_earn = []
    for badge in active_badges(program_id, except_ids=[b.id for b, _ in held]):
        if badge.criteria["type"] != "challenge":
            to_earn.append(BadgeToEarn(badge, milestones.progress(badge.criteria), None))
            continue
        if open_challenges is None:
            mine = my_challenges(program_id=program_id, external_ref=external_ref, now=now)
            open_challenges = [*mine.active, *mine.available]
        awarding = [c for c in open_challenges if c.reward.get("badge", {}).get("id") == badge.id]
        if not awarding:
            to_earn.append(BadgeToEarn(badge, None, None))
            continue
        first = awarding[0]
        target = first.definition["goal"]["target"]
        progress = first.progress or Progress(0, target)
        to_earn.append(BadgeToEarn(badge, progress, first.challenge.id))
    return MyBadges(earned, to_earn)
