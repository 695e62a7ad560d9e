"""Campaign definitions: the rules a marketer writes, checked in full before anything is stored.

`validate_definition` returns the normalised definition (defaults filled in, timestamps in UTC
with `Z`, the effect value as a decimal string) or raises InvalidInput naming every problem by
its field path, e.g. `conditions.mccs.2`. `campaigns.earning.compiled.Campaign.compile` reads
the result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from campaigns.earning.compiled import PERIODS
from rewards.errors import InvalidInput
from rewards.mcc import CATEGORIES

T = TypeVar("T")

TOP_LEVEL = (
    "name",
    "starts_at",
    "ends_at",
    "priority",
    "stackable",
    "requires_activation",
    "audience",
    "conditions",
    "effect",
    "caps",
    "budget_points",
    "max_participants",
)
REQUIRED = ("name", "starts_at", "effect")
AUDIENCE = ("segment_id", "tiers", "min_age", "max_age")
CHANNELS = ("in_store", "online", "contactless")
EFFECT_TYPES = ("multiplier", "fixed_bonus", "points_per_unit", "percent_of_spend")
# Program exclusions (cash-like spending, gambling) protect minors; no campaign may target them.
REFUSED_CATEGORIES = ("cash_like", "gambling")
# Largest effect value per type: a typo must not mint millions of points.
EFFECT_MAXIMUM = {
    "multiplier": Decimal(100),
    "fixed_bonus": Decimal(1_000_000),
    "points_per_unit": Decimal(10_000),
    "percent_of_spend": Decimal(100),
}
MAX_AMOUNT = 10**12  # points, minor units and counts
MAX_ITEMS = 1000
MAX_ID = 2**63 - 1
MCC_ENTRY = re.compile(r"^([0-9]{4})(?:-([0-9]{4}))?$")
HH_MM = re.compile(r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$")
REQUIRED_MESSAGE = "Missing data for required field."


def _join(path: str, key: str | int) -> str:
    return f"{path}.{key}" if path else str(key)


class _Checker:
    """Collects every problem of one definition under its field path."""

    def __init__(self, excluded_mccs: Iterable[str]) -> None:
        self.errors: dict[str, list[str]] = {}
        self.excluded_mccs = frozenset(excluded_mccs)

    def fail(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def obj(self, value: Any, path: str, allowed: Iterable[str]) -> dict[str, Any]:
        """The known, non-null keys of an object; unknown keys are errors."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path or "_body", "Must be an object.")
            return {}
        allowed = tuple(allowed)
        for key in value:
            if key not in allowed:
                self.fail(_join(path, key), "Unknown field.")
        return {k: v for k, v in value.items() if k in allowed and v is not None}

    def require(self, values: dict[str, Any], path: str, keys: Iterable[str]) -> bool:
        missing = [key for key in keys if key not in values]
        for key in missing:
            self.fail(_join(path, key), REQUIRED_MESSAGE)
        return not missing

    def record(self, value: Any, path: str, keys: tuple[str, ...]) -> dict[str, Any] | None:
        """An object with exactly `keys` (all required), or None after naming what is wrong."""
        if not isinstance(value, dict):
            self.fail(path, "Must be an object.")
            return None
        values = self.obj(value, path, keys)
        return values if self.require(values, path, keys) else None

    def integer(self, value: Any, path: str, low: int, high: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, "Must be an integer.")
            return None
        if not low <= value <= high:
            self.fail(path, f"Must be between {low} and {high}.")
            return None
        return value

    def positive(self, value: Any, path: str) -> int | None:
        return self.integer(value, path, 1, MAX_AMOUNT)

    def boolean(self, value: Any, path: str) -> bool | None:
        if not isinstance(value, bool):
            self.fail(path, "Must be true or false.")
            return None
        return value

    def text(self, value: Any, path: str, max_length: int = 64) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.fail(path, "Must be a non-empty string.")
            return None
        if len(value) > max_length or "\x00" in value:
            self.fail(path, f"At most {max_length} characters, without NUL.")
            return None
        return value

    def choice(self, value: Any, path: str, choices: Iterable[str]) -> str | None:
        choices = tuple(choices)
        if not isinstance(value, str) or value not in choices:
            self.fail(path, f"Must be one of: {', '.join(choices)}.")
            return None
        return value

    def items(self, value: Any, path: str, check: Callable[[Any, str], T | None]) -> list[T]:
        """Each element of a list checked by `check(element, path.index)`."""
        if not isinstance(value, list):
            self.fail(path, "Must be a list.")
            return []
        if len(value) > MAX_ITEMS:
            self.fail(path, f"At most {MAX_ITEMS} entries.")
            return []
        checked = (check(item, _join(path, i)) for i, item in enumerate(value))
        return [item for item in checked if item is not None]

    def timestamp(self, value: Any, path: str) -> datetime | None:
        moment = None
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                moment = None
        if moment is None or moment.tzinfo is None:
            self.fail(path, "Must be an ISO-8601 timestamp with a zone, e.g. 2026-04-01T00:00:00Z.")
            return None
        if not 2000 <= moment.year <= 2100:
            self.fail(path, "Must be between the years 2000 and 2100.")
            return None
        return moment.astimezone(UTC)

    def category(self, value: Any, path: str) -> str | None:
        category = self.choice(value, path, CATEGORIES)
        if category in REFUSED_CATEGORIES:
            self.fail(path, "Excluded by every program (cash-like, gambling); cannot be targeted.")
            return None
        return category

    def mcc(self, value: Any, path: str) -> str | None:
        match = MCC_ENTRY.match(value) if isinstance(value, str) else None
        if match is None:
            self.fail(path, 'Must be 4 digits ("5812") or a range ("5811-5814").')
            return None
        low, high = match.group(1), match.group(2)
        if high is not None and low > high:
            self.fail(path, "The range's low end is above its high end.")
            return None
        if high is None and value in self.excluded_mccs:
            self.fail(path, "Excluded by the program (never earns); cannot be targeted.")
            return None
        # Four-digit strings compare like the numbers they spell.
        covered = sorted(m for m in self.excluded_mccs if high and low <= m <= high)
        if covered:
            self.fail(
                path,
                f"The range covers {', '.join(covered)}, excluded by the program (never earns); "
                "split it around them.",
            )
            return None
        return value

    def weekday(self, value: Any, path: str) -> int | None:
        return self.integer(value, path, 1, 7)

    def channel(self, value: Any, path: str) -> str | None:
        return self.choice(value, path, CHANNELS)


