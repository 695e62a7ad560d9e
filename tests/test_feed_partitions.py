"""Batches are split by card token into partitions whose chunks lock different accounts, so
workers run them side by side; small batches stay one chunk."""

from __future__ import annotations

import zlib

from sqlalchemy import select

from rewards.models import Transaction
from tests.test_ingest_api import post_batch, tx_row
from workers.queues import PARTITION_MIN_ROWS, enqueue_transactions


def _jobs(app) -> list[list[int]]:
    queue = app.extensions["rewards_queues"].queue("feed")
    return [job.args[0] for job in queue.get_jobs()]


def _tokens(db, ids: list[int]) -> set[str]:
    return set(db.session.scalars(select(Transaction.card_token).where(Transaction.id.in_(ids))))


def test_a_large_batch_is_split_by_card_into_alternating_partitions(
    app, client, db, processor_headers, monkeypatch
):
    monkeypatch.setitem(app.config, "CHUNK_SIZE", 800)
    rows = [tx_row(n, card_token=f"card_tok_{n % 97:06d}") for n in range(3 * PARTITION_MIN_ROWS)]
    assert post_batch(client, processor_headers, rows).status_code == 202

    jobs = _jobs(app)
    ids = sorted(db.session.scalars(select(Transaction.id)))
    assert sorted(i for job in jobs for i in job) == ids  # every row once
    assert all(len(job) <= 800 for job in jobs)
    partition = [
        {zlib.crc32(t.encode()) % app.config["FEED_PARTITIONS"] for t in _tokens(db, job)}
        for job in jobs
    ]
    assert all(len(p) == 1 for p in partition)  # a chunk holds one partition's cards
    order = [p.pop() for p in partition]
    assert order[:2] in ([0, 1], [1, 0])  # the first chunks of each partition run together
    cards: dict[int, set[str]] = {}
    for job, k in zip(jobs, order, strict=True):
        cards.setdefault(k, set()).update(_tokens(db, job))
    assert len(cards) == app.config["FEED_PARTITIONS"] == 2
    assert not cards[0] & cards[1]  # no card (so no account) in two partitions


def test_a_small_batch_is_one_chunk(app, client, db, processor_headers):
    rows = [tx_row(n, card_token=f"card_tok_{n:06d}") for n in range(2 * PARTITION_MIN_ROWS - 1)]
    assert post_batch(client, processor_headers, rows).status_code == 202
    assert len(_jobs(app)) == 1


def test_splitting_leaves_the_callers_session_alone(app, client, db, processor_headers):
    rows = [tx_row(n, card_token=f"card_tok_{n:06d}") for n in range(2 * PARTITION_MIN_ROWS)]
    assert post_batch(client, processor_headers, rows).status_code == 202
    ids = list(db.session.scalars(select(Transaction.id)))
    app.extensions["rewards_queues"].queue("feed").empty()

    row = db.session.get(Transaction, ids[0])
    row.reason = "pending change"  # uncommitted in the caller's transaction
    assert enqueue_transactions(ids).jobs == 2
    assert row in db.session.dirty and row.reason == "pending change"


def test_ids_without_a_row_are_kept_and_a_failed_read_enqueues_unsplit(app, db, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from workers.queues import partitions

    ids = list(range(1, 2 * PARTITION_MIN_ROWS + 1))  # no such rows: all in the first group
    assert partitions(ids, 2) == [ids]

    def down(*args, **kwargs):
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    with monkeypatch.context() as patched:
        patched.setattr(type(db.engine), "connect", down)
        assert partitions(ids, 2) == [ids]
