"""A program's tier ladder as marketers configure it: read, validate, replace whole.

A ladder is 1 to 10 tiers `{code, name, threshold, earn_multiplier}`: distinct codes and
thresholds, one tier at threshold 0 with multiplier 1 (the base tier), multipliers between
1 and 9999.9999 (4 decimals) that never fall as thresholds rise. Replacing it takes the
program's rules lock (feed chunks finish with the old multipliers first), bumps the rules
revision and writes one audit row. Customers holding a code the new ladder lacks count as
the base tier (`Ladder.get`) until their next purchase or review reassesses them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from sqlalchemy import delete, insert, select

from rewards.db import db
from rewards.errors import InvalidInput
from rewards.models import Program
from rewards.pan import mask_pans
from rewards.programs import lock_rules, record_rule_change
from rewards.textsafe import storable
from rewards.tiers.ladder import Ladder, ProgramLadder, Tier
from rewards.tiers.models import ProgramTier

FIELDS = ("code", "name", "threshold", "earn_multiplier")
CODE_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
MAX_TIERS = 10
MAX_NAME = 64
MAX_THRESHOLD = 10**15  # far above anything earnable in a year, far below BIGINT
MAX_MULTIPLIER = Decimal("9999.9999")  # NUMERIC(8, 4)


def ladder_rows(program_id: int) -> list[ProgramTier]:
    """The program's tiers, lowest threshold first (empty: the program has no tiers)."""
    stmt = (
        select(ProgramTier)
        .where(ProgramTier.program_id == program_id)
        .order_by(ProgramTier.threshold)
    )
    return list(db.session.scalars(stmt))


def ladders_for(program_ids: Iterable[int]) -> dict[int, ProgramLadder]:
    """The ladders of those programs that have tiers, with their timezones: one query."""
    ids = sorted(set(program_ids))
    if not ids:
        return {}
    stmt = (
        select(ProgramTier, Program.timezone)
        .join(Program, Program.id == ProgramTier.program_id)
        .where(ProgramTier.program_id.in_(ids))
        .order_by(ProgramTier.program_id, ProgramTier.threshold)
    )
    tiers: dict[int, list[Tier]] = {}
    zones: dict[int, str] = {}
    for row, timezone in db.session.execute(stmt):
        tiers.setdefault(row.program_id, []).append(as_tier(row))
        zones[row.program_id] = timezone
    return {p: ProgramLadder(p, Ladder(found), zones[p]) for p, found in tiers.items()}


def all_ladders() -> dict[int, ProgramLadder]:
    """Every program's ladder (programs without tiers absent)."""
    return ladders_for(db.session.scalars(select(ProgramTier.program_id).distinct()))


def as_tier(row: ProgramTier) -> Tier:
    return Tier(row.code, row.name, int(row.threshold), Fraction(row.earn_multiplier))


def snapshot(rows: Iterable[ProgramTier]) -> list[dict[str, Any]]:
    """JSON-ready tiers (the API's and the audit log's shape)."""
    return [
        {
            "code": row.code,
            "name": row.name,
            "threshold": int(row.threshold),
            "earn_multiplier": format(Decimal(row.earn_multiplier).normalize(), "f"),
        }
        for row in rows
    ]


def replace_ladder(*, program_id: int, body: Any, actor: str, actor_role: str) -> list[ProgramTier]:
    """Replace the program's whole ladder with `body["tiers"]` (checked by `validate_ladder`);
    nothing is stored when any tier is invalid. The caller commits."""
    tiers = validate_ladder(body)
    lock_rules(program_id)
    before = snapshot(ladder_rows(program_id))
    db.session.execute(delete(ProgramTier).where(ProgramTier.program_id == program_id))
    db.session.execute(
        insert(ProgramTier),
        [{"program_id": program_id, **tier} for tier in tiers],
    )
    rows = ladder_rows(program_id)
    record_rule_change(
        program_id,
        object_type="tier_ladder",
        object_id=program_id,
        action="tiers.replace",
        before={"tiers": before},
        after={"tiers": snapshot(rows)},
        actor=actor,
        actor_role=actor_role,
    )
    return rows


# --- validation ----------------------------------------------------------------------------


