"""Challenge definitions: the fields only challenges have, checked in full before anything
is stored.

`validate_challenge` returns the normalised definition (defaults filled in, timestamps in UTC
with `Z`) or raises InvalidInput naming every problem at once by its path (`goal.target`,
`window.period`, `reward.points`); nothing is accepted partially. The sections challenges
share with campaigns, `conditions` and `audience`, belong to the shared condition language:
the caller passes its validator as `shared_sections`, and its errors join the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from campaigns.challenges.goals import GOAL_TYPES, STREAK_UNITS
from campaigns.challenges.windows import FIXED, MONTH, RECURRING, WEEK
from campaigns.rules.checking import Checker, iso
from rewards.errors import InvalidInput
from rewards.mcc import CATEGORIES

# (section name, raw value) -> (normalised value, errors by full path, e.g. `conditions.mccs.2`).
SectionValidator = Callable[[str, Any], tuple[Any, dict[str, list[str]]]]

TOP_LEVEL = (
    "name",
    "description",
    "goal",
    "window",
    "join",
    "repeatable",
    "reward",
    "sponsor",
    "priority",
    "conditions",
    "audience",
)
SHARED_SECTIONS = ("conditions", "audience")
JOIN_MODES = ("opt_in", "automatic")
MAX_REWARD_POINTS = 1_000_000
MAX_XP = 100_000
MAX_ID = 2**63 - 1
# Largest target per goal type: a typo must not make a goal nobody can reach. Cash-like and
# gambling categories never qualify, so they are not there to be collected.
MAX_TARGET = {
    "count": 10_000,
    "spend": 10**12,
    "distinct_merchants": 1_000,
    "distinct_categories": len(CATEGORIES) - 2,
    "streak": 366,
}
# The longest streak every period of a recurring window can hold (February has 28 days and
# always holds 4 whole ISO weeks; a week holds no streak of weeks).
PERIOD_STREAK_LIMIT = {(WEEK, "days"): 7, (MONTH, "days"): 28, (MONTH, "weeks"): 4}


class _Problems(Checker):
    """The shared checks (`campaigns.rules.Checker`), plus an object's known keys with the
    required ones checked in one call."""

    def fields(
        self, value: Any, path: str, allowed: Iterable[str], required: Iterable[str] = ()
    ) -> dict[str, Any]:
        """The known, non-null keys of an object; unknown and missing keys are problems."""
        if value is None:
            self.fail(path or "_body", "Must be an object.")
            return {}
        known = self.obj(value, path, allowed)
        if isinstance(value, dict):
            self.require(known, path, required)
        return known


def validate_challenge(raw: Any, *, shared_sections: SectionValidator) -> dict[str, Any]:
    """The normalised challenge definition, or InvalidInput listing every problem by path.

    `shared_sections(name, value)` validates `conditions` and `audience` (only those present)
    with the shared condition language and returns the normalised section and its errors.
    """
    p = _Problems()
    if not isinstance(raw, dict):
        p.fail("_body", "Must be an object.")
        raise InvalidInput("A challenge definition is a JSON object.", errors=p.errors)
    d = p.fields(raw, "", TOP_LEVEL, required=("name", "goal", "window"))
    window = _window(p, d["window"]) if "window" in d else None
    definition: dict[str, Any] = {
        "name": p.text(d["name"], "name", 200) if "name" in d else None,
        "description": p.text(d["description"], "description", 1000)
        if "description" in d
        else None,
        "goal": _goal(p, d["goal"], window) if "goal" in d else None,
        "window": window,
        "join": p.choice(d.get("join", "automatic"), "join", JOIN_MODES),
        "repeatable": _repeatable(p, d.get("repeatable", False), window),
        "reward": _reward(p, d.get("reward", {})),
        "sponsor": p.text(d["sponsor"], "sponsor", 64) if "sponsor" in d else None,
        "priority": p.integer(d.get("priority", 100), "priority", 0, 1000),
    }
    for section in SHARED_SECTIONS:
        value, errors = shared_sections(section, d[section]) if section in d else ({}, {})
        definition[section] = value
        for path, messages in errors.items():
            for message in messages:
                p.fail(path, message)
    if p.errors:
        raise InvalidInput("The challenge definition is not valid; see errors.", errors=p.errors)
    return definition


def _window(p: _Problems, value: Any) -> dict[str, Any] | None:
    keys = ("type", "period", "starts_at", "ends_at")
    w = p.fields(value, "window", keys, required=("type", "starts_at"))
    kind = p.choice(w["type"], "window.type", (FIXED, RECURRING)) if "type" in w else None
    period = None
    if kind == RECURRING and "period" not in w:
        p.fail("window.period", "Required for a recurring window.")
    elif kind == FIXED and "period" in w:
        p.fail("window.period", "Only for a recurring window (week or month).")
    elif "period" in w:
        period = p.choice(w["period"], "window.period", (WEEK, MONTH))
    starts = p.timestamp(w["starts_at"], "window.starts_at") if "starts_at" in w else None
    ends = p.timestamp(w["ends_at"], "window.ends_at") if "ends_at" in w else None
    if starts and ends and ends <= starts:
        p.fail("window.ends_at", "Must be after window.starts_at.")
        return None
    if kind is None or starts is None or (kind == RECURRING and period is None):
        return None
    window: dict[str, Any] = {"type": kind, "starts_at": iso(starts), "ends_at": None}
    if ends is not None:
        window["ends_at"] = iso(ends)
    if kind == RECURRING:
        window["period"] = period
    return window


def _goal(p: _Problems, value: Any, window: dict[str, Any] | None) -> dict[str, Any] | None:
    g = p.fields(value, "goal", ("type", "target", "unit"), required=("type", "target"))
    kind = p.choice(g["type"], "goal.type", GOAL_TYPES) if "type" in g else None
    unit = None
    if kind == "streak":
        if "unit" not in g:
            p.fail("goal.unit", "Required for a streak: days or weeks.")
        else:
            unit = p.choice(g["unit"], "goal.unit", STREAK_UNITS)
    elif kind is not None and "unit" in g:
        p.fail("goal.unit", "Only for a streak goal.")
    if kind is None or "target" not in g:
        return None
    high = _streak_limit(p, unit, window) if kind == "streak" else MAX_TARGET[kind]
    if high is None:
        return None
    target = p.integer(g["target"], "goal.target", 1, high)
    if target is None or (kind == "streak" and unit is None):
        return None
    return {"type": kind, "target": target, **({"unit": unit} if unit else {})}


def _streak_limit(p: _Problems, unit: str | None, window: dict[str, Any] | None) -> int | None:
    """The longest streak the window can hold, or None after naming why it holds none."""
    if unit is None or window is None:
        return MAX_TARGET["streak"] if unit == "days" else 53
    if window["type"] == RECURRING:
        limit = PERIOD_STREAK_LIMIT.get((window["period"], unit))
        if limit is None:
            p.fail("goal.unit", "A weekly window holds one week; count weeks over a month or more.")
        return limit
    if window["ends_at"] is None:
        return MAX_TARGET["streak"] if unit == "days" else 53
    span = datetime.fromisoformat(window["ends_at"]) - datetime.fromisoformat(window["starts_at"])
    # A window of n days touches at most n + 1 local days (and weeks likewise).
    length = timedelta(days=1) if unit == "days" else timedelta(weeks=1)
    return min(-(-span // length) + 1, MAX_TARGET["streak"] if unit == "days" else 53)


def _repeatable(p: _Problems, value: Any, window: dict[str, Any] | None) -> bool | None:
    repeatable = p.boolean(value, "repeatable")
    if repeatable and window is not None and window["type"] == FIXED:
        p.fail("repeatable", "A fixed window is one period; only a recurring window repeats.")
        return None
    return repeatable


def _reward(p: _Problems, value: Any) -> dict[str, Any] | None:
    r = p.fields(value, "reward", ("points", "badge_id", "xp"))
    reward: dict[str, Any] = {
        "points": p.integer(r.get("points", 0), "reward.points", 0, MAX_REWARD_POINTS)
    }
    if "badge_id" in r:
        reward["badge_id"] = p.integer(r["badge_id"], "reward.badge_id", 1, MAX_ID)
    if "xp" in r:
        reward["xp"] = p.integer(r["xp"], "reward.xp", 0, MAX_XP)
    return reward
