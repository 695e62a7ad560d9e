"""Shared plumbing for the benchmarks: a scratch database, a seeded program, servers, workers.

Everything runs against the local PostgreSQL and Redis (BENCH_DATABASE_URL, BENCH_REDIS_URL),
in a database the benchmark creates and drops, with its own queue prefix.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
JWT_SECRET = "bench-secret-bench-secret-bench-secret"
MCC_FILE = ROOT / "rewards" / "data" / "mcc_categories.csv"
# Everyday spending of 16-30 year olds: mostly food, transport, shopping, fun.
CATEGORY_WEIGHTS = {
    "dining": 30,
    "groceries": 20,
    "transport": 12,
    "shopping": 14,
    "entertainment": 8,
    "digital": 6,
    "fuel": 2,
    "health": 2,
    "education": 2,
    "travel": 2,
    "utilities": 1,
    "services": 1,
    "cash_like": 0.5,
}


def db_url(name: str) -> str:
    base = ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


def recreate_database(name: str) -> str:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return db_url(name)


def checkpoint() -> None:
    """Write out every dirty page now, so the next run does not pay for the previous one's."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def env_for(database_url: str, prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "QUEUE_PREFIX": prefix,
        "JWT_SECRET": JWT_SECRET,
        "RATE_LIMIT_ENABLED": "0",
        "MAX_BODY_BYTES": str(64 * 1024 * 1024),
    }


def rewards_cli(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [str(BIN / "rewards"), *args], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    )
    return out.stdout.strip()


def seed(env: dict[str, str], database_url: str, customers: int) -> tuple[str, list[str]]:
    """Migrate, create the program, customers, accounts and cards; returns (key, card tokens)."""
    rewards_cli(env, "db", "upgrade")
    rewards_cli(
        env,
        "create-program",
        "--slug",
        "bench",
        "--name",
        "Bench Card",
        "--currency",
        "JPY",
        "--earn-rate",
        "1",
        "--timezone",
        "Asia/Tokyo",
        "--expiry-months",
        "12",
    )
    key = rewards_cli(
        env, "create-api-key", "--program", "bench", "--role", "processor", "--name", "bench"
    ).split()[-1]
    tokens = [f"tok_{i:06d}" for i in range(customers)]
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
        program_id = conn.execute("SELECT id FROM programs WHERE slug = 'bench'").fetchone()[0]
        with conn.cursor().copy(
            "COPY customers (program_id, external_ref, status, consent_leaderboard, "
            "consent_marketing, tags, level, xp) FROM STDIN"
        ) as copy:
            for i in range(customers):
                copy.write_row((program_id, f"cust-{i:06d}", "active", False, False, "[]", 1, 0))
        conn.execute(
            "INSERT INTO accounts (program_id, customer_id, available, pending, lifetime_earned,"
            " lifetime_redeemed) SELECT program_id, id, 0, 0, 0, 0 FROM customers"
        )
        conn.execute(
            "INSERT INTO cards (program_id, customer_id, token, status) "
            "SELECT program_id, id, 'tok_' || substr(external_ref, 6), 'active' FROM customers"
        )
    return key, tokens


def mcc_pool() -> tuple[list[str], list[float]]:
    """Real MCCs from the shipped map, weighted by how often young cardholders use them."""
    by_category: dict[str, list[str]] = {}
    with MCC_FILE.open() as f:
        for row in csv.DictReader(f):
            by_category.setdefault(row["category"], []).append(row["mcc"])
    codes, weights = [], []
    for category, weight in CATEGORY_WEIGHTS.items():
        for code in by_category.get(category, []):
            codes.append(code)
            weights.append(weight / len(by_category[category]))
    return codes, weights


