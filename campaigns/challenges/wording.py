"""Plain words for a challenge: "Buy 3 coffees this week", "Spend ¥5,000 on dining this
month", "Keep a 7-day streak", and money in major units with the currency's own decimals.

What qualifies is worded by the condition language, which knows the conditions; it hands
over a `Wording` (a noun for the purchase and where it happens). Without one, purchases are
just purchases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rewards.currencies import minor_units

SYMBOLS = {"EUR": "€", "GBP": "£", "JPY": "¥", "USD": "$", "KRW": "₩", "INR": "₹"}
PERIOD_PHRASE = {"week": "this week", "month": "this month"}


@dataclass(frozen=True)
class Wording:
    """How to name a qualifying purchase: `noun` and `plural` ("coffee", "coffees") and
    `where` it happens ("on dining", "at Cafe Nero"), each optional."""

    noun: str | None = None
    plural: str | None = None
    where: str | None = None


def money(amount_minor: int, currency: str) -> str:
    """`amount_minor` in major units: ¥5,000 (JPY has no decimals), €12.50, €50 (whole
    amounts without zero decimals), CHF 9.90 for currencies without a symbol here."""
    digits = minor_units(currency)
    major, minor = divmod(amount_minor, 10**digits)
    text = f"{major:,}"
    if minor:
        text += f".{minor:0{digits}d}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{currency} {text}"


def describe(definition: dict[str, Any], *, currency: str, wording: Wording | None = None) -> str:
    """One sentence a cardholder understands, from a validated challenge definition."""
    words = wording or Wording()
    goal = definition["goal"]
    target = goal["target"]
    action = _action(goal["type"], target, goal.get("unit"), currency, words)
    where = f" {words.where}" if words.where and goal["type"] != "streak" else ""
    window = definition["window"]
    when = PERIOD_PHRASE.get(window.get("period") or "", "")
    return f"{action}{where}{' ' + when if when else ''}"


def _action(kind: str, target: int, unit: str | None, currency: str, words: Wording) -> str:
    if kind == "count":
        if words.noun:
            noun = words.noun if target == 1 else (words.plural or f"{words.noun}s")
            return f"Buy {target} {noun}"
        return f"Make {_plural(target, 'purchase')}"
    if kind == "spend":
        return f"Spend {money(target, currency)}"
    if kind == "distinct_merchants":
        return "Shop at 1 shop" if target == 1 else f"Shop at {target} different shops"
    if kind == "distinct_categories":
        return "Shop in 1 category" if target == 1 else f"Shop in {target} different categories"
    period = "day" if unit == "days" else "week"
    noun = f" {words.noun}" if words.noun else ""
    return f"Keep a {target}-{period}{noun} streak"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
