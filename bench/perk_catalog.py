"""The ranked perk catalog's latency over HTTP: GET /v1/me/perks with 200 perks.

    .venv/bin/python bench/perk_catalog.py [--perks 200] [--customers 2000] [--clients 1]
        [--duration 10] [--warmup 2] [--gunicorn-workers 2] [--loaders 1] [--rate 0]

1. A scratch database: program `bench`, --customers cardholders with points and a
   `customer_features` row each (tastes over 8 categories and 40 partners, as the feed keeps
   them), 40 partners and --perks live perks (a fifth with a per-week limit, a tenth with
   uploaded-code pools, a tenth age-gated), popularity per age band, and one redemption in
   ten customers' history.
2. gunicorn; --clients cardholders each on one keep-alive connection, back to back (closed
   loop; 1 client = the request's own latency) or, with --rate, open loop at that many
   requests/s; the load generator is bench/api_latency.py's.
3. Prints requests/s and p50/p95/p99. Target (issue 10): p99 under 50 ms with 200 perks.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api_latency
import common

PATH = "/v1/me/perks"
P99_TARGET_MS = 50.0
CATEGORIES = ["dining", "groceries", "transport", "entertainment", "digital", "shopping",
              "education", "health"]  # fmt: skip


def _seed_perks(env: dict[str, str], perks: int, customers: int) -> None:
    """Partners, perks, features and popularity, through the services in-process."""
    os.environ.update(env)
    from api import create_app
    from campaigns.perks import PERKS
    from rewards.db import db
    from rewards.models import Customer, Program
    from rewards.partners import create_partner
    from rewards.perks.features import Features
    from rewards.perks.models import CustomerFeatures
    from rewards.perks.pools import upload_codes
    from rewards.perks.popularity import recompute_popularity
    from rewards.perks.redemption import RedemptionRefused, redeem

    rng = random.Random(10)
    app = create_app()
    with app.app_context():
        program_id = db.session.query(Program.id).filter_by(slug="bench").scalar()
        partners = []
        for n in range(40):
            category = CATEGORIES[n % len(CATEGORIES)]
            code = f"partner-{n}"
            create_partner(
                program_id=program_id, body={"code": code, "name": f"Partner {n}"}, actor="bench"
            )
            partners.append((code, category))
        start = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        for n in range(perks):
            item = PERKS.create(
                program_id=program_id, body=_perk_body(n, partners, start, rng), actor="bench"
            )
            PERKS.transition(
                "activate", program_id=program_id, object_id=item.row.id, actor="bench"
            )
            if n % 10 == 7:
                upload_codes(
                    perk_id=item.row.id,
                    partner_id=item.row.partner_id,
                    codes=[f"P{n}-{i:05d}" for i in range(50)],
                )
        db.session.commit()
        people = db.session.query(Customer).filter_by(program_id=program_id).all()
        for person in people:
            person.birth_date = date(rng.randint(1996, 2009), rng.randint(1, 12), 1)
            features = Features()
            for _ in range(rng.randint(0, 60)):
                code, category = rng.choice(partners[: rng.randint(3, 40)])
                features.add(
                    category=category,
                    partner=code,
                    amount=rng.randint(300, 5000),
                    part=rng.choice(["morning", "midday", "afternoon", "evening", "night"]),
                    at=datetime.now(UTC) - timedelta(days=rng.randint(0, 90)),
                )
            db.session.add(CustomerFeatures(**features.row(person.id)))
        for person in people:
            _grant(db, person.id)
        db.session.commit()
        perk_ids = [i for (i,) in db.session.execute(db.text("SELECT id FROM perks")).all()]
        for person in people[: customers // 10]:
            try:
                redeem(
                    program_id=program_id,
                    external_ref=person.external_ref,
                    perk_id=rng.choice(perk_ids),
                )
            except RedemptionRefused:  # an age-gated or limited perk: another time
                db.session.rollback()
                continue
            db.session.commit()
        recompute_popularity()
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def _perk_body(
    n: int, partners: list[tuple[str, str]], start: str, rng: random.Random
) -> dict[str, Any]:
    """Perk n: a fifth limited per week, a tenth age-gated, a tenth with uploaded codes."""
    code, category = partners[n % len(partners)]
    body: dict[str, Any] = {
        "title": f"Perk {n}",
        "category": category,
        "partner": code,
        "cost_points": rng.choice([100, 300, 500, 1000, 2500, 5000]),
        "starts_at": start,
    }
    if n % 5 == 0:
        body["limit"] = {"count": 1, "per": "week"}
    if n % 10 == 3:
        body["min_age"] = 21
    if n % 10 == 7:
        body["voucher"] = {"codes": "uploaded"}
    return body


def _grant(db: Any, customer_id: int) -> None:
    """10,000 points as one available lot, as an adjustment would write it."""
    from rewards.ledger import Movement, account_of_customer, credit

    account = account_of_customer(customer_id, lock=True)
    credit(
        account,
        Movement(
            kind="adjust",
            points=10_000,
            source_type="adjustment",
            idempotency_key=f"bench:{customer_id}",
            occurred_at=datetime.now(UTC),
            explanation={"summary": "bench"},
        ),
    )


def _profile(env: dict[str, str]) -> None:
    """Where a catalog request's time goes: 50 requests through the Flask test client."""
    import cProfile
    import pstats

    os.environ.update(env)
    from api import create_app

    app = create_app()
    headers = {"Authorization": f"Bearer {api_latency.mint('cust-000007')}"}
    client = app.test_client()
    client.get(PATH, headers=headers)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(50):
        assert client.get(PATH, headers=headers).status_code == 200
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--perks", type=int, default=200)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--loaders", type=int, default=1)
    parser.add_argument("--rate", type=float, default=0.0, help="total requests/s; 0: closed")
    parser.add_argument(
        "--profile", action="store_true", help="also profile 50 requests in-process (cProfile)"
    )
    args = parser.parse_args()

    with common.scratch("perks") as run:
        env, database_url = run.env, run.database_url
        common.seed(env, database_url, args.customers)
        _seed_perks(env, args.perks, args.customers)
        if args.profile:
            _profile(env)
        gunicorn, base = common.start_gunicorn(env, args.gunicorn_workers, 1)
        run.procs.append(gunicorn)
        refs = [
            f"cust-{i:06d}" for i in random.Random(3).sample(range(args.customers), args.clients)
        ]
        tokens = [api_latency.mint(ref) for ref in refs]
        for token in tokens:  # every cardholder sees a ranked catalog before anything is timed
            request = urllib.request.Request(
                base + PATH, headers={"Authorization": f"Bearer {token}"}
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                assert json.loads(response.read())["data"], "an empty catalog"
        result = api_latency.measure_over(
            base, gunicorn, database_url, tokens, PATH, f"perk catalog ({args.perks} perks)",
            loaders=args.loaders, warmup=args.warmup, duration=args.duration, rate=args.rate,
        )  # fmt: skip
        p99 = result.pct(99)
        print(
            f"{args.clients} client(s): p50 {result.pct(50):.2f} ms, p95 {result.pct(95):.2f} "
            f"ms, p99 {p99:.2f} ms ({'PASS' if p99 < P99_TARGET_MS else 'MISS'} vs "
            f"{P99_TARGET_MS:.0f} ms)"
        )


if __name__ == "__main__":
    main()
