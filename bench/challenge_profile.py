"""Where a feed chunk's time goes with live challenges: the profile behind the figures of
`bench/challenge_scaling.py`.

    .venv/bin/python bench/challenge_profile.py [--transactions 20000] [--challenges 50]
        [--chunk 5000] [--top 25]

Sets up the same scratch database as `challenge_scaling.py` (20,000 customers, its 15
campaigns and N challenges), submits the feed through a real gunicorn with no worker running,
then runs the chunk job (`workers.jobs.process_transactions`) in this process, chunk by
chunk, and prints each chunk's wall time, then a cProfile of every chunk after the first
(whose caches are cold), sorted by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import campaign_scaling
import challenge_scaling
import common
import feed_throughput


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--challenges", type=int, default=50)
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--stats", help="also dump the profile here (pstats format)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--no-profile", action="store_true", help="only time the chunks")
    args = parser.parse_args()
    name = f"rewards_chlprof_{os.getpid()}"
    database_url = common.recreate_database(name).replace("postgresql://", "postgresql+psycopg://")
    prefix = f"chlprof{os.getpid()}"
    env = common.env_for(database_url, prefix)
    gunicorn = None
    try:
        key, tokens = common.seed(env, database_url, args.customers)
        campaign_scaling._launch(
            env, campaign_scaling._definitions(challenge_scaling.CAMPAIGNS, random.Random(1))
        )
        definitions = challenge_scaling._definitions(
            args.challenges, random.Random(args.challenges)
        )
        challenge_scaling._insert(env, definitions)
        gunicorn, base = common.start_gunicorn(env)
        rows = list(common.transactions(args.transactions, tokens))
        for start in range(0, len(rows), 5000):
            status, body = common.post_json(
                f"{base}/v1/transactions",
                {"transactions": rows[start : start + 5000]},
                {"Authorization": f"Bearer {key}"},
            )
            assert status == 202, body
        common.stop([gunicorn])
        gunicorn = None
        with feed_throughput._pg(database_url) as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM transactions WHERE status = 'received' ORDER BY id"
                )
            ]
        _profile(env, ids, args)
    finally:
        if gunicorn:
            common.stop([gunicorn])
        common.flush_redis_prefix(prefix)
        if args.keep:
            print(f"kept database {name}")
        else:
            common.drop_database(name)


def _profile(env: dict[str, str], ids: list[int], args: argparse.Namespace) -> None:
    os.environ.update(env)
    from api import create_app
    from workers.jobs import process_transactions

    app = create_app()
    profile = cProfile.Profile()
    with app.app_context():
        for n, start in enumerate(range(0, len(ids), args.chunk)):
            chunk = ids[start : start + args.chunk]
            began = time.perf_counter()
            if n and not args.no_profile:
                profile.enable()
            process_transactions(chunk)
            if n and not args.no_profile:
                profile.disable()
            print(f"chunk {n}: {len(chunk):,} transactions in {time.perf_counter() - began:.2f}s")
    if args.no_profile:
        return
    if args.stats:
        profile.dump_stats(args.stats)
    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)
    pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
