"""Redemptions under load over HTTP: POST /v1/me/redemptions from concurrent cardholders.

    .venv/bin/python bench/redemption_load.py [--clients 32] [--duration 15] [--warmup 3]
        [--perks 200] [--hot-stock 3000] [--gunicorn-workers 2] [--threads 4]

1. A scratch database: program `bench`, --clients cardholders with 10,000,000 points each (one
   lot), --perks perks of 40 partners with generated codes (unlimited stock) and one hot perk
   with --hot-stock units.
2. gunicorn (gthread); --clients threads, each one cardholder on one keep-alive connection,
   redeeming back to back with a fresh `Idempotency-Key` per request (closed loop): first all
   on the hot perk, then each request on a random one of the --perks perks (the spread case).
   --warmup seconds uncounted, then --duration seconds measured.
3. Prints redemptions/s, p50/p95/p99, refusals and errors per case, then checks that nothing
   was oversold: the hot perk's `stock_used` ≤ its stock and equal to its redemptions and
   vouchers, and `rewards ledger reconcile` finds no difference.
Target (issue 10): at least 500 redemptions/s in the spread case, no oversell in either.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api_latency
import common

TARGET_RPS = 500.0


def _seed(env: dict[str, str], clients: int, perks: int, hot_stock: int) -> tuple[int, list[int]]:
    """Perks and points through the services in-process; (hot perk id, spread perk ids)."""
    os.environ.update(env)
    from api import create_app
    from campaigns.perks import PERKS
    from rewards.db import db
    from rewards.ledger import Movement, account_of_customer, credit
    from rewards.models import Customer, Program
    from rewards.partners import create_partner

    app = create_app()
    with app.app_context():
        program_id = db.session.query(Program.id).filter_by(slug="bench").scalar()
        for n in range(40):
            create_partner(
                program_id=program_id, body={"code": f"p-{n}", "name": f"P {n}"}, actor="bench"
            )

        def perk(title: str, partner: int, stock: int | None) -> int:
            item = PERKS.create(
                program_id=program_id,
                body={"title": title, "partner": f"p-{partner}", "cost_points": 100,
                      "stock": stock},
                actor="bench",
            )  # fmt: skip
            PERKS.transition(
                "activate", program_id=program_id, object_id=item.row.id, actor="bench"
            )
            return int(item.row.id)

        hot = perk("Hot", 0, hot_stock)
        spread = [perk(f"Perk {n}", n % 40, None) for n in range(perks)]
        for (customer_id,) in db.session.query(Customer.id).all()[:clients]:
            account = account_of_customer(customer_id, lock=True)
            credit(
                account,
                Movement(
                    kind="adjust",
                    points=10_000_000,
                    source_type="adjustment",
                    idempotency_key=f"bench:{customer_id}",
                    occurred_at=datetime.now(UTC),
                    explanation={"summary": "bench"},
                ),
            )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return hot, spread


def _run(port: int, tokens: list[str], pick: Any, warmup: float, duration: float) -> dict:
    start = time.monotonic()
    measured_from, stop_at = start + warmup, start + warmup + duration
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    odd: list[str] = []  # the first unexpected answer, for the report
    lock = threading.Lock()

    def client(token: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        # Keys with few digits: a UUID's hex can hold 13+ digits (across its dashes, too) that
        # pass the Luhn check, which the API refuses as a possible card number (422).
        prefix, sequence = "".join(random.choices("abcdefghjkmnpqrstuvwxyz", k=10)), 0
        while time.monotonic() < stop_at:
            sequence += 1
            body = json.dumps({"perk_id": pick()})
            headers = {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Idempotency-Key": f"tap-{prefix}-{sequence}",
            }
            sent = time.monotonic()
            try:
                conn.request("POST", "/v1/me/redemptions", body, headers)
                response = conn.getresponse()
                answer = response.read()
                status = response.status
                if status not in (201, 409) and not odd:
                    odd.append(f"{status}: {answer[:300]!r}")
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                status = 0
            done = time.monotonic()
            if sent >= measured_from and done <= stop_at:
                with lock:
                    latencies.append((done - sent) * 1000)
                    statuses[status] = statuses.get(status, 0) + 1
        conn.close()

    threads = [threading.Thread(target=client, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    pct = lambda q: latencies[min(len(latencies) - 1, int(q / 100 * len(latencies)))]  # noqa: E731
    return {
        "rps": statuses.get(201, 0) / duration,
        "p50": pct(50) if latencies else 0.0,
        "p95": pct(95) if latencies else 0.0,
        "p99": pct(99) if latencies else 0.0,
        "mean": statistics.fmean(latencies) if latencies else 0.0,
        "statuses": statuses,
        "odd": odd,
    }


def _profile(env: dict[str, str], spread: list[int]) -> None:
    """Where a redemption's time goes: 200 through the Flask test client, one cardholder."""
    import cProfile
    import pstats

    os.environ.update(env)
    from api import create_app

    client = create_app().test_client()
    token = api_latency.mint("cust-000000")

    keys = iter(range(10**6))

    def once() -> None:
        response = client.post(
            "/v1/me/redemptions",
            json={"perk_id": random.choice(spread)},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"p-{next(keys)}"},
        )
        assert response.status_code == 201, response.get_json()

    once()
    profiler = cProfile.Profile()
    profiler.enable()
    started = time.perf_counter()
    for _ in range(200):
        once()
    elapsed = time.perf_counter() - started
    profiler.disable()
    print(f"in-process, profiled: {elapsed / 200 * 1000:.1f} ms per redemption")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(20)


