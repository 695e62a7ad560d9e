"""Feed throughput with live challenges beside live campaigns.

    .venv/bin/python bench/challenge_scaling.py [--transactions 100000] [--challenges 0,50]
        [--rounds 3]

For each challenge count N: a fresh scratch database (20,000 customers), the 15 live campaigns
of `bench/campaign_scaling.py` with `--counts 10` (10 targeted + 5 global), N live challenges
and the same feed as `bench/feed_throughput.py`. Prints transactions/s per N and the ratio to
the first N (target: 50 challenges ≥ 70% of none). Absolute rates swing by a fifth from run
to run on a small box; `--rounds 3` runs the counts in turn three times and prints the
medians (a CHECKPOINT before each run).

The mix, challenge n = 0 … N-1 (for N = 50, exactly):
- goal `GOALS[n % 5]`: 10 each of count 5, spend ¥50,000, 4 distinct merchants,
  3 distinct categories, a 5-day streak;
- window `n % 3`: fixed from 60 days ago (17), weekly (17), monthly (16);
- opt-in when `n % 5 == 4` (10: the streak challenges), else automatic;
- repeatable when recurring and n is even;
- conditions `CONDITIONS[(n // 5) % 3]`: none (20, program-wide), category dining (15), four
  MCCs (15). About 21 challenge periods per purchase, since the program-wide ones take all.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import campaign_scaling
import common
import feed_throughput

CAMPAIGNS = 10  # + campaign_scaling.GLOBAL global ones: 15 live campaigns
GOALS = [
    {"type": "count", "target": 5},
    {"type": "spend", "target": 50_000},
    {"type": "distinct_merchants", "target": 4},
    {"type": "distinct_categories", "target": 3},
    {"type": "streak", "target": 5, "unit": "days"},
]
CONDITIONS = [{}, {"categories": ["dining"]}, {"mccs": ["5411", "5812", "5814", "5999"]}]


def _definitions(count: int, rng: random.Random) -> list[dict]:
    start = (datetime.now(UTC) - timedelta(days=60)).isoformat()
    windows = [
        {"type": "fixed", "starts_at": start},
        {"type": "recurring", "period": "week", "starts_at": start},
        {"type": "recurring", "period": "month", "starts_at": start},
    ]
    definitions = []
    for n in range(count):
        window = windows[n % 3]
        definitions.append(
            {
                "name": f"Challenge {n}",
                "goal": GOALS[n % len(GOALS)],
                "window": window,
                "join": "opt_in" if n % 5 == 4 else "automatic",
                "repeatable": window["type"] == "recurring" and n % 2 == 0,
                "reward": {"points": 100 + rng.randrange(0, 400)},
                "conditions": CONDITIONS[(n // 5) % len(CONDITIONS)],
            }
        )
    return definitions


def _insert(env: dict[str, str], definitions: list[dict]) -> None:
    """Challenges as rows from validated definitions (as the marketer API stores them)."""
    os.environ.update(env)
    from api import create_app
    from campaigns.challenges.definition import validate_challenge
    from campaigns.challenges.models import Challenge, ChallengeVersion
    from campaigns.rules import section_validator
    from rewards.db import db
    from rewards.models import Program
    from rewards.programs import bump_rules_revision

    app = create_app()
    with app.app_context():
        program_id = db.session.query(Program.id).filter_by(slug="bench").scalar()
        for raw in definitions:
            d = validate_challenge(raw, shared_sections=section_validator())
            window = d["window"]
            row = Challenge(
                program_id=program_id,
                name=d["name"],
                status="active",
                goal_type=d["goal"]["type"],
                period=window.get("period"),
                starts_at=datetime.fromisoformat(window["starts_at"]),
                created_by="bench",
            )
            db.session.add(row)
            db.session.flush()
            db.session.add(
                ChallengeVersion(challenge_id=row.id, version=1, definition=d, created_by="bench")
            )
        bump_rules_revision(program_id)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def run(count: int, args: argparse.Namespace) -> float:
    name = f"rewards_chl_{os.getpid()}_{count}"
    database_url = common.recreate_database(name).replace("postgresql://", "postgresql+psycopg://")
    prefix = f"chl{os.getpid()}{count}"
    env = common.env_for(database_url, prefix)
    gunicorn = None
    try:
        key, tokens = common.seed(env, database_url, args.customers)
        campaign_scaling._launch(env, campaign_scaling._definitions(CAMPAIGNS, random.Random(1)))
        _insert(env, _definitions(count, random.Random(count)))
        gunicorn, base = common.start_gunicorn(env)
        feed_args = argparse.Namespace(
            transactions=args.transactions, workers=args.workers, no_fork=False
        )
        result = feed_throughput.run_feed(feed_args, env, base, key, tokens, database_url)
        with feed_throughput._pg(database_url) as conn:
            purchases, counted = conn.execute(
                "SELECT count(*), coalesce(sum((SELECT count(*) "
                "FROM jsonb_object_keys(counted))), 0) FROM challenge_purchases"
            ).fetchone()
            progress = conn.execute("SELECT count(*) FROM challenge_progress").fetchone()[0]
            rewards = conn.execute(
                "SELECT count(*) FROM ledger_entries WHERE kind = 'challenge_reward'"
            ).fetchone()[0]
        print(
            f"challenges {count}: {purchases:,} purchases counted {counted:,} times, "
            f"{progress:,} progress rows, "
            f"{rewards:,} rewards"
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
    parser.add_argument("--challenges", default="0,50")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the counts this many times in turn; prints each round and the medians",
    )
    args = parser.parse_args()
    counts = [int(c) for c in args.challenges.split(",")]
    first = counts[0]
    rounds = []
    for _ in range(args.rounds):
        rates = {}
        for count in counts:
            common.checkpoint()  # each run starts without the last one's pages to write
            rates[count] = run(count, args)
        rounds.append(rates)
        _report(rates, first)
    if len(rounds) > 1:
        print("=" * 60)
        print(f"medians of {len(rounds)} rounds (ratio: the median of each round's ratio)")
        for count in counts:
            rate = statistics.median(r[count] for r in rounds)
            ratio = statistics.median(r[count] / r[first] for r in rounds)
            print(
                f"{count:>3} challenges + {CAMPAIGNS + campaign_scaling.GLOBAL} campaigns: "
                f"{rate:>7,.0f} transactions/s ({ratio:.0%} of {first})"
            )


def _report(rates: dict[int, float], first: int) -> None:
    print("-" * 60)
    for count, rate in rates.items():
        print(
            f"{count:>3} challenges + {CAMPAIGNS + campaign_scaling.GLOBAL} campaigns: "
            f"{rate:>7,.0f} transactions/s ({rate / rates[first]:.0%} of {first})"
        )


if __name__ == "__main__":
    main()