def transactions(
    n: int, tokens: list[str], seed: int = 42, prefix: str = "tx"
) -> Iterator[dict[str, Any]]:
    """`n` realistic rows: lognormal amounts, ~3% refunds of earlier purchases."""
    rng = random.Random(seed)
    codes, weights = mcc_pool()
    start = datetime.now(UTC) - timedelta(days=30)
    recent: list[tuple[str, str, int, str]] = []
    mcc_draws = rng.choices(codes, weights, k=n)
    for i in range(n):
        occurred = (start + timedelta(seconds=i * 10)).isoformat()
        if recent and rng.random() < 0.03:
            ext, token, amount, mcc = recent[rng.randrange(len(recent))]
            yield {
                "external_id": f"{prefix}-{i}",
                "card_token": token,
                "kind": "refund",
                "amount_minor": max(1, amount // rng.choice((1, 2, 4))),
                "currency": "JPY",
                "mcc": mcc,
                "merchant_id": f"m-{mcc}",
                "merchant_name": f"Shop {mcc}",
                "channel": "online",
                "occurred_at": occurred,
                "original_external_id": ext,
            }
            continue
        token = tokens[rng.randrange(len(tokens))]
        amount = int(min(200_000, max(100, rng.lognormvariate(7.0, 0.9))))
        mcc = mcc_draws[i]
        row = {
            "external_id": f"{prefix}-{i}",
            "card_token": token,
            "kind": "purchase",
            "amount_minor": amount,
            "currency": "JPY",
            "mcc": mcc,
            "merchant_id": f"m-{mcc}",
            "merchant_name": f"Shop {mcc}",
            "channel": rng.choice(("in_store", "online", "contactless")),
            "occurred_at": occurred,
        }
        recent.append((row["external_id"], token, amount, mcc))
        if len(recent) > 5000:
            recent.pop(0)
        yield row


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def niced(nice: int) -> list[str]:
    """Command prefix lowering a process's CPU priority (background work yields to the API)."""
    return ["nice", "-n", str(nice)] if nice else []


def start_gunicorn(
    env: dict[str, str], workers: int = 2, threads: int = 1, nice: int = 0
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            *niced(nice),
            str(BIN / "gunicorn"),
            "-w",
            str(workers),
            "--threads",
            str(threads),
            "-b",
            f"127.0.0.1:{port}",
            "--timeout",
            "600",
            "--log-level",
            "warning",
            "wsgi:app",
        ],
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            return proc, base
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start")


def start_workers(
    env: dict[str, str], count: int, fork: bool = True, nice: int = 0
) -> list[subprocess.Popen]:
    extra = [] if fork else ["--no-fork"]
    return [
        subprocess.Popen(
            [
                *niced(nice),
                str(BIN / "rewards"),
                "worker",
                "--queue",
                "feed",
                "--name",
                f"bench-{os.getpid()}-{i}",
                *extra,
            ],
            env=env,
            cwd=ROOT,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(count)
    ]


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def post_json(url: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        return response.status, json.loads(response.read())


def flush_redis_prefix(prefix: str) -> None:
    from redis import Redis

    redis = Redis.from_url(REDIS_URL)
    for pattern in (f"rq:*{prefix}*", f"{prefix}*"):
        keys = list(redis.scan_iter(pattern, count=1000))
        if keys:
            redis.delete(*keys)


@dataclass
class Scratch:
    """One bench run's scratch stack: its database (psycopg URL), queue prefix, environment,
    and the processes it started (stopped at the end)."""

    database_url: str
    env: dict[str, str]
    procs: list[subprocess.Popen] = field(default_factory=list)


@contextlib.contextmanager
def scratch(tag: str) -> Iterator[Scratch]:
    """A fresh database `rewards_<tag>_<pid>` and queue prefix for one run; whatever it
    started is stopped, its queue keys flushed and the database dropped afterwards."""
    name, prefix = f"rewards_{tag}_{os.getpid()}", f"{tag}{os.getpid()}"
    database_url = recreate_database(name).replace("postgresql://", "postgresql+psycopg://")
    run = Scratch(database_url, env_for(database_url, prefix))
    try:
        yield run
    finally:
        stop(run.procs)
        flush_redis_prefix(prefix)
        drop_database(name)
