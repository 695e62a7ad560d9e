"""How well the perk catalog's ranking finds what a cardholder redeems next, offline.

    .venv/bin/python bench/perk_ranking.py [--customers 5000] [--seed 7]

The generated population (planted preferences):
- 8 categories, 40 partners (5 per category), 200 perks (5 per partner); every perk has an
  appeal drawn from a Zipf-like law (a few perks everybody likes: what popularity can find).
- Each cardholder: an age band (5 bands); category tastes ~ Dirichlet(0.4) and, within each
  category, partner tastes ~ Dirichlet(0.6); for each category a favourite part of the day.
- 40 purchases each, over the 90 days before the redemptions: category and partner drawn from
  the tastes, the part of the day the category's favourite 70% of the time.
- 4 redemptions each, of distinct perks, drawn with probability ∝ appeal^0.8 × (category
  taste × partner taste)^0.9 (what the cardholder likes, weighed by what everybody likes),
  at the favourite part of the day of the perk's category 70% of the time.
The last redemption of each cardholder is held out. Features are built from the purchases
with `rewards.perks.features.Features.add` (what the feed does), popularity per age band and
per age band and top category (the cohorts of `rewards.perks.popularity`) from everybody's
first three redemptions (what the scheduled job counts), and every method ranks
the 200 perks minus the cardholder's own first three, at the held-out redemption's time.

Methods: ours (`rewards.perks.ranking.rank`, with popularity as `popularity_for` blends it:
the age band's plus that of the band's cardholders with the same top category), popularity
only (the age band's, then overall), random. Prints hit-rate@5 and NDCG@5 (one relevant
perk: 1/log2(position + 1) if in the top 5).
Target (issue 10): clearly above popularity.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from rewards.perks.features import DAYPARTS, Features
from rewards.perks.ranking import Candidate, rank, top_category

CATEGORIES = ["dining", "groceries", "transport", "entertainment", "digital", "shopping",
              "education", "health"]  # fmt: skip
BANDS = ["u18", "18-20", "21-24", "25-29", "30+"]
PARTS = [name for name, _, _ in DAYPARTS]
UTC_ZONE = ZoneInfo("UTC")
START = datetime(2026, 6, 1, tzinfo=UTC)
TOP = 5


@dataclass
class Person:
    band: str
    categories: list[float]
    partners: dict[str, list[float]]  # category → weight of each of its partners
    favourite_part: dict[str, str]


def _dirichlet(rng: random.Random, alpha: float, n: int) -> list[float]:
    draws = [rng.gammavariate(alpha, 1) for _ in range(n)]
    total = sum(draws) or 1.0
    return [d / total for d in draws]


def _at(rng: random.Random, day: int, part: str) -> datetime:
    start, end = next((s, e) for name, s, e in DAYPARTS if name == part)
    return START + timedelta(days=day, hours=rng.uniform(start, end - 0.01))


def _part(rng: random.Random, person: Person, category: str) -> str:
    return person.favourite_part[category] if rng.random() < 0.7 else rng.choice(PARTS)


def generate(rng: random.Random, customers: int) -> tuple[list[Candidate], dict[int, float], list]:
    partners = {c: [f"{c}-{n}" for n in range(5)] for c in CATEGORIES}
    perks, appeal = [], {}
    for c in CATEGORIES:
        for p in partners[c]:
            for _ in range(5):
                perk_id = len(perks) + 1
                perks.append(Candidate(perk_id, c, p, p.title()))
                appeal[perk_id] = 1 / rng.randint(1, 60) ** 1.1
    people = []
    for _ in range(customers):
        person = Person(
            band=rng.choice(BANDS),
            categories=_dirichlet(rng, 0.4, len(CATEGORIES)),
            partners={c: _dirichlet(rng, 0.6, 5) for c in CATEGORIES},
            favourite_part={c: rng.choice(PARTS) for c in CATEGORIES},
        )
        features = Features()
        for _ in range(40):
            c = rng.choices(CATEGORIES, person.categories)[0]
            p = rng.choices(partners[c], person.partners[c])[0]
            part = _part(rng, person, c)
            features.add(
                category=c, partner=p, amount=rng.randint(300, 5000), part=part,
                at=_at(rng, rng.randint(0, 89), part),
            )  # fmt: skip
        weights = [
            appeal[k.perk_id] ** 0.8
            * (
                person.categories[CATEGORIES.index(k.category or "")]
                * person.partners[k.category or ""][int(k.partner.rsplit("-", 1)[1])]
            )
            ** 0.9
            for k in perks
        ]
        chosen: list[int] = []
        while len(chosen) < 4:
            pick = rng.choices(perks, weights)[0]
            if pick.perk_id not in chosen:
                chosen.append(pick.perk_id)
        held_out = perks[chosen[-1] - 1]
        part = _part(rng, person, held_out.category or "")
        people.append((person, features, chosen, _at(rng, 95, part)))
    return perks, appeal, people


def evaluate(perks: list[Candidate], people: list, rng: random.Random) -> dict[str, list[float]]:
    band_counts: dict[str, Counter[int]] = defaultdict(Counter)
    cohort_counts: dict[str, Counter[int]] = defaultdict(Counter)  # band and top category
    overall: Counter[int] = Counter()
    for person, features, chosen, _ in people:
        for perk_id in chosen[:3]:
            band_counts[person.band][perk_id] += 1
            cohort_counts[f"{person.band}|{top_category(features)}"][perk_id] += 1
            overall[perk_id] += 1
    scores: dict[str, list[float]] = {"ours": [], "popularity": [], "random": []}
    for person, features, chosen, when in people:
        candidates = [k for k in perks if k.perk_id not in chosen[:3]]
        popular = dict(band_counts[person.band]) or dict(overall)
        cohort = cohort_counts[f"{person.band}|{top_category(features)}"]
        alike = dict(band_counts[person.band] + cohort) or popular  # as `popularity_for`
        target = chosen[3]
        orders = {
            "ours": [r.perk_id for r in rank(candidates, features, alike, now=when, zone=UTC_ZONE)],
            "popularity": sorted(
                (k.perk_id for k in candidates),
                key=lambda i: (-popular.get(i, 0), -overall[i], i),
            ),
            "random": rng.sample([k.perk_id for k in candidates], len(candidates)),
        }
        for name, order in orders.items():
            position = order.index(target) + 1
            scores[name].append(1 / math.log2(position + 1) if position <= TOP else 0.0)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    perks, _, people = generate(rng, args.customers)
    scores = evaluate(perks, people, rng)
    print(f"{args.customers:,} cardholders, {len(perks)} perks, seed {args.seed}; top {TOP}")
    print(f"{'method':<12} {'hit-rate@5':>10} {'NDCG@5':>8}")
    for name, values in scores.items():
        hits = sum(1 for v in values if v > 0) / len(values)
        print(f"{name:<12} {hits:>10.3f} {sum(values) / len(values):>8.3f}")
    ours, popular = (sum(scores[n]) / len(scores[n]) for n in ("ours", "popularity"))
    print(f"NDCG@5 ours / popularity: {ours / popular:.2f}x")


if __name__ == "__main__":
    main()
