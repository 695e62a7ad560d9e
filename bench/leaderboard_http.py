"""Leaderboard reads through HTTP: GET /v1/leaderboards/xp-all (top 10, own rank, neighbours).

    .venv/bin/python bench/leaderboard_http.py [--customers 100000] [--clients 32]
        [--duration 15] [--warmup 3] [--gunicorn-workers 2] [--threads 1] [--loaders 2]
        [--rate 0]

1. A scratch database with --customers ranked cardholders (adults with the bank's consent,
   nicknames, all-time XP with many ties), a program `bench`; BENCH_REDIS_URL for the boards.
2. gunicorn (gthread); the first read rebuilds the board from PostgreSQL (timed); then
   --clients distinct cardholders, each one keep-alive connection, read back to back (closed
   loop) or, with --rate, at that many requests/s in total (open loop) for --duration s
   after --warmup s. The load generator is bench/api_latency.py's (raw sockets).
3. Prints requests/s, p50/p90/p99/max, errors and CPU per process group; drops everything.
Target (issue 9): p99 < 20 ms with 32 concurrent clients and 100,000 ranked customers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import urllib.request
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api_latency
import common

PATH = "/v1/leaderboards/xp-all?limit=10"
P99_TARGET_MS = 20.0


def seed_ranked(env: dict[str, str], database_url: str, customers: int) -> None:
    common.seed(env, database_url, customers)
    rng = random.Random(9)
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
        conn.execute("CREATE TEMP TABLE xp (id bigint, xp bigint)")
        with conn.cursor().copy("COPY xp (id, xp) FROM STDIN") as copy:
            for cid in range(1, customers + 1):
                copy.write_row((cid, rng.randrange(1, 5000)))
        conn.execute(
            "UPDATE customers c SET xp = x.xp, consent_leaderboard = true, "
            "birth_date = '1999-01-01', nickname = 'player' || c.id, "
            "created_at = '2024-01-01T00:00:00Z' FROM xp x WHERE x.id = c.id"
        )
        conn.execute("ANALYZE customers")


def read(base: str, token: str) -> dict:
    request = urllib.request.Request(base + PATH, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--loaders", type=int, default=2)
    parser.add_argument("--rate", type=float, default=0.0, help="total requests/s; 0: closed")
    args = parser.parse_args()

    with common.scratch("boards") as run:
        env, database_url = run.env, run.database_url
        started = time.perf_counter()
        seed_ranked(env, database_url, args.customers)
        print(f"seeded {args.customers:,} ranked customers in {time.perf_counter() - started:.1f}s")
        gunicorn, base = common.start_gunicorn(env, args.gunicorn_workers, args.threads)
        run.procs.append(gunicorn)
        refs = [
            f"cust-{i:06d}" for i in random.Random(3).sample(range(args.customers), args.clients)
        ]
        tokens = [api_latency.mint(ref) for ref in refs]
        started = time.perf_counter()
        first = read(base, tokens[0])
        print(f"first read (board rebuilt from PostgreSQL): {time.perf_counter() - started:.2f}s")
        assert first["members"] == args.customers, first["members"]
        for token in tokens:
            body = read(base, token)
            assert body["you"]["visible"] and len(body["around"]) >= 3 and len(body["top"]) == 10
        print(
            f"gunicorn {args.gunicorn_workers} workers x {args.threads} threads; "
            f"{args.clients} clients; {os.cpu_count()} cores"
        )
        result = api_latency.measure_over(
            base, gunicorn, database_url, tokens, PATH, "leaderboard xp-all",
            loaders=args.loaders, warmup=args.warmup, duration=args.duration, rate=args.rate,
        )  # fmt: skip
        p99 = result.pct(99)
        print(
            f"p50 {result.pct(50):.2f} ms, p95 {result.pct(95):.2f} ms, p99 {p99:.2f} ms "
            f"({'PASS' if p99 < P99_TARGET_MS else 'MISS'} vs {P99_TARGET_MS:.0f} ms)"
        )


if __name__ == "__main__":
    main()
