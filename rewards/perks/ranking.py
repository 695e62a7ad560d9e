"""Ordering perks for one cardholder from their card history, with a reason in plain words.

Pure: it reads the cardholder's `Features` (kept by the feed) and the perks' popularity in
their age band (kept by a scheduled job), never a scan of purchases. A perk scores

    4 × the share of the cardholder's purchases made at the perk's partner
  + 3 × the share made in the perk's category
  + 1 × how much of what they buy at this part of the day (now, program timezone) is in the
        perk's category
  + 1 × recency: a purchase at the partner in the last 30 days (1 today, 0 after 30 days)
  + 1.5 × the perk's popularity among cardholders like this one (its share of their top
        perk): the age band's redemptions plus those of the band's cardholders who buy most
        in the same category, else the age band's, else everybody's

With no history only popularity counts (the cold start). The reason is the largest term:
"You often shop at Star Cafe", "You often spend on dining", "You often buy dining around
this time of day", "You shopped at Star Cafe recently", "Popular with cardholders who shop
like you" (or "... your age", "... cardholders").
The weights are set by hand, not fitted (per program or otherwise); `bench/perk_ranking.py`
checks them offline on a generated population with planted preferences and held-out
redemptions, against popularity alone and random.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from rewards.customers import age_on
from rewards.perks.features import Features, daypart

WEIGHTS = {"partner": 4.0, "category": 3.0, "daypart": 1.0, "recent": 1.0, "popular": 1.5}
RECENT_DAYS = 30
BANDS = ((0, 18, "u18"), (18, 21, "18-20"), (21, 25, "21-24"), (25, 30, "25-29"))
ANY_BAND = "all"


def top_category(features: Features) -> str | None:
    """The category the cardholder made most purchases in (ties: the first by name)."""
    if not features.categories:
        return None
    return min(features.categories, key=lambda c: (-features.categories[c][0], c))


def cohorts(band: str, features: Features) -> list[tuple[str, str]]:
    """The popularity cohorts to try for a cardholder, closest first, each with how the
    reason names it: (`18-20|dining`, ...), (`18-20`, ...), (`all`, ...)."""
    found = []
    top = top_category(features)
    if band != ANY_BAND and top is not None:
        found.append((f"{band}|{top}", "cardholders who shop like you"))
    if band != ANY_BAND:
        found.append((band, "cardholders your age"))
    found.append((ANY_BAND, "cardholders"))
    return found


def age_band(birth: date | None, today: date) -> str:
    """The popularity band of a birth date (`all` when the bank sent none)."""
    if birth is None:
        return ANY_BAND
    age = age_on(birth, today)
    return next((name for low, high, name in BANDS if low <= age < high), "30+")


@dataclass(frozen=True)
class Candidate:
    """What the ranking reads of a perk."""

    perk_id: int
    category: str | None
    partner: str
    partner_name: str


@dataclass(frozen=True)
class Ranked:
    perk_id: int
    score: float
    reason: str


def rank(
    candidates: Iterable[Candidate],
    features: Features,
    popularity: Mapping[int, int],
    *,
    now: datetime,
    zone: ZoneInfo,
    crowd: str = "cardholders your age",
) -> list[Ranked]:
    """The candidates best first (ties: the more popular, then the newer perk); `popularity`
    is that of the cohort the reason calls `crowd`."""
    top = max(popularity.values(), default=0)
    part = daypart(now, zone)
    at_this_time = sum(n for slot, n in features.dayparts.items() if slot.endswith(f"|{part}"))
    ranked = []
    for c in candidates:
        terms = _terms(c, features, popularity.get(c.perk_id, 0), top, part, at_this_time, now)
        score = sum(WEIGHTS[name] * value for name, value in terms.items())
        ranked.append(Ranked(c.perk_id, score, _reason(c, terms, crowd)))
    return sorted(ranked, key=lambda r: (-r.score, -popularity.get(r.perk_id, 0), -r.perk_id))


def _terms(
    c: Candidate,
    f: Features,
    popular: int,
    top: int,
    part: str,
    at_this_time: int,
    now: datetime,
) -> dict[str, float]:
    total = f.purchases
    partner = f.partners.get(c.partner, [0, 0])[0] / total if total else 0.0
    category = f.categories.get(c.category or "", [0, 0])[0] / total if total else 0.0
    timely = (
        f.dayparts.get(f"{c.category}|{part}", 0) / at_this_time
        if at_this_time and c.category
        else 0.0
    )
    recent = 0.0
    last = f.partner_last_at.get(c.partner)
    if last is not None:
        days = (now - datetime.fromisoformat(last)).total_seconds() / 86_400
        recent = max(0.0, 1 - max(days, 0) / RECENT_DAYS)
    return {
        "partner": partner,
        "category": category,
        "daypart": timely,
        "recent": recent,
        "popular": popular / top if top else 0.0,
    }


def _reason(c: Candidate, terms: dict[str, float], crowd: str) -> str:
    name, value = max(((n, WEIGHTS[n] * v) for n, v in terms.items()), key=lambda pair: pair[1])
    if value <= 0:
        return "New in the catalog"
    return {
        "partner": f"You often shop at {c.partner_name}",
        "category": f"You often spend on {c.category}",
        "daypart": f"You often buy {c.category} around this time of day",
        "recent": f"You shopped at {c.partner_name} recently",
        "popular": f"Popular with {crowd}",
    }[name]
