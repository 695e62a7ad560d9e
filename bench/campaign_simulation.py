"""Campaign simulation speed and memory over stored history.

    .venv/bin/python bench/campaign_simulation.py [--transactions 1000000] [--customers 100000]
        [--campaigns 10,100,1000] [--global 5] [--runs 3] [--keep]

Seeds a scratch database (migrated, one JPY program in Asia/Tokyo, customers with cards) with
--transactions purchases stored as `processed` over the last 30 days (realistic MCC mix,
lognormal amounts, one merchant per MCC, COPY), --global live campaigns matching every purchase
(mixed effects; every other one with a monthly per-customer cap and a budget that runs out) and
a draft (3x on dining, weekly per-customer cap, budget). Then, for each count of --campaigns,
tops the live targeted campaigns up to it (about 1% of MCCs each, mixed effects, caps and
budgets) and simulates the draft with all of them over the whole range in a fresh process, as
the job would: prints simulated transactions/s (best of --runs) and that process's peak RSS.
Target (issue 3): ≥ 30,000 transactions/s over 1,000,000 stored transactions.
The scratch database is dropped unless --keep.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import common

TARGET = 30_000
EFFECTS = [
    {"type": "multiplier", "value": "2"},
    {"type": "fixed_bonus", "value": "25"},
    {"type": "percent_of_spend", "value": "3"},
]


def _seed_rows(database_url: str, customers: int, count: int) -> int:
    rng = random.Random(42)
    codes, weights = common.mcc_pool()
    categories = _categories()
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
            for i, mcc in enumerate(mccs):
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
                        mcc,
                        categories.get(mcc),
                        f"m-{mcc}",
                        f"Shop {mcc}",
                        "online",
                        start + step * i,
                        "processed",
                        0,
                    )
                )
        conn.execute("ANALYZE")
    return program_id


def _categories() -> dict[str, str]:
    with common.MCC_FILE.open() as f:
        return {r["mcc"]: r["category"] for r in csv.DictReader(f)}


def _live(program_id: int, definition: dict[str, Any]) -> None:
    from campaigns.earning import service

    view = service.create_campaign(program_id=program_id, definition=definition, actor="bench")
    service.activate_campaign(program_id=program_id, campaign_id=view.campaign.id, actor="bench")


def _limits(n: int) -> dict[str, Any]:
    """Every other campaign has a monthly per-customer cap and a budget."""
    if n % 2 == 0:
        return {}
    return {
        "caps": {"per_customer": [{"period": "month", "points": 2000}]},
        "budget_points": 1_000_000,
    }


def _global_and_draft(program_id: int, everywhere: int) -> int:
    """The campaigns matching every purchase, and the draft to simulate; returns its id."""
    from campaigns.earning import service
    from rewards.db import db

    since = (datetime.now(UTC) - timedelta(days=60)).isoformat()
    for n in range(everywhere):
        _live(
            program_id,
            {
                "name": f"Everywhere {n}",
                "starts_at": since,
                "stackable": n % 4 != 0,
                "priority": 500 + n,
                "effect": EFFECTS[n % 3],
                **_limits(n),
            },
        )
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


def _top_up_targeted(program_id: int, have: int, want: int) -> None:
    """Live targeted campaigns `have`..`want` - 1, each on about 1% of the MCCs."""
    from rewards.db import db

    codes = [c for c, cat in _categories().items() if cat not in ("cash_like", "gambling")]
    since = (datetime.now(UTC) - timedelta(days=60)).isoformat()
    for n in range(have, want):
        rng = random.Random(n)  # campaign n is the same whatever the counts asked for
        _live(
            program_id,
            {
                "name": f"Targeted {n}",
                "starts_at": since,
                "stackable": n % 4 != 0,
                "priority": rng.randrange(1000),
                "effect": EFFECTS[n % 3],
                "conditions": {"mccs": rng.sample(codes, max(1, len(codes) // 100))},
                **_limits(n),
            },
        )
    db.session.commit()


def _simulate(url: str, runs: int) -> dict[str, Any]:
    """In this (fresh) process: simulate the draft over the whole range `runs` times."""
    from sqlalchemy import select

    from api import create_app
    from campaigns.earning.models import Campaign
    from campaigns.earning.simulate import simulate
    from rewards.db import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None})
    with app.app_context():
        draft = db.session.scalars(select(Campaign).where(Campaign.status == "draft")).one()
        end = datetime.now(UTC) + timedelta(minutes=1)
        start = end - timedelta(days=31)
        rss_before = _peak_rss_mb()
        best = None
        for _ in range(runs):
            began = time.perf_counter()
            result = simulate(
                program_id=draft.program_id, campaign_id=draft.id, start=start, end=end
            )
            seconds = time.perf_counter() - began
            best = seconds if best is None else min(best, seconds)
            db.session.rollback()  # each run in its own transaction, as each job is
    return {
        "seconds": best,
        "rss_before_mb": rss_before,
        "peak_rss_mb": _peak_rss_mb(),
        **{k: v for k, v in result.items() if not isinstance(v, list)},
    }


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_child(url: str, runs: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--simulate-in", url, "--runs", str(runs)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--campaigns", default="10,100,1000", help="targeted counts, ascending")
    parser.add_argument("--global", dest="everywhere", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--simulate-in", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.simulate_in:
        print(json.dumps(_simulate(args.simulate_in, args.runs), default=str))
        return
    counts = sorted(int(n) for n in args.campaigns.split(","))
    name = f"bench_simulation_{os.getpid()}"
    url = common.recreate_database(name).replace("postgresql://", "postgresql+psycopg://")
    try:
        from flask_migrate import upgrade

        from api import create_app

        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None})
        with app.app_context():
            upgrade(directory=app.config["MIGRATIONS_DIR"])
            began = time.perf_counter()
            program_id = _seed_rows(url, args.customers, args.transactions)
            print(
                f"seeded {args.transactions:,} purchases of {args.customers:,} customers "
                f"in {time.perf_counter() - began:.1f}s",
                flush=True,
            )
            _global_and_draft(program_id, args.everywhere)
            have = 0
            for count in counts:
                _top_up_targeted(program_id, have, count)
                have = count
                found = _run_child(url, args.runs)
                rate = found["transactions_scanned"] / found["seconds"]
                print(
                    f"{count:>5} targeted + {args.everywhere} global: {rate:>9,.0f} "
                    f"transactions/s ({found['transactions_scanned']:,} in "
                    f"{found['seconds']:.2f}s, best of {args.runs}; target ≥ {TARGET:,}: "
                    f"{'met' if rate >= TARGET else 'NOT met'}), peak RSS "
                    f"{found['peak_rss_mb']:.0f} MB ({found['rss_before_mb']:.0f} MB before); "
                    f"points {found['points']:,}, others {found['other_campaigns_points']:,}, "
                    f"reached {found['customers_reached']:,}, "
                    f"exhausted {found['budget_exhausted_on']}",
                    flush=True,
                )
    finally:
        if not args.keep:
            common.drop_database(name)


if __name__ == "__main__":
    main()