def validate_definition(raw: Any, *, excluded_mccs: Iterable[str] = ()) -> dict[str, Any]:
    """The normalised definition, or InvalidInput listing every problem by field path.

    `excluded_mccs` are the program's: a campaign may not name one of them, alone or inside
    a range (a marketer would otherwise see a bonus promised on spending that never earns).
    """
    if not isinstance(raw, dict):
        raise InvalidInput(
            "A campaign definition is a JSON object.", errors={"_body": ["Must be an object."]}
        )
    c = _Checker(excluded_mccs)
    d = c.obj(raw, "", TOP_LEVEL)
    c.require(d, "", REQUIRED)
    definition: dict[str, Any] = {
        "name": c.text(d["name"], "name", 200) if "name" in d else None,
        **_window(c, d),
        "priority": c.integer(d.get("priority", 100), "priority", 0, 1000),
        "stackable": c.boolean(d.get("stackable", True), "stackable"),
        "requires_activation": c.boolean(
            d.get("requires_activation", False), "requires_activation"
        ),
        "audience": _audience(c, d.get("audience")),
        "conditions": _conditions(c, d.get("conditions")),
        "effect": _effect(c, d.get("effect")),
        "caps": _caps(c, d.get("caps")),
        "budget_points": _optional(c.positive, d, "budget_points"),
        "max_participants": _optional(c.positive, d, "max_participants"),
    }
    if c.errors:
        raise InvalidInput("The campaign definition is not valid; see errors.", errors=c.errors)
    return definition


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7396 JSON Merge Patch: objects merge key by key, null removes, the rest replaces."""
    merged = dict(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict):
            base = merged.get(key)
            merged[key] = merge_patch(base if isinstance(base, dict) else {}, value)
        else:
            merged[key] = value
    return merged


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with `Z`, as the API writes every timestamp."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def _optional(check: Callable[[Any, str], T | None], values: dict[str, Any], key: str) -> T | None:
    return check(values[key], key) if key in values else None


def _window(c: _Checker, d: dict[str, Any]) -> dict[str, Any]:
    starts = c.timestamp(d["starts_at"], "starts_at") if "starts_at" in d else None
    ends = c.timestamp(d["ends_at"], "ends_at") if "ends_at" in d else None
    if starts is not None and ends is not None and ends <= starts:
        c.fail("ends_at", "Must be after starts_at.")
    return {
        "starts_at": iso(starts) if starts else None,
        "ends_at": iso(ends) if ends else None,
    }


def _audience(c: _Checker, value: Any) -> dict[str, Any]:
    a = c.obj(value, "audience", AUDIENCE)
    checks: dict[str, Callable[[Any, str], Any]] = {
        "segment_id": lambda v, p: c.integer(v, p, 1, MAX_ID),
        "tiers": lambda v, p: c.items(v, p, c.text),
        "min_age": lambda v, p: c.integer(v, p, 0, 120),
        "max_age": lambda v, p: c.integer(v, p, 0, 120),
    }
    audience = _checked(a, "audience", checks)
    low, high = audience.get("min_age"), audience.get("max_age")
    if low is not None and high is not None and low > high:
        c.fail("audience.max_age", "Must not be below min_age.")
    return audience


def _conditions(c: _Checker, value: Any) -> dict[str, Any]:
    checks: dict[str, Callable[[Any, str], Any]] = {
        "categories": lambda v, p: c.items(v, p, c.category),
        "mccs": lambda v, p: c.items(v, p, c.mcc),
        "merchant_ids": lambda v, p: c.items(v, p, c.text),
        "partners": lambda v, p: c.items(v, p, c.text),
        "amount_min_minor": c.positive,
        "amount_max_minor": c.positive,
        "channels": lambda v, p: c.items(v, p, c.channel),
        "weekdays": lambda v, p: c.items(v, p, c.weekday),
        "time_of_day": lambda v, p: _time_of_day(c, v, p),
        "first_purchase_at_merchant": c.boolean,
    }
    conditions = _checked(c.obj(value, "conditions", checks), "conditions", checks)
    low, high = conditions.get("amount_min_minor"), conditions.get("amount_max_minor")
    if low is not None and high is not None and low > high:
        c.fail("conditions.amount_max_minor", "Must not be below amount_min_minor.")
    return conditions


def _checked(
    values: dict[str, Any], path: str, checks: dict[str, Callable[[Any, str], Any]]
) -> dict[str, Any]:
    """`values` with each key run through its check; keys that failed are left out."""
    checked = {key: checks[key](value, _join(path, key)) for key, value in values.items()}
    return {key: value for key, value in checked.items() if value is not None}


def _time_of_day(c: _Checker, value: Any, path: str) -> dict[str, str] | None:
    window = c.record(value, path, ("from", "to"))
    if window is None:
        return None
    ok = True
    for key in ("from", "to"):
        if not isinstance(window[key], str) or not HH_MM.match(window[key]):
            c.fail(_join(path, key), 'Must be a 24-hour time "HH:MM".')
            ok = False
    if ok and window["from"] == window["to"]:
        c.fail(_join(path, "to"), "Must differ from `from` (a window may wrap midnight).")
        ok = False
    return {"from": window["from"], "to": window["to"]} if ok else None


def _effect(c: _Checker, value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    effect = c.record(value, "effect", ("type", "value"))
    if effect is None:
        return None
    kind = c.choice(effect["type"], "effect.type", EFFECT_TYPES)
    amount = _effect_value(c, kind, effect["value"]) if kind else None
    return {"type": kind, "value": amount} if kind and amount else None


def _effect_value(c: _Checker, kind: str, value: Any) -> str | None:
    path = "effect.value"
    try:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidOperation
        number = Decimal(str(value))
    except InvalidOperation:
        c.fail(path, 'Must be a decimal number or string, e.g. "1.5".')
        return None
    exponent = number.as_tuple().exponent
    if not number.is_finite() or (isinstance(exponent, int) and exponent < -4):
        c.fail(path, "Must be a finite number with at most 4 decimal places.")
        return None
    problem = _effect_problem(kind, number)
    if problem:
        c.fail(path, problem)
        return None
    return format(number.normalize(), "f")


def _effect_problem(kind: str, number: Decimal) -> str | None:
    if kind == "multiplier" and number <= 1:
        return "A multiplier must be greater than 1 (3 means 3× the base points)."
    if number <= 0:
        return "Must be greater than 0."
    if kind == "fixed_bonus" and number != number.to_integral_value():
        return "A fixed bonus is a whole number of points."
    if number > EFFECT_MAXIMUM[kind]:
        return f"At most {EFFECT_MAXIMUM[kind]} for {kind}."
    return None


def _caps(c: _Checker, value: Any) -> dict[str, Any]:
    caps = c.obj(value, "caps", ("per_transaction", "per_customer", "qualifying_spend"))
    checks: dict[str, Callable[[Any, str], Any]] = {
        "per_transaction": c.positive,
        "per_customer": lambda v, p: c.items(v, p, lambda i, ip: _period_cap(c, i, ip, "points")),
        "qualifying_spend": lambda v, p: _period_cap(c, v, p, "amount_minor"),
    }
    checked = _checked(caps, "caps", checks)
    periods = [cap["period"] for cap in checked.get("per_customer", [])]
    for period in sorted({p for p in periods if periods.count(p) > 1}):
        c.fail("caps.per_customer", f"The {period} cap is listed more than once.")
    return checked


def _period_cap(c: _Checker, value: Any, path: str, amount_key: str) -> dict[str, Any] | None:
    cap = c.record(value, path, ("period", amount_key))
    if cap is None:
        return None
    period = c.choice(cap["period"], _join(path, "period"), PERIODS)
    amount = c.positive(cap[amount_key], _join(path, amount_key))
    return {"period": period, amount_key: amount} if period and amount else None
