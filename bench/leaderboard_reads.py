"""Leaderboard reads at the store: own rank + neighbours + the top, from the Redis sorted set.

    .venv/bin/python bench/leaderboard_reads.py [--customers 100000] [--clients 32] [--duration 10]

1. Writes one board of --customers ranked customers (scores with many ties, as weekly XP has)
   in BENCH_REDIS_URL under a scratch prefix, through `Leaderboards.rebuild`, and times that.
2. Starts --clients processes; each asks `Leaderboards.standing` (top 10, the caller's rank,
   2 neighbours each side: two round trips) for random customers for --duration seconds.
3. Prints requests/s and latency percentiles over every request of every client, then deletes
   the board. This measures the store and Redis; the HTTP endpoint adds the app's own cost.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import time
from pathlib import Path

from redis import Redis

from campaigns.leaderboards.store import Board, Leaderboards

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REDIS_URL

PREFIX = "bench-leaderboard"
BOARD = Board(program_id=1, metric="xp", period="2026-W49")


def _client(customers: int, duration: float, seed: int, out: multiprocessing.Queue) -> None:
    boards = Leaderboards(Redis.from_url(REDIS_URL), PREFIX)
    rng = random.Random(seed)
    latencies: list[float] = []
    end = time.perf_counter() + duration
    while (start := time.perf_counter()) < end:
        standing = boards.standing(BOARD, rng.randrange(1, customers + 1))
        latencies.append(time.perf_counter() - start)
        assert standing.own is not None
    out.put(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()

    boards = Leaderboards(Redis.from_url(REDIS_URL), PREFIX)
    rng = random.Random(2026)
    scores = {c: rng.randrange(1, 5000) for c in range(1, args.customers + 1)}
    started = time.perf_counter()
    boards.rebuild(BOARD, scores)
    print(f"rebuild of {args.customers:,} customers: {time.perf_counter() - started:.2f} s")
    try:
        out: multiprocessing.Queue = multiprocessing.Queue()
        procs = [
            multiprocessing.Process(target=_client, args=(args.customers, args.duration, n, out))
            for n in range(args.clients)
        ]
        for proc in procs:
            proc.start()
        latencies = sorted(x for _ in procs for x in out.get())
        for proc in procs:
            proc.join()
    finally:
        boards.drop(BOARD)

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    print(
        f"{args.clients} clients, {len(latencies):,} reads in {args.duration:.0f} s: "
        f"{len(latencies) / args.duration:,.0f}/s; p50 {pct(0.50):.2f} ms, "
        f"p95 {pct(0.95):.2f} ms, p99 {pct(0.99):.2f} ms, max {latencies[-1] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
