"""Campaign definitions: the rules a marketer writes, checked in full before anything is stored.

`validate_definition` returns the normalised definition (defaults filled in, timestamps in UTC
with `Z`, the effect value as a decimal string) or raises InvalidInput naming every problem by
its field path, e.g. `conditions.mccs.2`. `campaigns.earning.compiled.Campaign.compile` reads
the result. The `conditions` and `audience` blocks are the shared condition language
(`campaigns.rules`); what is checked here belongs to campaigns alone: window, priority,
stacking, activation, effect, caps, budget and participants.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from campaigns.earning.compiled import PERIODS
from campaigns.rules.audience import FIELDS as AUDIENCE
from campaigns.rules.audience import check_audience
from campaigns.rules.checking import MAX_AMOUNT, MAX_ID, MAX_ITEMS, REQUIRED_MESSAGE, Checker, iso
from campaigns.rules.checking import checked as _checked
from campaigns.rules.checking import join as _join
from campaigns.rules.conditions import (
    CHANNELS,
    HH_MM,
    MCC_ENTRY,
    REFUSED_CATEGORIES,
    check_conditions,
)
from rewards.errors import InvalidInput

__all__ = [
    "AUDIENCE",
    "CHANNELS",
    "EFFECT_MAXIMUM",
    "EFFECT_TYPES",
    "HH_MM",
    "MAX_AMOUNT",
    "MAX_ID",
    "MAX_ITEMS",
    "MCC_ENTRY",
    "REFUSED_CATEGORIES",
    "REQUIRED",
    "REQUIRED_MESSAGE",
    "TOP_LEVEL",
    "iso",
    "merge_patch",
    "validate_definition",
]

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
EFFECT_TYPES = ("multiplier", "fixed_bonus", "points_per_unit", "percent_of_spend")
# Largest effect value per type: a typo must not mint millions of points.
EFFECT_MAXIMUM = {
    "multiplier": Decimal(100),
    "fixed_bonus": Decimal(1_000_000),
    "points_per_unit": Decimal(10_000),
    "percent_of_spend": Decimal(100),
}


class _Checker(Checker):
    """The checker as it was before `campaigns.rules`: kept for callers that built one with
    the program's excluded MCCs (segments use its generic checks)."""

    def __init__(self, excluded_mccs: Iterable[str] = ()) -> None:
        super().__init__()
        self.excluded_mccs = frozenset(excluded_mccs)


def validate_definition(raw: Any, *, excluded_mccs: Iterable[str] = ()) -> dict[str, Any]:
    """The normalised definition, or InvalidInput listing every problem by field path.

    `excluded_mccs` are the program's: a campaign may not name one of them, alone or inside
    a range (a marketer would otherwise see a bonus promised on spending that never earns).
    """
    if not isinstance(raw, dict):
        raise InvalidInput(
            "A campaign definition is a JSON object.", errors={"_body": ["Must be an object."]}
        )
    c = Checker()
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
        "audience": check_audience(c, d.get("audience")),
        "conditions": check_conditions(c, d.get("conditions"), excluded_mccs=excluded_mccs),
        "effect": _effect(c, d.get("effect")),
        "caps": _caps(c, d.get("caps")),
        "budget_points": _optional(c.positive, d, "budget_points"),
        "max_participants": _optional(c.positive, d, "max_participants"),
    }
    effect, conditions = definition["effect"], definition["conditions"] or {}
    if effect and effect["type"] == "multiplier" and conditions.get("partner_event"):
        # A partner's purchase earns no base points (it was not made with the card).
        c.fail("effect.type", "A multiplier of base points gives nothing on partner events.")
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


def _optional(check: Callable[[Any, str], T | None], values: dict[str, Any], key: str) -> T | None:
    return check(values[key], key) if key in values else None


def _window(c: Checker, d: dict[str, Any]) -> dict[str, Any]:
    starts = c.timestamp(d["starts_at"], "starts_at") if "starts_at" in d else None
    ends = c.timestamp(d["ends_at"], "ends_at") if "ends_at" in d else None
    if starts is not None and ends is not None and ends <= starts:
        c.fail("ends_at", "Must be after starts_at.")
    return {
        "starts_at": iso(starts) if starts else None,
        "ends_at": iso(ends) if ends else None,
    }


def _effect(c: Checker, value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    effect = c.record(value, "effect", ("type", "value"))
    if effect is None:
        return None
    kind = c.choice(effect["type"], "effect.type", EFFECT_TYPES)
    amount = _effect_value(c, kind, effect["value"]) if kind else None
    return {"type": kind, "value": amount} if kind and amount else None


def _effect_value(c: Checker, kind: str, value: Any) -> str | None:
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


def _caps(c: Checker, value: Any) -> dict[str, Any]:
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


def _period_cap(c: Checker, value: Any, path: str, amount_key: str) -> dict[str, Any] | None:
    cap = c.record(value, path, ("period", amount_key))
    if cap is None:
        return None
    period = c.choice(cap["period"], _join(path, "period"), PERIODS)
    amount = c.positive(cap[amount_key], _join(path, amount_key))
    return {"period": period, amount_key: amount} if period and amount else None