def _check(database_url: str, hot: int, hot_stock: int, env: dict[str, str]) -> None:
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
        used, redeemed, vouchers = conn.execute(
            "SELECT p.stock_used, (SELECT count(*) FROM redemptions r WHERE r.perk_id = p.id), "
            "(SELECT count(*) FROM vouchers v WHERE v.perk_id = p.id) FROM perks p "
            "WHERE p.id = %s",
            (hot,),
        ).fetchone()
    oversold = used > hot_stock or not used == redeemed == vouchers
    print(
        f"hot perk: stock {hot_stock}, stock_used {used}, redemptions {redeemed}, vouchers "
        f"{vouchers}: {'OVERSOLD' if oversold else 'not oversold'}"
    )
    print("reconcile:", common.rewards_cli(env, "ledger", "reconcile").strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--perks", type=int, default=200)
    parser.add_argument("--hot-stock", type=int, default=3000)
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--profile", action="store_true", help="also profile 200 redemptions in-process"
    )
    args = parser.parse_args()

    with common.scratch("redeem") as run:
        env, database_url = run.env, run.database_url
        common.seed(env, database_url, args.clients)
        hot, spread = _seed(env, args.clients, args.perks, args.hot_stock)
        if args.profile:
            _profile(env, spread)
        gunicorn, base = common.start_gunicorn(env, args.gunicorn_workers, args.threads)
        run.procs.append(gunicorn)
        port = int(base.rsplit(":", 1)[1])
        tokens = [api_latency.mint(f"cust-{i:06d}") for i in range(args.clients)]
        print(
            f"{args.clients} cardholders, gunicorn {args.gunicorn_workers} x {args.threads} "
            f"threads, {os.cpu_count()} cores"
        )
        rng = random.Random(5)
        for label, pick in (("hot perk", lambda: hot), ("200 perks", lambda: rng.choice(spread))):
            result = _run(port, tokens, pick, args.warmup, args.duration)
            print(
                f"{label:<10} {result['rps']:7.1f} redemptions/s  p50 {result['p50']:6.1f}  "
                f"p95 {result['p95']:6.1f}  p99 {result['p99']:6.1f} ms  statuses "
                f"{dict(sorted(result['statuses'].items()))}"
            )
            for line in result["odd"]:
                print(f"  first unexpected answer: {line}")
            if label == "200 perks":
                verdict = "PASS" if result["rps"] >= TARGET_RPS else "MISS"
                print(f"spread case vs {TARGET_RPS:.0f} redemptions/s: {verdict}")
        _check(database_url, hot, args.hot_stock, env)


if __name__ == "__main__":
    main()
