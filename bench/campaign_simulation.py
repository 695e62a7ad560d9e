"""Campaign simulation speed over stored history.

    .venv/bin/python bench/campaign_simulation.py [--transactions 200000] [--customers 20000]
        [--campaigns 100] [--global 5] [--keep]

Seeds a scratch database (migrated, one JPY program in Asia/Tokyo, customers with cards) with
--transactions purchases stored as `processed` over the last 30 days (realistic MCC mix,
lognormal amounts, COPY), plus --campaigns live campaigns (about 1% of MCCs each, mixed
effects, caps and budgets) and --global live ones matching every purchase. Then simulates a
draft campaign (3x on dining, weekly per-customer cap, budget) with them over the whole range,
in-process as the job would, and prints transactions/s (best of 3 runs).
Target (issue 3): ≥ 30,000 transactions/s.
The scratch database is dropped unless --keep.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import common

TARGET = 30_000


def _seed_rows(database_url: str, customers: int, count: int) -> int:
    rng = random.Random(42)
    codes, weights = common.mcc_pool()
    start = datetime.now(UTC) - timedelta(days=30)
    step = timedelta(days=30) / count
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
        program_id = conn.execute(
            "INSERT INTO programs (slug, name, brand_partner, currency, points_name, earn_rate, "
            "timezone, pending_days, expiry_months, excluded_mccs, rules_revision) VALUES "
            "('bench', 'Bench', 'Bench', 'JPY', 'points', 1, 'Asia/Tokyo', 0, 12, '[]', 1) "
            "RETURNING id"
        ).fetchone()[0]
        with conn.cursor().copy(
            "COPY customers (program_id, external_ref, status, consent_leaderboard, "
            "consent_marketing, tags, level, xp) FROM STDIN"
        ) as copy:
            for i in range(customers):
                copy.write_row((program_id, f"cust-{i:06d}", "active", False, False, "[]", 1, 0))
        first = conn.execute("SELECT min(id) FROM customers").fetchone()[0]
        conn.execute(
            "INSERT INTO cards (program_id, customer_id, token, status) "
            "SELECT program_id, id, 'tok_' || id, 'active' FROM customers"
        )
        mccs = rng.choices(codes, weights, k=count)
        with conn.cursor().copy(
            "COPY transactions (program_id, external_id, card_token, customer_id, kind, "
            "amount_minor, currency, mcc, category, merchant_id, merchant_name, channel, "
            "occurred_at, status, refunded_minor) FROM STDIN"
        ) as copy:
            for i in range(count):
                customer = first + rng.randrange(customers)
                amount = int(min(200_000, max(100, rng.lognormvariate(7.0, 0.9))))
                copy.write_row(
                    (
                        program_id,
                        f"tx-{i}",
                        f"tok_{customer}",
                        customer,
                        "purchase",
                        amount,
                        "JPY",
                        mccs[i],
                        None,
                        f"m-{mccs[i]}",
                        f"Shop {mccs[i]}",
                        "online",
                        start + step * i,
                        "processed",
                        0,
                    )
                )
        conn.execute(
            "UPDATE transactions t SET category = m.category FROM (VALUES "
            + ", ".join(f"('{c}', '{cat}')" for c, cat in _categories().items())
            + ") AS m(mcc, category) WHERE t.mcc = m.mcc"
        )
        conn.execute("ANALYZE")
    return program_id


def _categories() -> dict[str, str]:
    with common.MCC_FILE.open() as f:
        return {r["mcc"]: r["category"] for r in csv.DictReader(f)}


def _campaigns(program_id: int, count: int, everywhere: int) -> int:
    from campaigns import service
    from rewards.db import db

    rng = random.Random(7)
    codes = [c for c, cat in _categories().items() if cat not in ("cash_like", "gambling")]
    since = (datetime.now(UTC) - timedelta(days=60)).isoformat()
    effects = [
        {"type": "multiplier", "value": "2"},
        {"type": "fixed_bonus", "value": "25"},
        {"type": "percent_of_spend", "value": "3"},
    ]
    for n in range(count + everywhere):
        definition: dict = {
            "name": f"Live {n}",
            "starts_at": since,
            "stackable": n % 4 != 0,
            "priority": rng.randrange(1000),
            "effect": effects[n % 3],
        }
        if n < count:
            definition["conditions"] = {"mccs": rng.sample(codes, max(1, len(codes) // 100))}
        if n % 2:
            definition["caps"] = {"per_customer": [{"period": "month", "points": 2000}]}
            definition["budget_points"] = 1_000_000
        view = service.create_campaign(program_id=program_id, definition=definition, actor="b")
        service.activate_campaign(program_id=program_id, campaign_id=view.campaign.id, actor="b")
    draft = service.create_campaign(
        program_id=program_id,
        actor="bench",
        definition={
            "name": "Dining 3x",
            "starts_at": (datetime.now(UTC) + timedelta(days=10)).isoformat(),
            "conditions": {"categories": ["dining"]},
            "effect": {"type": "multiplier", "value": "3"},
            "caps": {"per_customer": [{"period": "week", "points": 1500}]},
            "budget_points": 2_000_000,
        },
    )
    db.session.commit()
    return draft.campaign.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--campaigns", type=int, default=100)
    parser.add_argument("--global", dest="everywhere", type=int, default=5)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    name = f"bench_simulation_{os.getpid()}"
    url = common.recreate_database(name).replace("postgresql://", "postgresql+psycopg://")
    try:
        from flask_migrate import upgrade

        from api import create_app
        from campaigns.simulate import simulate

        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None})
        with app.app_context():
            upgrade(directory=app.config["MIGRATIONS_DIR"])
            began = time.perf_counter()
            program_id = _seed_rows(url, args.customers, args.transactions)
            campaign_id = _campaigns(program_id, args.campaigns, args.everywhere)
            print(f"seeded in {time.perf_counter() - began:.1f}s")
            end = datetime.now(UTC) + timedelta(minutes=1)
            start = end - timedelta(days=31)
            best = None
            for _ in range(3):
                began = time.perf_counter()
                result = simulate(
                    program_id=program_id, campaign_id=campaign_id, start=start, end=end
                )
                seconds = time.perf_counter() - began
                best = seconds if best is None else min(best, seconds)
                print(
                    f"run: {result['transactions_scanned']:,} transactions in {seconds:.2f}s, "
                    f"points {result['points']:,}, others {result['other_campaigns_points']:,}, "
                    f"reached {result['customers_reached']:,}, "
                    f"exhausted {result['budget_exhausted_on']}"
                )
            rate = result["transactions_scanned"] / best
            print(
                f"simulation: {rate:,.0f} transactions/s with {args.campaigns} targeted + "
                f"{args.everywhere} global live campaigns "
                f"(target ≥ {TARGET:,}: {'met' if rate >= TARGET else 'NOT met'})"
            )
    finally:
        if not args.keep:
            common.drop_database(name)


if __name__ == "__main__":
    main()
