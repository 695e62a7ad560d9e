"""Webhook outbox throughput: events delivered per second by real workers, and what sending
them costs the card feed running beside it.

    .venv/bin/python bench/outbox_throughput.py [--events 100000] [--endpoints 4]
        [--workers 2] [--transactions 40000] [--customers 20000] [--skip-feed | --feed-only]

1. A scratch database with --endpoints partners, each with one webhook endpoint on a local
   receiver (a separate process answering 200 with a small body; reached through the
   development allow-list `WEBHOOK_ALLOW_NETWORKS=127.0.0.1/32`, plain http). --events
   `voucher.used` events are written to the outbox, spread over the partners.
2. --workers `rewards worker` processes (scheduler on: the 5-second pump fans out and queues
   sends) deliver them; prints deliveries/s from the workers' start until every delivery is
   `delivered`, and the receiver's count (it must equal the events: at least once, and here
   exactly once as nothing failed).
3. Unless --skip-feed: the card feed of bench/feed_throughput.py (--transactions through the
   API, 2 feed workers) alone, then again while the webhook workers (niced) deliver a fresh
   backlog of --events; prints both rates and the ratio. The issue's target: the feed loses at
   most 10% with the outbox on.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
import feed_throughput


def _receive(port: int, counter: multiprocessing.Value) -> None:  # type: ignore[valid-type]
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with counter.get_lock():
                counter.value += 1
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def _setup(env: dict[str, str], endpoints: int, port: int) -> list[int]:
    """Partners and their endpoints through the services; their partner ids."""
    os.environ.update(env)
    from api import create_app
    from rewards.db import db
    from rewards.events import endpoints as service
    from rewards.models import Program
    from rewards.partners import create_partner

    app = create_app()
    partner_ids = []
    with app.app_context():
        program_id = db.session.query(Program.id).filter_by(slug="bench").scalar()
        for n in range(endpoints):
            partner = create_partner(
                program_id=program_id, body={"code": f"p-{n}", "name": f"P {n}"}, actor="bench"
            )
            service.create(
                service.Owner(program_id, partner.id),
                {"url": f"http://127.0.0.1:{port}/hooks/{n}", "event_types": ["voucher.used"]},
                actor="bench",
            )
            partner_ids.append(partner.id)
        db.session.commit()
        db.engine.dispose()
    return partner_ids


def _write_events(database_url: str, partner_ids: list[int], events: int, tag: str) -> None:
    payload = json.dumps(
        {"voucher_id": 1, "perk_id": 1, "redemption_id": 1, "partner_customer_id": "cus_bench",
         "used_at": "2026-12-03T10:00:00"}
    )  # fmt: skip
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
        program_id = conn.execute("SELECT id FROM programs WHERE slug = 'bench'").fetchone()[0]
        conn.execute(
            "INSERT INTO events (program_id, type, key, payload, partner_id) "
            "SELECT %s, 'voucher.used', %s || n, %s::jsonb, (%s::bigint[])[1 + n %% %s] "
            "FROM generate_series(1, %s) n",
            (program_id, f"bench-{tag}-", payload, partner_ids, len(partner_ids), events),
        )


def _delivered(conn: psycopg.Connection) -> int:
    return conn.execute(
        "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'"
    ).fetchone()[0]


def _workers(env: dict[str, str], count: int, nice: int = 0) -> list:
    import subprocess

    return [
        subprocess.Popen(
            [*common.niced(nice), str(common.BIN / "rewards"), "worker", "--queue", "maintenance",
             "--queue", "webhooks", "--name", f"hooks-{os.getpid()}-{nice}-{i}"],
            env=env, cwd=common.ROOT, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for i in range(count)
    ]  # fmt: skip


def deliver(args: argparse.Namespace, run: common.Scratch, partner_ids: list[int], counter) -> None:
    conn = psycopg.connect(run.database_url.replace("+psycopg", ""), autocommit=True)
    _write_events(run.database_url, partner_ids, args.events, "a")
    started = time.perf_counter()
    workers = _workers(run.env, args.workers)
    run.procs.extend(workers)
    while _delivered(conn) < args.events:
        time.sleep(0.5)
        if time.perf_counter() - started > 3600:
            raise RuntimeError("not delivered within an hour")
    elapsed = time.perf_counter() - started
    common.stop(workers)
    failed = conn.execute(
        "SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'"
    ).fetchone()[0]
    print(
        f"outbox: {args.events:,} events to {len(partner_ids)} endpoints by {args.workers} "
        f"workers in {elapsed:.1f}s: {args.events / elapsed:,.0f} deliveries/s "
        f"(receiver got {counter.value:,}; not delivered: {failed})"
    )


def feed_on_off(args: argparse.Namespace, run: common.Scratch, key: str, tokens: list[str],
                partner_ids: list[int]) -> None:  # fmt: skip
    gunicorn, base = common.start_gunicorn(run.env, 2)
    run.procs.append(gunicorn)
    feed_args = argparse.Namespace(transactions=args.transactions, workers=2, no_fork=False)
    off = feed_throughput.run_feed(feed_args, run.env, base, key, tokens, run.database_url)
    _write_events(run.database_url, partner_ids, args.events, "b")
    hooks = _workers(run.env, args.workers, nice=10)
    run.procs.extend(hooks)
    time.sleep(6)  # the first pump has fanned out and sends are under way
    on = feed_throughput.run_feed(
        feed_args, run.env, base, key, tokens, run.database_url, prefix="on"
    )
    common.stop(hooks)
    ratio = on["feed_tps"] / off["feed_tps"]
    print(
        f"feed with the outbox off: {off['feed_tps']:,.0f} tx/s; on (delivering meanwhile): "
        f"{on['feed_tps']:,.0f} tx/s; ratio {ratio:.2f} "
        f"({'meets' if ratio >= 0.9 else 'misses'} the 0.90 target)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--endpoints", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--transactions", type=int, default=40_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--skip-feed", action="store_true")
    parser.add_argument("--feed-only", action="store_true", help="only step 3")
    args = parser.parse_args()

    port = common.free_port()
    counter = multiprocessing.Value("q", 0)
    receiver = multiprocessing.Process(target=_receive, args=(port, counter), daemon=True)
    receiver.start()
    with common.scratch("outbox") as run:
        run.env.update(WEBHOOK_ALLOW_NETWORKS="127.0.0.1/32", WEBHOOK_REQUIRE_HTTPS="0")
        key, tokens = common.seed(run.env, run.database_url, args.customers)
        partner_ids = _setup(run.env, args.endpoints, port)
        if not args.feed_only:
            deliver(args, run, partner_ids, counter)
        if not args.skip_feed:
            feed_on_off(args, run, key, tokens, partner_ids)
    receiver.terminate()


if __name__ == "__main__":
    main()
