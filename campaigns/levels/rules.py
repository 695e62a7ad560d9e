"""XP rules and the level ladder as pure values: defaults, validation with exact paths, the
XP a customer's facts are worth and the level an XP total reaches.

XP is a pure function of what a customer did that still stands (see `Facts`): points earned
by activity net of what clawbacks took back, challenge periods completed and not revoked, and
streak days. `floor(points × per_point)` is taken once, on the exact product (rates are
`Fraction`s parsed from decimal strings): a point's tenth of an XP is never rounded away
on its own, so XP never depends on how earning was split into lots.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

# What a program without `xp_rules` (or with some keys unset) gets: 1 XP per 10 points,
# 50 XP per challenge completed, 5 XP per streak day.
DEFAULT_RULES: dict[str, Any] = {"per_point": "0.1", "per_challenge": 50, "per_streak_day": 5}
MAX_PER_POINT = Decimal(100)
# Plain decimals only ("0.1", "12.5"; no exponent, sign or spaces): what the spec documents.
PER_POINT_PATTERN = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,4})?")
MAX_PER_EVENT = 10_000
MAX_LEVELS = 100
MAX_LEVEL_XP = 10**15  # far beyond any XP a lifetime can earn, well inside a bigint
MAX_NAME = 64


@dataclass(frozen=True)
class XpRules:
    """A program's XP rates (exact)."""

    per_point: Fraction
    per_challenge: int
    per_streak_day: int

    @classmethod
    def from_stored(cls, stored: dict[str, Any] | None) -> XpRules:
        """The rules of `programs.xp_rules` (validated when stored), defaults for unset keys."""
        rules = {**DEFAULT_RULES, **(stored or {})}
        return cls(
            per_point=Fraction(Decimal(str(rules["per_point"]))),
            per_challenge=int(rules["per_challenge"]),
            per_streak_day=int(rules["per_streak_day"]),
        )


@dataclass(frozen=True)
class Facts:
    """What one customer's XP is made of: `points` earned by activity (earn, bonus and
    challenge reward lots, less the clawbacks taken from lots), `challenges` periods completed
    and not revoked, `streak_days` distinct local days with a purchase still counting towards
    a streak challenge."""

    points: int = 0
    challenges: int = 0
    streak_days: int = 0


def xp_for(facts: Facts, rules: XpRules) -> int:
    """The XP `facts` are worth under `rules` (never negative)."""
    from_points = (max(facts.points, 0) * rules.per_point).__floor__()
    return (
        from_points
        + rules.per_challenge * max(facts.challenges, 0)
        + rules.per_streak_day * max(facts.streak_days, 0)
    )


def level_for(xp: int, thresholds: list[int]) -> int:
    """The level an XP total reaches on a ladder of ascending thresholds (level n at
    `thresholds[n - 1]`); level 1 on an empty ladder."""
    return max(1, bisect_right(thresholds, xp))


def validate_config(raw: Any) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, list[str]]]:
    """Check a `{"xp_rules": {...}, "levels": [...]}` document: the normalised rules (only the
    keys given), the ladder rows, and every problem by exact path (empty when valid)."""
    errors: dict[str, list[str]] = {}
    if not isinstance(raw, dict):
        return {}, [], {"_schema": ["Must be an object with xp_rules and levels."]}
    for key in sorted(set(raw) - {"xp_rules", "levels"}):
        errors[key] = ["Unknown field."]
    for key in ("xp_rules", "levels"):  # a PUT replaces both: none is dropped by omission
        if key not in raw:
            errors[key] = ["Missing data for required field."]
    rules = _check_rules(raw.get("xp_rules", {}), errors)
    ladder = _check_levels(raw.get("levels", []), errors)
    return rules, ladder, errors


def _check_rules(raw: Any, errors: dict[str, list[str]]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        errors["xp_rules"] = ["Must be an object."]
        return {}
    rules: dict[str, Any] = {}
    for key in sorted(set(raw) - set(DEFAULT_RULES)):
        errors[f"xp_rules.{key}"] = ["Unknown field."]
    if "per_point" in raw:
        rate = _decimal_rate(raw["per_point"])
        if rate is None:
            errors["xp_rules.per_point"] = [
                'Must be a decimal string from "0" to "100" with at most 4 decimals.'
            ]
        else:
            rules["per_point"] = f"{rate.normalize():f}"
    for key in ("per_challenge", "per_streak_day"):
        if key not in raw:
            continue
        value = raw[key]
        if type(value) is not int or not 0 <= value <= MAX_PER_EVENT:
            errors[f"xp_rules.{key}"] = [f"Must be a whole number from 0 to {MAX_PER_EVENT}."]
        else:
            rules[key] = value
    return rules


def _decimal_rate(value: Any) -> Decimal | None:
    """`value` as a Decimal in 0..100 with at most 4 decimals, or None."""
    if not isinstance(value, str) or not PER_POINT_PATTERN.fullmatch(value):
        return None
    try:
        rate = Decimal(value)
    except InvalidOperation:
        return None
    return rate if 0 <= rate <= MAX_PER_POINT else None


def _check_levels(raw: Any, errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        errors["levels"] = ["Must be a list."]
        return []
    if len(raw) > MAX_LEVELS:
        errors["levels"] = [f"At most {MAX_LEVELS} levels."]
        return []
    ladder: list[dict[str, Any]] = []
    previous: int | None = None
    for index, row in enumerate(raw):
        if not isinstance(row, dict):
            errors[f"levels.{index}"] = ["Must be an object with level, xp and name."]
            previous = None
            continue
        previous = _check_level(index, row, previous, errors)
        ladder.append({"level": index + 1, "xp": row.get("xp"), "name": row.get("name")})
    return ladder


def _check_level(
    index: int, row: dict[str, Any], previous: int | None, errors: dict[str, list[str]]
) -> int | None:
    """Check the ladder's row `index`; its XP if valid (what the next row must exceed)."""
    path = f"levels.{index}"
    for key in sorted(set(row) - {"level", "xp", "name"}):
        errors[f"{path}.{key}"] = ["Unknown field."]
    level, xp, name = row.get("level"), row.get("xp"), row.get("name")
    if type(level) is not int or level != index + 1:
        errors[f"{path}.level"] = [f"Must be {index + 1}: levels run 1, 2, 3… in order."]
    if name is not None and (not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME):
        errors[f"{path}.name"] = [f"Must be text of 1 to {MAX_NAME} characters."]
    if type(xp) is not int or not 0 <= xp <= MAX_LEVEL_XP:
        errors[f"{path}.xp"] = [f"Must be a whole number from 0 to {MAX_LEVEL_XP}."]
        return None
    if index == 0 and xp != 0:
        errors[f"{path}.xp"] = ["Level 1 starts at 0 XP."]
    elif previous is not None and xp <= previous:
        errors[f"{path}.xp"] = ["Must be more than the previous level's XP."]
    return xp
