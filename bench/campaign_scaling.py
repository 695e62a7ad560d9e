"""Feed throughput as the number of live campaigns grows.

    .venv/bin/python bench/campaign_scaling.py [--transactions 100000] [--counts 10,100,1000]

For each campaign count N: a fresh scratch database (20,000 customers), N live campaigns
each targeting about 1% of the MCC list (about ten codes; multipliers, fixed bonuses, caps
and budgets mixed) plus 5 global stackable ones, then the same feed as
`bench/feed_throughput.py` (5,000-row JSON batches through gunicorn, 2 workers). Prints
transactions/s per N and the ratio to the smallest N (target: 1,000 campaigns ≥ 70% of 10).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
import feed_throughput

GLOBAL = 5


def _definitions(count: int, rng: random.Random) -> list[dict]:
    with common.MCC_FILE.open() as f:
        codes = [
            r["mcc"] for r in csv.DictReader(f) if r["category"] not in ("cash_like", "gambling")
        ]
    start = (datetime.now(UTC) - timedelta(days=60)).isoformat()
    effects = [
        {"type": "multiplier", "value": "2"},
        {"type": "fixed_bonus", "value": "25"},
        {"type": "percent_of_spend", "value": "3"},
    ]
    definitions = []
    for n in range(count):
        definition = {
            "name": f"Targeted {n}",
            "starts_at": start,
            "priority": rng.randrange(0, 1000),
            "stackable": n % 4 != 0,
            "conditions": {"mccs": rng.sample(codes, max(1, len(codes) // 100))},
            "effect": effects[n % 3],
        }
        if n % 2:
            definition["caps"] = {"per_customer": [{"period": "month", "points": 2000}]}
        if n % 5 == 0:
            definition["budget_points"] = 10_000_000
        definitions.append(definition)
    for n in range(GLOBAL):
        definitions.append(
            {
                "name": f"Everywhere {n}",
                "starts_at": start,
                "effect": {"type": "fixed_bonus", "value": "1"},
                "caps": {"per_customer": [{"period": "day", "points": 50}]},
            }
        )
    return definitions


def _launch(env: dict[str, str], definitions: list[dict]) -> None:
    os.environ.update(env)
    from api import create_app
    from campaigns.earning import service
    from rewards.db import db
    from rewards.models import Program

    app = create_app()
    with app.app_context():
        program_id = db.session.query(Program.id).filter_by(slug="bench").scalar()
        for definition in definitions:
            view = service.create_campaign(
                program_id=program_id, definition=definition, actor="bench"
            )
            db.session.flush()
            service.activate_campaign(
                program_id=program_id, campaign_id=view.campaign.id, actor="bench"
            )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def run(count: int, args: argparse.Namespace) -> float:
    name = f"rewards_cmp_{os.getpid()}_{count}"
    database_url = common.recreate_database(name).replace("postgresql://", "postgresql+psycopg://")
    prefix = f"cmp{os.getpid()}{count}"
    env = common.env_for(database_url, prefix)
    gunicorn = None
    try:
        key, tokens = common.seed(env, database_url, args.customers)
        _launch(env, _definitions(count, random.Random(count)))
        gunicorn, base = common.start_gunicorn(env)
        feed_args = argparse.Namespace(
            transactions=args.transactions, workers=args.workers, no_fork=False
        )
        result = feed_throughput.run_feed(feed_args, env, base, key, tokens, database_url)
        with feed_throughput._pg(database_url) as conn:
            bonus = conn.execute(
                "SELECT count(*), coalesce(sum(points), 0), "
                "coalesce(sum(jsonb_array_length(explanation -> 'campaigns')), 0) "
                "FROM ledger_entries WHERE kind = 'bonus'"
            ).fetchone()
        print(
            f"campaigns {count + GLOBAL}: {bonus[0]:,} bonus lots holding {bonus[2]:,} campaign "
            f"grants ({bonus[2] / max(1, bonus[0]):.1f} per lot), {bonus[1]:,} bonus points"
        )
        return result["feed_tps"]
    finally:
        if gunicorn:
            common.stop([gunicorn])
        common.flush_redis_prefix(prefix)
        common.drop_database(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--counts", default="10,100,1000")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    rates = {count: run(count, args) for count in counts}
    first = counts[0]
    print("-" * 60)
    for count, rate in rates.items():
        print(
            f"{count + GLOBAL:>5} live campaigns: {rate:>7,.0f} transactions/s "
            f"({rate / rates[first]:.0%} of {first + GLOBAL})"
        )


if __name__ == "__main__":
    main()
