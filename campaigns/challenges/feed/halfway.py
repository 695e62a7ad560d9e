"""Progress milestones of challenge periods for the activity feed: "halfway there".

A purchase that takes a period from below half its target to at least half, without
completing it, sets the period's `halfway_at` (the purchase's time) in the same progress
row write as its progress: at most once per period, however often refunds take it back below
half and purchases above it again (it is never cleared), and a re-run of the chunk changes
nothing. Half is rounded up (2 of 3, 3 of 5, ¥2,501 of ¥5,001); a target of 1 has no
halfway point (its first purchase completes it). When purchases arrive out of time order
and the one that completes the period is older than the one that passed half, the halfway
moment is dropped at completion: the feed shows the completion alone.
"""

from __future__ import annotations

from campaigns.challenges.wording import money


def halfway(target: int) -> int:
    """The value at which a period is halfway to `target` (rounded up)."""
    return (target + 1) // 2


def reached(before: int, after: int, target: int) -> bool:
    """Whether going from `before` to `after` passes halfway without completing."""
    half = halfway(target)
    return target > 1 and before < half <= after < target


def milestone_title(name: str, goal_type: str, target: int, currency: str) -> str:
    """The activity feed's line: "Halfway there: Coffee week (2 of 3)"; spend goals in money
    ("half of ¥5,000": a purchase may pass half by any amount)."""
    if goal_type == "spend":
        return f"Halfway there: {name} (half of {money(target, currency)})"
    return f"Halfway there: {name} ({halfway(target)} of {target})"
