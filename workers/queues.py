"""Queue plumbing: commit first, then enqueue; inline execution when no Redis is configured."""

from __future__ import annotations

import importlib
import itertools
import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from campaigns.leaderboards.store import Leaderboards
from rewards.db import among, db
from rewards.models import Transaction

log = logging.getLogger(__name__)

FEED_QUEUE = "feed"
MAINTENANCE_QUEUE = "maintenance"
# Listened to in this order: the feed first; webhook sends (slow receivers) last.
WEBHOOK_QUEUE = "webhooks"
QUEUE_NAMES = (FEED_QUEUE, MAINTENANCE_QUEUE, WEBHOOK_QUEUE)
CHUNK_JOB = "workers.jobs.process_transactions"
# A Redis host that drops packets must not hold a request (or a worker) for minutes.
CONNECT_TIMEOUT_SECONDS = 5


def _resolve(path: str) -> Callable[..., Any]:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


class Queues:
    """Flask extension owning the Redis connection and the RQ queues of this app."""

    def __init__(self) -> None:
        # One client per URL, never one per extension object: the extension is shared by
        # every app built in a process (tests build apps with other REDIS_URLs).
        self._clients: dict[str, Redis] = {}

    def init_app(self, app: Flask) -> None:
        app.extensions["rewards_queues"] = self

    @property
    def redis(self) -> Redis:
        """The current app's Redis connection (created on first use, never at import)."""
        url = current_app.config["REDIS_URL"]
        if url is None:
            raise RuntimeError("REDIS_URL is not set; jobs run inline in embedded mode")
        if url not in self._clients:
            self._clients[url] = Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS)
        return self._clients[url]

    def queue(self, name: str) -> Queue:
        """The RQ queue `name`, namespaced by QUEUE_PREFIX so test runs do not collide."""
        prefix = current_app.config["QUEUE_PREFIX"]
        return Queue(f"{prefix}:{name}", connection=self.redis)

    def all_queues(self) -> list[Queue]:
        return [self.queue(name) for name in QUEUE_NAMES]

    def enqueue(
        self,
        func_path: str,
        *args: Any,
        queue: str = FEED_QUEUE,
        job_id: str | None = None,
        timeout: int = 600,
        retries: int = 3,
        **kwargs: Any,
    ) -> bool:
        """Enqueue `func_path(*args, **kwargs)`; call only after the rows it reads are committed.

        In embedded mode (no REDIS_URL) the job runs here and now, in this process.
        If Redis is unreachable the error is logged, not raised, and False returned: the rows
        are already safe in PostgreSQL and the sweeper re-enqueues them.
        """
        if current_app.config["JOBS_INLINE"]:
            # Its own app context, hence its own session: the job ends that session, never
            # the caller's (whose objects would otherwise be detached mid-request).
            with current_app.app_context():
                _resolve(func_path)(*args, **kwargs)
            return True
        try:
            self.queue(queue).enqueue(
                func_path,
                *args,
                job_id=job_id,
                job_timeout=timeout,
                retry=Retry(max=retries, interval=[5, 30, 120][:retries]) if retries else None,
                failure_ttl=7 * 24 * 3600,
                result_ttl=600,
                **kwargs,
            )
        except (RedisError, OSError) as exc:
            log.warning("could not enqueue %s (%s); the sweeper will pick it up", func_path, exc)
            return False
        return True


def chunked(ids: list[int], size: int) -> list[list[int]]:
    """Split sorted ids into chunks of `size` for one job each."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]


# A partition's share of a batch is at least this many rows (smaller ones are not split).
PARTITION_MIN_ROWS = 1000


def partitions(transaction_ids: list[int], count: int) -> list[list[int]]:
    """Split sorted ids into up to `count` groups by card token, so that the chunks of one
    batch that workers run at the same time lock different customers' accounts.

    A chunk locks every account it touches until it commits, and one batch's customers
    overlap: unsplit, a second worker waited for the first on a shared account and two
    workers ran barely faster than one (`docs/benchmarks.md`). A card's rows (purchases,
    refunds) always land in the same group; a customer with two cards may be in two groups
    (their chunks then wait on each other, as before). Every id is kept, in id order."""
    used = min(count, len(transaction_ids) // PARTITION_MIN_ROWS)
    if used <= 1:
        return [transaction_ids]
    groups: list[list[int]] = [[] for _ in range(used)]
    # The rows are committed: read them on a connection of its own, the caller's session
    # (and any transaction it has open) untouched.
    try:
        with db.engine.connect() as conn:
            tokens = dict(
                conn.execute(
                    select(Transaction.id, Transaction.card_token).where(
                        among(Transaction.id, transaction_ids)
                    )
                ).all()
            )
    except SQLAlchemyError as exc:  # the batch is stored: enqueue it unsplit, never fail it
        log.warning("could not split %d rows by card (%s)", len(transaction_ids), exc)
        return [transaction_ids]
    for tx_id in transaction_ids:
        token = tokens.get(tx_id)
        groups[zlib.crc32(token.encode()) % used if token else 0].append(tx_id)
    return [group for group in groups if group]


@dataclass(frozen=True)
class Enqueued:
    """What `enqueue_transactions` did: chunk jobs queued, and chunks left to the sweeper."""

    jobs: int
    not_queued: int = 0

    @property
    def complete(self) -> bool:
        """True when every chunk is queued (or ran, in embedded mode)."""
        return self.not_queued == 0


def enqueue_transactions(transaction_ids: list[int]) -> Enqueued:
    """Enqueue processing of stored transactions, one job per chunk, chunks of different
    partitions alternating (see `partitions`). Never raises for Redis: if it is unreachable,
    the chunks not queued are counted and left to the sweeper (the rows are committed)."""
    queues: Queues = current_app.extensions["rewards_queues"]
    size = current_app.config["CHUNK_SIZE"]
    # Inline (embedded mode) the chunks run one after the other: nothing to gain by splitting.
    count = 1 if current_app.config["JOBS_INLINE"] else current_app.config["FEED_PARTITIONS"]
    groups = partitions(sorted(set(transaction_ids)), count)
    rounds = itertools.zip_longest(*(chunked(group, size) for group in groups))
    chunks = [chunk for round_ in rounds for chunk in round_ if chunk]
    for done, chunk in enumerate(chunks):
        if not queues.enqueue(CHUNK_JOB, chunk):
            # Redis is down: do not wait on it once per chunk; the sweeper takes them all.
            return Enqueued(jobs=done, not_queued=len(chunks) - done)
    return Enqueued(jobs=len(chunks))


def leaderboard_store() -> Leaderboards | None:
    """This app's Redis leaderboards (on the queues' connection and prefix); None in embedded
    mode, which has no Redis (boards rank from PostgreSQL)."""
    if current_app.config.get("REDIS_URL") is None:
        return None
    queues: Queues = current_app.extensions["rewards_queues"]
    return Leaderboards(queues.redis, current_app.config["QUEUE_PREFIX"])