def validate_ladder(body: Any) -> list[dict[str, Any]]:
    """`body` (`{"tiers": [...]}`) as rows to store, lowest threshold first; InvalidInput
    names every problem by its path (`tiers.1.threshold`), all at once."""
    if not isinstance(body, dict):
        raise InvalidInput("A ladder is a JSON object.", errors={"_body": ["Must be an object."]})
    errors: dict[str, list[str]] = {str(key): ["Unknown field."] for key in body if key != "tiers"}
    raw = body.get("tiers")
    if not isinstance(raw, list):
        errors["tiers"] = ["Must be a list of tiers." if "tiers" in body else "Missing data."]
        raise InvalidInput("The tier ladder is not valid; see errors.", errors=errors)
    if not 1 <= len(raw) <= MAX_TIERS:
        errors["tiers"] = [f"Between 1 and {MAX_TIERS} tiers."]
    tiers: list[dict[str, Any] | None] = []
    found: list[dict[str, Any]] = []  # each tier's acceptable fields, for duplicates
    for index, item in enumerate(raw):
        values, problems = _tier(item, f"tiers.{index}")
        found.append(values)
        tiers.append(None if problems else values)
        for path, message in problems:
            errors.setdefault(path, []).append(message)
    for path, message in _duplicates(found) + _ladder_problems(tiers):
        errors.setdefault(path, []).append(message)
    if errors:
        raise InvalidInput("The tier ladder is not valid; see errors.", errors=errors)
    return sorted((t for t in tiers if t is not None), key=lambda t: t["threshold"])


def _tier(item: Any, at: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """One tier checked field by field: its acceptable values and the problems."""
    if not isinstance(item, dict):
        return {}, [(at, "Must be an object.")]
    problems = [(f"{at}.{key}", "Unknown field.") for key in item if key not in FIELDS]
    problems += [(f"{at}.{key}", "Missing data.") for key in FIELDS if key not in item]
    values: dict[str, Any] = {}
    checks = {
        "code": _code,
        "name": _name,
        "threshold": _threshold,
        "earn_multiplier": _multiplier,
    }
    for key, check in checks.items():
        if key in item:
            value, message = check(item[key])
            if message:
                problems.append((f"{at}.{key}", message))
            else:
                values[key] = value
    return values, problems


def _code(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, str) or not CODE_PATTERN.fullmatch(value):
        return None, "1-32 characters: lowercase letters, digits, dashes and underscores."
    return value, None


def _name(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, str) or not value.strip():
        return None, "Must be a non-empty string."
    if len(value) > MAX_NAME or not storable(value):
        return None, f"At most {MAX_NAME} characters of storable text."
    return mask_pans(value), None  # display text: kept, any card number masked


def _threshold(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, bool) or not isinstance(value, int):
        return None, "Must be a whole number of points."
    if not 0 <= value <= MAX_THRESHOLD:
        return None, f"Must be between 0 and {MAX_THRESHOLD}."
    return value, None


def _multiplier(value: Any) -> tuple[Any, str | None]:
    """A decimal string or number, 1 to 9999.9999 with at most 4 decimals."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None, 'Must be a decimal number such as "1.25".'
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None, 'Must be a decimal number such as "1.25".'
    if not number.is_finite() or not 1 <= number <= MAX_MULTIPLIER:
        return None, f"Must be between 1 and {MAX_MULTIPLIER}."
    if number != number.quantize(Decimal("0.0001")):
        return None, "At most 4 decimal places."
    return number.quantize(Decimal("1.0000")), None


def _duplicates(tiers: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Codes and thresholds listed twice, named at their second listing."""
    problems: list[tuple[str, str]] = []
    seen: dict[str, set[Any]] = {"code": set(), "threshold": set()}
    for index, tier in enumerate(tiers):
        for key, values in seen.items():
            value = tier.get(key)
            if value is None:
                continue
            if value in values:
                problems.append((f"tiers.{index}.{key}", "Listed twice."))
            values.add(value)
    return problems


def _ladder_problems(tiers: list[dict[str, Any] | None]) -> list[tuple[str, str]]:
    """Rules between tiers: distinct codes and thresholds, a base tier at 0 with multiplier 1,
    multipliers that never fall as thresholds rise (duplicates: `_duplicates`)."""
    problems: list[tuple[str, str]] = []
    complete = [(i, t) for i, t in enumerate(tiers) if t is not None]
    if not tiers or len(complete) < len(tiers):
        return problems  # the rules between tiers are judged once every tier is readable
    base = [(i, t) for i, t in complete if t["threshold"] == 0]
    if not base:
        problems.append(("tiers", "One tier must have threshold 0 (the base tier)."))
    for index, tier in base:
        if tier["earn_multiplier"] != 1:
            problems.append((f"tiers.{index}.earn_multiplier", "The base tier's must be 1."))
    for index, tier in complete:
        lower = [t["earn_multiplier"] for _, t in complete if t["threshold"] < tier["threshold"]]
        if lower and tier["earn_multiplier"] < max(lower):
            problems.append((f"tiers.{index}.earn_multiplier", "Must not be below a lower tier's."))
    return problems
