"""Feed throughput, end to end, plus the raw write rates of this PostgreSQL for scale.

    .venv/bin/python bench/feed_throughput.py [--transactions 200000] [--customers 20000]
        [--workers 2] [--file-rows 1000000]

1. Seeds a scratch database (20,000 customers with cards), starts gunicorn (2 processes) and
   N `rewards worker` processes, submits the transactions as 5,000-row JSON batches over HTTP
   (2 client threads) and reports transactions/s from the first submission until every row
   has left `received`.
2. Uploads a CSV file of --file-rows rows to /v1/transaction-files (workers stopped, so this
   is upload-until-stored) and reports rows/s and the API processes' peak RSS.
3. Writes rows shaped like a ledger entry into a scratch table with COPY, a multi-row INSERT,
   and single-row INSERTs committed one by one, and prints the ratios.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from queue import Queue

import psycopg

from rewards.feed_rows import FIELDS

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common


def _pg(database_url: str) -> psycopg.Connection:
    return psycopg.connect(database_url.replace("+psycopg", ""), autocommit=True)


def _status_counts(conn: psycopg.Connection) -> dict[str, int]:
    return dict(
        conn.execute("SELECT status, count(*) FROM transactions GROUP BY status").fetchall()
    )


def run_feed(
    args: argparse.Namespace,
    env: dict[str, str],
    base: str,
    key: str,
    tokens: list[str],
    database_url: str,
    prefix: str = "tx",
) -> dict[str, float]:
    rows = list(common.transactions(args.transactions, tokens, prefix=prefix))
    batches: Queue = Queue()
    for start in range(0, len(rows), 5000):
        batches.put(rows[start : start + 5000])
    workers = common.start_workers(env, args.workers, fork=not args.no_fork)
    time.sleep(2)  # let the workers connect before the clock starts
    headers = {"Authorization": f"Bearer {key}"}
    accepted = [0]
    lock = threading.Lock()

    def submit() -> None:
        while not batches.empty():
            batch = batches.get()
            status, body = common.post_json(
                f"{base}/v1/transactions", {"transactions": batch}, headers
            )
            assert status == 202, body
            with lock:
                accepted[0] += body["accepted"]

    started = time.perf_counter()
    clients = [threading.Thread(target=submit) for _ in range(2)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    submitted = time.perf_counter() - started
    conn = _pg(database_url)
    while True:
        # Cheap while rows wait (a partial index); the full count (a scan) only at the end.
        waiting = conn.execute("SELECT count(*) FROM transactions WHERE status = 'received'")
        if waiting.fetchone()[0] == 0:
            counts = _status_counts(conn)
            if counts.get("received", 0) == 0 and sum(counts.values()) >= accepted[0]:
                break
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    common.stop(workers)
    entries = conn.execute("SELECT count(*) FROM ledger_entries").fetchone()[0]
    reconcile = common.rewards_cli(env, "ledger", "reconcile", "--program", "bench")
    print(
        f"feed: {accepted[0]:,} transactions accepted, statuses {counts}, "
        f"{entries:,} ledger entries"
    )
    print(f"feed: all submitted after {submitted:.1f}s, all processed after {elapsed:.1f}s")
    print(
        f"feed: end-to-end {accepted[0] / elapsed:,.0f} transactions/s with {args.workers} workers"
    )
    print(f"feed: {reconcile}")
    return {"feed_tps": accepted[0] / elapsed, "submit_tps": accepted[0] / submitted}


def _rss_kb(pid: int) -> int:
    """Peak resident set (VmHWM) of a process, in kB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    out = os.popen(f"pgrep -P {pid}").read().split()
    return [int(p) for p in out]


