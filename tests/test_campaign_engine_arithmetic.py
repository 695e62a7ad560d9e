"""The engine's integer shortcut for effects gives exactly the Decimal formula's points."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal

from hypothesis import example, given
from hypothesis import strategies as st

from campaigns.compiled import Campaign, Purchase
from rewards.currencies import minor_units

CURRENCIES = ("JPY", "USD", "EUR", "KWD", "BHD", "CLP")
EFFECTS = ("multiplier", "fixed_bonus", "points_per_unit", "percent_of_spend")


def decimal_points(c: Campaign, p: Purchase, qualifying_minor: int) -> int:
    """The formula the engine has always used (Decimal, default 28-digit context)."""
    if qualifying_minor <= 0:
        return 0
    share = Decimal(qualifying_minor) / Decimal(p.amount_minor)
    major = Decimal(qualifying_minor).scaleb(-minor_units(p.currency))
    if c.effect == "multiplier":
        raw = Decimal(p.base_points) * share * (c.value - 1)
    elif c.effect == "fixed_bonus":
        raw = c.value
    elif c.effect == "points_per_unit":
        raw = major * c.value
    else:
        raw = major * c.value / 100
    return max(0, int(raw.to_integral_value(rounding=ROUND_FLOOR)))


def effect_value(effect: str) -> st.SearchStrategy[Decimal]:
    """Values the definition accepts: > 0 (> 1 for a multiplier), at most 4 decimals."""
    if effect == "fixed_bonus":
        return st.integers(1, 1_000_000).map(Decimal)
    high = {"multiplier": 100, "points_per_unit": 10_000, "percent_of_spend": 100}[effect]
    low = 10_001 if effect == "multiplier" else 1
    places = st.sampled_from([0, 1, 2, 3, 4])
    return st.tuples(st.integers(low, high * 10_000), places).map(
        lambda t: Decimal(t[0]).scaleb(-4).quantize(Decimal(1).scaleb(-t[1]), rounding="ROUND_UP")
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[Campaign, Purchase, int]:
    effect = draw(st.sampled_from(EFFECTS))
    value = draw(effect_value(effect))
    campaign = Campaign.compile(
        1,
        1,
        {
            "name": "C",
            "starts_at": "2026-01-01T00:00:00+00:00",
            "effect": {"type": effect, "value": str(value)},
        },
    )
    # Up to 10**30 so that products beyond 28 digits (where Decimal rounds) come up too.
    magnitude = draw(st.sampled_from([10**4, 10**12, 10**24, 10**30]))
    amount = draw(st.integers(1, magnitude))
    base = draw(st.integers(0, magnitude))
    qualifying = draw(st.one_of(st.just(amount), st.integers(-5, amount)))
    purchase = Purchase(
        id=1,
        amount_minor=amount,
        currency=draw(st.sampled_from(CURRENCIES)),
        mcc="5812",
        category="dining",
        merchant_id=None,
        merchant_name=None,
        partner=None,
        channel=None,
        occurred_at=datetime(2026, 3, 7, tzinfo=UTC),
        base_points=base,
    )
    return campaign, purchase, qualifying


@given(cases())
def test_raw_points_equal_the_decimal_formula(case: tuple[Campaign, Purchase, int]) -> None:
    campaign, purchase, qualifying = case
    assert campaign.raw_points(purchase, qualifying) == decimal_points(
        campaign, purchase, qualifying
    )


@example(value="3", base=10**28 + 1)  # 29 digits: Decimal rounds the product
@given(
    value=st.sampled_from(["1.0001", "1.5", "2.9999", "3", "100"]),
    base=st.integers(0, 10**29),
)
def test_large_multiplier_products_round_as_decimal_does(value: str, base: int) -> None:
    campaign = Campaign.compile(
        1,
        1,
        {
            "name": "C",
            "starts_at": "2026-01-01T00:00:00+00:00",
            "effect": {"type": "multiplier", "value": value},
        },
    )
    purchase = Purchase(
        1, 1000, "JPY", "5812", None, None, None, None, None, datetime(2026, 3, 7, tzinfo=UTC), base
    )
    assert campaign.raw_points(purchase, 1000) == decimal_points(campaign, purchase, 1000)
