"""Bulk enrolment: a launch file of customers with their cards through POST /v1/customer-files.

    .venv/bin/python bench/customer_import.py [--customers 100000] [--gunicorn-workers 1]

1. Creates a scratch database (migrated), a program and a processor key.
2. Writes a CSV launch file: --customers rows with birth date, nickname, consent flags, tags
   and one card token (one customer in five has a second card).
3. Starts gunicorn and uploads the file once (streamed, Content-Length), timing the request
   until the summary comes back, then checks the rows in the database (customers, accounts,
   cards). Uploads it a second time (every row unchanged) and times that too.
4. Runs `rewards import-customers` on a second file of new customers in a fresh program (the
   operator's path, same service).
Prints customers/s for each and the target (100,000 customers with cards in under a minute).
Everything it started is stopped and the database dropped.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    drop_database,
    env_for,
    recreate_database,
    rewards_cli,
    seed,
    start_gunicorn,
    stop,
)

TARGET_SECONDS = 60


def write_launch_file(path: Path, customers: int, prefix: str) -> int:
    """A realistic launch file; returns the number of card tokens in it."""
    rng = random.Random(8)
    cards = 0
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                "external_ref",
                "birth_date",
                "nickname",
                "card_tokens",
                "consent_leaderboard",
                "consent_marketing",
                "tags",
            ]
        )
        for n in range(customers):
            tokens = [f"tok_{prefix}{n:07d}"]
            if rng.random() < 0.2:
                tokens.append(f"tok_{prefix}{n:07d}v")
            cards += len(tokens)
            born = f"{rng.randint(1996, 2010)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            writer.writerow(
                [
                    f"{prefix}{n:07d}",
                    born,
                    rng.choice(["Aki", "Ben", "Chika", "Dai", "Emi", ""]),
                    " ".join(tokens),
                    rng.choice(["true", "false"]),
                    rng.choice(["true", "false"]),
                    rng.choice(["student", "student tokyo", "", "launch"]),
                ]
            )
    return cards


def upload(base: str, key: str, path: Path) -> tuple[float, dict]:
    with path.open("rb") as body:
        request = urllib.request.Request(
            f"{base}/v1/customer-files",
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "text/csv",
                "Content-Length": str(path.stat().st_size),
            },
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=3600) as response:
            summary = json.loads(response.read())
        return time.perf_counter() - started, summary


def stored(database_url: str, slug: str) -> tuple[int, int, int]:
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM customers c JOIN programs p ON p.id = c.program_id "
            "        WHERE p.slug = %(s)s), "
            "(SELECT count(*) FROM accounts a JOIN programs p ON p.id = a.program_id "
            "        WHERE p.slug = %(s)s), "
            "(SELECT count(*) FROM cards k JOIN programs p ON p.id = k.program_id "
            "        WHERE p.slug = %(s)s)",
            {"s": slug},
        ).fetchone()
        assert row is not None
        return row[0], row[1], row[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--gunicorn-workers", type=int, default=1)
    args = parser.parse_args()
    name = f"bench_customers_{os.getpid()}"
    database_url = recreate_database(name)
    env = env_for(database_url, f"bench-customers-{os.getpid()}")
    procs = []
    try:
        key, _ = seed(env, database_url, 0)  # program `bench`, no customers yet
        with tempfile.TemporaryDirectory() as tmp:
            launch = Path(tmp) / "launch.csv"
            cards = write_launch_file(launch, args.customers, "c")
            size_mb = launch.stat().st_size / 1e6
            print(f"launch file: {args.customers:,} customers, {cards:,} cards, {size_mb:.1f} MB")
            server, base = start_gunicorn(env, workers=args.gunicorn_workers)
            procs.append(server)

            seconds, summary = upload(base, key, launch)
            customers, accounts, stored_cards = stored(database_url, "bench")
            assert summary["created"] == args.customers, summary
            assert (customers, accounts, stored_cards) == (args.customers, args.customers, cards)
            print(
                f"first upload:  {seconds:6.1f} s  {args.customers / seconds:8,.0f} customers/s"
                f"  ({cards / seconds:,.0f} cards/s); created {summary['created']:,}, "
                f"cards {summary['cards_enrolled']:,}, rejected {summary['rejected']}"
            )
            seconds_again, again = upload(base, key, launch)
            assert again["unchanged"] == args.customers, again
            assert stored(database_url, "bench") == (customers, accounts, stored_cards)
            print(
                f"same file again: {seconds_again:4.1f} s  "
                f"{args.customers / seconds_again:8,.0f} customers/s; "
                f"unchanged {again['unchanged']:,}, nothing written"
            )

            rewards_cli(
                env, "create-program", "--slug", "cli", "--name", "CLI", "--currency", "JPY",
                "--earn-rate", "1",
            )  # fmt: skip
            second = Path(tmp) / "second.csv"
            write_launch_file(second, args.customers, "k")
            started = time.perf_counter()
            rewards_cli(env, "import-customers", str(second), "--program", "cli")
            cli_seconds = time.perf_counter() - started
            assert stored(database_url, "cli")[0] == args.customers
            print(
                f"CLI import:    {cli_seconds:6.1f} s  {args.customers / cli_seconds:8,.0f} "
                "customers/s (including the CLI's start-up)"
            )
        verdict = "met" if seconds < TARGET_SECONDS else "NOT met"
        print(f"target: {args.customers:,} customers with cards in < {TARGET_SECONDS} s: {verdict}")
    finally:
        stop(procs)
        drop_database(name)


if __name__ == "__main__":
    main()