def run_file_import(
    args: argparse.Namespace, base: str, key: str, tokens: list[str], gunicorn_pid: int
) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        for row in common.transactions(args.file_rows, tokens, seed=7, prefix="file"):
            writer.writerow(row)
        path = f.name
    size = os.path.getsize(path)
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=3600)
    started = time.perf_counter()
    with open(path, "rb") as body:
        conn.request(
            "POST",
            "/v1/transaction-files",
            body=body,
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "text/csv",
                "Content-Length": str(size),
            },
        )
        response = conn.getresponse()
        payload = response.read()
    elapsed = time.perf_counter() - started
    os.unlink(path)
    assert response.status == 202, payload[:500]
    peak = max(_rss_kb(pid) for pid in _children(gunicorn_pid))
    rate = args.file_rows / elapsed
    print(
        f"file: {args.file_rows:,} rows ({size / 1e6:.0f} MB CSV) stored in {elapsed:.1f}s = "
        f"{rate:,.0f} rows/s; API process peak RSS {peak / 1024:.0f} MB"
    )
    return {"file_rows_per_s": rate, "file_peak_rss_mb": peak / 1024}


def run_write_paths(
    database_url: str, rows: int = 100_000, single: int = 5_000
) -> dict[str, float]:
    conn = _pg(database_url)
    conn.execute(
        "CREATE UNLOGGED TABLE IF NOT EXISTS bench_scratch (LIKE ledger_entries INCLUDING DEFAULTS)"
    )
    conn.execute("ALTER TABLE bench_scratch SET LOGGED")
    now = datetime.now(UTC)
    data = [
        (
            1,
            1,
            "earn",
            100 + i,
            "available",
            now,
            now,
            100 + i,
            "transaction",
            i,
            None,
            None,
            f"scratch:{i}",
            '{"summary": "1 pt per ¥1"}',
            now,
        )
        for i in range(rows)
    ]
    columns = (
        "program_id, account_id, kind, points, state, available_at, expires_at, remaining, "
        "source_type, source_id, transaction_id, reverses_entry_id, idempotency_key, "
        "explanation, occurred_at"
    )
    results = {}

    conn.execute("TRUNCATE bench_scratch")
    started = time.perf_counter()
    with (
        conn.transaction(),
        conn.cursor().copy(f"COPY bench_scratch ({columns}) FROM STDIN") as copy,
    ):
        for row in data:
            copy.write_row(row)
    results["copy"] = rows / (time.perf_counter() - started)

    conn.execute("TRUNCATE bench_scratch")
    placeholders = "(" + ", ".join(["%s"] * 15) + ")"
    started = time.perf_counter()
    with conn.transaction():
        for start in range(0, rows, 1000):
            chunk = data[start : start + 1000]
            sql = f"INSERT INTO bench_scratch ({columns}) VALUES " + ", ".join(
                [placeholders] * len(chunk)
            )
            conn.execute(sql, [v for row in chunk for v in row])
    results["multi_row_insert"] = rows / (time.perf_counter() - started)

    conn.execute("TRUNCATE bench_scratch")
    started = time.perf_counter()
    for row in data[:single]:
        with conn.transaction():
            conn.execute(f"INSERT INTO bench_scratch ({columns}) VALUES {placeholders}", row)
    results["single_insert_commit"] = single / (time.perf_counter() - started)
    conn.execute("DROP TABLE bench_scratch")
    for name, rate in results.items():
        print(f"writes: {name:<22} {rate:>10,.0f} rows/s  ({rate / results['copy']:.1%} of COPY)")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--file-rows", type=int, default=1_000_000)
    parser.add_argument("--skip-file", action="store_true")
    parser.add_argument("--no-fork", action="store_true", help="workers run jobs in-process")
    args = parser.parse_args()
    name = f"rewards_bench_{os.getpid()}"
    database_url = common.recreate_database(name).replace("postgresql://", "postgresql+psycopg://")
    prefix = f"bench{os.getpid()}"
    env = common.env_for(database_url, prefix)
    gunicorn = None
    try:
        key, tokens = common.seed(env, database_url, args.customers)
        gunicorn, base = common.start_gunicorn(env)
        feed = run_feed(args, env, base, key, tokens, database_url)
        writes = run_write_paths(database_url)
        print(f"ratio: end-to-end feed = {feed['feed_tps'] / writes['copy']:.1%} of the COPY rate")
        if not args.skip_file:
            run_file_import(args, base, key, tokens, gunicorn.pid)
    finally:
        if gunicorn:
            common.stop([gunicorn])
        common.flush_redis_prefix(prefix)
        common.drop_database(name)


if __name__ == "__main__":
    main()
