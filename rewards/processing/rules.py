"""Pure earning rules: given a transaction and its program, the points and the why.

Nothing here touches the database; the chunk loader hands in plain values and the writer
persists what comes back. Campaign, tier and challenge rules plug in beside `base_points`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from rewards.currencies import minor_units
from rewards.tiers.ladder import ProgramLadder, decimal_text

CURRENCY_SYMBOLS = {"JPY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "KRW": "₩", "CNY": "¥"}


@dataclass(frozen=True)
class ProgramTerms:
    """The program settings that evaluation needs, detached from the ORM."""

    id: int
    currency: str
    earn_rate: Decimal
    pending_days: int
    expiry_months: int
    excluded_mccs: frozenset[str]
    points_name: str
    # The program's tier ladder (None: no tiers, base points as they always were).
    tiers: ProgramLadder | None = None
    timezone: str = "UTC"  # local days and parts of the day (IANA name)


@dataclass(frozen=True)
class TxFacts:
    """One card transaction as evaluation sees it."""

    id: int
    program_id: int
    external_id: str
    card_token: str
    kind: str
    amount_minor: int
    currency: str
    mcc: str
    category: str | None
    merchant_id: str | None
    merchant_name: str | None
    channel: str | None
    occurred_at: datetime
    original_external_id: str | None
    # Derived when the chunk is loaded: the code of the active partner owning merchant_id.
    partner: str | None = None
    # Derived once the customer's account is locked: their tier code (None: the base tier).
    tier: str | None = None
    # "partner": a purchase a partner reported (no card; customer and partner named directly).
    source: str = "card"
    customer_id: int | None = None
    partner_id: int | None = None


@dataclass(frozen=True)
class Award:
    """Points one rule grants for one transaction."""

    rule: str
    kind: str
    points: int
    explanation: dict[str, Any]


def points_for_amount(
    amount_minor: int, currency: str, rate: Decimal, multiplier: Fraction = Fraction(1)
) -> int:
    """Points for `amount_minor` at `rate` points per major unit times `multiplier` (a tier's),
    rounded down once, in exact integers (a Decimal product rounds past 28 digits)."""
    numerator, denominator = rate.as_integer_ratio()
    numerator *= multiplier.numerator
    denominator *= multiplier.denominator
    return amount_minor * numerator // (denominator * 10 ** minor_units(currency))


def _money(amount_minor: int, currency: str) -> str:
    digits = minor_units(currency)
    major = Decimal(amount_minor).scaleb(-digits)
    symbol = CURRENCY_SYMBOLS.get(currency)
    text = f"{major:,.{digits}f}"
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


def _rate_text(terms: ProgramTerms) -> str:
    rate = terms.earn_rate.normalize()
    unit = _money(10 ** minor_units(terms.currency), terms.currency)
    abbreviation = "pt" if rate == 1 else "pts"
    return f"{rate:f} {abbreviation} per {unit}"


def base_award(tx: TxFacts, terms: ProgramTerms) -> Award | None:
    """The program's base earn rate on a purchase, times the customer's tier multiplier when
    the program has tiers; None when it rounds to nothing."""
    tier = terms.tiers.ladder.get(tx.tier) if terms.tiers else None
    multiplier = tier.earn_multiplier if tier else Fraction(1)
    points = points_for_amount(tx.amount_minor, tx.currency, terms.earn_rate, multiplier)
    if points <= 0:
        return None
    where = tx.merchant_name or "a merchant"
    category = f" ({tx.category})" if tx.category else ""
    rate = _rate_text(terms)
    explanation: dict[str, Any] = {
        "rule": "base",
        "rate": f"{terms.earn_rate.normalize():f}",
        "amount_minor": tx.amount_minor,
        "currency": tx.currency,
        "merchant_name": tx.merchant_name,
        "category": tx.category,
        "mcc": tx.mcc,
    }
    if tier is not None:
        factor = decimal_text(multiplier)
        explanation["tier"] = {"code": tier.code, "name": tier.name, "earn_multiplier": factor}
        if multiplier != 1:
            rate = f"{rate} × {factor} ({tier.name})"
    return Award(
        rule="base",
        kind="earn",
        points=points,
        explanation={"summary": f"{rate} at {where}{category}", **explanation},
    )


def purchase_awards(tx: TxFacts, terms: ProgramTerms) -> list[Award]:
    """Every award a purchase earns (today the base rate; campaigns add theirs here). A
    partner's purchase was not made with the card: it earns only what `partner_event`
    campaigns give, never the card's base rate."""
    if tx.source == "partner":
        return []
    base = base_award(tx, terms)
    return [base] if base else []


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` plus calendar months, clamped to the month's last day (31 Jan + 1 = 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    for day in (moment.day, 30, 29, 28):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise ValueError("unreachable")


def lot_dates(
    occurred_at: datetime, terms: ProgramTerms, now: datetime
) -> tuple[datetime, datetime | None]:
    """When a lot earned at `occurred_at` becomes available, and when it expires."""
    available_at = max(occurred_at + timedelta(days=terms.pending_days), now)
    if terms.pending_days == 0:
        available_at = now
    expires_at = add_months(occurred_at, terms.expiry_months) if terms.expiry_months else None
    return available_at, expires_at
