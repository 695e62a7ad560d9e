"""RQ jobs. Each takes ids or primitives, runs in the app context, commits once, and is safe
to run twice (state guards and unique idempotency keys)."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TypeVar

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from campaigns.challenges.feed import ChallengeRules
from campaigns.earning.feed import CampaignRules
from campaigns.leaderboards.sync import rebuild_boards, sync_transactions
from campaigns.levels.feed import XpRulesExtra
from rewards.db import db
from rewards.ledger import utcnow
from rewards.maintenance import expire_lots, release_pending, stranded_transactions
from rewards.perks.features import FeaturesExtra
from rewards.perks.popularity import recompute_popularity
from rewards.perks.vouchers import expire_due
from rewards.processing import ChunkResult, process_chunk
from rewards.processing.extras import ExtraRules, OptimisticRace
from workers.held import held_transaction_ids
from workers.queues import enqueue_transactions, leaderboard_store

log = logging.getLogger(__name__)
T = TypeVar("T")

# Rows stored this recently may be between their commit and their enqueue: leave them be.
# Older rows are re-enqueued only if no pending chunk job holds them (`held_transaction_ids`).
SWEEP_AGE = timedelta(minutes=1)


@contextmanager
def unit_of_work() -> Iterator[None]:
    """Commit on success, roll back on error, and always hand the connection back."""
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    finally:
        db.session.remove()


@contextmanager
def rare_collections(threshold: int = 50_000) -> Iterator[None]:
    """Run the cyclic garbage collector rarely while a chunk runs.

    A chunk makes hundreds of thousands of short-lived objects (rows, dicts, bonuses) that
    reference counting frees. At the default threshold (700 allocations) the collector ran
    thousands of times per chunk, re-scanning everything still alive: 10-15% of a chunk's
    time (`docs/benchmarks.md`). The old thresholds come back afterwards."""
    if current_app.config.get("JOBS_INLINE"):
        yield  # embedded mode: jobs run in request threads, which share the thresholds
        return
    old = gc.get_threshold()
    gc.set_threshold(threshold, *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def feed_extras(*, lock_early: bool = False) -> list[ExtraRules]:
    """The rules beyond the base rate, in the order the chunk calls them (and so locks the
    rows they share with other workers): the one place a new extra is added."""
    return [
        CampaignRules(lock_early=lock_early),
        ChallengeRules(lock_early=lock_early),
        FeaturesExtra(lock_early=lock_early),  # the cardholders' tastes, for perk ranking
        XpRulesExtra(lock_early=lock_early),  # last: it counts what the others wrote
    ]


def process_transactions(transaction_ids: list[int]) -> dict[str, int]:
    """Turn one chunk of stored transactions into ledger entries (see `process_chunk`).

    Extras read shared limits (campaign budgets) optimistically; if another worker used one
    meanwhile in a way that matters, an extra raises `OptimisticRace`: the chunk is rolled
    back and run again with every extra rebuilt to lock those rows up front."""
    try:
        with rare_collections(), unit_of_work():
            result: ChunkResult = process_chunk(transaction_ids, extras=feed_extras())
    except OptimisticRace as race:
        log.info("%s changed under the chunk; running it again, locked", race)
        with rare_collections(), unit_of_work():
            result = process_chunk(transaction_ids, extras=feed_extras(lock_early=True))
    log.info(
        "chunk of %d: %s, %d entries", len(transaction_ids), dict(result.statuses), result.entries
    )
    sync_leaderboards(transaction_ids)  # after the commit: best-effort, see below
    return {"entries": result.entries, "points": result.points, **result.statuses}


# --- Leaderboards (campaigns/leaderboards) -------------------------------------------------


def sync_leaderboards(transaction_ids: list[int]) -> None:
    """Copy the committed scores of the chunk's customers who may appear to the Redis boards.
    Never fails the job: a board that missed a write is corrected by the customer's next
    chunk, by `rewards leaderboards rebuild`, or rebuilt on read if Redis lost it; a read never
    shows anyone who may not appear. Embedded mode has
    no Redis boards (reads rank from PostgreSQL)."""
    boards = leaderboard_store()
    if boards is None:
        return
    try:
        with unit_of_work():  # reads only
            sync_transactions(transaction_ids, store=boards, now=utcnow())
    except (RedisError, OSError, SQLAlchemyError) as exc:
        log.warning("leaderboards not updated for a chunk of %d (%s)", len(transaction_ids), exc)


def rebuild_leaderboards() -> int:
    """Rebuild every current board of every program from PostgreSQL (periodic): whatever a
    board drifted by since the last rebuild is gone. Returns the members written; 0 in
    embedded mode (no Redis boards)."""
    boards = leaderboard_store()
    if boards is None:
        return 0
    with unit_of_work():  # reads only
        built = rebuild_boards(store=boards, now=utcnow())
    log.info("leaderboards rebuilt: %d boards, %d members", len(built), sum(built.values()))
    return sum(built.values())


def _repeat(step: Callable[[], int], limit: int) -> int:
    """Run `step` in its own transaction until it does less than a full batch."""
    total = 0
    while True:
        with unit_of_work():
            done = step()
        total += done
        if done < limit:
            return total


def release_pending_points(limit: int = 5000) -> int:
    """Scheduled: make due pending points available."""
    return _repeat(lambda: release_pending(limit=limit), limit)


def expire_points(limit: int = 5000) -> int:
    """Scheduled: expire the remainders of lots past their expiry date."""
    return _repeat(lambda: expire_lots(limit=limit), limit)


def refresh_perk_popularity() -> int:
    """Scheduled: recount perks' redemptions per age band (the catalog's cold start)."""
    with unit_of_work():
        return recompute_popularity()


def expire_vouchers(limit: int = 5000) -> int:
    """Scheduled: mark issued vouchers past their validity expired (their points stay spent)."""
    return _repeat(lambda: expire_due(limit=limit), limit)


def sweep_stranded(
    older_than_seconds: int = int(SWEEP_AGE.total_seconds()), *, even_if_queued: bool = False
) -> int:
    """Scheduled: re-enqueue rows no queue will deliver (lost jobs, a flushed Redis, killed
    workers, refunds whose purchase arrived meanwhile). Commit first, then enqueue.

    `even_if_queued` re-enqueues rows that a pending job holds too (a duplicate job is a
    no-op); for an operator who distrusts the queue."""
    with unit_of_work():
        ids = stranded_transactions(
            older_than=timedelta(seconds=older_than_seconds),
            still_queued=None if even_if_queued else held_transaction_ids,
        )
    if ids:
        enqueue_transactions(ids)
        log.info("sweeper re-enqueued %d transactions", len(ids))
    return len(ids)
